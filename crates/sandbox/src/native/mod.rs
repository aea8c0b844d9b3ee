//! The native Linux backend: Firecracker's jailer sequence, in Rust.
//!
//! Each [`NativeSandbox::exec`] spawns the launcher (`bureau-sandbox-init`,
//! or `bureau` with a hidden subcommand calling [`launcher_main`]), a
//! single-threaded root process, and hands it the request as JSON: a
//! multithreaded caller never forks into namespaces itself. The launcher
//! enters a private mount namespace (its mounts vanish with it), creates a
//! cgroup (v2 when its memory and pids controllers exist, else v1 memory +
//! pids + cpuacct; under the hierarchy root by default, see
//! [`CgroupParent`]), stages `/tmp` and `/workspace`, and clones PID 1 of new
//! user, pid, mount, net, ipc, uts and cgroup namespaces; uid/gid 0 inside
//! is [`NativeConfig::uid_base`] outside. PID 1 pivots into a read-only
//! tmpfs root holding read-only binds of `/usr` (and the merged-usr links),
//! a generated `/etc` (passwd, group, hosts, nsswitch, ld.so.cache — never
//! the host's `/etc/shadow`), a minimal `/dev` (null, zero, full, random,
//! urandom, fd links, a `/dev/shm` tmpfs), a fresh `/proc`, and each granted
//! read-only path; then it forks the command with a clean environment
//! (`PATH`, `HOME=/workspace`, `LANG`, `TMPDIR` plus the request's), all
//! other descriptors closed, rlimits, Landlock (rw only in `/workspace`,
//! `/tmp`, `/dev/shm` and the null-like devices), no capabilities,
//! `no_new_privs` and the seccomp filter of [`seccomp::DENY`]. PID 1 reaps
//! zombies and reports the command's status; when it exits the kernel kills
//! the rest of the namespace. The network namespace is empty (loopback down).
//!
//! **Limits.** Memory and pids: the cgroup (an OOM kill reports
//! [`crate::LimitKind::Memory`], a refused fork [`crate::LimitKind::Pids`]).
//! CPU: `RLIMIT_CPU` per process and the cgroup's CPU time for the tree.
//! Wall clock and output: the launcher kills PID 1. Open files and file
//! size: `RLIMIT_NOFILE`, `RLIMIT_FSIZE` with `SIGXFSZ` ignored (writes fail
//! with `EFBIG`; reported when a file of the limit's size is found in the
//! workspace or `/tmp`). Workspace and `/tmp`: tmpfs sizes (`ENOSPC`;
//! reported when the filesystem is full). `cpu_time` and
//! `peak_memory_bytes` come from the cgroup.
//!
//! **Workspace.** The host folder is the lower layer of an overlay whose
//! upper layer is a tmpfs of `workspace_bytes` (so the sandbox can add at
//! most that much, copy-ups included); the lower layer is a read-only
//! idmapped mount in which the folder's owner is the sandbox's root (other
//! owners show as nobody). After the command the launcher applies the upper
//! layer back onto the folder: regular files and directories only, through
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, never following a link
//! or special file the sandbox planted (those are listed in
//! [`WorkspaceReport::skipped`]); deletions and replaced directories are
//! applied, mtimes kept, unchanged files left alone, setuid bits dropped;
//! new entries belong to the folder's owner. Without a folder,
//! `/workspace` is a scratch tmpfs.
//!
//! **Python.** `python3` inside is the host's `/usr/bin/python3` (Debian's
//! 3.11 here) with its standard library under `/usr`. Extra packages come
//! from a host folder set as [`NativeConfig::python_packages`]: it is bound
//! read-only at the same path and put on `PYTHONPATH` (and `MPLCONFIGDIR`,
//! `XDG_CACHE_HOME` point into `/tmp` so no cache lands in the workspace).
//! Add packages with `python3.11 -m pip install --target <folder> <package>`
//! (wheels for cp311); `scripts/test-deps/setup-sandbox.sh` does this for
//! numpy, pandas and matplotlib. Any other folder can be granted per request
//! through `Grant::read_only_paths`. [`WarmPool`] keeps Python sandboxes
//! started with modules imported, for low-latency snippets.
//!
//! **Requirements.** The launcher runs as root (cgroups, uid maps, idmapped
//! mounts); the workspace folder's filesystem must support idmapped mounts
//! (ext4, xfs, btrfs, tmpfs ≥ 6.3). [`doctor`] checks the rest.

