use serde::{Deserialize, Serialize};

use crate::{ModelResponse, RunId, ToolCall, ToolCallId, ToolOutcome, ToolResult};

/// The version of [`JournalEntry`]'s JSON shape. Loading a journal never
/// executes anything in it: it is plain data.
pub const JOURNAL_VERSION: u32 = 1;

/// One durable fact about a run, appended in order. The conversation can be
/// rebuilt from a run's task and its entries alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JournalEntry {
    /// A model answered. Written before any of the tool calls it asks for run.
    ModelCall { turn: u32, response: ModelResponse },
    /// A tool call is about to be made. Written before the call leaves.
    ToolCallStarted { turn: u32, call: ToolCall },
    /// A tool call ended; `result` is whole, as the tool returned it.
    ToolCallFinished {
        turn: u32,
        id: ToolCallId,
        name: String,
        outcome: ToolOutcome,
        result: ToolResult,
        duration_ms: u64,
    },
}

/// A journal entry with its place in the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub run_id: RunId,
    /// 0, 1, 2… in the order the orchestrator appended them.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub entry: JournalEntry,
}

/// What a run was asked to do, recorded when it starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: RunId,
    pub agent: String,
    /// `provider:model`, e.g. `openai:gpt-4o` or `scripted:demo.json`.
    pub model: String,
    pub task: String,
    pub created_at_ms: i64,
}
