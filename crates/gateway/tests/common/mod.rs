//! Shared helpers: a gateway in a temp folder, rmcp clients over duplex
//! pipes, and result accessors.

#![expect(
    clippy::unwrap_used,
    reason = "test code: helpers outside #[test] functions fail loudly"
)]
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::sync::Arc;

use bureau_gateway::{Gateway, GatewayConfig, MemoryAudit};
use bureau_protocol::meta;
use rmcp::model::{CallToolRequestParams, CallToolResult, ProtocolVersion, RequestMetaObject};
use rmcp::service::{RoleClient, RunningService};
use rmcp::{ClientLifecycleMode, ClientServiceExt, ServiceExt};
use serde_json::Value;

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub audit: Arc<MemoryAudit>,
    pub gateway: Gateway,
}

impl Harness {
    pub fn new(allowed: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = Self::config(&dir, allowed);
        let audit = MemoryAudit::new();
        let gateway = Gateway::new(config, audit.clone()).unwrap();
        Self {
            dir,
            audit,
            gateway,
        }
    }

    pub fn config(dir: &tempfile::TempDir, allowed: &[&str]) -> GatewayConfig {
        GatewayConfig::new(
            dir.path().join("runs"),
            dir.path().join("default"),
            allowed.iter().map(|s| s.to_string()).collect(),
        )
    }

    pub fn default_ws(&self) -> std::path::PathBuf {
        self.dir.path().join("default")
    }

    pub fn run_ws(&self, run: &str) -> std::path::PathBuf {
        self.dir.path().join("runs").join(run)
    }
}

pub type Client = RunningService<RoleClient, ()>;

/// Which MCP era a test client speaks.
#[derive(Clone, Copy, Debug)]
pub enum Era {
    /// `initialize` handshake (2025-11-25).
    Legacy,
    /// `server/discover` and per-request metadata (2026-07-28).
    Modern,
}

/// Serves `gateway` on one end of an in-memory pipe and connects an rmcp
/// client to the other.
pub async fn connect(gateway: &Gateway, era: Era) -> Client {
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let gw = gateway.clone();
    tokio::spawn(async move {
        if let Err(e) = gw.serve(server_io).await {
            eprintln!("gateway connection ended with an error: {e}");
        }
    });
    match era {
        Era::Legacy => ().serve(client_io).await.unwrap(),
        Era::Modern => ()
            .serve_with_lifecycle(
                client_io,
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                },
            )
            .await
            .unwrap(),
    }
}

pub fn call(name: &str, args: Value) -> CallToolRequestParams {
    let mut p = CallToolRequestParams::new(name.to_owned());
    if let Value::Object(map) = args {
        p = p.with_arguments(map);
    }
    p
}

pub fn call_in_run(name: &str, args: Value, run: Value) -> CallToolRequestParams {
    let mut p = call(name, args);
    let mut m = RequestMetaObject::new();
    m.insert(meta::RUN_ID.to_owned(), run);
    p.meta = Some(m);
    p
}

pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn is_error(r: &CallToolResult) -> bool {
    r.is_error == Some(true)
}