mod applyback;
mod cgroup;
mod command;
mod init;
mod launcher;
mod pool;
pub mod seccomp;
mod spec;
mod stage;
mod supervise;
mod sys;

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

pub use applyback::MAX_DEPTH as MAX_WORKSPACE_DEPTH;
pub use cgroup::Parent as CgroupParent;
pub use command::SANDBOX_PATH;
pub use launcher::launcher_main;
pub use pool::{WarmPool, WarmPoolConfig};
pub use spec::{NativeOutcome, Phases, Skipped, WorkspaceReport};

use crate::{
    Backend, Check, CheckStatus, DoctorReport, ExecOutcome, ExecRequest, Sandbox, SandboxError,
};

/// File name of the launcher binary.
pub const LAUNCHER_NAME: &str = "bureau-sandbox-init";

/// Host settings of the native backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeConfig {
    /// The launcher executable.
    pub launcher: PathBuf,
    /// Arguments before the launcher reads its spec (a hidden subcommand).
    pub launcher_args: Vec<String>,
    /// First host uid/gid of the 65,536 the sandbox's ids map to.
    pub uid_base: u32,
    /// An existing or creatable directory the launcher mounts its private
    /// staging tmpfs on (only inside its own mount namespace).
    pub runtime_dir: PathBuf,
    /// A folder of extra Python packages, bound read-only and put on `PYTHONPATH`.
    pub python_packages: Option<PathBuf>,
    /// Where the per-sandbox cgroups are created.
    pub cgroup_parent: CgroupParent,
}

impl NativeConfig {
    /// Defaults around a launcher path.
    pub fn new(launcher: PathBuf) -> Self {
        Self {
            launcher,
            launcher_args: Vec::new(),
            uid_base: 100_000,
            runtime_dir: PathBuf::from("/run/bureau-sandbox"),
            python_packages: None,
            cgroup_parent: CgroupParent::Root,
        }
    }
}

/// Runs commands in fresh Linux namespaces on this host.
#[derive(Debug, Clone)]
pub struct NativeSandbox {
    config: NativeConfig,
}

fn unavailable(reason: impl Into<String>) -> SandboxError {
    SandboxError::Unavailable {
        backend: "native",
        reason: reason.into(),
    }
}

/// Looks for the launcher next to the running executable and in its parent
/// directory (test binaries live in `target/*/deps/`, binaries one up).
pub fn find_launcher() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [Some(dir), dir.parent()]
        .into_iter()
        .flatten()
        .map(|d| d.join(LAUNCHER_NAME))
        .find(|p| p.is_file())
}

impl NativeSandbox {
    /// Finds what the backend needs on this host.
    pub fn discover() -> Result<Self, SandboxError> {
        let launcher = find_launcher().ok_or_else(|| {
            unavailable(format!("the launcher `{LAUNCHER_NAME}` is not next to this executable; build it with `cargo build -p bureau-sandbox`"))
        })?;
        Self::with_launcher(launcher)
    }

    /// Uses the launcher at `path`, with default settings.
    pub fn with_launcher(path: PathBuf) -> Result<Self, SandboxError> {
        Self::with_config(NativeConfig::new(path))
    }

    pub fn with_config(config: NativeConfig) -> Result<Self, SandboxError> {
        if !config.launcher.is_file() {
            return Err(unavailable(format!(
                "launcher {} not found",
                config.launcher.display()
            )));
        }
        if !config.runtime_dir.is_absolute() {
            return Err(SandboxError::InvalidRequest(
                "runtime_dir must be an absolute path".into(),
            ));
        }
        if let Some(p) = &config.python_packages {
            check_read_only_path(p)?;
        }
        Ok(Self { config })
    }

    pub fn config(&self) -> &NativeConfig {
        &self.config
    }

