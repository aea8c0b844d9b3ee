//! What a sandbox is allowed: the typed grant it enforces.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Resource limits. Every field is enforced by every backend that reports
/// it in [`crate::DoctorReport`]; a limit that stops the command shows up in
/// [`crate::ExecOutcome::limits_hit`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory of the whole process tree (cgroup), bytes.
    pub memory_bytes: u64,
    /// Processes and threads of the whole tree (cgroup), including PID 1.
    pub pids: u64,
    /// CPU time per process (`RLIMIT_CPU`).
    #[serde(with = "duration_ms")]
    pub cpu_time: Duration,
    /// Wall clock from start; past it the whole tree is killed.
    #[serde(with = "duration_ms")]
    pub wall_time: Duration,
    /// Open file descriptors per process (`RLIMIT_NOFILE`).
    pub open_files: u64,
    /// Largest file a process may write (`RLIMIT_FSIZE`), bytes.
    pub file_size_bytes: u64,
    /// Captured stdout and stderr, each, bytes; past it the tree is killed
    /// and the capture marked truncated.
    pub output_bytes: u64,
    /// Bytes the command may add to `/workspace`.
    pub workspace_bytes: u64,
    /// Size of the sandbox's `/tmp` (a tmpfs), bytes.
    pub tmp_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 512 << 20,
            pids: 64,
            cpu_time: Duration::from_secs(30),
            wall_time: Duration::from_secs(30),
            open_files: 256,
            file_size_bytes: 256 << 20,
            output_bytes: 1 << 20,
            workspace_bytes: 1 << 30,
            tmp_bytes: 64 << 20,
        }
    }
}

/// Network a sandbox may use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Network {
    /// An empty network namespace: not even loopback reaches the host.
    #[default]
    None,
}

/// The typed grant a sandbox enforces.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub limits: Limits,
    pub network: Network,
    /// Extra host paths shown read-only at the same path (a Python
    /// packages folder, say). Never the host's `/`.
    pub read_only_paths: Vec<PathBuf>,
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
