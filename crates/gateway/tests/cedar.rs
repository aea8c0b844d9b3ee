//! The gateway deciding with Cedar policies: the agent comes from the
//! control plane's `_meta`, the call's attributes from the decoded
//! arguments; denials name the policy and its reason; default deny.

#![expect(
    clippy::unwrap_used,
    reason = "test code: helpers outside #[test] functions fail loudly"
)]

mod common;

use std::sync::Arc;

use bureau_gateway::{AuditDecision, CedarPolicy, Gateway, GatewayParts, MemoryAudit};
use bureau_protocol::{RunId, meta};
use bureau_tools::{FilesToolset, Toolset};
use common::{Era, Harness, call, connect, is_error, text};
use rmcp::model::{CallToolRequestParams, RequestMetaObject};
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

fn gateway(dir: &tempfile::TempDir, audit: Arc<MemoryAudit>) -> Gateway {
    let policies = bureau_policy::Policies::from_sources([("test.cedar", POLICIES)]).unwrap();
    let files: Arc<dyn Toolset> = Arc::new(FilesToolset::default());
    Gateway::from_parts(GatewayParts {
        config: Harness::config(dir, &[]),
        audit,
        policy: Arc::new(CedarPolicy::new(Arc::new(policies), "alice")),
        toolsets: vec![files],
    })
    .unwrap()
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
