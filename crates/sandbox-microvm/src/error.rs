use std::io;

/// What went wrong talking to Firecracker or to the guest agent.
#[derive(Debug, thiserror::Error)]
pub enum MicrovmError {
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("firecracker API answered malformed HTTP: {0}; check the firecracker version")]
    Http(String),
    #[error("firecracker refused {method} {path} ({status}): {fault_message}")]
    Api {
        method: &'static str,
        path: String,
        status: u16,
        /// Firecracker's own explanation, from the `fault_message` field.
        fault_message: String,
    },
    #[error("vsock handshake failed: {0}; is the guest agent listening on that port?")]
    Vsock(String),
    #[error("frame of {len} bytes is over the {max}-byte cap; the peer is broken or hostile")]
    FrameTooLarge { len: u64, max: u32 },
    #[error("undecodable frame: {0}")]
    Frame(String),
    #[error(
        "no common protocol version: we speak {ours:?}, the peer offered {theirs:?}; update the guest image"
    )]
    Version { ours: Vec<u32>, theirs: Vec<u32> },
    #[error("unexpected frame: expected {expected}, got {got}")]
    Unexpected { expected: &'static str, got: String },
    #[error("the guest agent reported: {0}")]
    Remote(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl MicrovmError {
    pub(crate) fn io(context: &'static str) -> impl FnOnce(io::Error) -> MicrovmError {
        move |source| MicrovmError::Io { context, source }
    }
}
