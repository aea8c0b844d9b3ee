//! The gVisor backend: each exec runs in a fresh `runsc` sandbox built from
//! the same [`Grant`](bureau_sandbox::Grant) the native backend enforces.
//!
//! This crate owns turning one [`ExecRequest`] into an OCI bundle (an empty,
//! read-only root with the host's `/usr` and merged-usr symlinks bound
//! read-only, a generated `/etc` without `shadow`, `/proc`, `/dev`, a tmpfs
//! `/tmp`, the workspace at `/workspace`), running it with
//! `runsc --network=none --platform=ptrace run`, capping output, killing on
//! the wall clock, and deleting the container, its cgroups and the bundle
//! afterwards. It must not decide whether a command may run (`policy`) nor
//! know about tools, MCP or workspace snapshots.
//!
//! What this runsc enforces, as measured on a hybrid cgroup v1 host with
//! Debian's runsc 20221219 (ptrace platform; it has no systrap and its kvm
//! platform hangs on a PVM host): memory through the spec's cgroup limit
//! (the whole sandbox, gVisor's kernel included, is killed when it is
//! reached); processes through `RLIMIT_NPROC`, which gVisor's kernel counts
//! itself; `RLIMIT_FSIZE`, `RLIMIT_NOFILE`. CPU time: this runsc ignores
//! `RLIMIT_CPU`, so the sandbox's cgroup CPU time (gVisor's kernel included)
//! is polled and the container killed past the limit. Not enforced: tmpfs
//! sizes (this runsc ignores `size=`; `/tmp` and a scratch `/workspace` live
//! in the sandbox's memory, so the memory limit bounds them) and
//! `workspace_bytes`. Known gap of that runsc: it rejects
//! `statx(AT_NO_AUTOMOUNT)`, so coreutils 9 `ls PATH` and `stat` fail with
//! EINVAL inside the sandbox. [`doctor`] reports all of this.

mod bundle;
mod cgroup;
mod doctor;
mod run;
mod spec;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bureau_sandbox::{
    Backend, ExecOutcome, ExecRequest, ExitStatus, LimitKind, Sandbox, SandboxError,
};

pub use doctor::doctor;

use crate::bundle::Bundle;
use crate::cgroup::CgroupLayout;
use crate::run::{Finished, Supervise};

/// Where [`GvisorSandbox::discover`] looks for runsc besides `PATH` entries.
const RUNSC_CANDIDATES: &[&str] = &["/usr/bin/runsc", "/usr/sbin/runsc", "/usr/local/bin/runsc"];
/// [`GvisorSandbox::discover`]'s state folder (runsc's `--root` and bundles).
pub const DEFAULT_STATE_DIR: &str = "/run/bureau/gvisor";
/// A run killed for memory ends with the cgroup's peak within this of the limit.
const MEMORY_SLACK: u64 = 2 << 20;
/// runsc's own exit code when it could not start the container.
const RUNSC_FAILED: i32 = 128;

/// Runs each command in its own gVisor sandbox.
#[derive(Debug, Clone)]
pub struct GvisorSandbox {
    runsc: PathBuf,
    state_dir: PathBuf,
    cgroups: CgroupLayout,
}

impl GvisorSandbox {
    /// Uses `runsc` at the given path; containers' state and bundles go under
    /// `state_dir` (created on first use). Needs root.
    pub fn new(runsc: PathBuf, state_dir: PathBuf) -> Self {
        Self {
            runsc,
            state_dir,
            cgroups: CgroupLayout::new(PathBuf::from("/sys/fs/cgroup")),
        }
    }

    /// Finds `runsc` in the usual places (see [`locate_runsc`]; a caller
    /// that wants `PATH` searched passes it there and uses [`Self::new`]),
    /// checks that it runs and that we are root; state goes under
    /// [`DEFAULT_STATE_DIR`].
    pub fn discover() -> Result<Self, SandboxError> {
        let unavailable = |reason: String| SandboxError::Unavailable {
            backend: "gvisor",
            reason,
        };
        let runsc = find_runsc().ok_or_else(|| {
            unavailable("runsc was not found (install it: apt-get install runsc)".into())
        })?;
        runsc_version(&runsc)
            .map_err(|e| unavailable(format!("{} does not run: {e}", runsc.display())))?;
        if !rustix::process::geteuid().is_root() {
            return Err(unavailable(
                "runsc needs root here (rootless mode is not wired up)".into(),
            ));
        }
        Ok(Self::new(runsc, PathBuf::from(DEFAULT_STATE_DIR)))
    }

    pub fn runsc(&self) -> &Path {
        &self.runsc
    }

    fn root_dir(&self) -> PathBuf {
        self.state_dir.join("runsc")
    }

    /// `runsc` with the flags every subcommand of one container shares
    /// (this runsc re-reads flags per subcommand).
    fn runsc_command(&self) -> Command {
        let mut c = Command::new(&self.runsc);
        c.arg("--root")
            .arg(self.root_dir())
            .arg("--network=none")
            .arg("--platform=ptrace");
        c.env_clear().stdin(Stdio::null());
        c
    }

