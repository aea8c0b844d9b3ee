//! One run, one trace, read back from the local trace store: a scripted
//! run through the binary with a Cedar policy folder hits a tool error, a
//! policy denial and a call held for approval; a human approves it and a
//! new process resumes the run. `bureau trace show RUN --json` must give
//! the exact span tree — GenAI spans from the orchestrator, the gateway's
//! spans under each `execute_tool` — and the resumed part must continue
//! the same trace (its id is derived from the run id).

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

@id("no-listing")
@reason("listing is not part of this task")
forbid (principal, action == Action::"files.list", resource);

@id("finals-need-a-human")
@approval
@reason("final reports are checked by a person first")
forbid (principal, action == Action::"files.write", resource)
when { context.path like "*.final.*" }
unless { context.approved };
"#;

fn script() -> Value {
    json!({"turns": [
        {"tool_calls": [{"id": "call-read", "name": "files.read", "arguments": {"path": "missing.txt"}}]},
        {"tool_calls": [{"id": "call-list", "name": "files.list", "arguments": {}}]},
        {"tool_calls": [{"id": "call-final", "name": "files.write", "arguments": {"path": "q3.final.md", "content": "Q3 up 4%"}}]},
        {"text": "report filed"}
    ]})
}

struct Setup {
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

impl Setup {
    fn new() -> Self {
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
        std::fs::write(dir.path().join("script.json"), script().to_string()).unwrap();
        Self { dir, config }
    }

    fn bureau(&self, args: &[&str]) -> Output {
        Command::new(BUREAU)
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            // No collector here: only the local trace store.
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("BUREAU_TRACES")
            .output()
            .expect("bureau runs")
    }