    /// Like [`Sandbox::exec`], plus what happened to the workspace folder
    /// and the Landlock status.
    pub fn exec_native(&self, request: &ExecRequest) -> Result<NativeOutcome, SandboxError> {
        validate(request)?;
        let spec = spec::LaunchSpec {
            argv: request.argv.clone(),
            env: request.env.clone(),
            workspace: request.workspace.clone(),
            stdin: request.stdin.clone(),
            limits: request.grant.limits.clone(),
            read_only_paths: request.grant.read_only_paths.clone(),
            settings: spec::LaunchSettings {
                uid_base: self.config.uid_base,
                runtime_dir: self.config.runtime_dir.clone(),
                python_packages: self.config.python_packages.clone(),
                cgroup_parent: self.config.cgroup_parent,
            },
            warm: None,
        };
        let input = serde_json::to_vec(&spec).map_err(|e| SandboxError::Launcher(e.to_string()))?;
        let mut child = Command::new(&self.config.launcher)
            .args(&self.config.launcher_args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| SandboxError::Setup {
                step: "spawn launcher",
                source,
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A launcher that died early shows up in its reply below.
            let _ = stdin.write_all(&input);
        }
        let output = child
            .wait_with_output()
            .map_err(|source| SandboxError::Setup {
                step: "wait for launcher",
                source,
            })?;
        match spec::read_reply(&output.stdout) {
            Ok(Ok(done)) => Ok(done),
            Ok(Err((step, message))) => Err(SandboxError::Launcher(format!("{step}: {message}"))),
            Err(e) => Err(SandboxError::Launcher(format!(
                "{e} (launcher {}, stderr: {})",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))),
        }
    }
}

fn check_read_only_path(p: &Path) -> Result<(), SandboxError> {
    let bad = |why: &str| {
        Err(SandboxError::InvalidRequest(format!(
            "read-only path {}: {why}",
            p.display()
        )))
    };
    if !p.is_absolute() {
        return bad("must be absolute");
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return bad("must not contain `..`");
    }
    let normal: Vec<_> = p
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    let Some(first) = normal.first() else {
        return bad("the host's `/` is never shown to a sandbox");
    };
    if ["workspace", "proc", "dev", "tmp", "etc"]
        .iter()
        .any(|n| first.as_os_str() == *n)
        && normal.len() == 1
    {
        return bad("that path is provided by the sandbox itself");
    }
    if ["workspace", "proc", "dev"]
        .iter()
        .any(|n| first.as_os_str() == *n)
    {
        return bad("paths under /workspace, /proc and /dev are provided by the sandbox itself");
    }
    Ok(())
}

fn validate(request: &ExecRequest) -> Result<(), SandboxError> {
    if request.argv.is_empty() || request.argv.iter().any(|a| a.contains('\0')) {
        return Err(SandboxError::InvalidRequest(
            "argv must be non-empty and free of NUL bytes".into(),
        ));
    }
    for (k, v) in &request.env {
        if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
            return Err(SandboxError::InvalidRequest(format!(
                "bad environment variable name {k:?}"
            )));
        }
    }
    for p in &request.grant.read_only_paths {
        check_read_only_path(p)?;
    }
    if let Some(ws) = &request.workspace
        && (!ws.is_absolute() || !ws.is_dir())
    {
        return Err(SandboxError::Workspace {
            path: ws.clone(),
            message: "must be an existing directory given by absolute path".into(),
        });
    }
    Ok(())
}

impl Sandbox for NativeSandbox {
    fn backend(&self) -> Backend {
        Backend::Native
    }

    fn exec(&self, request: &ExecRequest) -> Result<ExecOutcome, SandboxError> {
        self.exec_native(request).map(|n| n.outcome)
    }
}

fn check(name: &str, status: CheckStatus, detail: impl Into<String>) -> Check {
    Check {
        backend: Backend::Native,
        name: name.into(),
        status,
        detail: detail.into(),
    }
}

/// What the native backend can use on this host. Runs `/usr/bin/true` in a
/// sandbox to prove the namespaces, mounts and filters work end to end.
pub fn doctor() -> DoctorReport {
    doctor_with(find_launcher().map(NativeConfig::new))
}

