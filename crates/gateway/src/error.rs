use std::net::SocketAddr;

use bureau_tools::ToolError;
use thiserror::Error;

/// Why a gateway could not start or stopped serving.
#[derive(Debug, Error)]
pub enum GatewayError {
    #[error("{role}: {source}")]
    Workspace {
        role: &'static str,
        #[source]
        source: ToolError,
    },

    #[error("allowed tool pattern `{pattern}` is not valid: {reason}")]
    InvalidPattern {
        pattern: String,
        reason: &'static str,
    },

    #[error(
        "allowed tool pattern `{pattern}` matches no tool this gateway offers ({available}): fix the name or remove it"
    )]
    PatternMatchesNothing { pattern: String, available: String },

    #[error("two toolsets both offer a tool named `{name}`: give each tool a unique name")]
    DuplicateTool { name: String },

    #[error(
        "refusing to serve MCP over HTTP on {addr}: the gateway has no authentication yet, so it only listens on loopback (127.0.0.1 or ::1)"
    )]
    NotLoopback { addr: SocketAddr },

    #[error("cannot listen on {addr}: {source}; pick a free port, or port 0 for any")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    #[error("the MCP connection ended before it was set up: {0}")]
    Handshake(#[source] Box<rmcp::service::ServerInitializeError>),

    #[error("the MCP connection's task failed: {0}")]
    Connection(#[source] tokio::task::JoinError),

    #[error("the HTTP server stopped with an error: {0}")]
    Http(#[source] std::io::Error),
}
