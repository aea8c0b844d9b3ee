//! Bureau's vocabulary: the types every other crate speaks.
//!
//! This crate owns ids, chat messages, tool specs and calls, token usage,
//! run statuses and the events a run emits. It is plain data with serde:
//! no I/O, no async runtime, no knowledge of any wire format but its own
//! JSON shape (which is what the journal and `--json` outputs store).

mod canonical;
mod decision;
mod event;
mod id;
mod journal;
mod message;
pub mod meta;
mod run;
mod server;
mod tool;

pub use canonical::{arguments_hash, canonical_json};
pub use decision::Decision;
pub use event::{RunEvent, ToolOutcome};
pub use id::{ApprovalId, RunId, ToolCallId};
pub use journal::{JOURNAL_VERSION, JournalEntry, RunRecord, StepRecord};
pub use message::{AssistantTurn, FinishReason, Message, ModelRequest, ModelResponse, Usage};
pub use run::{RunStatus, RunSummary};
pub use server::{McpServer, McpServerSpec};
pub use tool::{Content, ToolCall, ToolResult, ToolSpec, qualify, split_qualified};
