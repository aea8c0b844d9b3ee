//! The sandbox attack suite, reusable against any [`Sandbox`] backend.
//!
//! Each probe is a small program (Python 3 stdlib, some `/bin/sh`) run in
//! its own sandbox under tight limits; it prints one line
//! `RESULT: BLOCKED|LIMITED|EXPOSED <detail>`. The runner combines that line
//! with the [`bureau_sandbox::ExecOutcome`] (limits hit, status, output size)
//! and with checks on the host (canary process alive, secret and
//! `/etc/passwd` unchanged, listeners untouched, no leftover process or
//! file) into one verdict per probe. Only BLOCKED and LIMITED pass; a probe
//! that cannot tell is a failure.
//!
//! Reuse from another backend's crate:
//! `#[path = "../../sandbox/tests/attacks/mod.rs"] mod attacks;` then
//! `attacks::run_family(&backend, attacks::Family::Network)` and assert
//! `report.failures().is_empty()`. It needs `bureau-sandbox`, `sha2`,
//! `tempfile` and `rustix` (feature `process`) as dev-dependencies, and
//! runs as root (it reads every `/proc/*/environ` for leftover processes).
//! Check that [`cgroup_marker`] names the backend's cgroups.

mod cross;
mod host;
mod table;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use bureau_sandbox::{Backend, ExecOutcome, ExecRequest, ExitStatus, Grant, LimitKind, Sandbox};

pub use cross::cross_sandbox;
pub use host::{HostFixture, KEEP_FILE, kill_group, prepare_workspace};
pub use table::{Extra, Family, Judge, Probe, Program, probes};

/// How one probe ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Blocked,
    Limited,
    Exposed,
    /// Blocked in a way that breaks what must keep working (threads).
    Broken,
    /// The probe could not tell: no RESULT line and no limit explains it.
    Undetermined,
    /// The sandbox returned an error instead of running the probe.
    Error,
    /// Not run: a probe it depends on did not pass.
    NotRun,
}

impl Verdict {
    pub fn passed(self) -> bool {
        matches!(self, Verdict::Blocked | Verdict::Limited)
    }

    fn as_str(self) -> &'static str {
        match self {
            Verdict::Blocked => "BLOCKED",
            Verdict::Limited => "LIMITED",
            Verdict::Exposed => "EXPOSED",
            Verdict::Broken => "BROKEN",
            Verdict::Undetermined => "UNDETERMINED",
            Verdict::Error => "ERROR",
            Verdict::NotRun => "NOT RUN",
        }
    }

    fn parse(s: &str) -> Option<Verdict> {
        Some(match s {
            "BLOCKED" => Verdict::Blocked,
            "LIMITED" => Verdict::Limited,
            "EXPOSED" => Verdict::Exposed,
            "BROKEN" => Verdict::Broken,
            "UNDETERMINED" => Verdict::Undetermined,
            _ => return None,
        })
    }
}

/// One row of the report.
#[derive(Clone, Debug)]
pub struct Row {
    pub probe: &'static str,
    pub promise: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    pub wall: Duration,
    pub limits_hit: Vec<LimitKind>,
}

/// A family's results.
#[derive(Clone, Debug)]
pub struct Report {
    pub family: Family,
    pub backend: String,
    pub rows: Vec<Row>,
}

impl Report {
    pub fn failures(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| !r.verdict.passed()).collect()
    }

    pub fn table(&self) -> String {
        let mut out = format!(
            "\n== attack suite: {} on {} ({} probes) ==\n",
            self.family.name(),
            self.backend,
            self.rows.len()
        );
        out.push_str(&format!(
            "{:<24} {:<12} {:>7}  {}\n",
            "probe", "verdict", "ms", "detail"
        ));
        for r in &self.rows {
            let limits = if r.limits_hit.is_empty() {
                String::new()
            } else {
                format!(" [limits hit: {:?}]", r.limits_hit)
            };
            out.push_str(&format!(
                "{:<24} {:<12} {:>7}  {}{}\n",
                r.probe,
                r.verdict.as_str(),
                r.wall.as_millis(),
                r.detail,
                limits
            ));
        }
        let failed = self.failures().len();
        out.push_str(&format!(
            "-- {} passed, {} failed\n",
            self.rows.len() - failed,
            failed
        ));
        out
    }
}

