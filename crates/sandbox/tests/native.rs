//! Functional tests of the native backend (the attack suite lives in
//! `attacks*`). They need root, like the backend; each test is standalone
//! so nextest can run them in parallel.
#![expect(clippy::unwrap_used, reason = "test helpers")]

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bureau_sandbox::native::{self, NativeConfig, NativeOutcome, NativeSandbox};
use bureau_sandbox::{CheckStatus, ExecRequest, ExitStatus, Grant, LimitKind, Limits, Sandbox};

fn sandbox() -> NativeSandbox {
    NativeSandbox::discover().unwrap()
}

fn sh(script: &str) -> ExecRequest {
    ExecRequest::new(
        vec!["/bin/sh".into(), "-c".into(), script.into()],
        Grant::default(),
    )
}

fn sh_with(script: &str, limits: Limits) -> ExecRequest {
    let mut req = sh(script);
    req.grant.limits = limits;
    req
}

fn run(req: &ExecRequest) -> NativeOutcome {
    sandbox().exec_native(req).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn echo_and_exit_codes() {
    let out = run(&sh("echo hello; echo oops >&2; exit 3")).outcome;
    assert_eq!(out.stdout, b"hello\n");
    assert_eq!(out.stderr, b"oops\n");
    assert_eq!(out.status, ExitStatus::Exited(3));
    assert_eq!(out.status.code(), 3);
    assert!(out.limits_hit.is_empty(), "{:?}", out.limits_hit);
    assert!(out.cpu_time.is_some());
    assert!(out.peak_memory_bytes.is_some_and(|p| p > 0));
}

#[test]
fn the_trait_object_works_and_reports_native() {
    let sb: Box<dyn Sandbox> = Box::new(sandbox());
    assert_eq!(sb.backend(), bureau_sandbox::Backend::Native);
    let out = sb
        .exec(&ExecRequest::new(vec!["true".into()], Grant::default()))
        .unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0));
}

#[test]
fn a_signal_is_reported_as_such() {
    let out = run(&sh("kill -TERM $$")).outcome;
    assert_eq!(out.status, ExitStatus::Signaled(libc_sigterm()));
    assert_eq!(out.status.code(), 128 + 15);
}

fn libc_sigterm() -> i32 {
    15
}

#[test]
fn unknown_command_exits_127() {
    let out = run(&ExecRequest::new(
        vec!["no-such-command-xyz".into()],
        Grant::default(),
    ))
    .outcome;
    assert_eq!(out.status, ExitStatus::Exited(127));
    assert!(
        text(&out.stderr).contains("command not found"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn stdin_is_fed_then_closed() {
    let mut req = ExecRequest::new(vec!["cat".into()], Grant::default());
    // Larger than a pipe buffer, so feeding and reading must interleave.
    req.stdin = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let out = run(&req).outcome;
    assert_eq!(out.status, ExitStatus::Exited(0));
    assert_eq!(out.stdout, req.stdin);
}

#[test]
fn environment_is_clean() {
    let mut req = ExecRequest::new(vec!["env".into()], Grant::default());
    req.env = vec![("GREETING".into(), "hi".into())];
    let out = run(&req).outcome;
    let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "GREETING=hi",
            "HOME=/workspace",
            "LANG=C.UTF-8",
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "TMPDIR=/tmp",
        ]
    );
}

#[test]
fn identity_and_view_inside() {
    let out = run(&sh(
        "id -u; id -g; hostname; pwd; test -e /etc/shadow && echo shadow; ls /; \
         grep -c . /proc/self/uid_map; cat /proc/self/status | grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):'",
    ))
    .outcome;
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"0"), "{stdout}");
    assert_eq!(lines.get(1), Some(&"0"));
    assert_eq!(lines.get(2), Some(&"sandbox"));
    assert_eq!(lines.get(3), Some(&"/workspace"));
    assert!(!stdout.contains("shadow"), "{stdout}");
    assert!(stdout.contains("CapEff:\t0000000000000000"), "{stdout}");
    assert!(stdout.contains("CapBnd:\t0000000000000000"), "{stdout}");
    assert!(stdout.contains("NoNewPrivs:\t1"), "{stdout}");
    assert!(stdout.contains("Seccomp:\t2"), "{stdout}");
    for absent in ["home", "root", "srv", "sys", "var", "opt"] {
        assert!(!lines.contains(&absent), "/{absent} visible: {stdout}");
    }
}

