//! Human in the loop, end to end through the binary: a run pauses on a
//! call its policy holds, its process is gone, a new process lists the
//! pending approval, a human approves it from the CLI, and the resumed run
//! completes. A tampered grant is refused; the audit chain verifies.

#![expect(
    clippy::expect_used,
    clippy::panic,
    clippy::unwrap_used,
    reason = "test helpers fail loudly"
)]

use std::process::{Command, Output};

use serde_json::{Value, json};

const BUREAU: &str = env!("CARGO_BIN_EXE_bureau");

const POLICY: &str = r#"
@id("default-uses-files")
permit (principal == Agent::"default", action in [Action::"files.list", Action::"files.read", Action::"files.write"], resource);

@id("finals-need-a-human")
@approval
@reason("final reports are checked by a person first")
forbid (principal, action == Action::"files.write", resource)
when { context.path like "*.final.*" }
unless { context.approved };
"#;

struct Setup {
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

fn setup(script: &Value) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(policies.join("reports.cedar"), POLICY).unwrap();
    let config = dir.path().join("bureau.toml");
    std::fs::write(
        &config,
        format!("[policy]\ndir = \"{}\"\n", policies.display()),
    )
    .unwrap();
    std::fs::write(dir.path().join("script.json"), script.to_string()).unwrap();
    Setup { dir, config }
}

impl Setup {
    fn bureau(&self, args: &[&str]) -> Output {
        Command::new(BUREAU)
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("bureau runs")
    }

    fn model(&self) -> String {
        format!("scripted:{}", self.dir.path().join("script.json").display())
    }

    fn workspace(&self, run: &str) -> std::path::PathBuf {
        self.dir.path().join("data/workspaces").join(run)
    }
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

fn script() -> Value {
    json!({"turns": [
        {"tool_calls": [{"name": "files.write", "arguments": {"path": "notes.md", "content": "draft"}}]},
        {"tool_calls": [{"name": "files.write", "arguments": {"path": "q3.final.md", "content": "Q3 revenue up 4%"}}]},
        {"text": "report filed"}
    ]})
}

fn pending(s: &Setup) -> Vec<Value> {
    json_of(&s.bureau(&["approvals", "list", "--json"]))
        .as_array()
        .cloned()
        .unwrap()
}

#[test]
fn a_paused_run_resumes_in_a_new_process_after_a_human_approves() {
    let s = setup(&script());
    let model = s.model();
    let out = s.bureau(&["run", "--json", "--model", &model, "file the Q3 report"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = json_of(&out);
    assert_eq!(summary["status"], "awaiting_approval", "{summary}");
    let run = summary["run_id"].as_str().unwrap().to_owned();
    let ws = s.workspace(&run);
    assert_eq!(
        std::fs::read_to_string(ws.join("notes.md")).unwrap(),
        "draft"
    );
    assert!(!ws.join("q3.final.md").exists(), "held call must not run");

    // The process that paused is gone. A new one lists the approval.
    let list = pending(&s);
    assert_eq!(list.len(), 1);
    let approval = &list[0];
    let id = approval["request"]["id"].as_str().unwrap().to_owned();
    assert_eq!(approval["request"]["binding"]["tool"], "files.write");
    assert_eq!(approval["request"]["binding"]["run_id"], run.as_str());
    assert_eq!(
        approval["request"]["arguments"],
        json!({"path": "q3.final.md", "content": "Q3 revenue up 4%"})
    );

    // Resuming before anyone decided keeps it paused, on the same approval.
    let early = s.bureau(&["resume", &run, "--json"]);
    assert_eq!(json_of(&early)["status"], "awaiting_approval");
    assert_eq!(pending(&s).len(), 1);
    assert!(!ws.join("q3.final.md").exists());

    let approve = s.bureau(&[
        "approvals",
        "approve",
        &id,
        "--by",
        "alice",
        "--expires-in",
        "10m",
    ]);
    assert!(
        approve.status.success(),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );
    let resumed = s.bureau(&["resume", &run, "--json"]);
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let summary = json_of(&resumed);
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["answer"], "report filed");
    assert_eq!(
        std::fs::read_to_string(ws.join("q3.final.md")).unwrap(),
        "Q3 revenue up 4%"
    );
    let shown = json_of(&s.bureau(&["approvals", "show", &id, "--json"]));
    assert_eq!(shown["state"], "used");
    assert_eq!(shown["decided_by"], "alice");

    // Every decision is audited and the chain verifies.
    let audit = json_of(&s.bureau(&["audit", "--run", &run, "--json"]));
    let decisions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["record"]["decision"].as_str().unwrap())
        .collect();
    assert_eq!(
        decisions,
        [
            "allowed",
            "approval_required",
            "approval_required",
            "allowed"
        ]
    );
    let verify = s.bureau(&["audit", "verify", "--json"]);
    assert!(verify.status.success());
    assert_eq!(json_of(&verify)["first_break"], Value::Null);
}

#[test]
fn a_tampered_grant_is_refused_and_a_denial_reaches_the_model() {
    let s = setup(&script());
    let model = s.model();
    let run = json_of(&s.bureau(&["run", "--json", "--model", &model, "file it"]))["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = pending(&s)[0]["request"]["id"].as_str().unwrap().to_owned();
    assert!(s.bureau(&["approvals", "approve", &id]).status.success());

    // Someone with access to the database, but not the key, stretches the
    // grant's expiry: the signature no longer matches.
    let db = rusqlite::Connection::open(s.dir.path().join("data/control.db")).unwrap();
    db.execute(
        "UPDATE approvals SET expires_at_ms = expires_at_ms + 86400000 WHERE id = ?1",
        [&id],
    )
    .unwrap();
    let resumed = json_of(&s.bureau(&["resume", &run, "--json"]));
    assert_eq!(
        resumed["status"], "completed",
        "the model is told and finishes"
    );
    assert!(!s.workspace(&run).join("q3.final.md").exists());
    let steps = json_of(&s.bureau(&["runs", "show", &run, "--json"]))["steps"]
        .as_array()
        .cloned()
        .unwrap();
    let refused = steps
        .iter()
        .rfind(|st| st["entry"]["kind"] == "tool_call_finished")
        .unwrap();
    let text = refused["entry"]["result"].to_string();
    assert!(text.contains("invalid signature"), "{text}");

    // A second run: the human denies, with a reason the model sees.
    let run2 = json_of(&s.bureau(&["run", "--json", "--model", &model, "file it again"]))["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id2 = pending(&s)[0]["request"]["id"].as_str().unwrap().to_owned();
    assert!(
        s.bureau(&["approvals", "deny", &id2, "--reason", "numbers not final"])
            .status
            .success()
    );
    assert_eq!(
        json_of(&s.bureau(&["resume", &run2, "--json"]))["status"],
        "completed"
    );
    let steps = json_of(&s.bureau(&["runs", "show", &run2, "--json"]))["steps"].to_string();
    assert!(steps.contains("numbers not final"), "{steps}");
    assert!(!s.workspace(&run2).join("q3.final.md").exists());
}