/// Runs every probe of `family` against `sandbox`, each in a fresh sandbox
/// with its own host workspace, and checks the host after each.
pub fn run_family(sandbox: &dyn Sandbox, family: Family) -> Report {
    run_family_except(sandbox, family, &[])
}

/// [`run_family`] without the probes named in `skip` (for a self-check
/// that runs probes unconfined, where some would harm the host).
pub fn run_family_except(sandbox: &dyn Sandbox, family: Family, skip: &[&str]) -> Report {
    let backend = sandbox.backend().as_str().to_string();
    let mut rows = Vec::new();
    let mut fixture = match HostFixture::new() {
        Ok(f) => f,
        Err(e) => {
            rows.push(Row {
                probe: "host_fixture",
                promise: "the host side of the suite can be set up",
                verdict: Verdict::Error,
                detail: format!("could not set up the host fixture: {e}"),
                wall: Duration::ZERO,
                limits_hit: Vec::new(),
            });
            return Report {
                family,
                backend,
                rows,
            };
        }
    };
    let (alive, watch) = mpsc::channel::<&'static str>();
    let watchdog = std::thread::spawn(move || watchdog(watch));
    for probe in probes()
        .into_iter()
        .filter(|p| p.family == family && !skip.contains(&p.name))
    {
        let _ = alive.send(probe.name);
        if let Extra::After(first) = probe.extra {
            let ok = rows
                .iter()
                .any(|r: &Row| r.probe == first && r.verdict == Verdict::Blocked);
            if !ok {
                rows.push(Row {
                    probe: probe.name,
                    promise: probe.promise,
                    verdict: Verdict::NotRun,
                    detail: format!("not run: needs {first} BLOCKED first (unsafe otherwise)"),
                    wall: Duration::ZERO,
                    limits_hit: Vec::new(),
                });
                continue;
            }
        }
        rows.push(run_probe(sandbox, &mut fixture, &probe));
    }
    drop(alive);
    let _ = watchdog.join();
    let cgroups = fixture.leftover_cgroups(cgroup_marker(sandbox.backend()));
    rows.push(Row {
        probe: "teardown_cgroups",
        promise: "no cgroup directory outlives the family's sandboxes",
        verdict: if cgroups.is_empty() {
            Verdict::Blocked
        } else {
            Verdict::Exposed
        },
        detail: if cgroups.is_empty() {
            "no new cgroup directory left".to_string()
        } else {
            format!("left behind: {}", cgroups.join(", "))
        },
        wall: Duration::ZERO,
        limits_hit: Vec::new(),
    });
    Report {
        family,
        backend,
        rows,
    }
}

/// The part of a cgroup path that names the backend's sandboxes (native:
/// `bureau-sandbox-<launcher pid>-<nanos>`), so that other backends'
/// cgroups made by tests running at the same time are not counted.
fn cgroup_marker(backend: Backend) -> &'static str {
    match backend {
        Backend::Native => "bureau-sandbox-",
        Backend::Gvisor => "bureau-gvisor",
        Backend::Microvm => "bureau-microvm",
    }
}

/// Ends the whole test process if one exec hangs far past its limits: a
/// hang (say, a host collector blocked on a FIFO) must fail loudly.
fn watchdog(watch: mpsc::Receiver<&'static str>) {
    let mut current = "start";
    loop {
        match watch.recv_timeout(Duration::from_secs(90)) {
            Ok(name) => current = name,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                eprintln!("attack suite: probe {current} hung for 90 s; exec never returned");
                std::process::exit(101);
            }
        }
    }
}

