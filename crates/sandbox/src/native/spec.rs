//! What the caller sends the launcher and what comes back, as JSON over the
//! launcher's stdin and stdout. The reply is one JSON line followed by the
//! raw stdout and stderr bytes whose lengths the line gives.

use std::io::{self, BufRead, Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{ExecOutcome, Limits};

/// One exec, as the launcher needs it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LaunchSpec {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub workspace: Option<PathBuf>,
    pub stdin: Vec<u8>,
    pub limits: Limits,
    pub read_only_paths: Vec<PathBuf>,
    pub settings: LaunchSettings,
    /// Start a Python zygote and wait for a [`WarmRequest`] instead of running `argv`.
    #[serde(default)]
    pub warm: Option<WarmSpec>,
}

/// What a warm sandbox prepares before its request arrives.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmSpec {
    /// Modules the zygote imports up front (`["pandas"]`).
    pub imports: Vec<String>,
}

/// The second line a warm launcher reads: the code and its workspace.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WarmRequest {
    pub code: String,
    pub workspace: Option<PathBuf>,
}

/// Host settings that do not change per exec (see [`super::NativeConfig`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LaunchSettings {
    pub uid_base: u32,
    pub runtime_dir: PathBuf,
    pub python_packages: Option<PathBuf>,
    #[serde(default)]
    pub cgroup_parent: super::CgroupParent,
}

/// What happened to the workspace folder after the command ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceReport {
    /// Files written (new or changed) to the host folder.
    pub files_written: u64,
    /// Entries deleted from the host folder.
    pub entries_deleted: u64,
    /// Entries the sandbox left that were not applied, with why
    /// (symlinks, devices, fifos, sockets, a type clash).
    pub skipped: Vec<Skipped>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Relative to the workspace folder.
    pub path: PathBuf,
    pub reason: String,
}

/// The reply's header line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ReplyHeader {
    Done {
        /// `stdout` and `stderr` are empty here; the raw bytes follow the line.
        outcome: Box<ExecOutcome>,
        stdout_len: usize,
        stderr_len: usize,
        workspace: WorkspaceReport,
        /// Landlock ABI and status, as the command saw it.
        landlock: String,
        phases: Phases,
    },
    Failed {
        step: String,
        message: String,
    },
}

/// A finished exec: the outcome plus what only the native backend knows.
#[derive(Clone, Debug)]
pub struct NativeOutcome {
    pub outcome: ExecOutcome,
    pub workspace: WorkspaceReport,
    /// e.g. "kernel abi 7, ruleset abi 5, fully enforced".
    pub landlock: String,
    /// Where the wall time went.
    pub phases: Phases,
}

/// Time from the launcher's start to each step, for overhead analysis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phases {
    /// Cgroup and stage mounts ready, sandbox cloned.
    pub cloned: std::time::Duration,
    /// Uid maps written, cgroup joined, workspace mounted: the sandbox is told to go.
    pub started: std::time::Duration,
    /// The command is about to `execve` (root built, confinement applied).
    pub exec: Option<std::time::Duration>,
    /// The command's exit status reached the launcher.
    pub exited: Option<std::time::Duration>,
    /// PID 1 reaped: the namespaces are gone.
    pub reaped: std::time::Duration,
    /// Cgroup removed and workspace applied back.
    pub finished: std::time::Duration,
}

pub fn write_reply(
    out: &mut impl Write,
    header: &ReplyHeader,
    stdout: &[u8],
    stderr: &[u8],
) -> io::Result<()> {
    let line = serde_json::to_string(header).map_err(io::Error::other)?;
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.write_all(stdout)?;
    out.write_all(stderr)?;
    out.flush()
}

/// Parses a reply; `Err` carries a message for `SandboxError::Launcher`.
pub fn read_reply(bytes: &[u8]) -> Result<Result<NativeOutcome, (String, String)>, String> {
    let mut reader = io::Cursor::new(bytes);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    let header: ReplyHeader =
        serde_json::from_str(&line).map_err(|e| format!("unreadable launcher reply: {e}"))?;
    match header {
        ReplyHeader::Done {
            mut outcome,
            stdout_len,
            stderr_len,
            workspace,
            landlock,
            phases,
        } => {
            let mut stdout = vec![0; stdout_len];
            let mut stderr = vec![0; stderr_len];
            reader
                .read_exact(&mut stdout)
                .and_then(|()| reader.read_exact(&mut stderr))
                .map_err(|e| format!("short launcher reply: {e}"))?;
            outcome.stdout = stdout;
            outcome.stderr = stderr;
            Ok(Ok(NativeOutcome {
                outcome: *outcome,
                workspace,
                landlock,
                phases,
            }))
        }
        ReplyHeader::Failed { step, message } => Ok(Err((step, message))),
    }
}