    fn kill(&self, id: &str) -> io::Result<()> {
        let status = self
            .runsc_command()
            .args(["kill", "--all", id, "KILL"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("runsc kill: {status}")))
        }
    }

    /// Whether runsc still holds state for `id` (it removes it itself after
    /// a run that ends normally).
    fn has_state(&self, id: &str) -> bool {
        let prefix = format!("{id}_");
        fs::read_dir(self.root_dir())
            .map(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            })
            .unwrap_or(false)
    }

    fn delete(&self, id: &str) -> Result<(), SandboxError> {
        if !self.has_state(id) {
            return Ok(());
        }
        let out = self
            .runsc_command()
            .args(["delete", "--force", id])
            .output()
            .map_err(|source| SandboxError::Setup {
                step: "run runsc delete",
                source,
            })?;
        if out.status.success() || !self.has_state(id) {
            Ok(())
        } else {
            Err(SandboxError::Launcher(format!(
                "runsc delete {id} failed: {}; remove it with `runsc --root {} delete --force {id}`",
                String::from_utf8_lossy(&out.stderr).trim(),
                self.root_dir().display()
            )))
        }
    }

    fn run(
        &self,
        id: &str,
        bundle: &Bundle,
        request: &ExecRequest,
    ) -> Result<ExecOutcome, SandboxError> {
        let limits = &request.grant.limits;
        let mut command = self.runsc_command();
        command
            .arg("--log")
            .arg(bundle.log_path())
            .arg("--log-format=json")
            .arg("run")
            .arg("--bundle")
            .arg(&bundle.dir)
            .arg(id);
        let kill = || self.kill(id);
        let cpu_used = || self.cgroups.usage(id).cpu_time;
        let finished = run::supervise(Supervise {
            run: command,
            kill: &kill,
            stdin: request.stdin.clone(),
            wall_time: limits.wall_time,
            output_bytes: limits.output_bytes,
            cpu_used: &cpu_used,
            cpu_time: limits.cpu_time,
        });
        // Whatever happened, the sandbox goes before the pipes are drained.
        let deleted = self.delete(id);
        let finished = finished?;
        deleted?;
        let usage = self.cgroups.usage(id);
        let Finished {
            status,
            killed_for,
            wall_time,
            streams,
        } = finished;
        let (stdout, stderr) = streams.join();
        let status = match map_status(status, killed_for, &bundle.log_path()) {
            Ok(Mapped::Status(s)) => s,
            Ok(Mapped::NotFound) => ExitStatus::Exited(127),
            // The memory limit can take gVisor's own kernel down with the
            // command; that is the limit working, not a launcher failure.
            Err(_) if at_memory_limit(usage.peak_memory_bytes, limits.memory_bytes) => {
                ExitStatus::Signaled(libc::SIGKILL)
            }
            Err(e) => return Err(e),
        };
        let mut limits_hit = Vec::new();
        if stdout.truncated || stderr.truncated {
            limits_hit.push(LimitKind::Output);
        }
        if let Some(kind) = killed_for.filter(|k| !limits_hit.contains(k)) {
            limits_hit.push(kind);
        }
        if killed_for.is_none() {
            limits_hit.extend(limit_from_status(
                status,
                usage.peak_memory_bytes,
                limits.memory_bytes,
            ));
        }
        Ok(ExecOutcome {
            backend: Backend::Gvisor,
            status,
            stdout: stdout.bytes,
            stderr: stderr.bytes,
            stdout_truncated: stdout.truncated,
            stderr_truncated: stderr.truncated,
            limits_hit,
            wall_time,
            cpu_time: usage.cpu_time,
            peak_memory_bytes: usage.peak_memory_bytes,
        })
    }
}

impl Sandbox for GvisorSandbox {
    fn backend(&self) -> Backend {
        Backend::Gvisor
    }

    fn exec(&self, request: &ExecRequest) -> Result<ExecOutcome, SandboxError> {
        let id = format!("bureau-{}", uuid::Uuid::new_v4().simple());
        for dir in [self.root_dir(), self.state_dir.join("bundles")] {
            fs::create_dir_all(&dir).map_err(|source| SandboxError::Setup {
                step: "create the gVisor state folder",
                source,
            })?;
        }
        let bundle = Bundle::create(
            &self.state_dir.join("bundles").join(&id),
            request,
            CgroupLayout::cgroups_path(&id),
        );
        let bundle = match bundle {
            Ok(b) => b,
            Err(e) => {
                let _ = fs::remove_dir_all(self.state_dir.join("bundles").join(&id));
                return Err(e);
            }
        };
        let outcome = self.run(&id, &bundle, request);
        let cgroups = self.cgroups.remove(&id);
        let removed = bundle.remove();
        let outcome = outcome?;
        cgroups.map_err(|source| SandboxError::Setup {
            step: "remove the sandbox's cgroups",
            source,
        })?;
        removed.map_err(|source| SandboxError::Setup {
            step: "remove the OCI bundle",
            source,
        })?;
        Ok(outcome)
    }
}

