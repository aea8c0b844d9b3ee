//! Tools that panic or hang end in error results; the connection and the
//! gateway stay up. Also: a policy that asks for approval, through the seam.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a tool that panics on purpose, helpers that fail loudly"
)]

mod common;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bureau_gateway::{
    AllowList, AuditDecision, AuditOutcome, CallRequest, Gateway, GatewayParts, MemoryAudit, Policy,
};
use bureau_protocol::{Decision, ToolResult, ToolSpec};
use bureau_tools::{
    Access, Execution, FilesToolset, Invocation, Requirement, Resource, ToolContext, ToolDef,
    ToolError, Toolset,
};
use common::{Era, Harness, call, connect, is_error, text};
use serde_json::{Value, json};

/// A gate the hanging tool waits on until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cv.wait(open).unwrap();
        }
    }

    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

struct Faulty {
    defs: Vec<ToolDef>,
    gate: Arc<Gate>,
}

impl Faulty {
    fn new(gate: Arc<Gate>) -> Self {
        let def = |name: &str| ToolDef {
            spec: ToolSpec {
                name: name.to_owned(),
                description: "misbehaves".to_owned(),
                input_schema: json!({"type": "object"}),
            },
            needs: vec![Requirement {
                resource: Resource::Workspace,
                access: Access::Read,
            }],
            read_only: true,
        };
        Self {
            defs: vec![
                def("faulty.panic_inline"),
                def("faulty.panic_blocking"),
                def("faulty.hang"),
                def("faulty.error"),
            ],
            gate,
        }
    }
}

enum Fault {
    Panic(Execution),
    Hang(Arc<Gate>),
    Error,
}

impl Invocation for Fault {
    fn execution(&self) -> Execution {
        match self {
            Fault::Panic(execution) => *execution,
            Fault::Hang(_) => Execution::Blocking,
            Fault::Error => Execution::Inline,
        }
    }

    fn run(self: Box<Self>, _ctx: &ToolContext) -> Result<ToolResult, ToolError> {
        match *self {
            Fault::Panic(_) => panic!("deliberate panic in a test tool"),
            Fault::Hang(gate) => {
                gate.wait();
                Ok(ToolResult::text("released"))
            }
            Fault::Error => Ok(ToolResult::error("the tool says no")),
        }
    }
}

impl Toolset for Faulty {
    fn tools(&self) -> &[ToolDef] {
        &self.defs
    }

    fn decode(&self, tool: &str, _arguments: &Value) -> Result<Box<dyn Invocation>, ToolError> {
        Ok(Box::new(match tool {
            "faulty.hang" => Fault::Hang(self.gate.clone()),
            "faulty.error" => Fault::Error,
            "faulty.panic_blocking" => Fault::Panic(Execution::Blocking),
            _ => Fault::Panic(Execution::Inline),
        }))
    }
}

#[tokio::test]
async fn panics_and_timeouts_end_in_error_results() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Harness::config(&dir, &["*"]);
    // Only the hanging tool ever reaches this; it never returns on its own.
    config.call_timeout = Duration::from_millis(200);
    let audit = MemoryAudit::new();
    let gate = Arc::new(Gate::default());
    let gateway = Gateway::from_parts(GatewayParts {
        config,
        audit: audit.clone(),
        policy: Arc::new(AllowList::new(&["*".to_owned()]).unwrap()),
        toolsets: vec![
            Arc::new(FilesToolset::default()),
            Arc::new(Faulty::new(gate.clone())),
        ],
        approvals: None,
        upstream: None,
        snapshots: None,
    })
    .unwrap();
    let client = connect(&gateway, Era::Legacy).await;

    for tool in ["faulty.panic_inline", "faulty.panic_blocking"] {
        let r = client.call_tool(call(tool, json!({}))).await.unwrap();
        assert!(is_error(&r));
        assert!(
            text(&r).contains("failed inside the gateway"),
            "{}",
            text(&r)
        );
    }
    let r = client
        .call_tool(call("faulty.hang", json!({})))
        .await
        .unwrap();
    assert!(is_error(&r));
    assert!(text(&r).contains("took longer than 0.2 s"), "{}", text(&r));
    gate.release();
    let r = client
        .call_tool(call("faulty.error", json!({})))
        .await
        .unwrap();
    assert!(is_error(&r));
    assert_eq!(text(&r), "the tool says no");

    // The same connection still works.
    let r = client
        .call_tool(call("files.write", json!({"path": "a", "content": "b"})))
        .await
        .unwrap();
    assert!(!is_error(&r), "{}", text(&r));

    let outcomes: Vec<AuditOutcome> = audit.events().into_iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            AuditOutcome::Panicked,
            AuditOutcome::Panicked,
            AuditOutcome::TimedOut,
            AuditOutcome::ToolError {
                message: "the tool says no".to_owned()
            },
            AuditOutcome::Ok,
        ]
    );
}

