//! The gateway's spans: one per `tools/call` (a child of the caller's span
//! when `_meta` carries W3C trace context), with `policy`, `approval` and
//! `tool` children. Outcomes, ids and names only — never arguments or
//! results.

use bureau_protocol::Decision;
use rmcp::model::CallToolResult;
use serde_json::{Map, Value};
use tracing::Span;
use tracing::field::Empty;

/// The span of one `tools/call`, parented on the trace context found in
/// the first of `maps` that has a valid one.
pub(crate) fn tools_call(name: &str, maps: &[Option<&Map<String, Value>>]) -> Span {
    // A root unless `_meta` names a parent: rmcp's connection-long
    // `serve_inner` span must not gather every call into one trace.
    let span = tracing::info_span!(
        parent: None,
        "tools/call",
        otel.name = format!("tools/call {name}"),
        otel.kind = "server",
        otel.status_code = Empty,
        otel.status_description = Empty,
        mcp.method.name = "tools/call",
        gen_ai.tool.name = %name,
    );
    if let Some(meta) = maps
        .iter()
        .flatten()
        .find(|m| bureau_telemetry::extract(m).is_some())
    {
        bureau_telemetry::set_parent_from_meta(&span, meta);
    }
    span
}

/// Marks a call span as failed when its result is an error (a call held
/// for approval is not a failure).
pub(crate) fn call_done(span: &Span, result: &CallToolResult) {
    let held = result
        .structured_content
        .as_ref()
        .and_then(|c| c.get(bureau_protocol::meta::APPROVAL_REQUIRED))
        .is_some();
    if result.is_error == Some(true) && !held {
        span.record("otel.status_code", "ERROR");
        span.record(
            "otel.status_description",
            "the call ended in an error result",
        );
    }
}

/// The policy step; record its decision with [`decided`].
pub(crate) fn policy() -> Span {
    tracing::info_span!("policy", bureau.policy.outcome = Empty)
}

pub(crate) fn decided(span: &Span, decision: &Decision) {
    let (outcome, ids) = match decision {
        Decision::Allow => ("allow", None),
        Decision::Deny { policy_ids, .. } => ("deny", Some(policy_ids)),
        Decision::RequireApproval { policy_ids, .. } => ("require_approval", Some(policy_ids)),
    };
    span.record("bureau.policy.outcome", outcome);
    if let Some(ids) = ids {
        bureau_telemetry::set_string_array(
            span,
            bureau_telemetry::names::BUREAU_POLICY_IDS,
            ids.clone(),
        );
    }
}

/// The approval step of a held call; `granted`, `held` or `refused`.
pub(crate) fn approval() -> Span {
    tracing::info_span!(
        "approval",
        bureau.approval.outcome = Empty,
        bureau.approval.id = Empty,
    )
}

pub(crate) fn approval_done(span: &Span, outcome: &str, id: Option<String>) {
    span.record("bureau.approval.outcome", outcome);
    if let Some(id) = id {
        span.record("bureau.approval.id", id);
    }
}

/// The tool's own execution (built-in or upstream).
pub(crate) fn tool(name: &str) -> Span {
    tracing::info_span!(
        "tool",
        otel.name = format!("tool {name}"),
        otel.status_code = Empty,
        otel.status_description = Empty,
        gen_ai.tool.name = %name,
    )
}

pub(crate) fn tool_failed(span: &Span, what: &str) {
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_description", what);
}

/// A workspace snapshot after a tool changed the workspace.
pub(crate) fn snapshot(tool: &str) -> Span {
    tracing::info_span!("workspace.snapshot", gen_ai.tool.name = %tool)
}