fn run_probe(sandbox: &dyn Sandbox, fixture: &mut HostFixture, probe: &Probe) -> Row {
    let row = |verdict, detail: String, wall, limits_hit| Row {
        probe: probe.name,
        promise: probe.promise,
        verdict,
        detail,
        wall,
        limits_hit,
    };
    let token = match host::random_hex(6) {
        Ok(r) => format!("{}-{r}", probe.name),
        Err(e) => {
            return row(
                Verdict::Error,
                format!("no randomness: {e}"),
                Duration::ZERO,
                vec![],
            );
        }
    };
    let workspace = match tempfile::Builder::new()
        .prefix("bureau-attack-ws-")
        .tempdir()
    {
        Ok(w) => w,
        Err(e) => {
            return row(
                Verdict::Error,
                format!("no workspace: {e}"),
                Duration::ZERO,
                vec![],
            );
        }
    };
    let decoys = fixture.dir.path().join(format!("decoys-{token}"));
    if probe.extra == Extra::HostLinks
        && let Err(e) = std::fs::create_dir_all(&decoys)
            .and_then(|()| host::plant_host_links(&decoys, workspace.path()))
    {
        return row(
            Verdict::Error,
            format!("cannot plant host links: {e}"),
            Duration::ZERO,
            vec![],
        );
    }
    if let Err(e) = host::prepare_workspace(workspace.path()) {
        return row(
            Verdict::Error,
            format!("cannot fill the workspace: {e}"),
            Duration::ZERO,
            vec![],
        );
    }
    let request = request_for(probe, fixture, &token, workspace.path());
    let l = &probe.limits;
    let started = Instant::now();
    let outcome = sandbox.exec(&request);
    let wall = started.elapsed();
    let mut host_findings = fixture.check(&token, workspace.path(), l.workspace_bytes);
    if probe.extra == Extra::HostLinks {
        host_findings.extend(host::host_link_findings(&decoys));
    }
    if probe.extra == Extra::NoFileCaps {
        match host::files_with_caps(workspace.path()) {
            Ok(files) if files.is_empty() => {}
            Ok(files) => host_findings.push(format!(
                "file capabilities reached the host: {}",
                files.join(", ")
            )),
            Err(e) => host_findings.push(e),
        }
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let mut detail = format!("exec failed: {e}");
            if !host_findings.is_empty() {
                detail.push_str(&format!("; HOST: {}", host_findings.join("; ")));
                return row(Verdict::Exposed, detail, wall, vec![]);
            }
            return row(Verdict::Error, detail, wall, vec![]);
        }
    };
    let (mut verdict, mut detail) = judge(probe, &outcome);
    if probe.extra == Extra::ReportOwner {
        // Informative: a backend that copies files back as host root owns
        // them as root whatever the sandbox ran as; the uid map decides.
        match host::owner_of_marked_file(workspace.path(), &token) {
            Some(uid) => {
                detail.push_str(&format!("; its workspace file is owned by host uid {uid}"))
            }
            None => detail.push_str("; its workspace file did not reach the host folder"),
        }
    }
    if !host_findings.is_empty() {
        verdict = Verdict::Exposed;
        detail = format!("HOST: {} | probe said: {detail}", host_findings.join("; "));
    }
    row(verdict, detail, wall, outcome.limits_hit.clone())
}

/// The request that runs `probe` with the host facts, its token and its
/// limits in the environment.
fn request_for(
    probe: &Probe,
    fixture: &HostFixture,
    token: &str,
    workspace: &std::path::Path,
) -> ExecRequest {
    let argv = match probe.program {
        Program::Python => {
            let code = format!(
                "{}\n{}\n{}",
                table::PRELUDE,
                probe.family.python(),
                EPILOGUE
            );
            vec!["python3".into(), "-c".into(), code, probe.name.into()]
        }
        Program::PythonSource(source) => {
            let code = format!("{}\n{}\n{}", table::PRELUDE, source, EPILOGUE);
            vec!["python3".into(), "-c".into(), code, probe.name.into()]
        }
        Program::Sh(script) => vec!["/bin/sh".into(), "-c".into(), script.into()],
    };
    let l = &probe.limits;
    let mut env = fixture.probe_env(workspace);
    env.extend(
        [
            ("PROBE_TOKEN", token.to_string()),
            ("PROBE_PIDS", l.pids.to_string()),
            ("PROBE_MEMORY", l.memory_bytes.to_string()),
            ("PROBE_WORKSPACE_BYTES", l.workspace_bytes.to_string()),
            ("PROBE_TMP_BYTES", l.tmp_bytes.to_string()),
            ("PROBE_FILE_SIZE", l.file_size_bytes.to_string()),
            ("PROBE_OPEN_FILES", l.open_files.to_string()),
            ("PROBE_OUTPUT_BYTES", l.output_bytes.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v)),
    );
    ExecRequest {
        argv,
        env,
        workspace: Some(workspace.to_path_buf()),
        stdin: Vec::new(),
        grant: Grant {
            limits: probe.limits.clone(),
            ..Grant::default()
        },
    }
}

