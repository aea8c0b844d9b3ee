//! Bureau's policy engine: decides whether one tool call may run, is
//! denied, or needs a human's approval.
//!
//! It owns the Cedar schema of Bureau's calls (`bureau.cedarschema`),
//! loading and strictly validating policy files with the examples they
//! carry, and the pure, synchronous [`evaluate`]: no I/O, no clock (the
//! time is in the [`Request`]), default deny. It must not know how calls
//! arrive (MCP, the gateway), how tools run, or where decisions are stored;
//! only [`load`] touches the file system.
//!
//! # The model
//! - **principal** `Agent::"<agent>"`, with `user: User::"<user>"`.
//! - **action** the qualified tool. Built-in tools (`files.*`, `sql.*`,
//!   `objects.*`, `python.exec`) are actions of their own with a typed
//!   context, grouped under `Action::"read"` and `Action::"write"`. Every
//!   other tool — an external server's `server.tool`, or a name nothing
//!   offers — is `Action::"call"` on `Server::"<server>"` with the qualified
//!   name in `context.tool`: the schema stays fixed, so policies validate
//!   without knowing the tool catalogue, and an unknown tool is just a call
//!   no policy permits.
//! - **resource** `Workspace`, `Database`, `Bucket` (key in `context.key`)
//!   or `Server`.
//! - **context** the action's attributes (`path`, `statement_class`,
//!   `key`, `network`, `tool`), plus for every action `estimated_cost_usd`
//!   (decimal), `now` (datetime, whole seconds), provenance — `untrusted_args`
//!   (`Set<String>`, names of arguments whose values came from tool output)
//!   and `args_from_tool_output` (`untrusted_args` is not empty) — and
//!   `approved`.
//!
//! # Outcomes
//! [`bureau_protocol::Decision`]: `Allow`; `Deny` with the deciding forbids'
//! ids and their `@reason("…")` (or "no policy permits …" when nothing
//! permits: default deny); `RequireApproval` when the call is denied now,
//! every deciding policy is an `@approval` forbid, and it would be allowed
//! with `context.approved = true`. Approval is written only as
//! `@approval forbid(…) unless { context.approved };` — `@approval` on a
//! permit is a load error, so approval can lift a hold but never grant what
//! no policy permits. A forbid that fails to evaluate denies (fail closed).
//!
//! # Policy files and examples
//! [`load`] reads `*.cedar` in a directory. Annotations: `@id("…")` (else
//! the id is `<file stem>.<n>`), `@reason("…")`, `@approval`; any other is
//! an error. A file may carry examples, checked against the whole set
//! when it loads:
//!
//! ```text
//! // example allow: {"agent": "analyst", "tool": "sql.query", "resource": {"database": "analytics"}, "args": {"statement_class": "read"}}
//! // example deny: {"agent": "analyst", "tool": "sql.execute", "resource": {"database": "analytics"}, "args": {"statement_class": "write"}}
//! ```
//!
//! # Request JSON
//! ```text
//! {
//!   "agent": "analyst",                     // required
//!   "user": "alice",                        // default "anonymous"
//!   "tool": "sql.query",                    // required, qualified
//!   "resource": {"database": "analytics"},  // or workspace / bucket / server;
//!                                           // left out for external tools
//!   "args": {"statement_class": "read"},  // the action's attributes, exactly
//!   "untrusted_args": ["sql"],              // default []
//!   "estimated_cost_usd": 0.02,             // default 0
//!   "now": "2026-11-01T12:00:00Z"           // default the epoch
//! }
//! ```

mod engine;
mod error;
mod explain;
mod load;
mod request;
mod time;

pub use bureau_protocol::Decision;
pub use engine::{Policies, evaluate};
pub use error::PolicyError;
pub use explain::{Explanation, explain, explain_json};
pub use load::{SCHEMA, load};
pub use request::{Request, Resource};
pub use time::Timestamp;

#[cfg(test)]
mod tests;
