//! Keys Bureau puts in MCP `_meta` objects. Reverse-DNS prefixed, as the
//! MCP spec asks of non-spec keys.

/// The run a tool call belongs to (a [`crate::RunId`] string). The gateway
/// picks the run's workspace from it; a call without it uses the gateway's
/// default workspace.
pub const RUN_ID: &str = "dev.bureau/run_id";

/// The idempotency key of a tool call: `"{run_id}:{step}"`.
pub const IDEMPOTENCY_KEY: &str = "dev.bureau/idempotency_key";
