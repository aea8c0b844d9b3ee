//! Durable runs: a killed `bureau run` resumes from its journal, and a run
//! paused at its turn budget continues when a human grants more turns.
//! Finished steps are replayed, never executed again.

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BUREAU: &str = env!("CARGO_BIN_EXE_bureau");

fn bureau(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(BUREAU)
        .arg("--data-dir")
        .arg(data_dir)
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

fn steps(data_dir: &Path, run_id: &str) -> Vec<Value> {
    let shown = json_of(&bureau(data_dir, &["runs", "show", run_id, "--json"]));
    shown["steps"].as_array().cloned().unwrap_or_default()
}

fn finished_calls(steps: &[Value]) -> usize {
    steps
        .iter()
        .filter(|s| s["entry"]["kind"] == "tool_call_finished")
        .count()
}

#[test]
fn a_killed_run_resumes_without_repeating_a_finished_step() {
    let dir = tempfile::tempdir().unwrap();
    // Each step appends one line: a repeated step would show as a doubled line.
    let turns: Vec<Value> = (1..=6)
        .map(|i| json!({"tool_calls": [{"name": "files.write", "arguments": {"path": "log.txt", "content": format!("line {i}\n"), "append": true}}]}))
        .chain(std::iter::once(json!({"text": "six lines written"})))
        .collect();
    let script = dir.path().join("script.json");
    std::fs::write(
        &script,
        json!({"turns": turns, "latency_ms": 150}).to_string(),
    )
    .unwrap();
    let model = format!("scripted:{}", script.display());
    let mut child = Command::new(BUREAU)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["run", "--json", "--model", &model, "write six lines"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Kill it (SIGKILL: no chance to tidy up) once two steps are journaled.
    let deadline = Instant::now() + Duration::from_secs(60);
    let run_id = loop {
        let list = bureau(dir.path(), &["runs", "list", "--json"]);
        let id = list
            .status
            .success()
            .then(|| json_of(&list))
            .and_then(|l| l[0]["run_id"].as_str().map(str::to_owned));
        if let Some(id) = id.filter(|id| finished_calls(&steps(dir.path(), id)) >= 2) {
            break id;
        }
        assert!(Instant::now() < deadline, "the run never got going");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let before = steps(dir.path(), &run_id);
    let listed = json_of(&bureau(dir.path(), &["runs", "list", "--json"]));
    assert_eq!(
        listed[0]["status"], "running",
        "a killed run is left as running"
    );

    let o = bureau(dir.path(), &["resume", &run_id, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = json_of(&o);
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["answer"], "six lines written");

    let after = steps(dir.path(), &run_id);
    assert!(after.len() > before.len());
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "the journal before the crash is kept as it was"
    );
    let seqs: Vec<u64> = after.iter().map(|s| s["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (0..after.len() as u64).collect::<Vec<_>>(),
        "no step lost, none doubled"
    );

    let log = std::fs::read_to_string(dir.path().join("workspaces").join(&run_id).join("log.txt"))
        .unwrap();
    for i in 1..=6 {
        let n = log.lines().filter(|l| *l == format!("line {i}")).count();
        assert!(n <= 1, "line {i} written {n} times:\n{log}");
    }
    // Every call the journal says succeeded left its line exactly once.
    for s in after
        .iter()
        .filter(|s| s["entry"]["kind"] == "tool_call_finished" && s["entry"]["outcome"] == "ok")
    {
        let id = s["entry"]["id"].as_str().unwrap();
        let started = after
            .iter()
            .find(|t| t["entry"]["kind"] == "tool_call_started" && t["entry"]["call"]["id"] == id)
            .unwrap();
        let line = started["entry"]["call"]["arguments"]["content"]
            .as_str()
            .unwrap()
            .trim_end();
        assert_eq!(log.lines().filter(|l| *l == line).count(), 1, "{line}");
    }
}

#[test]
fn a_run_paused_at_its_turn_budget_continues_when_granted_more() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bureau.toml");
    std::fs::write(
        &config,
        "[agents.default]\nmax_turns = 2\non_exhausted = \"pause\"\n",
    )
    .unwrap();
    let script = dir.path().join("script.json");
    let turns: Vec<Value> = (1..=3)
        .map(|i| json!({"tool_calls": [{"name": "files.write", "arguments": {"path": format!("f{i}.txt"), "content": "x"}}]}))
        .chain(std::iter::once(json!({"text": "all three written"})))
        .collect();
    std::fs::write(&script, json!({"turns": turns}).to_string()).unwrap();
    let model = format!("scripted:{}", script.display());
    let cfg = config.to_str().unwrap();
    let o = bureau(
        dir.path(),
        &[
            "--config",
            cfg,
            "run",
            "--json",
            "--model",
            &model,
            "write three files",
        ],
    );
    assert_eq!(o.status.code(), Some(3));
    let paused = json_of(&o);
    assert_eq!(paused["status"], "awaiting_approval");
    let run_id = paused["run_id"].as_str().unwrap();

    // Without more budget it pauses again at once; with it, it finishes.
    let o = bureau(dir.path(), &["--config", cfg, "resume", run_id, "--json"]);
    assert_eq!(json_of(&o)["status"], "awaiting_approval");
    let o = bureau(
        dir.path(),
        &[
            "--config",
            cfg,
            "resume",
            run_id,
            "--add-turns",
            "5",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let done = json_of(&o);
    assert_eq!(done["status"], "completed");
    assert_eq!(done["turns"], 4);
    let calls: Vec<Value> = steps(dir.path(), run_id)
        .into_iter()
        .filter(|s| s["entry"]["kind"] == "tool_call_started")
        .collect();
    assert_eq!(calls.len(), 3, "each file written once");

    // A finished run cannot be resumed.
    let o = bureau(dir.path(), &["--config", cfg, "resume", run_id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already ended as completed"));
}
