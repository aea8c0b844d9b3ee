//! Bureau's MCP client: how the orchestrator reaches every tool.
//!
//! This crate owns connections to MCP servers built on the official Rust SDK
//! (`rmcp`): stdio children (cleared environment, own process group, MCP
//! shutdown), Streamable HTTP endpoints, and in-process servers over typed
//! channels ([`in_process_pair`]) for Bureau's own gateway. [`McpHub`] holds
//! them, names their tools (`server.tool`), routes calls, bounds every call
//! with a timeout that cancels the request at the server, and turns results
//! into `bureau_protocol` types. It must not know policy, sandboxes, the
//! built-in tools or the gateway's internals — to it the gateway is just
//! another MCP server — and it reads no configuration from the environment.

mod convert;
mod error;
mod http;
mod hub;
mod in_process;
mod stdio;

pub use error::McpError;
pub use hub::{McpHub, Naming};
pub use in_process::{ChannelClosed, ClientSide, ServerSide, in_process_pair};
pub use stdio::INHERITED_ENV_VARS;
