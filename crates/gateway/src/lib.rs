//! Bureau's built-in MCP server and the single chokepoint for tool calls.
//!
//! This crate owns the pipeline every `tools/call` takes — decode → policy →
//! approval → tool → audit — and serving it over MCP (rmcp) on any server
//! transport: in-process channels, stdio and Streamable HTTP, both protocol
//! eras. Refusals, tool errors, panics and timeouts all end in an
//! `isError: true` result and one audit event; nothing a client sends takes
//! the server down. It must not know how a run is orchestrated or how a model
//! is called: runs reach it only through MCP, naming themselves by the run id
//! in `_meta`. The tools' work lives in `bureau-tools`; this crate only
//! decides whether it runs, where, and records that it did.

mod audit;
mod config;
mod error;
mod pipeline;
mod policy;
mod registry;
mod server;
mod snapshots;
mod spans;
mod upstream;
mod workspaces;

pub use audit::{
    AuditDecision, AuditEvent, AuditOutcome, AuditSink, ChainedAudit, MemoryAudit, TracingAudit,
};
pub use config::GatewayConfig;
pub use error::GatewayError;
pub use policy::{AllowList, CallRequest, CedarPolicy, Policy};
pub use server::{Gateway, GatewayParts};
pub use snapshots::{Snapshot, Snapshots};
pub use upstream::{UPSTREAM_FAILURE, Upstream};
