//! The gateway deciding with Cedar policies: the agent comes from the
//! control plane's `_meta`, the call's attributes from the decoded
//! arguments; denials name the policy and its reason; default deny.

#![expect(
    clippy::unwrap_used,
    reason = "test code: helpers outside #[test] functions fail loudly"
)]

mod common;

use std::sync::Arc;

use bureau_gateway::{
    AuditDecision, AuditSink, CedarPolicy, ChainedAudit, Gateway, GatewayParts, MemoryAudit,
};
use bureau_protocol::{ApprovalId, RunId, meta};
use bureau_store::{ApprovalState, Approvals, ControlStore, GrantKey};
use bureau_tools::{FilesToolset, Toolset};
use common::{Era, Harness, call, connect, is_error, text};
use rmcp::model::{CallToolRequestParams, CallToolResult, RequestMetaObject};
use serde_json::{Value, json};

const POLICIES: &str = r#"
// example allow: {"agent": "writer", "tool": "files.write", "resource": {"workspace": "w"}, "args": {"path": "notes.md"}}
// example deny: {"agent": "writer", "tool": "files.write", "resource": {"workspace": "w"}, "args": {"path": "secrets/key"}}
// example require_approval: {"agent": "writer", "tool": "files.write", "resource": {"workspace": "w"}, "args": {"path": "report.final.md"}}
// example deny: {"agent": "reader", "tool": "files.write", "resource": {"workspace": "w"}, "args": {"path": "notes.md"}}
@id("everyone-reads")
permit (principal, action in [Action::"files.list", Action::"files.read"], resource);

@id("writer-writes")
permit (principal == Agent::"writer", action == Action::"files.write", resource);

@id("no-secrets")
@reason("files under secrets/ are off limits; write elsewhere")
forbid (principal, action, resource)
when { context has path && context.path like "secrets/*" };

@id("finals-need-a-human")
@approval
@reason("final reports are checked by a person first")
forbid (principal, action == Action::"files.write", resource)
when { context.path like "*.final.*" }
unless { context.approved };
"#;

fn gateway_with(
    dir: &tempfile::TempDir,
    audit: Arc<dyn AuditSink>,
    approvals: Option<Approvals>,
) -> Gateway {
    let policies = bureau_policy::Policies::from_sources([("test.cedar", POLICIES)]).unwrap();
    let files: Arc<dyn Toolset> = Arc::new(FilesToolset::default());
    Gateway::from_parts(GatewayParts {
        config: Harness::config(dir, &[]),
        audit,
        policy: Arc::new(CedarPolicy::new(Arc::new(policies), "alice")),
        toolsets: vec![files],
        approvals,
        upstream: None,
        snapshots: None,
    })
    .unwrap()
}

fn gateway(dir: &tempfile::TempDir, audit: Arc<MemoryAudit>) -> Gateway {
    gateway_with(dir, audit, None)
}

fn control(dir: &tempfile::TempDir) -> ControlStore {
    let key = GrantKey::load_or_create(&dir.path().join("grant.key")).unwrap();
    ControlStore::open(&dir.path().join("control.db"), key).unwrap()
}

fn with_approval(mut p: CallToolRequestParams, id: &str) -> CallToolRequestParams {
    if let Some(m) = p.meta.as_mut() {
        m.insert(meta::APPROVAL_ID.to_owned(), json!(id));
    }
    p
}

