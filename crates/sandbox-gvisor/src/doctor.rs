//! What the gVisor backend can use and enforce on this host.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use bureau_sandbox::{Backend, Check, CheckStatus};

use crate::cgroup::CgroupLayout;
use crate::{find_runsc, runsc_version};

fn check(name: &str, status: CheckStatus, detail: impl Into<String>) -> Check {
    Check {
        backend: Backend::Gvisor,
        name: name.into(),
        status,
        detail: detail.into(),
    }
}

/// Checks for `bureau sandbox doctor`: runsc and its version, the platform
/// used, root, and which limits are enforced how.
pub fn doctor() -> Vec<Check> {
    let mut checks = Vec::new();
    let Some(runsc) = find_runsc() else {
        checks.push(check(
            "runsc",
            CheckStatus::Missing,
            "runsc not found in /usr/bin, /usr/sbin or /usr/local/bin: apt-get install runsc",
        ));
        return checks;
    };
    match runsc_version(&runsc) {
        Ok(v) => checks.push(check(
            "runsc",
            CheckStatus::Ok,
            format!("{}: {v}", runsc.display()),
        )),
        Err(e) => checks.push(check(
            "runsc",
            CheckStatus::Missing,
            format!("{} does not run: {e}", runsc.display()),
        )),
    }
    let platforms = Command::new(&runsc)
        .args(["help", "platforms"])
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let systrap = platforms.lines().any(|l| l.trim() == "systrap");
    checks.push(check(
        "platform",
        CheckStatus::Ok,
        if systrap {
            "ptrace (this runsc also offers systrap, which is not used yet)"
        } else {
            "ptrace (this runsc has no systrap; its kvm platform hangs on PVM hosts)"
        },
    ));
    checks.push(if rustix::process::geteuid().is_root() {
        check("root", CheckStatus::Ok, "running as root")
    } else {
        check(
            "root",
            CheckStatus::Missing,
            "runsc needs root here: run bureau as root",
        )
    });
    let cgroups = CgroupLayout::new(PathBuf::from("/sys/fs/cgroup"));
    checks.push(if cgroups.has_v1_memory() {
        check(
            "cgroup memory",
            CheckStatus::Ok,
            "cgroup v1 memory limit set by runsc on the whole sandbox; peak memory and CPU \
             time reported (they include gVisor's own kernel)",
        )
    } else {
        check(
            "cgroup memory",
            CheckStatus::Degraded,
            "no cgroup v1 memory controller at /sys/fs/cgroup/memory: runsc applies the limit \
             its own way, and peak memory is not reported",
        )
    });
    checks.push(check(
        "cpu time",
        if cgroups.has_v1_memory() {
            CheckStatus::Ok
        } else {
            CheckStatus::Degraded
        },
        "this runsc ignores RLIMIT_CPU: the sandbox's cgroup CPU time (gVisor's kernel \
         included) is polled every 100 ms and the container killed past the limit",
    ));
    checks.push(check(
        "pids",
        CheckStatus::Ok,
        "enforced as RLIMIT_NPROC by gVisor's kernel (fork fails); not reported in limits_hit",
    ));
    checks.push(check(
        "tmp and workspace size",
        CheckStatus::Degraded,
        "this runsc ignores tmpfs size=: /tmp and a scratch /workspace are bounded only by the \
         memory limit; workspace_bytes is not enforced on a host workspace",
    ));
    checks.push(check(
        "statx",
        CheckStatus::Degraded,
        "runsc 20221219 (the version measured) rejects statx(AT_NO_AUTOMOUNT), so coreutils 9 \
         `ls PATH` and `stat` fail with EINVAL inside the sandbox; Python, find and most \
         programs work. Other runsc versions were not checked",
    ));
    checks.push(check(
        "network",
        CheckStatus::Ok,
        "--network=none: the sandbox has only its own loopback",
    ));
    checks
}