#[test]
fn root_is_read_only_and_tmp_is_writable() {
    let out = run(&sh(
        "touch /x 2>/dev/null && echo root-writable; touch /usr/x 2>/dev/null && echo usr-writable; \
         echo data > /tmp/f && cat /tmp/f; echo s > /dev/shm/s && cat /dev/shm/s",
    ))
    .outcome;
    assert_eq!(text(&out.stdout), "data\ns\n");
}

#[test]
fn threads_start_despite_clone3_being_denied() {
    let out = run(&ExecRequest::new(
        vec![
            "python3".into(),
            "-c".into(),
            "import threading; r=[]; t=threading.Thread(target=lambda: r.append(42)); t.start(); t.join(); print(r[0])".into(),
        ],
        Grant::default(),
    ))
    .outcome;
    assert_eq!(text(&out.stdout), "42\n", "{}", text(&out.stderr));
}

#[test]
fn python3_runs() {
    let out = run(&ExecRequest::new(
        vec![
            "python3".into(),
            "-c".into(),
            "import sys; print(sys.executable, sys.version_info[:2])".into(),
        ],
        Grant::default(),
    ))
    .outcome;
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "/usr/bin/python3 (3, 11)\n");
}

fn packages_dir() -> Option<PathBuf> {
    let deps = std::env::var_os("BUREAU_TEST_DEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.bureau-test/deps"));
    let dir = deps.join("sandbox-python");
    dir.join("numpy")
        .is_dir()
        .then(|| dir.canonicalize().unwrap())
}