fn held_id(r: &CallToolResult) -> String {
    r.structured_content.as_ref().unwrap()[meta::APPROVAL_REQUIRED]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn as_agent(name: &str, args: Value, agent: &str, run: RunId) -> CallToolRequestParams {
    let mut p = call(name, args);
    let mut m = RequestMetaObject::new();
    m.insert(meta::RUN_ID.to_owned(), json!(run.to_string()));
    m.insert(meta::AGENT.to_owned(), json!(agent));
    p.meta = Some(m);
    p
}

#[tokio::test]
async fn cedar_decides_per_agent_and_per_argument() {
    let dir = tempfile::tempdir().unwrap();
    let audit = MemoryAudit::new();
    let gw = gateway(&dir, audit.clone());
    let client = connect(&gw, Era::Modern).await;
    let run = RunId::new();

    // Allowed: the writer writes notes.md.
    let ok = client
        .call_tool(as_agent(
            "files.write",
            json!({"path": "notes.md", "content": "hi"}),
            "writer",
            run,
        ))
        .await
        .unwrap();
    assert!(!is_error(&ok), "{}", text(&ok));
    let written = dir
        .path()
        .join("runs")
        .join(run.to_string())
        .join("notes.md");
    assert_eq!(std::fs::read_to_string(&written).unwrap(), "hi");

    // Denied by a forbid: the reason and the policy id reach the audit log.
    let denied = client
        .call_tool(as_agent(
            "files.write",
            json!({"path": "secrets/key", "content": "x"}),
            "writer",
            run,
        ))
        .await
        .unwrap();
    assert!(is_error(&denied));
    assert_eq!(
        text(&denied),
        "denied by policy: files under secrets/ are off limits; write elsewhere"
    );

    // Default deny: nothing permits the reader to write.
    let reader = client
        .call_tool(as_agent(
            "files.write",
            json!({"path": "notes.md", "content": "overwrite"}),
            "reader",
            run,
        ))
        .await
        .unwrap();
    assert!(is_error(&reader));
    assert!(
        text(&reader).starts_with(
            "denied by policy: no policy permits agent `reader` to call `files.write`"
        ),
        "{}",
        text(&reader)
    );
    assert_eq!(
        std::fs::read_to_string(&written).unwrap(),
        "hi",
        "nothing changed"
    );

    // Held for approval: not run.
    let held = client
        .call_tool(as_agent(
            "files.write",
            json!({"path": "report.final.md", "content": "x"}),
            "writer",
            run,
        ))
        .await
        .unwrap();
    assert!(is_error(&held));
    assert!(text(&held).contains("approval"), "{}", text(&held));
    assert!(!written.with_file_name("report.final.md").exists());

    // A client that names no agent is the gateway's default agent, which
    // no policy here lets write.
    let anonymous = client
        .call_tool(call("files.write", json!({"path": "a.md", "content": "x"})))
        .await
        .unwrap();
    assert!(is_error(&anonymous));
    assert!(
        text(&anonymous).contains("agent `default`"),
        "{}",
        text(&anonymous)
    );

    // A forged agent value that is not a name is refused before policy.
    let mut bad = call("files.read", json!({"path": "notes.md"}));
    let mut m = RequestMetaObject::new();
    m.insert(meta::AGENT.to_owned(), json!({"name": "writer"}));
    bad.meta = Some(m);
    let bad = client.call_tool(bad).await.unwrap();
    assert!(is_error(&bad));
    assert!(
        text(&bad).starts_with("invalid agent in _meta"),
        "{}",
        text(&bad)
    );

    let decisions: Vec<AuditDecision> = audit.events().into_iter().map(|e| e.decision).collect();
    assert_eq!(decisions.len(), 6);
    assert_eq!(decisions[0], AuditDecision::Allowed);
    assert!(
        matches!(&decisions[1], AuditDecision::Denied { reason } if reason.contains("secrets/"))
    );
    assert!(matches!(&decisions[2], AuditDecision::Denied { .. }));
    assert!(matches!(
        &decisions[3],
        AuditDecision::ApprovalRequired { .. }
    ));
    assert!(matches!(&decisions[5], AuditDecision::Rejected { .. }));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_held_call_runs_once_on_a_human_grant_and_never_on_a_forged_or_replayed_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = control(&dir);
    let gw = gateway_with(
        &dir,
        Arc::new(ChainedAudit::new(store.audit())),
        Some(store.approvals()),
    );
    let client = connect(&gw, Era::Legacy).await;
    let run = RunId::new();
    let report = dir
        .path()
        .join("runs")
        .join(run.to_string())
        .join("report.final.md");
    let args = json!({"path": "report.final.md", "content": "Q3: up 4%"});

    // Two identical held calls (parallel calls in one turn) get distinct ids.
    let first = client
        .call_tool(as_agent("files.write", args.clone(), "writer", run))
        .await
        .unwrap();
    let second = client
        .call_tool(as_agent("files.write", args.clone(), "writer", run))
        .await
        .unwrap();
    assert!(is_error(&first) && is_error(&second));
    let (id, other) = (held_id(&first), held_id(&second));
    assert_ne!(id, other);
    assert!(text(&first).contains(&id), "{}", text(&first));
    let approvals = store.approvals();
    let pending = approvals.list(Some(ApprovalState::Pending)).unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].request.arguments, args);
    assert_eq!(pending[0].request.policy_ids, ["finals-need-a-human"]);

    // Presenting the id before a human decided: still held, same id.
    let early = client
        .call_tool(with_approval(
            as_agent("files.write", args.clone(), "writer", run),
            &id,
        ))
        .await
        .unwrap();
    assert_eq!(held_id(&early), id);
    assert!(!report.exists());

    // A made-up id is refused.
    let made_up = client
        .call_tool(with_approval(
            as_agent("files.write", args.clone(), "writer", run),
            &ApprovalId::new().to_string(),
        ))
        .await
        .unwrap();
    assert!(
        text(&made_up).contains("does not exist"),
        "{}",
        text(&made_up)
    );

    let id_parsed: ApprovalId = id.parse().unwrap();
    let now = chrono_ms();
    approvals
        .approve(id_parsed, "alice", now, now + 60_000)
        .unwrap();

    // The grant does not stretch to other arguments.
    let swapped = client
        .call_tool(with_approval(
            as_agent(
                "files.write",
                json!({"path": "report.final.md", "content": "Q3: down 40%"}),
                "writer",
                run,
            ),
            &id,
        ))
        .await
        .unwrap();
    assert!(
        text(&swapped).contains("different call"),
        "{}",
        text(&swapped)
    );
    assert!(!report.exists());

    // The exact call runs, once.
    let ran = client
        .call_tool(with_approval(
            as_agent("files.write", args.clone(), "writer", run),
            &id,
        ))
        .await
        .unwrap();
    assert!(!is_error(&ran), "{}", text(&ran));
    assert_eq!(std::fs::read_to_string(&report).unwrap(), "Q3: up 4%");
    std::fs::remove_file(&report).unwrap();
    let replay = client
        .call_tool(with_approval(
            as_agent("files.write", args.clone(), "writer", run),
            &id,
        ))
        .await
        .unwrap();
    assert!(text(&replay).contains("already used"), "{}", text(&replay));
    assert!(!report.exists());

    // A denial reaches the model with the human's reason.
    approvals
        .deny(
            other.parse().unwrap(),
            "bob",
            Some("numbers not final"),
            now,
        )
        .unwrap();
    let denied = client
        .call_tool(with_approval(
            as_agent("files.write", args.clone(), "writer", run),
            &other,
        ))
        .await
        .unwrap();
    assert!(
        text(&denied).contains("numbers not final"),
        "{}",
        text(&denied)
    );

    // Every decision is in the chained audit log, which verifies.
    let log = store.audit();
    let entries = log.list(Some(run), 100).unwrap();
    let decisions: Vec<&str> = entries.iter().map(|e| e.record.decision.as_str()).collect();
    assert_eq!(
        decisions,
        [
            "approval_required",
            "approval_required",
            "approval_required",
            "denied",
            "denied",
            "allowed",
            "denied",
            "denied"
        ]
    );
    let allowed = &entries[5];
    assert_eq!(allowed.record.approval_id.as_deref(), Some(id.as_str()));
    assert_eq!(allowed.record.agent, "writer");
    assert_eq!(allowed.record.outcome, "ok");
    assert_eq!(log.verify().unwrap().first_break, None);
    client.cancel().await.unwrap();
}

fn chrono_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
