use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ToolCall, ToolCallId, ToolSpec};

/// One message of a conversation with a model, provider-neutral.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    System {
        content: String,
    },
    User {
        content: String,
    },
    Assistant {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    Tool {
        tool_call_id: ToolCallId,
        /// The qualified tool name the result belongs to.
        name: String,
        content: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Self::System {
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::User {
            content: content.into(),
        }
    }

    pub fn assistant(turn: &AssistantTurn) -> Self {
        Self::Assistant {
            content: turn.text.clone(),
            tool_calls: turn.tool_calls.clone(),
        }
    }
}

/// What the orchestrator asks a model for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRequest {
    pub model: String,
    pub messages: Vec<Message>,
    /// Shared: many runs offer the same tools, and their schemas are large.
    #[serde(default, skip_serializing_if = "<[ToolSpec]>::is_empty")]
    pub tools: Arc<[ToolSpec]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
}

/// The assistant's side of one turn.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantTurn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

/// Why the model stopped producing output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    ToolCalls,
    Length,
    ContentFilter,
    /// A provider-specific reason, kept verbatim.
    Other(String),
}

/// Tokens as the provider reported them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    pub fn add(&mut self, other: Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
    }
}

/// A model's answer, with the exact wire JSON kept for the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelResponse {
    pub turn: AssistantTurn,
    pub finish_reason: FinishReason,
    pub usage: Usage,
    /// The model that answered, as the provider named it.
    pub model: String,
    /// The request body as sent on the wire (`null` for the scripted model).
    #[serde(default)]
    pub raw_request: Value,
    /// The response body as received (for streams: the events, in order).
    #[serde(default)]
    pub raw_response: Value,
}
