//! The gVisor backend against the real runsc (installed by
//! `scripts/test-deps/setup-gvisor.sh`).
#![expect(clippy::unwrap_used, reason = "test helpers")]

use std::fs;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bureau_sandbox::{ExecOutcome, ExecRequest, ExitStatus, Grant, LimitKind, Sandbox};
use bureau_sandbox_gvisor::{GvisorSandbox, doctor};
use tempfile::TempDir;

/// A sandbox with its own state folder, or `None` (after printing why)
/// when runsc is not installed.
struct Fixture {
    sandbox: GvisorSandbox,
    state: TempDir,
}

fn fixture() -> Option<Fixture> {
    let found = match GvisorSandbox::discover() {
        Ok(found) => found,
        Err(e) if e.to_string().contains("runsc was not found") => {
            println!("SKIPPED: runsc not installed (run scripts/setup-test-deps.sh)");
            return None;
        }
        Err(e) => {
            println!("SKIPPED: gVisor unavailable: {e}");
            return None;
        }
    };
    let state = tempfile::tempdir().unwrap();
    let sandbox = GvisorSandbox::new(found.runsc().to_path_buf(), state.path().to_path_buf());
    Some(Fixture { sandbox, state })
}

fn request(argv: &[&str]) -> ExecRequest {
    ExecRequest::new(
        argv.iter().map(|s| (*s).to_owned()).collect(),
        Grant::default(),
    )
}

fn sh(script: &str) -> ExecRequest {
    request(&["/bin/sh", "-c", script])
}

