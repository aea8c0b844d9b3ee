//! Per-call cost of the gateway on the in-process hot path. Ignored by
//! default (timings are reported, never asserted); run with
//! `cargo test --release -p bureau-gateway --test bench -- --ignored --nocapture`.
//!
//! Client and server share one current-thread runtime, so wall time per call
//! is the CPU both sides spend on it: rmcp's dispatch on both sides, the
//! pipeline and the tool's syscalls, plus JSON encoding both ways for the
//! byte-pipe rows (`Some(Legacy)`, `Some(Modern)`); the `None` rows move
//! typed messages over channels, as the in-process orchestrator does.

#![expect(clippy::unwrap_used, reason = "benchmark helpers fail loudly")]

mod common;

use std::time::{Duration, Instant};

use common::{Era, Harness, call, connect, is_error};
use rmcp::ServiceExt;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::service::{RoleClient, RoleServer, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::json;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// Typed messages over channels, no JSON: the shape of the in-process
/// transport the orchestrator uses (`bureau-mcp-client`'s `in_process_pair`),
/// kept minimal here so the gateway does not depend on that crate.
struct Chan<Out, In> {
    tx: UnboundedSender<Out>,
    rx: UnboundedReceiver<In>,
}

#[derive(Debug, thiserror::Error)]
#[error("closed")]
struct Closed;

impl Transport<RoleServer> for Chan<ServerJsonRpcMessage, ClientJsonRpcMessage> {
    type Error = Closed;
    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Closed>> + Send + 'static {
        std::future::ready(self.tx.send(item).map_err(|_| Closed))
    }
    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleServer>>> + Send {
        self.rx.recv()
    }
    async fn close(&mut self) -> Result<(), Closed> {
        self.rx.close();
        Ok(())
    }
}

impl Transport<RoleClient> for Chan<ClientJsonRpcMessage, ServerJsonRpcMessage> {
    type Error = Closed;
    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Closed>> + Send + 'static {
        std::future::ready(self.tx.send(item).map_err(|_| Closed))
    }
    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        self.rx.recv()
    }
    async fn close(&mut self) -> Result<(), Closed> {
        self.rx.close();
        Ok(())
    }
}

async fn connect_in_process(gateway: &bureau_gateway::Gateway) -> common::Client {
    let (to_server, from_client) = unbounded_channel();
    let (to_client, from_server) = unbounded_channel();
    let server = Chan {
        tx: to_client,
        rx: from_client,
    };
    let client = Chan {
        tx: to_server,
        rx: from_server,
    };
    let gw = gateway.clone();
    tokio::spawn(async move { gw.serve(server).await });
    ().serve(client).await.unwrap()
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e6;
    let mean = samples.iter().sum::<Duration>().as_secs_f64() * 1e6 / samples.len() as f64;
    println!(
        "{label:<48} n={} p50={:.1}µs p90={:.1}µs p99={:.1}µs mean={:.1}µs",
        samples.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        mean
    );
}

async fn measure(era: Option<Era>, tool: &str, args: serde_json::Value, n: usize) -> Vec<Duration> {
    let h = Harness::new(&["files.*"]);
    std::fs::write(h.default_ws().join("small.txt"), "hello world\n".repeat(10)).unwrap();
    let client = match era {
        Some(era) => connect(&h.gateway, era).await,
        None => connect_in_process(&h.gateway).await,
    };
    for _ in 0..200 {
        client.call_tool(call(tool, args.clone())).await.unwrap();
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let p = call(tool, args.clone());
        let t = Instant::now();
        let r = client.call_tool(p).await.unwrap();
        samples.push(t.elapsed());
        assert!(!is_error(&r));
    }
    client.cancel().await.unwrap();
    samples
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn per_call_cost_over_an_in_memory_pipe() {
    let n = 5000;
    for era in [None, Some(Era::Legacy), Some(Era::Modern)] {
        let name = match era {
            None => "in-process",
            Some(Era::Legacy) => "JSON pipe, 2025-11-25",
            Some(Era::Modern) => "JSON pipe, 2026-07-28",
        };
        let read = measure(era, "files.read", json!({"path": "small.txt"}), n).await;
        report(&format!("{name}: files.read 120 B (inline)"), read);
        let write = measure(
            era,
            "files.write",
            json!({"path": "w.txt", "content": "x".repeat(100)}),
            n,
        )
        .await;
        report(&format!("{name}: files.write 100 B (inline)"), write);
        let list = measure(era, "files.list", json!({}), n).await;
        report(&format!("{name}: files.list 1 entry (inline)"), list);
        let list = measure(era, "files.list", json!({"recursive": true}), n).await;
        report(
            &format!("{name}: files.list recursive 1 entry (blocking pool)"),
            list,
        );
        let denied = measure_denied(era, n).await;
        report(&format!("{name}: denied by policy"), denied);
    }
}

async fn measure_denied(era: Option<Era>, n: usize) -> Vec<Duration> {
    let h = Harness::new(&["files.read"]);
    let client = match era {
        Some(era) => connect(&h.gateway, era).await,
        None => connect_in_process(&h.gateway).await,
    };
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let p = call("files.write", json!({"path": "x", "content": "y"}));
        let t = Instant::now();
        let r = client.call_tool(p).await.unwrap();
        samples.push(t.elapsed());
        assert!(is_error(&r));
    }
    samples
}
