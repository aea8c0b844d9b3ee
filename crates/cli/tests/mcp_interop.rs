//! Bureau's gateway as a real MCP server for real peers: the official
//! Python SDK client (`mcp` on PyPI, pinned) drives `bureau mcp serve
//! --stdio` and `--http`, in both protocol eras; and `bureau mcp tools`
//! aggregates an official reference server configured in bureau.toml.

#![expect(
    clippy::expect_used,
    clippy::panic,
    clippy::unwrap_used,
    reason = "test helpers fail loudly"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bureau_test_support::deps;
use serde_json::Value;

const BUREAU: &str = env!("CARGO_BIN_EXE_bureau");

fn py_client() -> std::path::PathBuf {
    deps::repo_root().join("crates/gateway/tests/fixtures/py_client.py")
}

fn last_json_line(out: &[u8]) -> Value {
    let text = String::from_utf8_lossy(out);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("no JSON line ({e}) in: {text}"))
}

fn python_client_over_stdio(data_dir: &Path, mode: &str) -> Value {
    let out = Command::new(deps::python())
        .arg(py_client())
        .args(["--stdio", "--mode", mode, "--", BUREAU, "--data-dir"])
        .arg(data_dir)
        .args(["mcp", "serve", "--stdio"])
        .output()
        .expect("python runs");
    let seen = last_json_line(&out.stdout);
    assert_eq!(
        seen["ok"],
        true,
        "mode {mode}: {seen}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    seen
}

#[test]
fn the_python_sdk_client_uses_bureau_mcp_serve_stdio_in_both_eras() {
    let dir = tempfile::tempdir().unwrap();
    for mode in ["legacy", "2026-07-28", "auto"] {
        let seen = python_client_over_stdio(dir.path(), mode);
        let tools: Vec<&str> = seen["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            tools.contains(&"files.write") && tools.contains(&"files.read"),
            "{seen}"
        );
        assert_eq!(seen["round_trip"], true, "{seen}");
        if mode == "legacy" {
            // The initialize handshake names the server (the 2026 era's client does not report it).
            assert_eq!(seen["server_info"]["name"], "bureau", "{seen}");
        }
    }
    // Calls without a run id land in the default workspace.
    let written = dir.path().join("workspaces/default/py-client/hello.txt");
    assert_eq!(
        std::fs::read_to_string(written).unwrap(),
        "hello from python"
    );
}

#[test]
fn the_python_sdk_client_uses_bureau_mcp_serve_http() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(BUREAU)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["mcp", "serve", "--http", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // The server says where it listens on stderr.
    let stderr = server.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("http://").nth(1) {
                let _ = tx.send(format!(
                    "http://{}",
                    rest.split_whitespace().next().unwrap_or("")
                ));
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server announces its URL");
    for mode in ["legacy", "2026-07-28"] {
        let out = Command::new(deps::python())
            .arg(py_client())
            .args(["--url", &url, "--mode", mode])
            .output()
            .unwrap();
        let seen = last_json_line(&out.stdout);
        assert_eq!(
            seen["ok"],
            true,
            "mode {mode}: {seen}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(seen["round_trip"], true);
    }
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn mcp_tools_aggregates_the_gateway_and_a_configured_reference_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bureau.toml");
    let everything =
        deps::node_package_file("@modelcontextprotocol/server-everything", "dist/index.js");
    std::fs::write(
        &config,
        format!(
            "[mcp_servers.everything]\ncommand = \"node\"\nargs = [{:?}, \"stdio\"]\nconnect_timeout = \"30s\"\n\n[mcp_servers.time]\ncommand = {:?}\nconnect_timeout = \"30s\"\n",
            everything.display().to_string(),
            deps::venv_bin("mcp-server-time").display().to_string()
        ),
    )
    .unwrap();
    let out = Command::new(BUREAU)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--config")
        .arg(&config)
        .args(["mcp", "tools", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = last_json_line(&out.stdout);
    let names: Vec<&str> = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for expected in ["files.read", "everything.echo", "time.get_current_time"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }

    // A scripted agent uses both external servers and the gateway in one run.
    let script = dir.path().join("script.json");
    std::fs::write(
        &script,
        serde_json::json!({"turns": [
            {"tool_calls": [
                {"name": "time.get_current_time", "arguments": {"timezone": "UTC"}},
                {"name": "everything.echo", "arguments": {"message": "via MCP"}}
            ]},
            {"text": "done"}
        ]})
        .to_string(),
    )
    .unwrap();
    let out = Command::new(BUREAU)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--config")
        .arg(&config)
        .args([
            "run",
            "--json",
            "--model",
            &format!("scripted:{}", script.display()),
            "what time is it?",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = last_json_line(&out.stdout);
    assert_eq!(summary["status"], "completed");
    let run_id = summary["run_id"].as_str().unwrap();
    let out = Command::new(BUREAU)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["runs", "show", run_id, "--json"])
        .output()
        .unwrap();
    let shown = last_json_line(&out.stdout);
    let results: Vec<String> = shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["entry"]["kind"] == "tool_call_finished")
        .map(|s| s["entry"]["result"].to_string())
        .collect();
    assert_eq!(results.len(), 2, "{shown}");
    assert!(
        results[0].contains("UTC"),
        "time server answered: {}",
        results[0]
    );
    assert!(
        results[1].contains("via MCP"),
        "echo answered: {}",
        results[1]
    );
    // Both went through the gateway: each call is in its audit log.
    let mut audit = audit_of(dir.path(), run_id);
    audit.sort();
    assert_eq!(
        audit,
        [
            ("everything.echo".to_owned(), "allowed".to_owned()),
            ("time.get_current_time".to_owned(), "allowed".to_owned())
        ]
    );
}

fn audit_of(data_dir: &Path, run_id: &str) -> Vec<(String, String)> {
    let out = Command::new(BUREAU)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["audit", "--run", run_id, "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["record"]["tool"].as_str().unwrap().to_owned(),
                e["record"]["decision"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// External servers sit behind the gateway: their calls are decided by
/// the same Cedar policies (`Action::"call"` on `Server::"<name>"`) and
/// land in the same audit log. The agent may ask the time but not echo.
#[test]
fn external_server_calls_pass_the_gateway_policy_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(
        policies.join("external.cedar"),
        r#"
// example allow: {"agent": "default", "tool": "time.get_current_time"}
// example deny: {"agent": "default", "tool": "everything.echo"}
@id("may-ask-the-time")
permit (principal == Agent::"default", action == Action::"call", resource == Server::"time")
when { context.tool == "time.get_current_time" };
"#,
    )
    .unwrap();
    let everything =
        deps::node_package_file("@modelcontextprotocol/server-everything", "dist/index.js");
    let config = dir.path().join("bureau.toml");
    std::fs::write(
        &config,
        format!(
            "[policy]\ndir = {:?}\n\n[mcp_servers.everything]\ncommand = \"node\"\nargs = [{:?}, \"stdio\"]\nconnect_timeout = \"30s\"\n\n[mcp_servers.time]\ncommand = {:?}\nconnect_timeout = \"30s\"\n",
            policies.display().to_string(),
            everything.display().to_string(),
            deps::venv_bin("mcp-server-time").display().to_string()
        ),
    )
    .unwrap();
    let script = dir.path().join("script.json");
    std::fs::write(
        &script,
        serde_json::json!({"turns": [
            {"tool_calls": [
                {"name": "time.get_current_time", "arguments": {"timezone": "UTC"}},
                {"name": "everything.echo", "arguments": {"message": "exfiltrate"}}
            ]},
            {"text": "done"}
        ]})
        .to_string(),
    )
    .unwrap();
    let out = Command::new(BUREAU)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--config")
        .arg(&config)
        .args([
            "run",
            "--json",
            "--model",
            &format!("scripted:{}", script.display()),
            "what time is it?",
        ])
        .output()
        .unwrap();
    let summary = last_json_line(&out.stdout);
    assert_eq!(
        summary["status"],
        "completed",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run_id = summary["run_id"].as_str().unwrap();
    let out = Command::new(BUREAU)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["runs", "show", run_id, "--json"])
        .output()
        .unwrap();
    let shown = last_json_line(&out.stdout);
    let results: Vec<String> = shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["entry"]["kind"] == "tool_call_finished")
        .map(|s| s["entry"]["result"].to_string())
        .collect();
    assert!(results[0].contains("UTC"), "{}", results[0]);
    assert!(
        results[1].contains(
            "denied by policy: no policy permits agent `default` to call `everything.echo`"
        ),
        "{}",
        results[1]
    );
    let mut audit = audit_of(dir.path(), run_id);
    audit.sort();
    assert_eq!(
        audit,
        [
            ("everything.echo".to_owned(), "denied".to_owned()),
            ("time.get_current_time".to_owned(), "allowed".to_owned())
        ]
    );
}
