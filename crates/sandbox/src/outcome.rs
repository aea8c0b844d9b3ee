//! How a sandboxed command ended.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Backend;

/// The command's own ending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum ExitStatus {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal (by a limit, or by itself).
    Signaled(i32),
}

impl ExitStatus {
    /// The shell convention: the code, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

/// A limit that stopped or constrained the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    Memory,
    Pids,
    CpuTime,
    WallTime,
    OpenFiles,
    FileSize,
    Output,
    Workspace,
    /// The sandbox's `/tmp` filled up (`Limits::tmp_bytes`).
    Tmp,
}

/// Everything a caller learns from one exec.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExecOutcome {
    pub backend: Backend,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    /// Limits that were hit, each once, in the order noticed.
    pub limits_hit: Vec<LimitKind>,
    pub wall_time: Duration,
    /// CPU time of the whole tree, where the backend can measure it.
    pub cpu_time: Option<Duration>,
    /// Peak memory of the whole tree, where the backend can measure it.
    pub peak_memory_bytes: Option<u64>,
}
