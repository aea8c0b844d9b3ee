//! Streamable HTTP: the official Python SDK client in all its modes, run-id
//! routing from Python, DNS-rebinding protection, loopback-only binding and
//! shutdown.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: helpers outside #[test] functions fail loudly"
)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bureau_gateway::{AuditDecision, GatewayError};
use bureau_protocol::RunId;
use common::Harness;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

fn py_client() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/py_client.py")
}

/// Runs the fixture script and returns its JSON line.
async fn run_py_client(args: &[&str]) -> Value {
    let python = bureau_test_support::deps::python();
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(python)
            .arg(py_client())
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("py_client.py did not finish in 120 s")
    .expect("py_client.py could not start");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "py_client.py printed no JSON line ({e}); stdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

async fn start(
    h: &Harness,
) -> (
    SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<Result<(), GatewayError>>,
) {
    let shutdown = CancellationToken::new();
    let (addr, task) = h
        .gateway
        .serve_http("127.0.0.1:0".parse().unwrap(), shutdown.clone())
        .await
        .unwrap();
    assert_ne!(addr.port(), 0);
    (addr, shutdown, task)
}

#[tokio::test]
async fn python_sdk_client_lists_writes_and_reads_in_every_mode() {
    let h = Harness::new(&["files.*"]);
    let (addr, shutdown, task) = start(&h).await;
    let url = format!("http://{addr}/mcp");
    for (mode, version) in [
        ("auto", "2026-07-28"),
        ("legacy", "2025-11-25"),
        ("2026-07-28", "2026-07-28"),
    ] {
        let path = format!("py/{mode}.txt");
        let out = run_py_client(&["--url", &url, "--mode", mode, "--path", &path]).await;
        assert_eq!(out["ok"], true, "{mode}: {out}");
        assert_eq!(out["protocol_version"], version, "{mode}: {out}");
        assert_eq!(
            out["tools"],
            serde_json::json!(["files.list", "files.read", "files.write"])
        );
        assert_eq!(out["read"]["text"], "hello from python");
        if mode != "2026-07-28" {
            // A version pin adopts a synthesized discover result: no server info.
            assert_eq!(out["server_info"]["name"], "bureau", "{mode}: {out}");
        }
        assert_eq!(
            std::fs::read_to_string(h.default_ws().join(&path)).unwrap(),
            "hello from python"
        );
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn python_sdk_client_routes_by_run_id() {
    let h = Harness::new(&["files.*"]);
    let (addr, shutdown, _task) = start(&h).await;
    let url = format!("http://{addr}/mcp");
    let run = RunId::new().to_string();
    let out = run_py_client(&["--url", &url, "--run-id", &run, "--path", "r.txt"]).await;
    assert_eq!(out["ok"], true, "{out}");
    assert!(h.run_ws(&run).join("r.txt").is_file());
    assert!(!h.default_ws().join("r.txt").exists());

    let out = run_py_client(&["--url", &url, "--run-id", "../../etc", "--path", "x.txt"]).await;
    assert_eq!(out["ok"], false, "{out}");
    assert_eq!(out["write"]["is_error"], true);
    assert!(
        out["write"]["text"]
            .as_str()
            .unwrap()
            .starts_with("invalid run id"),
        "{out}"
    );
    let rejected = h
        .audit
        .events()
        .iter()
        .filter(|e| matches!(e.decision, AuditDecision::Rejected { .. }))
        .count();
    assert_eq!(rejected, 2);
    shutdown.cancel();
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused() {
    let h = Harness::new(&["files.*"]);
    let (addr, shutdown, _task) = start(&h).await;
    let url = format!("http://{addr}/mcp");
    let init = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
    let http = reqwest::Client::new();
    let post = |headers: &[(&str, String)]| {
        let mut req = http
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .json(&init);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        req.send()
    };
    for headers in [
        vec![("Origin", "http://evil.example".to_owned())],
        vec![("Origin", "https://attacker.test:8443".to_owned())],
        vec![("Origin", "null".to_owned())],
        vec![("Host", format!("evil.example:{}", addr.port()))],
    ] {
        let resp = post(&headers).await.unwrap();
        assert_eq!(resp.status(), 403, "{headers:?}");
    }
    for headers in [
        vec![],
        vec![("Origin", "http://localhost:5173".to_owned())],
        vec![("Origin", format!("http://127.0.0.1:{}", addr.port()))],
        vec![("Host", format!("localhost:{}", addr.port()))],
    ] {
        let resp = post(&headers).await.unwrap();
        assert_eq!(resp.status(), 200, "{headers:?}");
    }
    shutdown.cancel();
}

#[tokio::test]
async fn only_loopback_addresses_are_served() {
    let h = Harness::new(&["files.*"]);
    for addr in ["0.0.0.0:0", "[::]:0", "192.0.2.1:8080"] {
        let err = h
            .gateway
            .serve_http(addr.parse().unwrap(), CancellationToken::new())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, GatewayError::NotLoopback { .. }),
            "{addr}: {err}"
        );
    }
    // A port in use is a clear error too.
    let (addr, shutdown, _task) = start(&h).await;
    let err = h
        .gateway
        .serve_http(addr, CancellationToken::new())
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen on {addr}")),
        "{err}"
    );
    shutdown.cancel();
}
