//! Short-lived isolation for untrusted code, behind one [`Sandbox`] trait.
//!
//! This crate owns *enforcement*: it runs a command under a typed [`Grant`]
//! (limits, network, extra read-only paths) that it is handed, with the
//! run's workspace folder visible at `/workspace`. It must not decide
//! whether a command may run (that is `policy`'s job), know about MCP, or
//! know how workspaces are snapshotted (it sees one host folder per exec).
//!
//! Backends: [`native`] (namespaces, pivot_root into a tmpfs root, seccomp,
//! Landlock, cgroups and rlimits, no network), with gVisor and microVM
//! backends implementing the same trait in their own crates. The trait is
//! synchronous and blocking: callers run it on a blocking thread.

mod doctor;
mod error;
mod grant;
pub mod native;
mod outcome;

pub use doctor::{Check, CheckStatus, DoctorReport};
pub use error::SandboxError;
pub use grant::{Grant, Limits, Network};
pub use outcome::{ExecOutcome, ExitStatus, LimitKind};

use std::path::PathBuf;

/// Which isolation technology ran a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Native,
    Gvisor,
    Microvm,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Gvisor => "gvisor",
            Backend::Microvm => "microvm",
        }
    }
}

/// One command to run in a fresh sandbox.
#[derive(Clone, Debug)]
pub struct ExecRequest {
    /// `argv[0]` is looked up on the sandbox's `PATH` (`/usr/local/bin:/usr/bin:/bin`).
    pub argv: Vec<String>,
    /// The whole environment the command sees besides `PATH`, `HOME=/workspace`,
    /// `LANG=C.UTF-8` and `TMPDIR=/tmp`: nothing of the host's is passed.
    pub env: Vec<(String, String)>,
    /// Host folder shown read-write at `/workspace` (the working directory).
    /// `None`: an empty, size-limited scratch folder that is thrown away.
    pub workspace: Option<PathBuf>,
    /// Bytes written to the command's stdin, then stdin is closed.
    pub stdin: Vec<u8>,
    pub grant: Grant,
}

impl ExecRequest {
    pub fn new(argv: Vec<String>, grant: Grant) -> Self {
        Self {
            argv,
            env: Vec::new(),
            workspace: None,
            stdin: Vec::new(),
            grant,
        }
    }
}

/// An isolation backend. Each `exec` starts a sandbox, runs the command to
/// completion (or until a limit stops it) and tears the sandbox down: no
/// process of it is left when `exec` returns.
pub trait Sandbox: Send + Sync {
    fn backend(&self) -> Backend;

    /// Blocks until the command ends. A command that fails or hits a limit
    /// is an `Ok` outcome; `Err` means the sandbox itself could not be set up
    /// or torn down.
    fn exec(&self, request: &ExecRequest) -> Result<ExecOutcome, SandboxError>;
}
