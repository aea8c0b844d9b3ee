//! Keys Bureau puts in MCP `_meta` objects. Reverse-DNS prefixed, as the
//! MCP spec asks of non-spec keys.

/// The run a tool call belongs to (a [`crate::RunId`] string). The gateway
/// picks the run's workspace from it; a call without it uses the gateway's
/// default workspace.
pub const RUN_ID: &str = "dev.bureau/run_id";

/// The idempotency key of a tool call: `"{run_id}:{step}"`.
pub const IDEMPOTENCY_KEY: &str = "dev.bureau/idempotency_key";

/// The agent a tool call is made for (its name in config). Set by the
/// control plane, never by the model; the gateway decides policy for it.
pub const AGENT: &str = "dev.bureau/agent";

/// An approval id (an [`crate::ApprovalId`] string) a call presents to be
/// let through a hold: the gateway checks the signed grant stored under it.
pub const APPROVAL_ID: &str = "dev.bureau/approval_id";

/// Key of a tool result's structured content that marks a call held for a
/// human: `{"id": "<approval id>", "reason": "…"}`. The control plane
/// pauses the run when it sees it and presents the id again on resume.
pub const APPROVAL_REQUIRED: &str = "dev.bureau/approval_required";

/// Key of a tool result's structured content (`true`) marking a call that
/// did not reach its upstream server (crashed, timed out, unreachable),
/// as opposed to a tool that answered with an error. The control plane
/// counts these toward its circuit breaker.
pub const UPSTREAM_FAILURE: &str = "dev.bureau/upstream_failure";

/// Names of a call's arguments whose values came from tool output rather
/// than the user's task (an array of strings), computed by the control
/// plane; policy sees them as `context.untrusted_args`.
pub const UNTRUSTED_ARGS: &str = "dev.bureau/untrusted_args";