const EPILOGUE: &str = r#"
try:
    globals()["p_" + sys.argv[1]]()
except SystemExit:
    raise
except BaseException as exc:
    result("UNDETERMINED", "probe raised %s: %s" % (type(exc).__name__, exc))
result("UNDETERMINED", "probe returned without a verdict")
"#;

/// The probe's own RESULT line combined with the outcome.
fn judge(probe: &Probe, o: &ExecOutcome) -> (Verdict, String) {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let results: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT: "))
        .collect();
    let said = match results.as_slice() {
        [] => None,
        [one] => {
            let (kind, rest) = one.split_once(' ').unwrap_or((one, ""));
            Some((
                Verdict::parse(kind).unwrap_or(Verdict::Undetermined),
                rest.to_string(),
            ))
        }
        many => Some((
            Verdict::Undetermined,
            format!("{} RESULT lines: {}", many.len(), many.join(" | ")),
        )),
    };
    let limit = probe.limits.output_bytes;
    let captured = o.stdout.len().max(o.stderr.len()) as u64;
    if captured > limit {
        return (
            Verdict::Exposed,
            format!("captured {captured} bytes, past the output limit of {limit}"),
        );
    }
    let stopped_by = |kinds: &[LimitKind]| -> Option<String> {
        if let Some(k) = o.limits_hit.iter().find(|k| kinds.contains(k)) {
            return Some(format!("stopped by the {k:?} limit ({:?})", o.status));
        }
        if kinds.contains(&LimitKind::Output) && (o.stdout_truncated || o.stderr_truncated) {
            return Some("capture truncated at the output limit".into());
        }
        match o.status {
            ExitStatus::Signaled(24) if kinds.contains(&LimitKind::CpuTime) => {
                Some("killed by SIGXCPU (cpu time limit)".into())
            }
            ExitStatus::Signaled(25) if kinds.contains(&LimitKind::FileSize) => {
                Some("killed by SIGXFSZ (file size limit)".into())
            }
            _ => None,
        }
    };
    let tail = || {
        let err = String::from_utf8_lossy(&o.stderr);
        let t: String = err
            .chars()
            .rev()
            .take(200)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!(
            "status {:?}, limits hit {:?}, stdout {} B, stderr tail: {}",
            o.status,
            o.limits_hit,
            o.stdout.len(),
            t.split_whitespace().collect::<Vec<_>>().join(" ")
        )
    };
    match (probe.judge, said) {
        (_, Some((v @ (Verdict::Exposed | Verdict::Broken | Verdict::Undetermined), d))) => (v, d),
        (Judge::Says, Some((v, d))) => (v, d),
        (Judge::Says, None) => (Verdict::Undetermined, format!("no RESULT line; {}", tail())),
        (Judge::Limit(kinds), said) => match (stopped_by(kinds), said) {
            (Some(how), Some((_, d))) => (Verdict::Limited, format!("{how}; probe: {d}")),
            (Some(how), None) => (Verdict::Limited, how),
            (None, Some((v, d))) => (v, d),
            (None, None) => (
                Verdict::Undetermined,
                format!("not stopped by {kinds:?}; {}", tail()),
            ),
        },
    }
}
