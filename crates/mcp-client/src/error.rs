use std::time::Duration;

/// Why connecting to an MCP server, or calling one of its tools, failed.
///
/// A tool that ran and reported failure (`isError: true`) is not an error
/// here: it is a normal [`bureau_protocol::ToolResult`] that goes back to the
/// model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpError {
    /// No connected server offers a tool by this (qualified) name.
    #[error("no connected MCP server offers a tool named `{name}`: call one of the listed tools")]
    UnknownTool { name: String },

    /// The model's arguments for a tool are not a JSON object (or null).
    #[error("the arguments for tool `{name}` must be a JSON object")]
    InvalidArguments { name: String },

    /// Two servers expose the same qualified tool name.
    #[error(
        "MCP servers `{first}` and `{second}` both expose a tool named `{name}`: rename one of the servers or leave one out"
    )]
    NameCollision {
        name: String,
        first: String,
        second: String,
    },

    /// A server name is empty or holds characters other than `[A-Za-z0-9_-]`.
    #[error(
        "`{name}` is not a valid MCP server name: use one or more of the characters A-Z, a-z, 0-9, `_` and `-` (no dots)"
    )]
    InvalidServerName { name: String },

    /// A server with this name is already connected to the hub.
    #[error("an MCP server named `{name}` is already connected: give each server its own name")]
    DuplicateServer { name: String },

    /// The server's process could not be started, or its spec is unusable
    /// (e.g. an HTTP header that is not valid).
    #[error("cannot start MCP server `{server}`: {message}")]
    Spawn { server: String, message: String },

    /// The server started but the MCP handshake or the first `tools/list`
    /// failed or did not finish within the connect timeout.
    #[error("cannot connect to MCP server `{server}`: {message}")]
    Connect { server: String, message: String },

    /// A `tools/call` got no answer within the server's call timeout. The
    /// request was cancelled (`notifications/cancelled` was sent), but the
    /// tool may have run in part.
    #[error(
        "tool `{tool}` on MCP server `{server}` did not answer within {after:?} and was cancelled: retry later or raise the server's call timeout"
    )]
    Timeout {
        server: String,
        tool: String,
        after: Duration,
    },

    /// The connection to the server broke (the process exited, the HTTP
    /// endpoint went away, a message could not be sent).
    #[error(
        "lost the connection to MCP server `{server}`: {message}; check that the server is still running"
    )]
    Transport { server: String, message: String },

    /// The server answered with a JSON-RPC error (e.g. invalid params), or
    /// with a reply Bureau cannot use. `code` is the JSON-RPC error code when
    /// there was one.
    #[error("MCP server `{server}` refused the request{}: {message}", code.map(|c| format!(" (JSON-RPC error {c})")).unwrap_or_default())]
    Protocol {
        server: String,
        code: Option<i32>,
        message: String,
    },
}
