//! Decisions, table-driven: allow, deny with ids and reasons, approval and
//! its re-check, default deny, unknown tools, malformed requests,
//! provenance, time and cost.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use bureau_policy::{Decision, Policies, Request, Timestamp, evaluate, explain, explain_json};
use serde_json::json;

const POLICIES: &str = r#"
@id("analyst-reads")
permit (principal == Agent::"analyst", action in Action::"read", resource == Database::"analytics");

@id("writer-writes")
permit (principal == Agent::"writer", action == Action::"sql.execute", resource == Database::"analytics");

@id("no-ddl")
@reason("DDL is never allowed; ask a DBA")
forbid (principal, action == Action::"sql.execute", resource)
when { context.statement_class == "ddl" };

@id("writes-need-approval")
@approval
@reason("writes to analytics need a human's approval")
forbid (principal, action == Action::"sql.execute", resource == Database::"analytics")
unless { context.approved };

@id("untrusted-needs-approval")
@approval
@reason("an argument came from tool output; a human must approve")
forbid (principal, action, resource)
when { context.args_from_tool_output }
unless { context.approved };

@id("triager-files-issues")
permit (principal == Agent::"triager", action == Action::"call", resource == Server::"github")
when { context.tool == "github.create_issue" };

@id("no-spending-spree")
@reason("calls estimated over $5 are refused; split the work")
forbid (principal, action, resource)
when { context.estimated_cost_usd.greaterThan(decimal("5.00")) };

@id("no-writes-after-freeze")
@reason("the analytics freeze started on 2027-01-01")
forbid (principal, action == Action::"sql.execute", resource)
when { context.now >= datetime("2027-01-01") };
"#;

fn policies() -> Policies {
    Policies::from_sources([("base.cedar", POLICIES)]).unwrap()
}

enum Expect {
    Allow,
    /// Deciding ids, and text the reason contains.
    Deny(&'static [&'static str], &'static str),
    Approval(&'static [&'static str], &'static str),
}

fn check(policies: &Policies, name: &str, request: serde_json::Value, expect: &Expect) {
    let request = Request::from_value(request).unwrap();
    let got = evaluate(policies, &request);
    match (expect, &got) {
        (Expect::Allow, Decision::Allow) => {}
        (Expect::Deny(ids, text), Decision::Deny { policy_ids, reason })
        | (Expect::Approval(ids, text), Decision::RequireApproval { policy_ids, reason }) => {
            assert_eq!(policy_ids, ids, "{name}: policy ids");
            assert!(
                reason.contains(text),
                "{name}: reason `{reason}` lacks `{text}`"
            );
        }
        (Expect::Allow | Expect::Deny(..) | Expect::Approval(..), _) => {
            panic!("{name}: unexpected decision {got:?}")
        }
    }
    // The explanation always carries the same decision.
    assert_eq!(explain(policies, &request).decision, got, "{name}: explain");
}

