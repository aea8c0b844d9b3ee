//! The orchestrator's view of tools: something that lists tool specs and
//! calls them. The one implementation that ships is MCP ([`McpHub`]) — the
//! orchestrator reaches every tool, built-in ones included, through MCP.

use bureau_mcp_client::{McpError, McpHub};
use bureau_protocol::{ToolCall, ToolResult, ToolSpec};
use serde_json::{Map, Value};

/// Why a tool call produced no result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ToolCallError {
    /// The call may be made again: the server was unreachable or crashed.
    #[error("{0}")]
    Retryable(String),
    /// Making the call again would not help, or could repeat a side effect
    /// (a timed-out call was cancelled and may have run).
    #[error("{0}")]
    Final(String),
}

#[async_trait::async_trait]
pub trait ToolHost: Send + Sync {
    fn tools(&self) -> Vec<ToolSpec>;
    async fn call(
        &self,
        call: &ToolCall,
        meta: &Map<String, Value>,
    ) -> Result<ToolResult, ToolCallError>;
}

#[async_trait::async_trait]
impl ToolHost for McpHub {
    fn tools(&self) -> Vec<ToolSpec> {
        McpHub::tools(self).to_vec()
    }

    async fn call(
        &self,
        call: &ToolCall,
        meta: &Map<String, Value>,
    ) -> Result<ToolResult, ToolCallError> {
        self.call_tool(call, meta).await.map_err(|e| match e {
            McpError::Transport { .. } | McpError::Connect { .. } | McpError::Spawn { .. } => {
                ToolCallError::Retryable(e.to_string())
            }
            other => ToolCallError::Final(other.to_string()),
        })
    }
}
