//! Span and attribute names. The OpenTelemetry GenAI conventions are still
//! in development and the Rust semconv crate marks them deprecated, so the
//! names Bureau emits are pinned here.

/// `gen_ai.operation.name` values, which also open span names.
pub mod operation {
    pub const INVOKE_AGENT: &str = "invoke_agent";
    pub const CHAT: &str = "chat";
    pub const EXECUTE_TOOL: &str = "execute_tool";
}

pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
pub const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
pub const GEN_AI_RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
pub const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
pub const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
pub const GEN_AI_AGENT_NAME: &str = "gen_ai.agent.name";
/// The run id: the local trace store finds a run's traces by it.
pub const GEN_AI_CONVERSATION_ID: &str = "gen_ai.conversation.id";
pub const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
pub const GEN_AI_TOOL_CALL_ID: &str = "gen_ai.tool.call.id";

pub const MCP_METHOD_NAME: &str = "mcp.method.name";

/// Bureau's own attributes.
pub const BUREAU_RUN_ID: &str = "bureau.run.id";
pub const BUREAU_TOOL_OUTCOME: &str = "bureau.tool.outcome";
pub const BUREAU_POLICY_OUTCOME: &str = "bureau.policy.outcome";
pub const BUREAU_POLICY_IDS: &str = "bureau.policy.ids";
pub const BUREAU_APPROVAL_ID: &str = "bureau.approval.id";
pub const BUREAU_APPROVAL_OUTCOME: &str = "bureau.approval.outcome";
pub const BUREAU_COST_USD: &str = "bureau.cost_usd";
pub const BUREAU_RUN_STATUS: &str = "bureau.run.status";

/// Span names that are not `{operation} {subject}`.
pub const SPAN_POLICY: &str = "policy";
pub const SPAN_APPROVAL: &str = "approval";
pub const SPAN_TOOL: &str = "tool";

/// The W3C trace context keys in an MCP request's `_meta`.
pub const META_TRACEPARENT: &str = "traceparent";
pub const META_TRACESTATE: &str = "tracestate";

/// `tracing` fields `tracing-opentelemetry` maps onto the span itself.
pub const OTEL_NAME: &str = "otel.name";
pub const OTEL_STATUS_CODE: &str = "otel.status_code";
pub const OTEL_STATUS_DESCRIPTION: &str = "otel.status_description";