    fn model(&self) -> String {
        format!("scripted:{}", self.dir.path().join("script.json").display())
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

/// The spans this slice defines; others (the journal's own) are left out
/// of the shape.
fn ours(name: &str) -> bool {
    [
        "invoke_agent ",
        "chat ",
        "execute_tool ",
        "tools/call ",
        "tool ",
    ]
    .iter()
    .any(|p| name.starts_with(p))
        || ["policy", "approval", "workspace.snapshot"].contains(&name)
}

/// A node as `{"name", "children"}`, our spans only.
fn shape(node: &Value) -> Value {
    let children: Vec<Value> = node["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| ours(c["name"].as_str().unwrap()))
        .map(shape)
        .collect();
    if children.is_empty() {
        json!(node["name"])
    } else {
        json!({ node["name"].as_str().unwrap(): children })
    }
}

/// Every node, depth first.
fn walk<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(node);
    for c in node["children"].as_array().unwrap() {
        walk(c, out);
    }
}

#[test]
fn a_paused_and_resumed_run_is_one_trace_with_the_exact_span_tree() {
    let s = Setup::new();
    let model = s.model();
    let out = s.bureau(&["run", "--json", "--model", &model, "file the Q3 report"]);
    let summary = json_of(&out);
    assert_eq!(summary["status"], "awaiting_approval", "{summary}");
    let run = summary["run_id"].as_str().unwrap().to_owned();

    let pending = json_of(&s.bureau(&["approvals", "list", "--json"]));
    let approval = pending[0]["request"]["id"].as_str().unwrap().to_owned();
    let approve = s.bureau(&["approvals", "approve", &approval, "--by", "alice"]);
    assert!(
        approve.status.success(),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );
    let resumed = json_of(&s.bureau(&["resume", &run, "--json"]));
    assert_eq!(resumed["status"], "completed", "{resumed}");

    let shown = s.bureau(&["trace", "show", &run, "--json"]);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let trace = json_of(&shown);
    let roots = trace["roots"].as_array().unwrap();
    let tree: Vec<Value> = roots.iter().map(shape).collect();
    // The scripted model names itself by its script's path.
    let chat = format!("chat {}", s.dir.path().join("script.json").display());
    println!("{}", serde_json::to_string_pretty(&tree).unwrap());
    assert_eq!(
        tree,
        vec![
            json!({"invoke_agent default": [
                chat,
                {"execute_tool files.read": [
                    {"tools/call files.read": ["policy", "tool files.read"]}
                ]},
                chat,
                {"execute_tool files.list": [
                    {"tools/call files.list": ["policy"]}
                ]},
                chat,
                {"execute_tool files.write": [
                    {"tools/call files.write": ["policy", "approval"]}
                ]},
            ]}),
            json!({"invoke_agent default": [
                {"execute_tool files.write": [
                    {"tools/call files.write": ["policy", "approval", {"tool files.write": ["workspace.snapshot"]}]}
                ]},
                chat,
            ]}),
        ]
    );

    // One trace, continued by the resumed process: both agent spans sit
    // under the run's (virtual) parent.
    assert_eq!(trace["trace_ids"].as_array().unwrap().len(), 1, "{trace}");
    assert_eq!(roots[0]["trace_id"], roots[1]["trace_id"]);
    assert_eq!(roots[0]["parent_span_id"], roots[1]["parent_span_id"]);
    assert_ne!(roots[0]["span_id"], roots[1]["span_id"]);

    let mut nodes = Vec::new();
    for r in roots {
        walk(r, &mut nodes);
    }
    // Parent links are what the nesting says.
    for n in &nodes {
        for c in n["children"].as_array().unwrap() {
            assert_eq!(c["parent_span_id"], n["span_id"]);
            assert_eq!(c["trace_id"], n["trace_id"]);
        }
    }
    let named = |name: &str| -> Vec<&Value> {
        nodes
            .iter()
            .copied()
            .filter(|n| n["name"] == name)
            .collect()
    };
    let attrs = |n: &Value| n["attributes"].clone();

    // The agent spans.
    for agent in roots {
        let a = attrs(agent);
        assert_eq!(a["gen_ai.operation.name"], "invoke_agent");
        assert_eq!(a["gen_ai.agent.name"], "default");
        assert_eq!(a["gen_ai.conversation.id"], run.as_str());
    }
    assert_eq!(attrs(&roots[0])["bureau.run.status"], "awaiting_approval");
    assert_eq!(attrs(&roots[1])["bureau.run.status"], "completed");

    // Model calls: provider, model, usage, finish reasons.
    let chats = named(&chat);
    assert_eq!(chats.len(), 4);
    for (chat, finish) in chats
        .iter()
        .zip(["tool_calls", "tool_calls", "tool_calls", "stop"])
    {
        let a = attrs(chat);
        assert_eq!(a["gen_ai.operation.name"], "chat");
        assert_eq!(chat["kind"], "client");
        assert_eq!(a["gen_ai.provider.name"], "scripted");
        assert!(a["gen_ai.usage.input_tokens"].as_i64().unwrap() > 0, "{a}");
        assert!(a["gen_ai.usage.output_tokens"].as_i64().unwrap() > 0, "{a}");
        assert_eq!(a["gen_ai.response.finish_reasons"], json!([finish]));
    }
    // The agent's usage is the sum of its model calls.
    let first_in: i64 = chats[..3]
        .iter()
        .map(|c| attrs(c)["gen_ai.usage.input_tokens"].as_i64().unwrap())
        .sum();
    assert_eq!(attrs(&roots[0])["gen_ai.usage.input_tokens"], first_in);

    // (1) The tool error: marked on the call, its gateway span and the tool.
    let read = named("execute_tool files.read")[0];
    assert_eq!(attrs(read)["gen_ai.tool.name"], "files.read");
    assert_eq!(attrs(read)["gen_ai.tool.call.id"], "call-read");
    assert_eq!(attrs(read)["bureau.tool.outcome"], "tool_error");
    assert_eq!(read["status"], "error");
    let read_call = &read["children"][0];
    assert_eq!(attrs(read_call)["mcp.method.name"], "tools/call");
    assert_eq!(read_call["kind"], "server");
    assert_eq!(read_call["status"], "error");
    assert_eq!(
        attrs(&read_call["children"][0])["bureau.policy.outcome"],
        "allow"
    );
    assert_eq!(read_call["children"][1]["status"], "error");

    // (2) The denial: outcome and the policy that decided.
    let list = named("execute_tool files.list")[0];
    assert_eq!(attrs(list)["gen_ai.tool.call.id"], "call-list");
    let policy = &list["children"][0]["children"][0];
    assert_eq!(attrs(policy)["bureau.policy.outcome"], "deny");
    assert_eq!(attrs(policy)["bureau.policy.ids"], json!(["no-listing"]));
    assert_eq!(list["children"][0]["status"], "error");

    // (3) Held, then approved and run in the resumed process.
    let writes = named("execute_tool files.write");
    assert_eq!(writes.len(), 2);
    for (w, outcome, approval_outcome) in [
        (writes[0], "approval_required", "held"),
        (writes[1], "ok", "granted"),
    ] {
        assert_eq!(attrs(w)["gen_ai.tool.call.id"], "call-final");
        assert_eq!(attrs(w)["bureau.tool.outcome"], outcome);
        assert_ne!(w["status"], "error");
        let call = &w["children"][0];
        assert_ne!(call["status"], "error", "a held call is not a failure");
        let policy = &call["children"][0];
        assert_eq!(attrs(policy)["bureau.policy.outcome"], "require_approval");
        assert_eq!(
            attrs(policy)["bureau.policy.ids"],
            json!(["finals-need-a-human"])
        );
        let appr = &call["children"][1];
        assert_eq!(attrs(appr)["bureau.approval.outcome"], approval_outcome);
        assert_eq!(attrs(appr)["bureau.approval.id"], approval.as_str());
    }

    // The terminal view marks the failed steps.
    let text = s.bureau(&["trace", "show", &run]);
    let text = String::from_utf8_lossy(&text.stdout);
    println!("{text}");
    assert!(text.contains("execute_tool files.read"), "{text}");
    let failed: Vec<&str> = text.lines().filter(|l| l.contains("✗ ERROR")).collect();
    assert!(
        failed.iter().any(|l| l.contains("execute_tool files.read")),
        "{text}"
    );
    assert!(
        failed.iter().any(|l| l.contains("tools/call files.list")),
        "{text}"
    );
    assert!(
        !failed
            .iter()
            .any(|l| l.contains("execute_tool files.write")),
        "{text}"
    );

    // The OTLP/JSON export holds the same spans.
    let export = json_of(&s.bureau(&["trace", "export", &run, "--format", "otlp-json"]));
    let spans: Vec<&Value> = export["resourceSpans"][0]["scopeSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["spans"].as_array().unwrap())
        .collect();
    assert_eq!(spans.len() as u64, trace["spans"].as_u64().unwrap());
    let agent = spans
        .iter()
        .find(|s| s["spanId"] == roots[0]["span_id"])
        .unwrap();
    assert_eq!(agent["traceId"], roots[0]["trace_id"]);
    assert!(
        agent["startTimeUnixNano"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    let read_span = spans
        .iter()
        .find(|s| s["spanId"] == read["span_id"])
        .unwrap();
    assert_eq!(read_span["status"]["code"], 2);
    assert!(
        read_span["attributes"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "gen_ai.tool.name", "value": {"stringValue": "files.read"}}))
    );
}