#[test]
fn decisions_table() {
    let p = policies();
    let db = json!({"database": "analytics"});
    let select = json!({"statement_class": "select"});
    let insert = json!({"statement_class": "insert"});
    let cases: Vec<(&str, serde_json::Value, Expect)> = vec![
        (
            "allow: analyst queries analytics",
            json!({"agent": "analyst", "tool": "sql.query", "resource": db, "args": select}),
            Expect::Allow,
        ),
        (
            "allow: analyst reads the schema (action group `read`)",
            json!({"agent": "analyst", "tool": "sql.schema", "resource": db}),
            Expect::Allow,
        ),
        (
            "approval: writer's insert",
            json!({"agent": "writer", "tool": "sql.execute", "resource": db, "args": insert}),
            Expect::Approval(&["writes-need-approval"], "need a human's approval"),
        ),
        (
            "deny: DDL, named by its forbid, not the approval hold",
            json!({"agent": "writer", "tool": "sql.execute", "resource": db, "args": {"statement_class": "ddl"}}),
            Expect::Deny(&["no-ddl"], "DDL is never allowed; ask a DBA"),
        ),
        (
            "re-check: an approval hold on an agent with no permit is a plain deny",
            json!({"agent": "analyst", "tool": "sql.execute", "resource": db, "args": insert}),
            Expect::Deny(
                &[],
                "no policy permits agent `analyst` to call `sql.execute`",
            ),
        ),
        (
            "default deny: another database",
            json!({"agent": "analyst", "tool": "sql.query", "resource": {"database": "billing"}, "args": select}),
            Expect::Deny(&[], r#"on Database::"billing""#),
        ),
        (
            "default deny: an agent with no policy",
            json!({"agent": "intern", "tool": "sql.query", "resource": db, "args": select}),
            Expect::Deny(&[], "no policy permits agent `intern`"),
        ),
        (
            "allow: an external tool as Action::call",
            json!({"agent": "triager", "tool": "github.create_issue"}),
            Expect::Allow,
        ),
        (
            "default deny: another tool of the same server",
            json!({"agent": "triager", "tool": "github.delete_repo"}),
            Expect::Deny(&[], "to call `github.delete_repo` on Server::\"github\""),
        ),
        (
            "unknown tool: denied by default",
            json!({"agent": "analyst", "tool": "nosuch.tool"}),
            Expect::Deny(&[], "no policy permits"),
        ),
        (
            "unknown tool that looks built in",
            json!({"agent": "analyst", "tool": "sql.drop_everything"}),
            Expect::Deny(&[], "no policy permits"),
        ),
        (
            "malformed: not a qualified name",
            json!({"agent": "analyst", "tool": "query"}),
            Expect::Deny(&[], "not a qualified name"),
        ),
        (
            "malformed: attribute of the wrong type",
            json!({"agent": "analyst", "tool": "sql.query", "resource": db, "args": {"statement_class": 5}}),
            Expect::Deny(&[], "`statement_class` must be a string"),
        ),
        (
            "malformed: missing attribute",
            json!({"agent": "analyst", "tool": "sql.query", "resource": db}),
            Expect::Deny(&[], "`statement_class` is missing"),
        ),
        (
            "malformed: unknown attribute",
            json!({"agent": "analyst", "tool": "sql.query", "resource": db, "args": {"statement_class": "select", "sql": "SELECT 1"}}),
            Expect::Deny(&[], "`sql` is not one of its attributes"),
        ),
        (
            "malformed: Bureau's own attribute smuggled in args",
            json!({"agent": "analyst", "tool": "sql.schema", "resource": db, "args": {"approved": true}}),
            Expect::Deny(&[], "`approved` is set by Bureau"),
        ),
        (
            "malformed: wrong resource type",
            json!({"agent": "analyst", "tool": "sql.query", "resource": {"workspace": "w"}, "args": select}),
            Expect::Deny(&[], "acts on a Database"),
        ),
        (
            "malformed: missing resource",
            json!({"agent": "analyst", "tool": "sql.query", "args": select}),
            Expect::Deny(&[], "needs a resource"),
        ),
        (
            "malformed: external tool with a foreign resource",
            json!({"agent": "triager", "tool": "github.create_issue", "resource": {"server": "gitlab"}}),
            Expect::Deny(&[], "leave `resource` out"),
        ),
        (
            "provenance: a read whose argument came from tool output",
            json!({"agent": "analyst", "tool": "sql.query", "resource": db, "args": select, "untrusted_args": ["sql"]}),
            Expect::Approval(&["untrusted-needs-approval"], "came from tool output"),
        ),
        (
            "provenance: an external call whose body came from tool output",
            json!({"agent": "triager", "tool": "github.create_issue", "untrusted_args": ["body"]}),
            Expect::Approval(&["untrusted-needs-approval"], "came from tool output"),
        ),
        (
            "provenance and a write: both holds are named",
            json!({"agent": "writer", "tool": "sql.execute", "resource": db, "args": insert, "untrusted_args": ["values"]}),
            Expect::Approval(
                &["untrusted-needs-approval", "writes-need-approval"],
                "a human must approve; writes to analytics",
            ),
        ),
        (
            "provenance does not make approval out of nothing",
            json!({"agent": "intern", "tool": "sql.query", "resource": db, "args": select, "untrusted_args": ["sql"]}),
            Expect::Deny(&[], "no policy permits agent `intern`"),
        ),
        (
            "cost: over the limit",
            json!({"agent": "analyst", "tool": "sql.query", "resource": db, "args": select, "estimated_cost_usd": 7.5}),
            Expect::Deny(&["no-spending-spree"], "over $5"),
        ),
        (
            "cost: under the limit",
            json!({"agent": "analyst", "tool": "sql.query", "resource": db, "args": select, "estimated_cost_usd": 4.99}),
            Expect::Allow,
        ),
        (
            "cost: negative is malformed",
            json!({"agent": "analyst", "tool": "sql.query", "resource": db, "args": select, "estimated_cost_usd": -1.0}),
            Expect::Deny(&[], "estimated_cost_usd"),
        ),
        (
            "time: writes after the freeze are denied outright",
            json!({"agent": "writer", "tool": "sql.execute", "resource": db, "args": insert, "now": "2027-03-01T09:00:00Z"}),
            Expect::Deny(&["no-writes-after-freeze"], "freeze"),
        ),
        (
            "time: before the freeze they need approval",
            json!({"agent": "writer", "tool": "sql.execute", "resource": db, "args": insert, "now": "2026-12-31T23:59:59Z"}),
            Expect::Approval(&["writes-need-approval"], "approval"),
        ),
    ];
    for (name, request, expect) in cases {
        check(&p, name, request, &expect);
    }
}

#[test]
fn the_principal_carries_its_user() {
    let p = Policies::from_sources([(
        "users.cedar",
        r#"permit (principal, action == Action::"sql.schema", resource) when { principal.user == User::"alice" };"#,
    )])
    .unwrap();
    let mut req = Request::new("analyst", "alice", "sql.schema");
    req.resource = Some(bureau_policy::Resource::Database("analytics".into()));
    assert_eq!(evaluate(&p, &req), Decision::Allow);
    req.user = "mallory".into();
    assert!(matches!(evaluate(&p, &req), Decision::Deny { .. }));
    req.now = Timestamp::from_unix_millis(1);
    assert!(matches!(evaluate(&p, &req), Decision::Deny { .. }));
}

#[test]
fn request_json_that_does_not_fit_is_a_clear_error() {
    let p = policies();
    let cases = [
        ("not json", "not valid JSON"),
        (r#"{"tool": "sql.query"}"#, "missing field `agent`"),
        (
            r#"{"agent": "a", "tool": "sql.schema", "resource": {"database": "analytics"}, "principal": "x"}"#,
            "unknown field `principal`",
        ),
        (
            r#"{"agent": "a", "tool": "sql.schema", "resource": {"table": "t"}}"#,
            "unknown variant `table`",
        ),
        (
            r#"{"agent": "a", "tool": "sql.schema", "resource": {"database": "analytics"}, "now": "tomorrow"}"#,
            "write it like 2026-11-01T12:00:00Z",
        ),
        (
            r#"{"agent": "a", "tool": "sql.query", "resource": {"database": "analytics"}, "args": {"statement_class": true}}"#,
            "the request's arguments do not fit `sql.query`: `statement_class` must be a string",
        ),
    ];
    for (text, wanted) in cases {
        let err = explain_json(&p, text).unwrap_err().to_string();
        assert!(err.contains(wanted), "{text}: `{err}` lacks `{wanted}`");
    }
}

#[test]
fn explanations_name_policies_files_and_the_recheck() {
    let p = policies();
    let e = explain_json(
        &p,
        r#"{"agent": "writer", "tool": "sql.execute", "resource": {"database": "analytics"}, "args": {"statement_class": "insert"}}"#,
    )
    .unwrap();
    let text = e.to_string();
    assert!(text.starts_with("decision: require approval\n"), "{text}");
    assert!(
        text.contains("`writes-need-approval` (base.cedar) forbids unless approved"),
        "{text}"
    );
    assert!(
        text.contains("with approval: `writer-writes` (base.cedar) permits"),
        "{text}"
    );
    assert!(
        text.contains(r#"action Action::"sql.execute", resource Database::"analytics""#),
        "{text}"
    );

    let e = explain_json(&p, r#"{"agent": "nobody", "tool": "x.y"}"#).unwrap();
    let text = e.to_string();
    assert!(text.contains("default deny"), "{text}");
    assert!(text.contains(r#"Action::"call""#), "{text}");
}

#[test]
fn approval_never_reads_as_needed_without_a_base_permit() {
    // The hold applies to everyone, but only `writer` has a permit: for
    // `analyst` the re-check with `approved = true` still denies.
    let p = Policies::from_sources([(
        "holds.cedar",
        r#"
@id("writer-writes")
permit (principal == Agent::"writer", action == Action::"sql.execute", resource);
@id("hold") @approval @reason("writes need a human")
forbid (principal, action == Action::"sql.execute", resource) unless { context.approved };
"#,
    )])
    .unwrap();
    let call = |agent: &str| {
        let mut r = Request::new(agent, "alice", "sql.execute");
        r.resource = Some(bureau_policy::Resource::Database("d".into()));
        r.args.insert("statement_class".into(), json!("insert"));
        evaluate(&p, &r)
    };
    assert_eq!(
        call("writer"),
        Decision::RequireApproval {
            policy_ids: vec!["hold".into()],
            reason: "writes need a human".into()
        }
    );
    assert!(
        matches!(call("analyst"), Decision::Deny { policy_ids, reason } if policy_ids.is_empty() && reason.starts_with("no policy permits agent `analyst`")),
    );

    // Permit-style approval (`@approval permit … when { context.approved }`)
    // would turn "no permit" into "needs approval": it is refused at load.
    let err = Policies::from_sources([(
        "p.cedar",
        r#"@approval permit (principal, action == Action::"sql.execute", resource) when { context.approved };"#,
    )])
    .unwrap_err();
    assert!(err.to_string().contains("`@approval` on a permit"), "{err}");
}

#[test]
fn provenance_holds_calls_whose_arguments_came_from_tool_output() {
    // An injected instruction in a fetched page tries to mail data out: the
    // recipient came from tool output, so the call waits for a human; the
    // same call with a recipient from the user's task runs.
    let p = Policies::from_sources([(
        "mail.cedar",
        r#"
@id("assistant-mails")
permit (principal == Agent::"assistant", action == Action::"call", resource == Server::"mail")
when { context.tool == "mail.send" };
@id("recipient-from-tool-output") @approval
@reason("the recipient came from tool output, not from your task; a human must approve it")
forbid (principal, action == Action::"call", resource == Server::"mail")
when { context.untrusted_args.contains("to") } unless { context.approved };
"#,
    )])
    .unwrap();
    let mut r = Request::new("assistant", "alice", "mail.send");
    assert_eq!(evaluate(&p, &r), Decision::Allow);
    r.untrusted_args.insert("body".into());
    assert_eq!(evaluate(&p, &r), Decision::Allow, "only `to` is held");
    r.untrusted_args.insert("to".into());
    assert_eq!(
        evaluate(&p, &r),
        Decision::RequireApproval {
            policy_ids: vec!["recipient-from-tool-output".into()],
            reason:
                "the recipient came from tool output, not from your task; a human must approve it"
                    .into(),
        }
    );
}