fn run(f: &Fixture, r: &ExecRequest) -> ExecOutcome {
    f.sandbox.exec(r).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Nothing of the exec is left: no bundle, no runsc state.
fn assert_clean(state: &Path) {
    for sub in ["bundles", "runsc"] {
        let left: Vec<PathBuf> = fs::read_dir(state.join(sub))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left behind in {sub}: {left:?}");
    }
}

#[test]
fn echo_runs_and_everything_is_cleaned_up() {
    let Some(f) = fixture() else { return };
    let out = run(&f, &request(&["echo", "hello", "gvisor"]));
    assert_eq!(text(&out.stdout), "hello gvisor\n");
    assert_eq!(out.status, ExitStatus::Exited(0));
    assert!(out.limits_hit.is_empty(), "{:?}", out.limits_hit);
    assert_eq!(out.backend, bureau_sandbox::Backend::Gvisor);
    assert_clean(f.state.path());
}

#[test]
fn exit_codes_and_stderr_come_back() {
    let Some(f) = fixture() else { return };
    let out = run(&f, &sh("echo oops >&2; exit 3"));
    assert_eq!(out.status, ExitStatus::Exited(3));
    assert_eq!(text(&out.stderr), "oops\n");
    let missing = run(&f, &request(&["no-such-command-bureau"]));
    assert_eq!(missing.status, ExitStatus::Exited(127));
}

#[test]
fn stdin_is_piped_in() {
    let Some(f) = fixture() else { return };
    let mut r = request(&["cat"]);
    r.stdin = b"line one\nline two\n".to_vec();
    let out = run(&f, &r);
    assert_eq!(text(&out.stdout), "line one\nline two\n");
}

#[test]
fn environment_is_only_the_fixed_set_and_the_request() {
    let Some(f) = fixture() else { return };
    let mut r = request(&["env"]);
    r.env = vec![("BUREAU_TEST".into(), "yes".into())];
    let out = run(&f, &r);
    let mut env: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    env.sort();
    assert_eq!(
        env,
        vec![
            "BUREAU_TEST=yes",
            "HOME=/workspace",
            "LANG=C.UTF-8",
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "TMPDIR=/tmp"
        ]
    );
}

#[test]
fn workspace_files_round_trip_and_the_root_is_read_only() {
    let Some(f) = fixture() else { return };
    let ws = tempfile::tempdir().unwrap();
    fs::write(ws.path().join("in.txt"), "from host\n").unwrap();
    let mut r = sh(
        "pwd; cat in.txt; echo from sandbox > out.txt; touch /usr/x 2>/dev/null || echo ro-usr; \
                    touch /x 2>/dev/null || echo ro-root; echo tmp > /tmp/t && cat /tmp/t",
    );
    r.workspace = Some(ws.path().to_path_buf());
    let out = run(&f, &r);
    assert_eq!(
        text(&out.stdout),
        "/workspace\nfrom host\nro-usr\nro-root\ntmp\n",
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        fs::read_to_string(ws.path().join("out.txt")).unwrap(),
        "from sandbox\n"
    );
}

#[test]
fn read_only_paths_are_visible_but_not_writable() {
    let Some(f) = fixture() else { return };
    let extra = tempfile::tempdir().unwrap();
    fs::write(extra.path().join("lib.txt"), "shared\n").unwrap();
    let p = extra.path().display().to_string();
    let mut r = sh(&format!(
        "cat {p}/lib.txt; echo x > {p}/new 2>/dev/null || echo refused"
    ));
    r.grant.read_only_paths = vec![extra.path().to_path_buf()];
    let out = run(&f, &r);
    assert_eq!(
        text(&out.stdout),
        "shared\nrefused\n",
        "{}",
        text(&out.stderr)
    );
    assert!(!extra.path().join("new").exists());
}

#[test]
fn network_cannot_reach_a_host_listener() {
    let Some(f) = fixture() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let out = run(
        &f,
        &request(&[
            "bash",
            "-c",
            &format!("echo hi > /dev/tcp/127.0.0.1/{port} && echo connected || echo failed"),
        ]),
    );
    assert_eq!(
        text(&out.stdout),
        "failed\n",
        "stderr: {}",
        text(&out.stderr)
    );
    assert_eq!(
        listener.accept().map(|_| ()).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

#[test]
fn host_etc_shadow_is_not_there() {
    let Some(f) = fixture() else { return };
    let out = run(&f, &sh("cat /etc/shadow; echo rc=$?; cat /etc/passwd"));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("rc=1\nroot:x:0:0:root:/workspace:"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("No such file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn wall_clock_kills_a_sleeper() {
    let Some(f) = fixture() else { return };
    let mut r = request(&["sleep", "1000"]);
    r.grant.limits.wall_time = Duration::from_secs(2);
    let started = Instant::now();
    let out = run(&f, &r);
    assert_eq!(out.limits_hit, vec![LimitKind::WallTime]);
    assert_eq!(out.status, ExitStatus::Signaled(9));
    // A hang guard, not a timing assertion.
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_clean(f.state.path());
}

#[test]
fn output_is_capped_and_the_command_killed() {
    let Some(f) = fixture() else { return };
    let mut r = request(&["yes"]);
    r.grant.limits.output_bytes = 4096;
    let out = run(&f, &r);
    assert_eq!(out.stdout.len(), 4096);
    assert!(out.stdout_truncated && !out.stderr_truncated);
    assert_eq!(out.limits_hit, vec![LimitKind::Output]);
    assert_eq!(out.status, ExitStatus::Signaled(9));
    assert_clean(f.state.path());
}

#[test]
fn memory_limit_stops_a_hog_and_peak_memory_is_reported() {
    let Some(f) = fixture() else { return };
    let small = run(&f, &request(&["true"]));
    let baseline = small.peak_memory_bytes;
    let mut r = request(&["dd", "if=/dev/zero", "of=/dev/null", "bs=300M", "count=1"]);
    r.grant.limits.memory_bytes = 128 << 20;
    let out = run(&f, &r);
    println!(
        "peak memory: true {baseline:?}, hog {:?}",
        out.peak_memory_bytes
    );
    if baseline.is_none() {
        println!("SKIPPED memory assertions: no cgroup v1 memory controller on this host");
        return;
    }
    assert_eq!(
        out.limits_hit,
        vec![LimitKind::Memory],
        "{}",
        text(&out.stderr)
    );
    assert_ne!(out.status, ExitStatus::Exited(0));
    assert!(out.peak_memory_bytes.unwrap() >= 120 << 20);
}

#[test]
fn file_size_and_process_limits_are_enforced() {
    let Some(f) = fixture() else { return };
    let mut r = request(&["dd", "if=/dev/zero", "of=/tmp/big", "bs=1M", "count=4"]);
    r.grant.limits.file_size_bytes = 1 << 20;
    let out = run(&f, &r);
    assert_eq!(
        out.limits_hit,
        vec![LimitKind::FileSize],
        "{}",
        text(&out.stderr)
    );

    let mut r = sh("i=0; while [ $i -lt 20 ]; do sleep 3 & i=$((i+1)); done; echo spawned $i");
    r.grant.limits.pids = 8;
    let out = run(&f, &r);
    assert!(
        !text(&out.stdout).contains("spawned 20"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("fork"), "{}", text(&out.stderr));
}

#[test]
fn background_processes_end_with_the_command() {
    let Some(f) = fixture() else { return };
    let started = Instant::now();
    let out = run(&f, &sh("sleep 1000 & echo started"));
    assert_eq!(text(&out.stdout), "started\n");
    assert_eq!(out.status, ExitStatus::Exited(0));
    assert!(out.limits_hit.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "exec waited for the background sleep"
    );
    assert_clean(f.state.path());
}

#[test]
fn invalid_requests_fail_before_anything_starts() {
    let Some(f) = fixture() else { return };
    let mut r = request(&["cat", "/etc/shadow"]);
    r.grant.read_only_paths = vec![PathBuf::from("/etc")];
    let err = f.sandbox.exec(&r).unwrap_err();
    assert!(
        matches!(err, bureau_sandbox::SandboxError::InvalidRequest(_)),
        "{err:?}"
    );
    let mut r = request(&["true"]);
    r.workspace = Some(PathBuf::from("/nonexistent/bureau/ws"));
    let err = f.sandbox.exec(&r).unwrap_err();
    assert!(
        matches!(err, bureau_sandbox::SandboxError::Workspace { .. }),
        "{err:?}"
    );
    assert_clean(f.state.path());
}

#[test]
fn doctor_reports_runsc_and_the_platform() {
    let Some(_f) = fixture() else { return };
    let checks = doctor();
    let runsc = checks.iter().find(|c| c.name == "runsc").unwrap();
    assert_eq!(runsc.status, bureau_sandbox::CheckStatus::Ok);
    assert!(runsc.detail.contains("runsc version"), "{}", runsc.detail);
    assert!(
        checks
            .iter()
            .any(|c| c.name == "platform" && c.detail.starts_with("ptrace"))
    );
    for c in &checks {
        println!("doctor: {} {:?}: {}", c.name, c.status, c.detail);
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Prints (does not assert) what runsc adds to `/usr/bin/true`.
#[test]
fn overhead_of_true_through_runsc_versus_bare() {
    let Some(f) = fixture() else { return };
    const RUNS: usize = 20;
    let mut bare = Vec::new();
    let mut gvisor = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        assert!(Command::new("/usr/bin/true").status().unwrap().success());
        bare.push(t.elapsed());
        let t = Instant::now();
        let out = run(&f, &request(&["/usr/bin/true"]));
        gvisor.push(t.elapsed());
        assert_eq!(out.status, ExitStatus::Exited(0));
    }
    println!(
        "/usr/bin/true over {RUNS} runs: bare median {:?}, runsc median {:?} (min {:?}, max {:?})",
        median(bare),
        median(gvisor.clone()),
        gvisor.iter().min().unwrap(),
        gvisor.iter().max().unwrap()
    );
    if !Path::new("/usr/bin/python3").exists() {
        println!("SKIPPED python measurement: /usr/bin/python3 not installed");
        return;
    }
    let (mut bare, mut gvisor) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        let out = Command::new("/usr/bin/python3")
            .args(["-c", "print(1)"])
            .output()
            .unwrap();
        bare.push(t.elapsed());
        assert_eq!(out.stdout, b"1\n");
        let t = Instant::now();
        let out = run(&f, &request(&["/usr/bin/python3", "-c", "print(1)"]));
        gvisor.push(t.elapsed());
        assert_eq!(out.stdout, b"1\n");
    }
    println!(
        "python3 -c 'print(1)' over 5 runs: bare median {:?}, runsc median {:?}",
        median(bare),
        median(gvisor)
    );
}

#[test]
fn cpu_time_limit_stops_a_busy_loop() {
    let Some(f) = fixture() else { return };
    let mut r = request(&["/bin/sh", "-c", "while :; do :; done"]);
    r.grant.limits.cpu_time = Duration::from_secs(1);
    r.grant.limits.wall_time = Duration::from_secs(30);
    let out = run(&f, &r);
    assert_eq!(out.limits_hit, vec![LimitKind::CpuTime], "{:?}", out.status);
    println!(
        "cpu-bound loop: wall {:?}, sandbox cpu {:?}",
        out.wall_time, out.cpu_time
    );
}