#[test]
fn numpy_and_pandas_import_from_the_packages_folder() {
    let Some(pkgs) = packages_dir() else {
        eprintln!("SKIPPED: no sandbox-python folder; run scripts/test-deps/setup-sandbox.sh");
        return;
    };
    let mut config = NativeConfig::new(native::find_launcher().unwrap());
    config.python_packages = Some(pkgs);
    let sb = NativeSandbox::with_config(config).unwrap();
    let ws = tempfile::tempdir().unwrap();
    let mut req = ExecRequest::new(
        vec![
            "python3".into(),
            "-c".into(),
            "import numpy, pandas, matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n\
             df = pandas.DataFrame({'x': numpy.arange(4)})\nprint(int(df.x.sum()))\n\
             plt.plot(df.x); plt.savefig('plot.png')"
                .into(),
        ],
        Grant::default(),
    );
    req.workspace = Some(ws.path().to_owned());
    let out = sb.exec_native(&req).unwrap();
    assert_eq!(
        out.outcome.status,
        ExitStatus::Exited(0),
        "{}",
        text(&out.outcome.stderr)
    );
    assert_eq!(text(&out.outcome.stdout), "6\n");
    let png = fs::read(ws.path().join("plot.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let names: Vec<_> = fs::read_dir(ws.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        ["plot.png"],
        "nothing else (caches) lands in the workspace"
    );
}

#[test]
fn workspace_round_trip() {
    let ws = tempfile::tempdir().unwrap();
    let host = ws.path();
    fs::write(host.join("input.txt"), "from host\n").unwrap();
    fs::write(host.join("keep.txt"), "untouched\n").unwrap();
    fs::write(host.join("gone.txt"), "delete me\n").unwrap();
    fs::create_dir(host.join("olddir")).unwrap();
    fs::write(host.join("olddir/inner.txt"), "x").unwrap();
    fs::create_dir(host.join("replaced")).unwrap();
    fs::write(host.join("replaced/old.txt"), "old").unwrap();
    let keep_before = fs::metadata(host.join("keep.txt")).unwrap();
    let mut req = sh(
        "pwd; cat input.txt; cat keep.txt > /dev/null; echo new > out.txt; mkdir -p sub/deeper; \
         echo nested > sub/deeper/n.txt; rm gone.txt; rm -r olddir; echo more >> input.txt; \
         rm -r replaced; mkdir replaced; echo fresh > replaced/new.txt; chmod 4755 out.txt",
    );
    req.workspace = Some(host.to_owned());
    let out = run(&req);
    assert_eq!(
        out.outcome.status,
        ExitStatus::Exited(0),
        "{}",
        text(&out.outcome.stderr)
    );
    assert_eq!(text(&out.outcome.stdout), "/workspace\nfrom host\n");
    assert_eq!(fs::read_to_string(host.join("out.txt")).unwrap(), "new\n");
    assert_eq!(
        fs::read_to_string(host.join("sub/deeper/n.txt")).unwrap(),
        "nested\n"
    );
    assert_eq!(
        fs::read_to_string(host.join("input.txt")).unwrap(),
        "from host\nmore\n"
    );
    assert!(!host.join("gone.txt").exists());
    assert!(!host.join("olddir").exists());
    assert!(
        !host.join("replaced/old.txt").exists(),
        "opaque directory hides the old entries"
    );
    assert_eq!(
        fs::read_to_string(host.join("replaced/new.txt")).unwrap(),
        "fresh\n"
    );
    let keep_after = fs::metadata(host.join("keep.txt")).unwrap();
    assert_eq!(
        (
            keep_before.ino(),
            keep_before.mtime(),
            keep_before.mtime_nsec(),
            keep_before.ctime_nsec()
        ),
        (
            keep_after.ino(),
            keep_after.mtime(),
            keep_after.mtime_nsec(),
            keep_after.ctime_nsec()
        ),
        "an unchanged file is left alone"
    );
    let mode = fs::metadata(host.join("out.txt")).unwrap().mode();
    assert_eq!(mode & 0o7000, 0, "no setuid bit comes out of the sandbox");
    assert!(
        out.workspace.skipped.is_empty(),
        "{:?}",
        out.workspace.skipped
    );
    let leftovers: Vec<_> = fs::read_dir(host)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".bureau"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn files_in_workspace_keep_mtimes() {
    let ws = tempfile::tempdir().unwrap();
    let mut req = sh("echo a > a.txt; touch -d '2001-02-03 04:05:06' a.txt");
    req.workspace = Some(ws.path().to_owned());
    let out = run(&req);
    assert_eq!(
        out.outcome.status,
        ExitStatus::Exited(0),
        "{}",
        text(&out.outcome.stderr)
    );
    assert_eq!(
        fs::metadata(ws.path().join("a.txt")).unwrap().mtime(),
        981_173_106
    );
}

#[test]
fn planted_symlinks_are_not_followed() {
    let passwd_before = fs::read("/etc/passwd").unwrap();
    let ws = tempfile::tempdir().unwrap();
    let host = ws.path();
    fs::write(host.join("victim.txt"), "host data").unwrap();
    let mut req = sh("ln -s /etc/passwd evil; ln -s /etc evil_dir; mkfifo fifo; \
         rm victim.txt; ln -s /etc/passwd victim.txt; echo ok");
    req.workspace = Some(host.to_owned());
    let out = run(&req);
    assert_eq!(
        text(&out.outcome.stdout),
        "ok\n",
        "{}",
        text(&out.outcome.stderr)
    );
    for name in ["evil", "evil_dir", "fifo"] {
        let meta = fs::symlink_metadata(host.join(name));
        assert!(meta.is_err(), "{name} was applied: {meta:?}");
    }
    let skipped: Vec<String> = out
        .workspace
        .skipped
        .iter()
        .map(|s| s.path.display().to_string())
        .collect();
    for name in ["evil", "evil_dir", "fifo", "victim.txt"] {
        assert!(
            skipped.contains(&name.to_owned()),
            "{name} not reported: {skipped:?}"
        );
    }
    assert!(
        !fs::symlink_metadata(host.join("victim.txt"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read("/etc/passwd").unwrap(), passwd_before);
}

#[test]
fn a_host_symlink_in_the_workspace_is_never_written_through() {
    let outside = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), ws.path().join("link")).unwrap();
    // The sandbox replaces the host's link with a real directory.
    let mut req = sh("rm link; mkdir link; echo inside > link/f.txt");
    req.workspace = Some(ws.path().to_owned());
    let out = run(&req);
    assert_eq!(
        out.outcome.status,
        ExitStatus::Exited(0),
        "{}",
        text(&out.outcome.stderr)
    );
    assert!(
        fs::read_dir(outside.path()).unwrap().next().is_none(),
        "wrote through the link"
    );
    assert_eq!(
        fs::read_to_string(ws.path().join("link/f.txt")).unwrap(),
        "inside\n"
    );
}

#[test]
fn scratch_workspace_is_thrown_away() {
    let out = run(&sh("echo x > f; ls")).outcome;
    assert_eq!(text(&out.stdout), "f\n");
    let again = run(&sh("ls")).outcome;
    assert_eq!(text(&again.stdout), "");
}

#[test]
fn memory_limit() {
    let limits = Limits {
        memory_bytes: 64 << 20,
        ..Limits::default()
    };
    let mut req = ExecRequest::new(
        vec![
            "python3".into(),
            "-c".into(),
            "x = bytearray(300 << 20); print('survived')".into(),
        ],
        Grant::default(),
    );
    req.grant.limits = limits;
    let out = run(&req).outcome;
    assert!(out.limits_hit.contains(&LimitKind::Memory), "{out:?}");
    assert_eq!(out.status, ExitStatus::Signaled(9));
    assert!(!text(&out.stdout).contains("survived"));
}

#[test]
fn pids_limit() {
    let limits = Limits {
        pids: 8,
        ..Limits::default()
    };
    let out = run(&sh_with(
        "for i in $(seq 20); do sleep 30 & done; wait; echo done",
        limits,
    ))
    .outcome;
    assert!(out.limits_hit.contains(&LimitKind::Pids), "{out:?}");
    assert!(
        text(&out.stderr).contains("fork") || text(&out.stderr).contains("Resource"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn wall_time_limit_kills_the_tree() {
    let limits = Limits {
        wall_time: Duration::from_millis(500),
        ..Limits::default()
    };
    let started = Instant::now();
    let out = run(&sh_with("sleep 600 & sleep 600", limits)).outcome;
    assert!(out.limits_hit.contains(&LimitKind::WallTime), "{out:?}");
    assert_eq!(out.status, ExitStatus::Signaled(9));
    // Hang guard only: the sleeps would take ten minutes.
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[test]
fn cpu_time_limit() {
    let limits = Limits {
        cpu_time: Duration::from_secs(1),
        ..Limits::default()
    };
    let out = run(&sh_with("while :; do :; done", limits)).outcome;
    assert!(out.limits_hit.contains(&LimitKind::CpuTime), "{out:?}");
    assert!(matches!(out.status, ExitStatus::Signaled(_)));
    assert!(
        out.cpu_time
            // RLIMIT_CPU counts ticks, the cgroup counts nanoseconds: on a
            // VM they differ by ~10%, so only a loose bound here.
            .is_some_and(|c| c >= Duration::from_millis(500)),
        "{:?}",
        out.cpu_time
    );
}

#[test]
fn output_limit_truncates_and_kills() {
    let limits = Limits {
        output_bytes: 1000,
        ..Limits::default()
    };
    let out = run(&sh_with("yes; echo unreachable", limits)).outcome;
    assert!(out.limits_hit.contains(&LimitKind::Output), "{out:?}");
    assert!(out.stdout_truncated);
    assert!(!out.stderr_truncated);
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.stdout.starts_with(b"y\ny\n"));
}

#[test]
fn file_size_limit() {
    let limits = Limits {
        file_size_bytes: 1 << 20,
        ..Limits::default()
    };
    let out = run(&sh_with(
        "dd if=/dev/zero of=big bs=64k count=64; echo rc=$?",
        limits,
    ))
    .outcome;
    assert!(out.limits_hit.contains(&LimitKind::FileSize), "{out:?}");
    assert!(
        text(&out.stderr).contains("File too large"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("rc=1"));
}

#[test]
fn workspace_bytes_limit() {
    let ws = tempfile::tempdir().unwrap();
    let limits = Limits {
        workspace_bytes: 1 << 20,
        ..Limits::default()
    };
    let mut req = sh_with("dd if=/dev/zero of=big bs=64k count=64; echo rc=$?", limits);
    req.workspace = Some(ws.path().to_owned());
    let out = run(&req).outcome;
    assert!(out.limits_hit.contains(&LimitKind::Workspace), "{out:?}");
    assert!(
        text(&out.stderr).contains("No space left"),
        "{}",
        text(&out.stderr)
    );
    let written = fs::metadata(ws.path().join("big"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(written <= 1 << 20, "{written}");
}

#[test]
fn tmp_limit() {
    let limits = Limits {
        tmp_bytes: 1 << 20,
        ..Limits::default()
    };
    let out = run(&sh_with(
        "dd if=/dev/zero of=/tmp/big bs=64k count=64; echo rc=$?",
        limits,
    ))
    .outcome;
    assert!(out.limits_hit.contains(&LimitKind::Tmp), "{out:?}");
    assert!(
        text(&out.stderr).contains("No space left"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn no_process_survives_exec() {
    let marker = format!("{}", 900_000 + std::process::id() % 99_999);
    let out = run(&sh(&format!("sleep {marker} & setsid sleep {marker} & nohup sleep {marker} >/dev/null 2>&1 & echo started"))).outcome;
    assert_eq!(text(&out.stdout), "started\n");
    let survivors: Vec<String> = fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let cmd = fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (cmd.starts_with("sleep ") && cmd.contains(&marker))
                .then(|| format!("{:?}: {cmd}", e.file_name()))
        })
        .collect();
    assert!(survivors.is_empty(), "{survivors:?}");
}

fn cgroup_dirs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from("/sys/fs/cgroup")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                if e.file_name()
                    .to_string_lossy()
                    .starts_with("bureau-sandbox-")
                {
                    out.push(p);
                } else {
                    stack.push(p);
                }
            }
        }
    }
    out
}

#[test]
fn many_execs_leak_nothing() {
    let sb = sandbox();
    let ws = tempfile::tempdir().unwrap();
    for i in 0..15 {
        let mut req = sh(&format!("echo {i} > f{i}; echo {i}"));
        if i % 2 == 0 {
            req.workspace = Some(ws.path().to_owned());
        }
        let out = sb.exec(&req).unwrap();
        assert_eq!(text(&out.stdout), format!("{i}\n"));
    }
    // Our launchers are gone; a cgroup named after a dead launcher leaked.
    // (Other tests' sandboxes may be running right now, with live launchers.)
    let leaked: Vec<PathBuf> = cgroup_dirs()
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let pid = name
                .trim_start_matches("bureau-sandbox-")
                .split('-')
                .next()
                .unwrap_or("")
                .to_owned();
            !Path::new("/proc").join(pid).exists()
        })
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains("bureau"),
        "a sandbox mount reached the host: {mountinfo}"
    );
    let runtime = NativeConfig::new(PathBuf::new()).runtime_dir;
    assert!(
        fs::read_dir(&runtime).unwrap().next().is_none(),
        "{} not empty",
        runtime.display()
    );
    let mut names: Vec<String> = fs::read_dir(ws.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["f0", "f10", "f12", "f14", "f2", "f4", "f6", "f8"]);
}

#[test]
fn invalid_requests_are_rejected() {
    let sb = sandbox();
    let empty = ExecRequest::new(Vec::new(), Grant::default());
    assert!(matches!(
        sb.exec(&empty),
        Err(bureau_sandbox::SandboxError::InvalidRequest(_))
    ));
    let mut root = sh("true");
    root.grant.read_only_paths = vec!["/".into()];
    assert!(matches!(
        sb.exec(&root),
        Err(bureau_sandbox::SandboxError::InvalidRequest(_))
    ));
    let mut ws = sh("true");
    ws.workspace = Some("/definitely/not/here".into());
    assert!(matches!(
        sb.exec(&ws),
        Err(bureau_sandbox::SandboxError::Workspace { .. })
    ));
}

#[test]
fn read_only_paths_are_visible_and_read_only() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("data.csv"), "a,b\n1,2\n").unwrap();
    let p = dir.path().display().to_string();
    let mut req = sh(&format!(
        "cat {p}/data.csv; touch {p}/x 2>/dev/null && echo writable; true"
    ));
    req.grant.read_only_paths = vec![dir.path().to_owned()];
    let out = run(&req).outcome;
    assert_eq!(text(&out.stdout), "a,b\n1,2\n", "{}", text(&out.stderr));
    assert!(!dir.path().join("x").exists());
}

