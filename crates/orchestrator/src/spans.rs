//! The run's OpenTelemetry GenAI spans: `invoke_agent {agent}` per run (in
//! the run's own trace, so a resumed run continues it), `chat {model}` per
//! model call, `execute_tool {tool}` per tool call. Names are pinned in
//! `bureau_telemetry::names`; content is never recorded here.

use bureau_protocol::{
    FinishReason, ModelResponse, RunStatus, RunSummary, ToolCall, ToolOutcome, Usage,
};
use tracing::Span;
use tracing::field::Empty;

use crate::OrchestratorError;
use crate::run::RunRequest;

pub(crate) fn invoke_agent(req: &RunRequest) -> Span {
    let span = tracing::info_span!(
        "invoke_agent",
        otel.name = format!("invoke_agent {}", req.agent_name),
        otel.status_code = Empty,
        otel.status_description = Empty,
        gen_ai.operation.name = "invoke_agent",
        gen_ai.agent.name = %req.agent_name,
        gen_ai.conversation.id = %req.run_id,
        gen_ai.request.model = %req.model_label,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        bureau.cost_usd = Empty,
        bureau.run.status = Empty,
    );
    bureau_telemetry::continue_run_trace(&span, &req.run_id.to_string());
    span
}

/// Records how the run ended on its span, and passes the result on.
pub(crate) fn agent_done(
    span: &Span,
    summary: Result<RunSummary, OrchestratorError>,
) -> Result<RunSummary, OrchestratorError> {
    match &summary {
        Ok(s) => finish_agent(span, s.status, &s.reason, s.usage, s.cost_usd),
        Err(e) => failed(span, &e.to_string()),
    }
    summary
}

fn finish_agent(span: &Span, status: RunStatus, reason: &str, usage: Usage, cost: f64) {
    span.record("gen_ai.usage.input_tokens", int(usage.input_tokens));
    span.record("gen_ai.usage.output_tokens", int(usage.output_tokens));
    span.record("bureau.cost_usd", cost);
    span.record("bureau.run.status", status.to_string());
    match status {
        RunStatus::Completed | RunStatus::AwaitingApproval | RunStatus::Running => {}
        _ => {
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_description", reason);
        }
    }
}

pub(crate) fn chat(provider: &str, model: &str) -> Span {
    tracing::info_span!(
        "chat",
        otel.name = format!("chat {model}"),
        otel.kind = "client",
        otel.status_code = Empty,
        otel.status_description = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = %provider,
        gen_ai.request.model = %model,
        gen_ai.response.model = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
    )
}

fn finish_reason(r: &FinishReason) -> String {
    match r {
        FinishReason::Stop => "stop".into(),
        FinishReason::ToolCalls => "tool_calls".into(),
        FinishReason::Length => "length".into(),
        FinishReason::ContentFilter => "content_filter".into(),
        FinishReason::Other(s) => s.clone(),
    }
}

pub(crate) fn chat_answered(span: &Span, response: &ModelResponse) {
    span.record("gen_ai.response.model", response.model.as_str());
    span.record(
        "gen_ai.usage.input_tokens",
        int(response.usage.input_tokens),
    );
    span.record(
        "gen_ai.usage.output_tokens",
        int(response.usage.output_tokens),
    );
    bureau_telemetry::set_string_array(
        span,
        bureau_telemetry::names::GEN_AI_RESPONSE_FINISH_REASONS,
        vec![finish_reason(&response.finish_reason)],
    );
}

pub(crate) fn failed(span: &Span, description: &str) {
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_description", description);
}

pub(crate) fn execute_tool(call: &ToolCall) -> Span {
    tracing::info_span!(
        "execute_tool",
        otel.name = format!("execute_tool {}", call.name),
        otel.status_code = Empty,
        otel.status_description = Empty,
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = %call.name,
        gen_ai.tool.call.id = %call.id,
        bureau.tool.outcome = Empty,
    )
}

pub(crate) fn tool_done(span: &Span, outcome: ToolOutcome) {
    let name = match outcome {
        ToolOutcome::Ok => "ok",
        ToolOutcome::ToolError => "tool_error",
        ToolOutcome::Failed => "failed",
        ToolOutcome::CircuitOpen => "circuit_open",
        ToolOutcome::ApprovalRequired => "approval_required",
    };
    span.record("bureau.tool.outcome", name);
    match outcome {
        ToolOutcome::Ok | ToolOutcome::ApprovalRequired => {}
        ToolOutcome::ToolError | ToolOutcome::Failed | ToolOutcome::CircuitOpen => {
            failed(span, name);
        }
    }
}

/// OTel integers are `i64`; `tracing-opentelemetry` turns a `u64` into a
/// string.
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
