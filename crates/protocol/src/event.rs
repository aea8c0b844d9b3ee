use serde::{Deserialize, Serialize};

use crate::{RunId, RunStatus, ToolCall, ToolCallId, Usage};

/// How one tool call ended, as the orchestrator saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolOutcome {
    Ok,
    /// The tool ran and reported an error (`isError`).
    ToolError,
    /// The call never reached a result: transport error, timeout, unknown tool.
    Failed,
    /// The tool is cooling down after failures; the call was not made.
    CircuitOpen,
    /// The call needs a human's approval before it may run.
    ApprovalRequired,
}

/// What a run emits as it goes; the CLI prints these, the API streams them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    RunStarted {
        run_id: RunId,
        agent: String,
        model: String,
        task: String,
    },
    ModelCalled {
        turn: u32,
        usage: Usage,
        text: Option<String>,
        tool_calls: Vec<ToolCall>,
        /// No tools were offered: the last call asking for a final answer.
        final_answer_call: bool,
    },
    ToolRetrying {
        id: ToolCallId,
        name: String,
        attempt: u32,
        delay_ms: u64,
        error: String,
    },
    ToolFinished {
        id: ToolCallId,
        name: String,
        outcome: ToolOutcome,
        /// The result as the model sees it (possibly truncated).
        preview: String,
        duration_ms: u64,
    },
    RunFinished {
        run_id: RunId,
        status: RunStatus,
        reason: String,
        answer: Option<String>,
    },
}
