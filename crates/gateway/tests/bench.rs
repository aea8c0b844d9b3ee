//! Per-call cost of the gateway on the in-process hot path. Ignored by
//! default (timings are reported, never asserted); run with
//! `cargo test --release -p bureau-gateway --test bench -- --ignored --nocapture`.
//!
//! Client and server share one current-thread runtime, so wall time per call
//! is the CPU both sides spend on it: JSON encoding both ways over an
//! in-memory pipe, rmcp's dispatch, the pipeline and the tool's syscalls.

mod common;

use std::time::{Duration, Instant};

use common::{Era, Harness, call, connect, is_error};
use serde_json::json;

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

async fn measure(era: Era, tool: &str, args: serde_json::Value, n: usize) -> Vec<Duration> {
    let h = Harness::new(&["files.*"]);
    std::fs::write(h.default_ws().join("small.txt"), "hello world\n".repeat(10)).unwrap();
    let client = connect(&h.gateway, era).await;
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
    for era in [Era::Legacy, Era::Modern] {
        let read = measure(era, "files.read", json!({"path": "small.txt"}), n).await;
        report(&format!("{era:?} files.read 120 B (inline)"), read);
        let write = measure(era, "files.write", json!({"path": "w.txt", "content": "x".repeat(100)}), n).await;
        report(&format!("{era:?} files.write 100 B (inline)"), write);
        let list = measure(era, "files.list", json!({}), n).await;
        report(&format!("{era:?} files.list 1 entry (blocking pool)"), list);
        let denied = measure_denied(era, n).await;
        report(&format!("{era:?} denied by policy"), denied);
    }
}

async fn measure_denied(era: Era, n: usize) -> Vec<Duration> {
    let h = Harness::new(&["files.read"]);
    let client = connect(&h.gateway, era).await;
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