#[test]
fn doctor_reports_a_usable_backend() {
    let report = native::doctor();
    for c in &report.checks {
        eprintln!("{:?} {}: {}", c.status, c.name, c.detail);
    }
    assert!(report.checks.iter().any(|c| c.name == "landlock"));
    assert!(
        report
            .checks
            .iter()
            .all(|c| c.status != CheckStatus::Missing),
        "{:#?}",
        report.checks
    );
    assert!(report.usable(bureau_sandbox::Backend::Native));
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn bare(argv: &[&str], runs: usize) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let st = std::process::Command::new(argv[0])
                    .args(&argv[1..])
                    .status()
                    .unwrap();
                assert!(st.success());
                t.elapsed()
            })
            .collect(),
    )
}

fn sandboxed(sb: &NativeSandbox, argv: &[&str], runs: usize) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let out = sb
                    .exec(&ExecRequest::new(
                        argv.iter().map(|s| (*s).to_owned()).collect(),
                        Grant::default(),
                    ))
                    .unwrap();
                assert_eq!(out.status, ExitStatus::Exited(0));
                t.elapsed()
            })
            .collect(),
    )
}

/// Prints setup overhead (not asserted: timing depends on the machine).
#[test]
fn overhead_report() {
    let sb = sandbox();
    let runs = 50;
    let true_bare = bare(&["/usr/bin/true"], runs);
    let true_sb = sandboxed(&sb, &["/usr/bin/true"], runs);
    let py_bare = bare(&["/usr/bin/python3", "-c", "pass"], runs);
    let py_sb = sandboxed(&sb, &["/usr/bin/python3", "-c", "pass"], runs);
    println!(
        "OVERHEAD (median of {runs}): /usr/bin/true bare {true_bare:?} sandboxed {true_sb:?}; \
         python3 -c pass bare {py_bare:?} sandboxed {py_sb:?} ({:.2}x)",
        py_sb.as_secs_f64() / py_bare.as_secs_f64()
    );
}

