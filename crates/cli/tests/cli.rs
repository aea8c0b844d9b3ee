//! The `bureau` binary end to end: the demo, `run --json`, the journal
//! commands, config errors. Each test uses its own `--data-dir`.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn bureau(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bureau"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .output()
        .expect("bureau runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_line(o: &Output) -> Value {
    let out = stdout(o);
    assert_eq!(
        out.lines().count(),
        1,
        "exactly one JSON line, got: {out}\nstderr: {}",
        stderr(o)
    );
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn write_script(dir: &Path, script: Value) -> String {
    let p = dir.join("script.json");
    std::fs::write(&p, script.to_string()).unwrap();
    format!("scripted:{}", p.display())
}

#[test]
fn the_demo_completes_offline_and_its_file_outlives_the_step_that_wrote_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = bureau(dir.path(), &["demo"]);
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    let text = stdout(&o);
    assert!(
        text.contains("files.write") && text.contains("files.read"),
        "{text}"
    );
    assert!(text.contains("■ completed"), "{text}");
    assert!(
        text.contains("scripted"),
        "the run is labelled as scripted: {text}"
    );

    let o = bureau(dir.path(), &["demo", "--json"]);
    assert!(o.status.success());
    let summary = json_line(&o);
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["scripted"], true);
    assert_eq!(summary["turns"], 4);
    let run_id = summary["run_id"].as_str().unwrap();
    let csv = dir.path().join("workspaces").join(run_id).join("sales.csv");
    let content = std::fs::read_to_string(&csv).expect("sales.csv in the run's workspace");
    assert!(content.starts_with("day,region,amount"));
}

