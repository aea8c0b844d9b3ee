//! `serve_stdio` with the official Python SDK client spawning the server.
//!
//! This test binary is its own server: run with `--serve-stdio DIR` it serves
//! a gateway over stdin/stdout (so it has no libtest harness, whose output
//! would corrupt the stream); run plainly it drives `py_client.py --stdio`
//! against itself in every client mode.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: helpers outside #[test] functions fail loudly"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use bureau_gateway::{Gateway, GatewayConfig, TracingAudit};

fn config(dir: &Path) -> GatewayConfig {
    GatewayConfig::new(
        dir.join("runs"),
        dir.join("default"),
        vec!["files.*".to_owned()],
    )
}

fn serve(dir: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let gateway = Gateway::new(config(dir), std::sync::Arc::new(TracingAudit)).unwrap();
        gateway.serve_stdio().await.unwrap();
    });
}

fn stdio_round_trip_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let me = std::env::current_exe().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/py_client.py");
    let python = bureau_test_support::deps::python();
    for (mode, version) in [
        ("auto", "2026-07-28"),
        ("legacy", "2025-11-25"),
        ("2026-07-28", "2026-07-28"),
    ] {
        let path = format!("stdio/{mode}.txt");
        let started = Instant::now();
        let output = Command::new(&python)
            .arg(&script)
            .args([
                "--stdio",
                "--mode",
                mode,
                "--path",
                &path,
                "--timeout",
                "60",
                "--",
            ])
            .arg(&me)
            .arg("--serve-stdio")
            .arg(dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        let out: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!(
                "no JSON line ({e}): {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        assert_eq!(
            out["ok"],
            true,
            "{mode}: {out}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(out["protocol_version"], version, "{mode}: {out}");
        assert_eq!(
            out["tools"],
            serde_json::json!(["files.list", "files.read", "files.write"])
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("default").join(&path)).unwrap(),
            "hello from python"
        );
        println!(
            "  stdio {mode}: ok ({} ms incl. process start)",
            started.elapsed().as_millis()
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve-stdio") {
        serve(Path::new(&args[i + 1]));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        println!("stdio_round_trip_in_every_mode: test");
        return;
    }
    println!("running 1 test (stdio, no harness)");
    stdio_round_trip_in_every_mode();
    println!("test stdio_round_trip_in_every_mode ... ok");
}