fn wait_ready(pool: &native::WarmPool, n: usize) {
    let started = Instant::now();
    while pool.ready() < n {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "pool never filled"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn warm_pool_runs_code_in_the_callers_workspace() {
    let pool = native::WarmPool::new(
        sandbox(),
        native::WarmPoolConfig {
            size: 1,
            imports: vec!["json".into()],
            ..native::WarmPoolConfig::default()
        },
    )
    .unwrap();
    let ws = tempfile::tempdir().unwrap();
    fs::write(ws.path().join("in.txt"), "41").unwrap();
    let code = "import json, os\nn = int(open('in.txt').read())\nprint(os.getcwd(), json.dumps(n + 1))\n\
                open('out.txt', 'w').write('done')";
    let out = pool.run_python(code, Some(ws.path().to_owned())).unwrap();
    assert_eq!(
        out.outcome.status,
        ExitStatus::Exited(0),
        "{}",
        text(&out.outcome.stderr)
    );
    assert_eq!(text(&out.outcome.stdout), "/workspace 42\n");
    assert_eq!(
        fs::read_to_string(ws.path().join("out.txt")).unwrap(),
        "done"
    );
    // Single use: the next call gets a fresh sandbox without the old state.
    let again = pool
        .run_python(
            "import sys; print('json' in sys.modules, len(sys.argv))",
            None,
        )
        .unwrap();
    assert_eq!(
        text(&again.outcome.stdout),
        "True 1\n",
        "{}",
        text(&again.outcome.stderr)
    );
    let failing = pool.run_python("raise SystemExit(7)", None).unwrap();
    assert_eq!(failing.outcome.status, ExitStatus::Exited(7));
}

#[test]
fn warm_pool_enforces_limits() {
    let mut grant = Grant::default();
    grant.limits.wall_time = Duration::from_millis(500);
    let pool = native::WarmPool::new(
        sandbox(),
        native::WarmPoolConfig {
            size: 1,
            grant,
            ..native::WarmPoolConfig::default()
        },
    )
    .unwrap();
    let out = pool
        .run_python("import time\nwhile True: time.sleep(1)", None)
        .unwrap();
    assert!(
        out.outcome.limits_hit.contains(&LimitKind::WallTime),
        "{:?}",
        out.outcome
    );
}

/// Prints warm-pool latency (not asserted).
#[test]
fn warm_pool_latency_report() {
    let pool = native::WarmPool::new(
        sandbox(),
        native::WarmPoolConfig {
            size: 2,
            ..native::WarmPoolConfig::default()
        },
    )
    .unwrap();
    let mut times = Vec::new();
    for _ in 0..20 {
        wait_ready(&pool, 2);
        let t = Instant::now();
        let out = pool.run_python("print(1)", None).unwrap();
        times.push(t.elapsed());
        assert_eq!(text(&out.outcome.stdout), "1\n");
    }
    let p50 = median(times);
    let mut line = format!("WARM POOL print(1) p50 {p50:?}");
    if let Some(pkgs) = packages_dir() {
        let mut config = NativeConfig::new(native::find_launcher().unwrap());
        config.python_packages = Some(pkgs);
        let pool = native::WarmPool::new(
            NativeSandbox::with_config(config).unwrap(),
            native::WarmPoolConfig {
                size: 1,
                imports: vec!["pandas".into()],
                ..native::WarmPoolConfig::default()
            },
        )
        .unwrap();
        let mut times = Vec::new();
        for _ in 0..5 {
            wait_ready(&pool, 1);
            let t = Instant::now();
            let out = pool
                .run_python(
                    "import pandas as pd\nprint(pd.DataFrame({'a': [1, 2, 3]}).a.sum())",
                    None,
                )
                .unwrap();
            times.push(t.elapsed());
            assert_eq!(
                text(&out.outcome.stdout),
                "6\n",
                "{}",
                text(&out.outcome.stderr)
            );
        }
        line.push_str(&format!(
            "; pandas snippet with pandas pre-imported p50 {:?}",
            median(times)
        ));
    }
    println!("{line}");
}

const WRITE_PROC: &str = "try:\n    open('/proc/self/comm', 'w').write('x')\n    print('written')\nexcept OSError as e:\n    print('denied', e.errno)";

#[test]
fn landlock_denies_writes_outside_the_writable_places() {
    let out = run(&ExecRequest::new(
        vec!["python3".into(), "-c".into(), WRITE_PROC.into()],
        Grant::default(),
    ));
    assert_eq!(
        text(&out.outcome.stdout),
        "denied 13\n",
        "{}",
        text(&out.outcome.stderr)
    );
    assert!(out.landlock.contains("fully enforced"), "{}", out.landlock);
    let pool = native::WarmPool::new(
        sandbox(),
        native::WarmPoolConfig {
            size: 1,
            ..native::WarmPoolConfig::default()
        },
    )
    .unwrap();
    let warm = pool.run_python(WRITE_PROC, None).unwrap();
    assert_eq!(
        text(&warm.outcome.stdout),
        "denied 13\n",
        "{}",
        text(&warm.outcome.stderr)
    );
}

#[test]
fn a_workspace_owned_by_another_user_is_writable_and_keeps_its_owner() {
    let ws = tempfile::tempdir().unwrap();
    let host = ws.path();
    fs::write(host.join("data.txt"), "one\n").unwrap();
    std::os::unix::fs::chown(host, Some(1000), Some(1000)).unwrap();
    std::os::unix::fs::chown(host.join("data.txt"), Some(1000), Some(1000)).unwrap();
    let mut req =
        sh("stat -c '%u %g' . data.txt; echo two >> data.txt; mkdir made; echo x > made/new.txt");
    req.workspace = Some(host.to_owned());
    let out = run(&req).outcome;
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "0 0\n0 0\n",
        "the folder's owner is root inside"
    );
    assert_eq!(
        fs::read_to_string(host.join("data.txt")).unwrap(),
        "one\ntwo\n"
    );
    for p in ["data.txt", "made", "made/new.txt"] {
        let m = fs::metadata(host.join(p)).unwrap();
        assert_eq!((m.uid(), m.gid()), (1000, 1000), "{p}");
    }
}

#[test]
fn sparse_files_stay_sparse_on_the_host() {
    let ws = tempfile::tempdir().unwrap();
    let limits = Limits {
        workspace_bytes: 4 << 20,
        ..Limits::default()
    };
    let mut req = ExecRequest::new(
        vec![
            "python3".into(),
            "-c".into(),
            "f = open('sparse.bin', 'wb'); f.seek(100 << 20); f.write(b'end'); f.close()".into(),
        ],
        Grant {
            limits,
            ..Grant::default()
        },
    );
    req.workspace = Some(ws.path().to_owned());
    let out = run(&req).outcome;
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", text(&out.stderr));
    let meta = fs::metadata(ws.path().join("sparse.bin")).unwrap();
    assert_eq!(meta.len(), (100 << 20) + 3);
    assert!(
        meta.blocks() * 512 < 1 << 20,
        "{} bytes allocated",
        meta.blocks() * 512
    );
    let mut f = fs::File::open(ws.path().join("sparse.bin")).unwrap();
    let mut tail = [0u8; 3];
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(100 << 20)).unwrap();
    std::io::Read::read_exact(&mut f, &mut tail).unwrap();
    assert_eq!(&tail, b"end");
}

