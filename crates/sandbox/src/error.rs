use std::path::PathBuf;

/// Why a sandbox could not run a command at all. A command that fails or
/// hits a limit is not an error: see [`crate::ExecOutcome`].
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "the {backend} sandbox is not available on this host: {reason}; run `bureau sandbox doctor`"
    )]
    Unavailable {
        backend: &'static str,
        reason: String,
    },
    #[error("invalid sandbox request: {0}")]
    InvalidRequest(String),
    #[error("sandbox setup failed at {step}: {source}")]
    Setup {
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("workspace {path}: {message}")]
    Workspace { path: PathBuf, message: String },
    #[error("sandbox launcher failed: {0}")]
    Launcher(String),
}
