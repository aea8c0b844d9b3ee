//! Helpers shared by mcp-client's integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bureau_protocol::{McpServer, McpServerSpec, ToolCall, ToolCallId};
use bureau_test_support::deps;
use serde_json::Value;

/// Node and Python peers take up to ~1.4 s to start; leave room on a slow box.
pub const CONNECT_TIMEOUT_MS: u64 = 15_000;
pub const CALL_TIMEOUT_MS: u64 = 30_000;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn stdio_server(name: &str, command: impl Into<String>, args: Vec<String>) -> McpServer {
    McpServer {
        name: name.to_owned(),
        spec: McpServerSpec::Stdio {
            command: command.into(),
            args,
            env: BTreeMap::new(),
            cwd: None,
        },
        call_timeout_ms: CALL_TIMEOUT_MS,
        connect_timeout_ms: CONNECT_TIMEOUT_MS,
    }
}

/// The Python SDK fixture server (`tests/fixtures/fixture_server.py`).
pub fn python_fixture(name: &str) -> McpServer {
    stdio_server(
        name,
        deps::python().display().to_string(),
        vec![fixture("fixture_server.py").display().to_string()],
    )
}

pub fn call(name: &str, arguments: Value) -> ToolCall {
    ToolCall {
        id: ToolCallId::new("call-1"),
        name: name.to_owned(),
        arguments,
    }
}

pub fn no_meta() -> serde_json::Map<String, Value> {
    serde_json::Map::new()
}

/// The text of a single-text result.
pub fn text_of(result: &bureau_protocol::ToolResult) -> String {
    result.to_model_text()
}

/// Whether `pid` is a live process (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

/// Polls `check` every 50 ms for up to `limit`.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