enum Mapped {
    Status(ExitStatus),
    /// runsc could not find `argv[0]` on the sandbox's PATH.
    NotFound,
}

/// `runsc run` exits with the container's code, 128 + the signal for a
/// killed container (so `exit 137` and SIGKILL look alike; we read codes
/// above 128 as signals), and 128 with an error in its log when it could not
/// start the container at all.
fn map_status(
    status: std::process::ExitStatus,
    killed_for: Option<LimitKind>,
    log: &Path,
) -> Result<Mapped, SandboxError> {
    use std::os::unix::process::ExitStatusExt;
    if killed_for.is_some() {
        return Ok(Mapped::Status(ExitStatus::Signaled(libc::SIGKILL)));
    }
    if let Some(signal) = status.signal() {
        return Ok(Mapped::Status(ExitStatus::Signaled(signal)));
    }
    let code = status.code().unwrap_or(RUNSC_FAILED);
    if code == RUNSC_FAILED
        && let Some(message) = runsc_error(log)
    {
        if message.contains("error finding executable") {
            return Ok(Mapped::NotFound);
        }
        return Err(SandboxError::Launcher(format!(
            "runsc could not run the command: {message}"
        )));
    }
    Ok(Mapped::Status(match code {
        129..=192 => ExitStatus::Signaled(code - 128),
        c => ExitStatus::Exited(c),
    }))
}

/// The first error runsc logged (`--log-format=json` lines).
fn runsc_error(log: &Path) -> Option<String> {
    let text = fs::read_to_string(log).ok()?;
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| matches!(v["level"].as_str(), Some("error" | "fatal")))
        .map(|v| v["msg"].as_str().unwrap_or_default().to_owned())
}

/// Limits read off how the command ended when we did not kill it.
fn limit_from_status(
    status: ExitStatus,
    peak: Option<u64>,
    memory_limit: u64,
) -> Option<LimitKind> {
    match status {
        ExitStatus::Signaled(libc::SIGXCPU) => Some(LimitKind::CpuTime),
        ExitStatus::Signaled(libc::SIGXFSZ) => Some(LimitKind::FileSize),
        ExitStatus::Signaled(libc::SIGKILL) if at_memory_limit(peak, memory_limit) => {
            Some(LimitKind::Memory)
        }
        ExitStatus::Signaled(_) | ExitStatus::Exited(_) => None,
    }
}

/// Whether the sandbox's peak memory reached the limit (within a slack).
fn at_memory_limit(peak: Option<u64>, limit: u64) -> bool {
    peak.is_some_and(|p| p.saturating_add(MEMORY_SLACK) >= limit)
}

fn find_runsc() -> Option<PathBuf> {
    locate_runsc(None)
}

/// Finds `runsc` in the folders of `path_var` (a `PATH` value the caller
/// read; this library reads no environment), then in `/usr/bin`,
/// `/usr/sbin` and `/usr/local/bin`.
pub fn locate_runsc(path_var: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let from_path = path_var
        .into_iter()
        .flat_map(std::env::split_paths)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join("runsc"));
    from_path
        .chain(RUNSC_CANDIDATES.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// `runsc --version`'s first line.
pub(crate) fn runsc_version(runsc: &Path) -> io::Result<String> {
    let out = Command::new(runsc)
        .arg("--version")
        .env_clear()
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!("runsc --version: {}", out.status)));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_to_limits_only_when_they_say_so() {
        let gib = 1 << 30;
        assert_eq!(
            limit_from_status(ExitStatus::Signaled(libc::SIGXCPU), None, gib),
            Some(LimitKind::CpuTime)
        );
        assert_eq!(
            limit_from_status(ExitStatus::Signaled(libc::SIGKILL), Some(gib - 1000), gib),
            Some(LimitKind::Memory)
        );
        assert_eq!(
            limit_from_status(ExitStatus::Signaled(libc::SIGKILL), Some(20 << 20), gib),
            None
        );
        assert_eq!(
            limit_from_status(ExitStatus::Exited(0), Some(gib), gib),
            None
        );
    }

    #[test]
    fn runsc_is_looked_up_on_the_given_path_first() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("runsc");
        fs::write(&fake, "").unwrap();
        let path = std::env::join_paths([Path::new("relative"), dir.path()]).unwrap();
        assert_eq!(locate_runsc(Some(&path)), Some(fake));
    }

    #[test]
    fn runsc_start_errors_are_read_from_its_json_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runsc.log");
        fs::write(
            &log,
            "{\"msg\":\"starting sandbox: error finding executable \\\"nope\\\"\",\"level\":\"error\"}\n",
        )
        .unwrap();
        assert!(runsc_error(&log).unwrap().contains("nope"));
        fs::write(&log, "{\"msg\":\"fine\",\"level\":\"info\"}\n").unwrap();
        assert_eq!(runsc_error(&log), None);
    }
}