/// The native backend's checks for a given launcher configuration (the
/// `bureau` binary is its own launcher); `None`: no launcher was found.
pub fn doctor_with(config: Option<NativeConfig>) -> DoctorReport {
    let mut checks = Vec::new();
    checks.push(match &config {
        Some(c) if c.launcher.is_file() => check(
            "launcher",
            CheckStatus::Ok,
            format!("{} {}", c.launcher.display(), c.launcher_args.join(" "))
                .trim_end()
                .to_owned(),
        ),
        Some(c) => check(
            "launcher",
            CheckStatus::Missing,
            format!("{} does not exist", c.launcher.display()),
        ),
        None => check(
            "launcher",
            CheckStatus::Missing,
            format!("`{LAUNCHER_NAME}` not found next to this executable"),
        ),
    });
    checks.push(if sys::geteuid() == 0 {
        check("root", CheckStatus::Ok, "running as root")
    } else {
        check(
            "root",
            CheckStatus::Missing,
            "the launcher needs root for cgroups, uid maps and idmapped mounts",
        )
    });
    checks.push(match sys::landlock_abi() {
        Some(abi) => check("landlock", CheckStatus::Ok, format!("ABI {abi}")),
        None => check(
            "landlock",
            CheckStatus::Degraded,
            "not offered by this kernel; namespaces, seccomp and capabilities still apply",
        ),
    });
    let seccomp_ok =
        std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s.contains("Seccomp:"));
    checks.push(if seccomp_ok {
        check(
            "seccomp",
            CheckStatus::Ok,
            format!(
                "filter of {} reviewed rules",
                seccomp::DENY.len() + seccomp::DENY_ARCH.len()
            ),
        )
    } else {
        check(
            "seccomp",
            CheckStatus::Missing,
            "kernel without seccomp filters",
        )
    });
    checks.push(match cgroup::Layout::detect() {
        Ok(l) => check("cgroup memory and pids", CheckStatus::Ok, l.describe()),
        Err(e) => check(
            "cgroup memory and pids",
            CheckStatus::Missing,
            e.to_string(),
        ),
    });
    let overlay = std::fs::read_to_string("/proc/filesystems")
        .is_ok_and(|s| s.lines().any(|l| l.ends_with("overlay")));
    checks.push(if overlay {
        check(
            "overlayfs",
            CheckStatus::Ok,
            "workspace writes go to a bounded upper layer",
        )
    } else {
        check(
            "overlayfs",
            CheckStatus::Missing,
            "load the overlay module: `modprobe overlay`",
        )
    });
    checks.push(if Path::new("/usr/bin/python3").is_file() {
        check("python3", CheckStatus::Ok, "/usr/bin/python3")
    } else {
        check(
            "python3",
            CheckStatus::Degraded,
            "install python3 for the python tool",
        )
    });
    let e2e = match config {
        Some(c) => NativeSandbox::with_config(c).and_then(|s| {
            s.exec_native(&ExecRequest::new(
                vec!["/usr/bin/true".into()],
                crate::Grant::default(),
            ))
        }),
        None => Err(unavailable("no launcher")),
    };
    checks.push(match e2e {
        Ok(n) if n.outcome.status == crate::ExitStatus::Exited(0) => check(
            "namespaces (user, pid, mount, net, ipc, uts, cgroup)",
            CheckStatus::Ok,
            format!("ran /usr/bin/true; landlock {}", n.landlock),
        ),
        Ok(n) => check(
            "namespaces (user, pid, mount, net, ipc, uts, cgroup)",
            CheckStatus::Missing,
            format!("/usr/bin/true ended {:?}", n.outcome.status),
        ),
        Err(e) => check(
            "namespaces (user, pid, mount, net, ipc, uts, cgroup)",
            CheckStatus::Missing,
            e.to_string(),
        ),
    });
    DoctorReport { checks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_paths_are_checked() {
        assert!(check_read_only_path(Path::new("/")).is_err());
        assert!(check_read_only_path(Path::new("relative")).is_err());
        assert!(check_read_only_path(Path::new("/opt/../etc")).is_err());
        assert!(check_read_only_path(Path::new("/workspace/x")).is_err());
        assert!(check_read_only_path(Path::new("/proc")).is_err());
        assert!(check_read_only_path(Path::new("/opt/bureau/python")).is_ok());
        assert!(check_read_only_path(Path::new("/tmp/pkgs")).is_ok());
    }

    #[test]
    fn environment_is_the_fixed_base_plus_request() {
        let spec = spec::LaunchSpec {
            argv: vec!["env".into()],
            env: vec![("FOO".into(), "bar".into()), ("LANG".into(), "C".into())],
            workspace: None,
            stdin: Vec::new(),
            limits: crate::Limits::default(),
            read_only_paths: Vec::new(),
            settings: spec::LaunchSettings {
                uid_base: 100_000,
                runtime_dir: "/run/x".into(),
                python_packages: None,
                cgroup_parent: CgroupParent::Root,
            },
            warm: None,
        };
        let env = command::environment(&spec);
        let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["PATH", "HOME", "TMPDIR", "FOO", "LANG"]);
    }
}
