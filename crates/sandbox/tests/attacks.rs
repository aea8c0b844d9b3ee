//! The attack suite against the native backend: one test per family, each
//! printing a table of probes and verdicts (`cargo nextest run -p
//! bureau-sandbox --test attacks --no-capture` shows them). Every probe must
//! end BLOCKED or LIMITED. The suite lives in `attacks/` so other backends
//! can run it too (see `attacks/mod.rs`).
#![expect(
    clippy::panic,
    reason = "the shared helper fails the calling test loudly when the backend is missing"
)]

#[path = "attacks/mod.rs"]
mod attacks;

#[path = "attacks/unconfined.rs"]
mod unconfined;

#[path = "attacks/warm.rs"]
mod warm;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;

use attacks::{Family, Program, Verdict};
use bureau_sandbox::native::NativeSandbox;

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Runs one family on the native backend; fails loudly when the backend is
/// unavailable as root (the suite must never pass vacuously).
fn attack(family: Family) {
    let sandbox = match NativeSandbox::discover() {
        Ok(s) => s,
        Err(e) if running_as_root() => {
            panic!("the native sandbox must be available as root on Linux, but: {e}")
        }
        Err(e) => {
            println!(
                "SKIPPED attack suite ({}): not root and the native sandbox is unavailable: {e}",
                family.name()
            );
            return;
        }
    };
    let report = attacks::run_family(&sandbox, family);
    println!("{}", report.table());
    let failures: Vec<String> = report
        .failures()
        .iter()
        .map(|r| {
            format!(
                "{} {:?}: {} (promise: {})",
                r.probe, r.verdict, r.detail, r.promise
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} probe(s) of {} failed:\n{}",
        failures.len(),
        family.name(),
        failures.join("\n")
    );
}

#[test]
fn host_files_are_not_readable() {
    attack(Family::HostFiles);
}

#[test]
fn writes_outside_the_workspace_do_not_reach_the_host() {
    attack(Family::Writes);
}

#[test]
fn links_and_special_files_in_the_workspace_are_not_followed() {
    attack(Family::Collection);
}

#[test]
fn no_network_egress() {
    attack(Family::Network);
}

#[test]
fn dangerous_syscalls_are_denied_and_threads_still_work() {
    attack(Family::Syscalls);
}

#[test]
fn no_privilege_inside() {
    attack(Family::Privilege);
}

#[test]
fn signals_do_not_reach_the_host() {
    attack(Family::Signals);
}

#[test]
fn bombs_are_stopped_by_limits() {
    attack(Family::Bombs);
}

#[test]
fn nothing_about_the_host_leaks() {
    attack(Family::Leaks);
}

/// Two sandboxes running at the same time see nothing of each other.
#[test]
fn concurrent_sandboxes_do_not_see_each_other() {
    let sandbox = match NativeSandbox::discover() {
        Ok(s) => s,
        Err(e) if running_as_root() => {
            panic!("the native sandbox must be available as root on Linux, but: {e}")
        }
        Err(e) => {
            println!("SKIPPED cross-sandbox check: not root and no native sandbox: {e}");
            return;
        }
    };
    let row = attacks::cross_sandbox(&sandbox);
    println!(
        "cross_sandbox {:?} ({} ms): {}",
        row.verdict,
        row.wall.as_millis(),
        row.detail
    );
    assert!(
        row.verdict.passed(),
        "{:?}: {} (promise: {})",
        row.verdict,
        row.detail,
        row.promise
    );
}

/// The same probes through the warm pool (`WarmPool::run_python`), the
/// path the Python tool takes: pre-started sandboxes must keep every
/// promise the cold path keeps.
#[test]
fn warm_pool_resists_the_suite() {
    let native = match NativeSandbox::discover() {
        Ok(s) => s,
        Err(e) if running_as_root() => {
            panic!("the native sandbox must be available as root on Linux, but: {e}")
        }
        Err(e) => {
            println!("SKIPPED warm pool attack suite: not root and no native sandbox: {e}");
            return;
        }
    };
    let sandbox = warm::WarmPoolSandbox { native };
    let mut failures = Vec::new();
    let cross = attacks::cross_sandbox(&sandbox);
    println!("warm cross_sandbox {:?}: {}", cross.verdict, cross.detail);
    if !cross.verdict.passed() {
        failures.push(format!(
            "cross_sandbox {:?}: {}",
            cross.verdict, cross.detail
        ));
    }
    for family in Family::ALL {
        let report = attacks::run_family(&sandbox, family);
        println!(
            "{}",
            report.table().replace("on native", "on native warm pool")
        );
        failures.extend(report.failures().iter().map(|r| {
            format!(
                "{}/{} {:?}: {}",
                family.name(),
                r.probe,
                r.verdict,
                r.detail
            )
        }));
    }
    assert!(
        failures.is_empty(),
        "{} warm-pool probe(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The table itself: enough probes, every family covered, names unique and
/// each Python probe defined in its family's source.
#[test]
fn probe_table_covers_the_brief() {
    let probes = attacks::probes();
    assert!(probes.len() >= 45, "only {} probes", probes.len());
    let names: BTreeSet<&str> = probes.iter().map(|p| p.name).collect();
    assert_eq!(names.len(), probes.len(), "probe names must be unique");
    for family in Family::ALL {
        assert!(
            probes.iter().any(|p| p.family == family),
            "family {} has no probe",
            family.name()
        );
    }
    for p in &probes {
        if let Program::Python = p.program {
            let def = format!("def p_{}():", p.name);
            assert!(
                p.family.python().contains(&def),
                "{} is missing from {}.py",
                def,
                p.family.name()
            );
        }
    }
}

/// The host-side checks themselves can fail: a leftover process carrying
/// the token, a token file outside the workspace, a connection to the
/// listener, a changed workspace file and a leftover cgroup are all noticed.
#[test]
fn host_checks_notice_changes() {
    use std::io::Write;
    let mut fixture = attacks::HostFixture::new().unwrap();
    let ws = tempfile::tempdir().unwrap();
    attacks::prepare_workspace(ws.path()).unwrap();
    assert!(fixture.check("clean", ws.path(), 1 << 20).is_empty());

    let env = fixture.probe_env(ws.path());
    let port = env
        .iter()
        .find(|(k, _)| k == "PROBE_TCP_PORT")
        .unwrap()
        .1
        .clone();
    let _conn = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    let token = "selftest-0123";
    let mut straggler = std::process::Command::new("sleep")
        .arg("30")
        .env("PROBE_TOKEN", token)
        .spawn()
        .unwrap();
    let stray = std::env::temp_dir().join(format!("bureau-probe-{token}"));
    std::fs::write(&stray, "x").unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(ws.path().join(attacks::KEEP_FILE))
        .unwrap()
        .write_all(b"changed")
        .unwrap();
    std::fs::write(ws.path().join("big"), vec![1u8; 3 << 20]).unwrap();

    let found = fixture.check(token, ws.path(), 1 << 20).join("\n");
    let _ = straggler.wait();
    for needle in [
        "accepted a connection",
        "outlived exec",
        "was created on the host",
        "changed or lost",
        "past the 1 MiB workspace limit",
    ] {
        assert!(found.contains(needle), "missing {needle:?} in:\n{found}");
    }
    assert!(!stray.exists(), "the stray file is removed");

    let pids = std::path::Path::new("/sys/fs/cgroup/pids");
    if !running_as_root() || !pids.is_dir() {
        println!("SKIPPED the cgroup half: needs root and /sys/fs/cgroup/pids");
        return;
    }
    let leak = pids.join("bureau-sandbox-attack-selftest");
    std::fs::create_dir(&leak).unwrap();
    let left = fixture.leftover_cgroups("bureau-sandbox-");
    std::fs::remove_dir(&leak).unwrap();
    assert_eq!(left, vec![leak.display().to_string()]);
}

/// Proves the probes can fail: run without any sandbox (as a plain child
/// process), most of them must say EXPOSED. Manual only, as root on a
/// throwaway machine: unconfined probes write to host `/`, `/etc`, `/usr`
/// (marked files, removed afterwards), load nothing but reach the kernel.
/// Probes that would harm the host or read other processes are skipped.
#[test]
#[ignore = "runs probes unconfined on the host; manual self-check only"]
fn probes_detect_exposure_when_unconfined() {
    const SKIP: &[&str] = &[
        "sig_kill_all",
        "sys_ptrace_pid1",
        "sys_setns_proc1",
        "write_proc_sys",
        "write_sys",
        "proc1_environ",
        "leak_proc_environ",
        "leak_pid_list",
        "hunt_planted_secret",
        "sh_fork_bomb",
        // Orphans would be reparented to the host's PID 1.
        "bomb_fork",
        "bomb_zombie_flood",
        "bomb_orphan_daemon",
        "bomb_cpu_spin",
        "bomb_dev_shm",
        // They would touch the host's PID 1 (the machine's own agent).
        "sys_pidfd_getfd",
        "priv_proc_exe_write",
        "priv_pid1_handles",
        "sys_legacy_io",
        "bomb_sleep_forever",
        "sh_sleep_tree",
        "sh_yes_flood",
    ];
    let sandbox = unconfined::Unconfined;
    let mut exposed = 0;
    let mut total = 0;
    for family in Family::ALL {
        let report = attacks::run_family_except(&sandbox, family, SKIP);
        println!("{}", report.table());
        for row in &report.rows {
            if row.probe == "teardown_cgroups" {
                continue;
            }
            total += 1;
            if row.verdict == Verdict::Exposed {
                exposed += 1;
            }
        }
    }
    let cross = attacks::cross_sandbox(&sandbox);
    println!(
        "unconfined cross_sandbox {:?}: {}",
        cross.verdict, cross.detail
    );
    assert_eq!(
        cross.verdict,
        Verdict::Exposed,
        "the cross check must notice"
    );
    println!("unconfined: {exposed} of {total} probes EXPOSED");
    assert!(
        exposed * 2 > total,
        "only {exposed} of {total} probes noticed they run unconfined"
    );
}