#[test]
fn run_json_prints_the_stable_summary_for_every_status() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_script(
        dir.path(),
        json!({"turns": [
            {"tool_calls": [{"name": "files.write", "arguments": {"path": "a.txt", "content": "hi"}}], "usage": {"input_tokens": 10, "output_tokens": 5}},
            {"text": "wrote it", "usage": {"input_tokens": 20, "output_tokens": 7}}
        ]}),
    );
    let o = bureau(
        dir.path(),
        &["run", "--model", &model, "--json", "write a.txt"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s = json_line(&o);
    for key in ["run_id", "status", "reason", "turns", "usage", "answer"] {
        assert!(s.get(key).is_some(), "missing {key}: {s}");
    }
    assert_eq!(s["status"], "completed");
    assert_eq!(s["turns"], 2);
    assert_eq!(s["usage"]["input_tokens"], 30);
    assert_eq!(s["usage"]["output_tokens"], 12);
    assert_eq!(s["answer"], "wrote it");

    // A run that ends otherwise still prints its summary, with exit code 3.
    let looping = write_script(
        dir.path(),
        json!({"turns": [{"tool_calls": [{"name": "files.list", "arguments": {}}]}], "repeat_last": true}),
    );
    let o = bureau(
        dir.path(),
        &["run", "--model", &looping, "--json", "loop forever"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let s = json_line(&o);
    assert_eq!(s["status"], "loop_detected");
    assert!(s["reason"].as_str().unwrap().contains("files.list"));
}

#[test]
fn runs_list_and_show_read_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let first = json_line(&bureau(dir.path(), &["demo", "--json"]));
    let second = json_line(&bureau(dir.path(), &["demo", "--json"]));
    let o = bureau(dir.path(), &["runs", "list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = json_line(&o);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            second["run_id"].as_str().unwrap(),
            first["run_id"].as_str().unwrap()
        ],
        "newest first"
    );
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "completed")
    );

    let o = bureau(
        dir.path(),
        &["runs", "show", first["run_id"].as_str().unwrap(), "--json"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let shown = json_line(&o);
    let steps = shown["steps"].as_array().unwrap();
    assert_eq!(
        steps.len(),
        10,
        "4 model calls + 3 started + 3 finished: {shown}"
    );
    let o = bureau(
        dir.path(),
        &["runs", "show", first["run_id"].as_str().unwrap()],
    );
    assert!(stdout(&o).contains("files.read"));
}

#[test]
fn bad_input_gets_one_clear_sentence_and_a_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "run".into(),
                "--model".into(),
                "nosuch:thing".into(),
                "x".into(),
            ],
            "unknown model provider `nosuch`",
        ),
        (
            vec!["run".into(), "x".into()],
            "no model for agent `default`: pass --model",
        ),
        (
            vec![
                "run".into(),
                "--model".into(),
                "scripted:/does/not/exist.json".into(),
                "x".into(),
            ],
            "/does/not/exist.json",
        ),
        (
            vec!["runs".into(), "show".into(), "not-an-id".into()],
            "not a valid id",
        ),
        (
            vec![
                "runs".into(),
                "show".into(),
                "0190b7a4-7c1e-7000-8000-000000000000".into(),
            ],
            "there is no run",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = bureau(dir.path(), &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected `{needle}` in: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
}

#[test]
fn config_check_names_the_bad_key_and_schema_is_json() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bureau.toml");
    std::fs::write(&bad, "[agents.default]\nmax_turnz = 3\n").unwrap();
    let o = bureau(dir.path(), &["config", "check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("max_turnz"), "{}", stderr(&o));

    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[agents.default]\nmax_turns = 3\n").unwrap();
    let o = bureau(dir.path(), &["config", "check", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    let o = bureau(dir.path(), &["config", "schema"]);
    assert!(o.status.success());
    let schema: Value = serde_json::from_slice(&o.stdout).expect("schema is JSON");
    assert!(schema.is_object());
}

#[test]
fn ctrl_c_cancels_a_run_which_still_prints_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_script(
        dir.path(),
        json!({"turns": [{"text": "too slow"}], "latency_ms": 600_000}),
    );
    let child = Command::new(env!("CARGO_BIN_EXE_bureau"))
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "run",
            "--json",
            "--model",
            &model,
            "wait for a very slow model",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the run is journaled as running: by then the signal handler is set.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let list = bureau(dir.path(), &["runs", "list", "--json"]);
        if list.status.success() && stdout(&list).contains("\"running\"") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let s = json_line(&o);
    assert_eq!(s["status"], "cancelled");
    let listed = json_line(&bureau(dir.path(), &["runs", "list", "--json"]));
    assert_eq!(
        listed[0]["status"], "cancelled",
        "the journal has the final status"
    );
}

#[test]
fn policy_check_explains_allow_deny_and_default_deny() {
    let dir = tempfile::tempdir().unwrap();
    let policies =
        bureau_test_support::deps::repo_root().join("examples/readonly-analyst/policies");
    let policies = policies.to_str().unwrap();
    let check = |request: Value| {
        bureau(
            dir.path(),
            &[
                "policy",
                "check",
                "--policy",
                policies,
                "--request",
                &request.to_string(),
                "--json",
            ],
        )
    };
    let o = check(
        json!({"agent": "analyst", "tool": "sql.query", "resource": {"database": "analytics"}, "args": {"statement_class": "read"}}),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_line(&o)["decision"]["outcome"], "allow");

    // The textbook attack, as a policy question: a DELETE from the read-only analyst.
    let o = check(
        json!({"agent": "analyst", "tool": "sql.query", "resource": {"database": "analytics"}, "args": {"statement_class": "write"}}),
    );
    assert_eq!(o.status.code(), Some(3));
    let d = json_line(&o);
    assert_eq!(d["decision"]["outcome"], "deny");
    assert!(
        d["decision"]["policy_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "analyst-selects-only"),
        "{d}"
    );

    let o = check(json!({"agent": "analyst", "tool": "github.create_issue"}));
    assert_eq!(o.status.code(), Some(3));
    let d = json_line(&o);
    assert_eq!(d["decision"]["outcome"], "deny");
    assert!(
        d["decision"]["policy_ids"].as_array().unwrap().is_empty(),
        "default deny names no policy: {d}"
    );

    let o = check(json!({"agent": "analyst"}));
    assert_eq!(
        o.status.code(),
        Some(1),
        "a malformed request is an error: {}",
        stderr(&o)
    );
    assert!(stderr(&o).starts_with("error: "));
}
