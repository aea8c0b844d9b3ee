use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How to reach one MCP server: a child process over stdio, or a URL
/// speaking Streamable HTTP. Values are already expanded (`${VAR}` resolved
/// by `config`); this is plain data for `mcp-client`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "transport", rename_all = "snake_case")]
pub enum McpServerSpec {
    Stdio {
        command: String,
        #[serde(default)]
        args: Vec<String>,
        /// Added to the child's environment, which otherwise holds only the
        /// allow-listed variables (`HOME`, `LOGNAME`, `PATH`, `SHELL`, `TERM`, `USER`).
        #[serde(default)]
        env: BTreeMap<String, String>,
        #[serde(default)]
        cwd: Option<PathBuf>,
    },
    Http {
        url: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
}

/// A named server with its per-call timeout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McpServer {
    /// The prefix of every tool this server offers: `name.tool`.
    pub name: String,
    pub spec: McpServerSpec,
    /// Per `tools/call` timeout; on expiry the call is cancelled.
    pub call_timeout_ms: u64,
    /// How long start-up and the handshake may take.
    pub connect_timeout_ms: u64,
}
