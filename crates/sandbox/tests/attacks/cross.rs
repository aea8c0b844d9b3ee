//! Two sandboxes at once must not see each other: the owner leaves traces
//! in every place two sandboxes could share (abstract socket, files in
//! `/tmp` and `/dev/shm`, SysV IPC, a loopback port, its process) and waits;
//! the seeker, started meanwhile, looks for each. The owner's and seeker's
//! `CLOCK_MONOTONIC` stamps prove the runs overlapped; without that proof
//! the check is UNDETERMINED, never a pass.

use std::time::{Duration, Instant};

use bureau_sandbox::{ExecOutcome, Sandbox, SandboxError};

use super::table::{Family, Judge, Probe, Program, base_limits};
use super::{Extra, HostFixture, Row, Verdict, host, judge, request_for};

const SOURCE: &str = include_str!("probes/cross.py");

fn probe(name: &'static str, promise: &'static str) -> Probe {
    Probe {
        name,
        family: Family::Leaks,
        promise,
        program: Program::PythonSource(SOURCE),
        limits: base_limits(),
        judge: Judge::Says,
        extra: Extra::None,
    }
}

fn stamp(out: &ExecOutcome, what: &str) -> Option<f64> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(what)?.trim().parse().ok())
}

/// Runs the owner and, while it waits, the seeker; one report row.
pub fn cross_sandbox(sandbox: &dyn Sandbox) -> Row {
    let owner = probe("cross_owner", "leaves traces for a concurrent sandbox");
    let seeker = probe(
        "cross_sandbox",
        "a sandbox sees nothing of another running at the same time",
    );
    let fail = |verdict, detail: String| Row {
        probe: seeker.name,
        promise: seeker.promise,
        verdict,
        detail,
        wall: Duration::ZERO,
        limits_hit: Vec::new(),
    };
    let setup = || -> std::io::Result<_> {
        let fixture = HostFixture::new()?;
        let cross = host::random_hex(6)?;
        let port = 20_000 + u16::from_str_radix(&host::random_hex(2)?, 16).unwrap_or(0) % 40_000;
        let ws_owner = tempfile::tempdir()?;
        let ws_seeker = tempfile::tempdir()?;
        host::prepare_workspace(ws_owner.path())?;
        host::prepare_workspace(ws_seeker.path())?;
        Ok((fixture, cross, port, ws_owner, ws_seeker))
    };
    let (mut fixture, cross, port, ws_owner, ws_seeker) = match setup() {
        Ok(s) => s,
        Err(e) => return fail(Verdict::Error, format!("setup failed: {e}")),
    };
    let (tok_owner, tok_seeker) = (
        format!("cross_owner-{cross}"),
        format!("cross_seeker-{cross}"),
    );
    let mut req_owner = request_for(&owner, &fixture, &tok_owner, ws_owner.path());
    let mut req_seeker = request_for(&seeker, &fixture, &tok_seeker, ws_seeker.path());
    for req in [&mut req_owner, &mut req_seeker] {
        req.env.push(("PROBE_CROSS".into(), cross.clone()));
        req.env.push(("PROBE_CROSS_PORT".into(), port.to_string()));
    }
    let started = Instant::now();
    let (out_owner, out_seeker): (
        Result<ExecOutcome, SandboxError>,
        Result<ExecOutcome, SandboxError>,
    ) = std::thread::scope(|s| {
        let owner_run = s.spawn(|| sandbox.exec(&req_owner));
        // Enough for the owner to start; the stamps below check it did.
        std::thread::sleep(Duration::from_secs(2));
        let seeker_out = sandbox.exec(&req_seeker);
        let owner_out = owner_run
            .join()
            .unwrap_or_else(|_| Err(SandboxError::Launcher("owner thread panicked".into())));
        (owner_out, seeker_out)
    });
    let wall = started.elapsed();
    let mut findings = fixture.check(&tok_owner, ws_owner.path(), base_limits().workspace_bytes);
    findings.extend(fixture.check(&tok_seeker, ws_seeker.path(), base_limits().workspace_bytes));
    let (o, k) = match (out_owner, out_seeker) {
        (Ok(o), Ok(k)) => (o, k),
        (Err(e), _) | (_, Err(e)) => return fail(Verdict::Error, format!("exec failed: {e}")),
    };
    let (verdict, mut detail) = judge(&seeker, &k);
    let overlap = match (
        stamp(&o, "READY"),
        stamp(&k, "CHECK"),
        stamp(&k, "CHECKED"),
        stamp(&o, "DONE"),
    ) {
        (Some(ready), Some(check), Some(checked), Some(done)) => ready < check && checked < done,
        _ => false,
    };
    let verdict = if !findings.is_empty() {
        detail = format!("HOST: {} | seeker said: {detail}", findings.join("; "));
        Verdict::Exposed
    } else if verdict.passed() && !overlap {
        detail = format!(
            "the runs did not provably overlap (owner: {}; seeker: {detail})",
            String::from_utf8_lossy(&o.stdout).trim()
        );
        Verdict::Undetermined
    } else {
        verdict
    };
    Row {
        probe: seeker.name,
        promise: seeker.promise,
        verdict,
        detail,
        wall,
        limits_hit: k.limits_hit.clone(),
    }
}