#[test]
fn deep_trees_are_cut_and_reported() {
    let ws = tempfile::tempdir().unwrap();
    let mut req = ExecRequest::new(
        vec![
            "python3".into(),
            "-c".into(),
            "import os\nos.makedirs('/'.join(['d'] * 300))\nos.chdir('/'.join(['d'] * 300))\n\
             open('bottom.txt', 'w').write('x')\nos.chdir('/workspace')\nopen('top.txt', 'w').write('y')"
                .into(),
        ],
        Grant::default(),
    );
    req.workspace = Some(ws.path().to_owned());
    let out = run(&req);
    assert_eq!(
        out.outcome.status,
        ExitStatus::Exited(0),
        "{}",
        text(&out.outcome.stderr)
    );
    assert_eq!(fs::read_to_string(ws.path().join("top.txt")).unwrap(), "y");
    assert_eq!(
        out.workspace.skipped.len(),
        1,
        "{:?}",
        out.workspace.skipped
    );
    assert!(out.workspace.skipped[0].reason.contains("deeper than"));
    let depth = out.workspace.skipped[0].path.components().count();
    assert_eq!(depth, native::MAX_WORKSPACE_DEPTH + 1);
}

#[test]
fn hard_links_come_back_as_links_within_the_size_limit() {
    let ws = tempfile::tempdir().unwrap();
    let limits = Limits {
        workspace_bytes: 4 << 20,
        ..Limits::default()
    };
    let mut req = sh_with(
        "head -c 1048576 /dev/urandom > a; for i in 1 2 3 4 5 6 7 8; do ln a l$i; done; \
         mkdir -p d1 d2 d3; for i in $(seq 1000); do mkdir d1/$i 2>/dev/null || break; done; echo ok",
        limits,
    );
    req.workspace = Some(ws.path().to_owned());
    let out = run(&req);
    assert_eq!(
        text(&out.outcome.stdout),
        "ok\n",
        "{}",
        text(&out.outcome.stderr)
    );
    let a = fs::metadata(ws.path().join("a")).unwrap();
    let l8 = fs::metadata(ws.path().join("l8")).unwrap();
    assert_eq!(a.ino(), l8.ino(), "a hard link, not a copy");
    assert_eq!(a.nlink(), 9);
    let mut allocated = 0;
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![ws.path().to_owned()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let m = fs::symlink_metadata(e.path()).unwrap();
            if seen.insert(m.ino()) {
                allocated += m.blocks() * 512;
            }
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    assert!(
        allocated <= (4 << 20) + (1 << 20),
        "the host got {allocated} bytes for a 4 MiB limit"
    );
}
