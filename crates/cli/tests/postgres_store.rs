//! `[store] backend = "postgres"`: runs journaled in a real (throwaway)
//! Postgres by one process are listed, shown and resumed by another.

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::path::Path;
use std::process::{Command, Output};

use bureau_test_support::postgres::TempPostgres;
use serde_json::{Value, json};

const BUREAU: &str = env!("CARGO_BIN_EXE_bureau");

fn bureau(dir: &Path, args: &[&str]) -> Output {
    Command::new(BUREAU)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--config")
        .arg(dir.join("bureau.toml"))
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
fn runs_journaled_in_postgres_are_listed_and_resumed_by_another_process() {
    if TempPostgres::bin_dir().is_none() {
        panic!("the PostgreSQL binaries are missing: run scripts/setup-test-deps.sh");
    }
    let pg = TempPostgres::shared().unwrap();
    pg.create_database("bureau_cli").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bureau.toml"),
        format!(
            "[store]\nbackend = \"postgres\"\nurl = {:?}\n\n[agents.default]\nmax_turns = 2\non_exhausted = \"pause\"\n",
            pg.url("bureau_cli", "postgres")
        ),
    )
    .unwrap();
    let turns: Vec<Value> = (1..=3)
        .map(|i| json!({"tool_calls": [{"name": "files.write", "arguments": {"path": "log.txt", "content": format!("line {i}\n"), "append": true}}]}))
        .chain(std::iter::once(json!({"text": "three lines"})))
        .collect();
    std::fs::write(
        dir.path().join("script.json"),
        json!({"turns": turns}).to_string(),
    )
    .unwrap();
    let model = format!("scripted:{}", dir.path().join("script.json").display());

    // Pauses after its 2 turns, journaled in Postgres.
    let paused = json_of(&bureau(
        dir.path(),
        &["run", "--json", "--model", &model, "write three lines"],
    ));
    assert_eq!(paused["status"], "awaiting_approval", "{paused}");
    let run = paused["run_id"].as_str().unwrap().to_owned();
    assert!(
        !dir.path().join("data/bureau.db").exists(),
        "nothing was journaled in SQLite"
    );
    let listed = json_of(&bureau(dir.path(), &["runs", "list", "--json"]));
    assert_eq!(listed[0]["run_id"], run.as_str());
    assert_eq!(listed[0]["status"], "awaiting_approval");

    // Another process resumes it from the Postgres journal.
    let done = json_of(&bureau(
        dir.path(),
        &["resume", &run, "--add-turns", "5", "--json"],
    ));
    assert_eq!(done["status"], "completed", "{done}");
    let log = std::fs::read_to_string(
        dir.path()
            .join("data/workspaces")
            .join(&run)
            .join("log.txt"),
    )
    .unwrap();
    assert_eq!(log, "line 1\nline 2\nline 3\n", "no step ran twice");
    let shown = json_of(&bureau(dir.path(), &["runs", "show", &run, "--json"]));
    let finished = shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["entry"]["kind"] == "tool_call_finished")
        .count();
    assert_eq!(finished, 3);

    // A wrong URL is a clear error without the password.
    std::fs::write(
        dir.path().join("bureau.toml"),
        "[store]\nbackend = \"postgres\"\nurl = \"postgres://bureau:s3cret@127.0.0.1:1/nowhere\"\n",
    )
    .unwrap();
    let out = bureau(dir.path(), &["runs", "list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("s3cret"), "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
}