/// Writes need approval; everything else is allowed.
struct ApproveWrites;

impl Policy for ApproveWrites {
    fn decide(&self, request: &CallRequest<'_>) -> Decision {
        if request.tool.needs.iter().any(|n| n.access == Access::Write) {
            Decision::RequireApproval {
                policy_ids: vec!["writes".to_owned()],
                reason: "it changes the workspace".to_owned(),
            }
        } else {
            Decision::Allow
        }
    }
}

#[tokio::test]
async fn calls_that_need_approval_do_not_run_yet() {
    let dir = tempfile::tempdir().unwrap();
    let audit = MemoryAudit::new();
    let gateway = Gateway::from_parts(GatewayParts {
        config: Harness::config(&dir, &[]),
        audit: audit.clone(),
        policy: Arc::new(ApproveWrites),
        toolsets: vec![Arc::new(FilesToolset::default())],
        approvals: None,
        upstream: None,
        snapshots: None,
    })
    .unwrap();
    let client = connect(&gateway, Era::Modern).await;
    let r = client
        .call_tool(call("files.write", json!({"path": "a", "content": "b"})))
        .await
        .unwrap();
    assert!(is_error(&r));
    assert!(
        text(&r).contains("needs a human's approval (it changes the workspace)"),
        "{}",
        text(&r)
    );
    assert!(!dir.path().join("default/a").exists());
    let events = audit.events();
    assert_eq!(
        events[0].decision,
        AuditDecision::ApprovalRequired {
            reason: "it changes the workspace".to_owned()
        }
    );
    assert_eq!(events[0].outcome, AuditOutcome::NotRun);
}

#[test]
fn bad_configuration_fails_at_start_with_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let err = Gateway::new(Harness::config(&dir, &["files.raed"]), MemoryAudit::new())
        .err()
        .unwrap();
    assert!(err.to_string().contains("matches no tool"), "{err}");
    let err = Gateway::new(Harness::config(&dir, &["*.read"]), MemoryAudit::new())
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("`*` may only end a pattern"),
        "{err}"
    );

    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let mut config = Harness::config(&dir, &["*"]);
    config.default_workspace = file.join("below");
    let err = Gateway::new(config, MemoryAudit::new()).err().unwrap();
    assert!(
        err.to_string()
            .starts_with("default workspace: the workspace folder"),
        "{err}"
    );

    let err = Gateway::from_parts(GatewayParts {
        config: Harness::config(&dir, &["*"]),
        audit: MemoryAudit::new(),
        policy: Arc::new(AllowList::new(&[]).unwrap()),
        toolsets: vec![
            Arc::new(FilesToolset::default()),
            Arc::new(FilesToolset::default()),
        ],
        approvals: None,
        upstream: None,
        snapshots: None,
    })
    .err()
    .unwrap();
    assert!(
        err.to_string()
            .contains("two toolsets both offer a tool named `files.list`"),
        "{err}"
    );
}
