//! The native Linux backend. (Being built: see issue 3.)

use crate::{Backend, ExecOutcome, ExecRequest, Sandbox, SandboxError};

/// Runs commands in fresh Linux namespaces on this host.
#[derive(Debug)]
pub struct NativeSandbox {
    _private: (),
}

impl NativeSandbox {
    /// Finds what the backend needs on this host.
    pub fn discover() -> Result<Self, SandboxError> {
        Err(SandboxError::Unavailable {
            backend: "native",
            reason: "not built yet".into(),
        })
    }
}

impl Sandbox for NativeSandbox {
    fn backend(&self) -> Backend {
        Backend::Native
    }

    fn exec(&self, _request: &ExecRequest) -> Result<ExecOutcome, SandboxError> {
        Err(SandboxError::Unavailable {
            backend: "native",
            reason: "not built yet".into(),
        })
    }
}
