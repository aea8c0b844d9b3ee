//! `bureau sandbox exec|doctor`: the command's exit code, limits reported
//! in `--json`, a workspace folder, and the doctor's view of this host.

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::process::{Command, Output};

use serde_json::Value;

const BUREAU: &str = env!("CARGO_BIN_EXE_bureau");

fn bureau(args: &[&str]) -> Output {
    Command::new(BUREAU)
        .args(args)
        .output()
        .expect("bureau runs")
}

fn json_of(o: &Output) -> Value {
    let text = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

#[test]
fn exec_passes_the_exit_code_and_reports_limits() {
    let out = bureau(&["sandbox", "exec", "--", "sh", "-c", "echo hi; exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");

    let slept = bureau(&[
        "sandbox",
        "exec",
        "--json",
        "--timeout",
        "1s",
        "--",
        "sleep",
        "30",
    ]);
    let report = json_of(&slept);
    assert_eq!(
        report["limits_hit"],
        serde_json::json!(["wall_time"]),
        "{report}"
    );
    assert_eq!(report["backend"], "native");
    assert!(
        report["wall_ms"].as_f64().unwrap_or(0.0) < 20_000.0,
        "{report}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let ws = dir.path().to_str().expect("utf-8 path");
    let wrote = bureau(&[
        "sandbox",
        "exec",
        "--workspace",
        ws,
        "--",
        "sh",
        "-c",
        "echo data > out.txt; pwd",
    ]);
    assert!(
        wrote.status.success(),
        "{}",
        String::from_utf8_lossy(&wrote.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&wrote.stdout), "/workspace\n");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).expect("written"),
        "data\n"
    );

    let bad = bureau(&["sandbox", "exec", "--memory", "lots", "--", "true"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--memory"));
}

#[test]
fn doctor_says_what_each_backend_can_use() {
    let report = json_of(&bureau(&["sandbox", "doctor", "--json"]));
    assert_eq!(report["usable"]["native"], true, "{report}");
    assert_eq!(
        report["usable"]["microvm"], false,
        "this host has no firecracker: {report}"
    );
    let names: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for needed in ["landlock", "seccomp", "runsc", "firecracker"] {
        assert!(
            names.iter().any(|n| n.contains(needed)),
            "{needed} missing from {names:?}"
        );
    }
}
