//! Rough cost of one `McpHub::call_tool` to an in-process rmcp server, next
//! to the same call over a JSON byte pipe. Not a test: run it by hand,
//! preferably with `--release`:
//!
//! ```text
//! cargo run --release -p bureau-mcp-client --example in_process_bench [CALLS]
//! ```

use std::time::{Duration, Instant};

use bureau_mcp_client::{McpHub, Naming, in_process_pair};
use bureau_protocol::{ToolCall, ToolCallId, meta};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};
use serde_json::json;

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Args {
    path: String,
    content: String,
}

#[derive(Clone)]
struct Files {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Files {
    #[tool(name = "files.write", description = "Pretends to write a file")]
    async fn write(&self, Parameters(Args { path, content }): Parameters<Args>) -> String {
        format!("wrote {} bytes to {path}", content.len())
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Files {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

fn files() -> Files {
    Files {
        tool_router: Files::tool_router(),
    }
}

/// Runs the calls on a spawned task, as a run would (in a multi-thread
/// runtime `block_on` itself is not on a worker thread).
async fn measure(hub: McpHub, calls: usize) -> (McpHub, Vec<Duration>) {
    let hub = std::sync::Arc::new(hub);
    let on_worker = hub.clone();
    let times = tokio::spawn(async move { measure_here(&on_worker, calls).await })
        .await
        .unwrap_or_default();
    let hub =
        std::sync::Arc::into_inner(hub).unwrap_or_else(|| McpHub::new(&|k| std::env::var(k).ok()));
    (hub, times)
}

async fn measure_here(hub: &McpHub, calls: usize) -> Vec<Duration> {
    let call = ToolCall {
        id: ToolCallId::new("c"),
        name: "files.write".into(),
        arguments: json!({"path": "notes/today.md", "content": "hello world"}),
    };
    let mut m = serde_json::Map::new();
    m.insert(
        meta::RUN_ID.into(),
        json!("0190c0de-0000-7000-8000-000000000001"),
    );
    m.insert(
        meta::IDEMPOTENCY_KEY.into(),
        json!("0190c0de-0000-7000-8000-000000000001:1"),
    );
    for _ in 0..calls / 10 {
        let _ = hub.call_tool(&call, &m).await;
    }
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        let r = hub.call_tool(&call, &m).await;
        times.push(start.elapsed());
        assert!(r.is_ok_and(|r| !r.is_error));
    }
    times.sort();
    times
}

fn report(label: &str, times: &[Duration]) {
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize];
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "{label:<28} n={} p50={:?} p90={:?} p99={:?} mean={:?}",
        times.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        mean
    );
}

fn main() -> anyhow::Result<()> {
    let calls: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    for flavor in ["current_thread", "multi_thread"] {
        let rt = match flavor {
            "current_thread" => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            _ => tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?,
        };
        rt.block_on(async {
            let (client, server) = in_process_pair();
            tokio::spawn(async move {
                if let Ok(running) = files().serve(server).await {
                    let _ = running.waiting().await;
                }
            });
            let mut hub = McpHub::new(&|k| std::env::var(k).ok());
            hub.connect_transport("gw", client, Naming::AsIs, Duration::from_secs(10))
                .await?;
            let (hub, times) = measure(hub, calls).await;
            report(&format!("typed channels, {flavor}"), &times);
            hub.shutdown().await;

            let (client, server) = tokio::io::duplex(64 * 1024);
            tokio::spawn(async move {
                if let Ok(running) = files().serve(server).await {
                    let _ = running.waiting().await;
                }
            });
            let mut hub = McpHub::new(&|k| std::env::var(k).ok());
            hub.connect_transport("gw", client, Naming::AsIs, Duration::from_secs(10))
                .await?;
            let (hub, times) = measure(hub, calls).await;
            report(&format!("JSON over duplex, {flavor}"), &times);
            hub.shutdown().await;
            anyhow::Ok(())
        })?;
    }
    Ok(())
}
