//! Tools of other MCP servers, reached through the gateway so that their
//! calls take the same pipeline as built-in ones: policy (Cedar's
//! `Action::"call"` on `Server::"<server>"`), approval and audit.

use bureau_protocol::{ToolCall, ToolResult, ToolSpec};
use serde_json::{Map, Value};

pub use bureau_protocol::meta::UPSTREAM_FAILURE;

/// A set of upstream MCP servers (the composition root adapts its MCP
/// client hub). Tool names are qualified, `server.tool`.
#[async_trait::async_trait]
pub trait Upstream: Send + Sync + 'static {
    /// Every upstream tool, under its qualified name.
    fn tools(&self) -> Vec<ToolSpec>;

    /// Calls one tool. `meta` is what the gateway forwards (the run id and
    /// idempotency key, never approval ids or the agent). `Err` means the
    /// call did not reach an answer; a tool's own error is an `Ok` result
    /// with `is_error`.
    async fn call(&self, call: &ToolCall, meta: &Map<String, Value>) -> Result<ToolResult, String>;
}
