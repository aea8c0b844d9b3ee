//! The scripted model: answers from a JSON script, offline and
//! deterministic, for the demo, tests and benchmarks.
//!
//! Which turn answers is derived from the request alone (the number of
//! assistant messages in it), so the model keeps no state: a resumed run
//! gets the same answers as an uninterrupted one.

use std::path::Path;
use std::time::Duration;

use bureau_protocol::{
    AssistantTurn, FinishReason, Message, ModelRequest, ModelResponse, ToolCall, ToolCallId, Usage,
};
use serde::Deserialize;
use serde_json::Value;

use crate::{LlmError, ModelClient};

/// The answer to a final-answer call when the script has none.
pub const NO_FINAL_ANSWER: &str = "(the scripted model has no final answer)";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptFile {
    turns: Vec<TurnFile>,
    #[serde(default)]
    repeat_last: bool,
    #[serde(default)]
    final_answer: Option<String>,
    /// Simulated latency before each answer, in milliseconds.
    #[serde(default)]
    latency_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TurnFile {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    tool_calls: Vec<CallFile>,
    #[serde(default)]
    usage: Option<UsageFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallFile {
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageFile {
    input_tokens: u64,
    output_tokens: u64,
}

#[derive(Clone, Debug)]
struct Call {
    /// Explicit in the script, else `call_{turn}_{i}` at answer time.
    id: Option<String>,
    name: String,
    arguments: Value,
}

#[derive(Clone, Debug)]
struct Turn {
    text: Option<String>,
    calls: Vec<Call>,
    usage: Option<Usage>,
    /// ceil(chars / 4) of the text and the serialized tool calls.
    output_estimate: u64,
}

/// A [`ModelClient`] that plays a script. Parse once, answer cheaply: no
/// file I/O and no serialization per call.
#[derive(Clone, Debug)]
pub struct ScriptedModel {
    label: String,
    turns: Vec<Turn>,
    repeat_last: bool,
    final_answer: Option<(String, u64)>,
    latency: Option<Duration>,
}

fn tokens_for_chars(chars: usize) -> u64 {
    u64::try_from(chars.div_ceil(4)).unwrap_or(u64::MAX)
}

impl ScriptedModel {
    /// Reads and parses the script at `path`; the model's name is the path.
    pub fn from_path(path: &Path) -> Result<Self, LlmError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            LlmError::Script(format!(
                "could not read the script {} ({e}); check the path",
                path.display()
            ))
        })?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// Parses a script; `label` is the model's name (and names the script in errors).
    pub fn from_json(json: &str, label: &str) -> Result<Self, LlmError> {
        let file: ScriptFile = serde_json::from_str(json).map_err(|e| {
            LlmError::Script(format!(
                "the script {label} is invalid: {e}; fix the script"
            ))
        })?;
        let mut turns = Vec::with_capacity(file.turns.len());
        for (t, turn) in file.turns.into_iter().enumerate() {
            if turn.text.is_none() && turn.tool_calls.is_empty() {
                return Err(LlmError::Script(format!(
                    "turn {t} of the script {label} has neither `text` nor `tool_calls`; give it one"
                )));
            }
            let mut calls = Vec::with_capacity(turn.tool_calls.len());
            for (i, call) in turn.tool_calls.into_iter().enumerate() {
                if call.name.trim().is_empty() {
                    return Err(LlmError::Script(format!(
                        "tool call {i} of turn {t} of the script {label} has an empty `name`; name the tool, e.g. `files.write`"
                    )));
                }
                calls.push(Call {
                    id: call.id,
                    name: call.name,
                    arguments: call
                        .arguments
                        .unwrap_or_else(|| Value::Object(Default::default())),
                });
            }
            let mut chars = turn.text.as_deref().map_or(0, |s| s.chars().count());
            if !calls.is_empty() {
                let serialized = serde_json::to_string(&materialize(&calls, t)).map_err(|e| {
                    LlmError::Script(format!(
                        "turn {t} of the script {label} cannot be serialized: {e}"
                    ))
                })?;
                chars += serialized.chars().count();
            }
            turns.push(Turn {
                text: turn.text,
                calls,
                usage: turn.usage.map(|u| Usage {
                    input_tokens: u.input_tokens,
                    output_tokens: u.output_tokens,
                }),
                output_estimate: tokens_for_chars(chars),
            });
        }
        let final_answer = file.final_answer.map(|a| {
            let estimate = tokens_for_chars(a.chars().count());
            (a, estimate)
        });
        Ok(Self {
            label: label.to_owned(),
            turns,
            repeat_last: file.repeat_last,
            final_answer,
            latency: file
                .latency_ms
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis),
        })
    }

    /// Sleeps this long before each answer (simulated model latency).
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = (!latency.is_zero()).then_some(latency);
        self
    }

    /// How many turns the script has.
    pub fn turn_count(&self) -> usize {
        self.turns.len()
    }

    /// The turn answering after `index` assistant messages.
    fn turn(&self, index: usize) -> Option<&Turn> {
        match self.turns.get(index) {
            Some(t) => Some(t),
            None if self.repeat_last => self.turns.last(),
            None => None,
        }
    }

    /// The answer, by the rules above, without sleeping.
    pub fn answer(&self, request: &ModelRequest) -> Result<ModelResponse, LlmError> {
        let index = request
            .messages
            .iter()
            .filter(|m| matches!(m, Message::Assistant { .. }))
            .count();
        if request.tools.is_empty() {
            return Ok(self.final_answer(request, index));
        }
        let Some(turn) = self.turn(index) else {
            return Err(LlmError::Script(format!(
                "the script has only {} turns; add turns or set repeat_last",
                self.turns.len()
            )));
        };
        let usage = turn.usage.unwrap_or_else(|| Usage {
            input_tokens: estimate_input(request),
            output_tokens: turn.output_estimate,
        });
        let finish_reason = if turn.calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        };
        Ok(self.response(
            AssistantTurn {
                text: turn.text.clone(),
                tool_calls: materialize(&turn.calls, index),
            },
            finish_reason,
            usage,
        ))
    }

    fn final_answer(&self, request: &ModelRequest, index: usize) -> ModelResponse {
        let (text, usage) = match (&self.final_answer, self.turn(index)) {
            (Some((answer, estimate)), _) => (
                answer.clone(),
                Usage {
                    input_tokens: estimate_input(request),
                    output_tokens: *estimate,
                },
            ),
            (
                None,
                Some(
                    turn @ Turn {
                        text: Some(text), ..
                    },
                ),
            ) if turn.calls.is_empty() => (
                text.clone(),
                turn.usage.unwrap_or_else(|| Usage {
                    input_tokens: estimate_input(request),
                    output_tokens: turn.output_estimate,
                }),
            ),
            _ => (
                NO_FINAL_ANSWER.to_owned(),
                Usage {
                    input_tokens: estimate_input(request),
                    output_tokens: tokens_for_chars(NO_FINAL_ANSWER.chars().count()),
                },
            ),
        };
        self.response(
            AssistantTurn {
                text: Some(text),
                tool_calls: Vec::new(),
            },
            FinishReason::Stop,
            usage,
        )
    }

    fn response(
        &self,
        turn: AssistantTurn,
        finish_reason: FinishReason,
        usage: Usage,
    ) -> ModelResponse {
        ModelResponse {
            turn,
            finish_reason,
            usage,
            model: self.label.clone(),
            raw_request: Value::Null,
            raw_response: Value::Null,
        }
    }
}

/// The script's calls for the answer to turn `turn`.
fn materialize(calls: &[Call], turn: usize) -> Vec<ToolCall> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| ToolCall {
            id: ToolCallId::new(c.id.clone().unwrap_or_else(|| format!("call_{turn}_{i}"))),
            name: c.name.clone(),
            arguments: c.arguments.clone(),
        })
        .collect()
}

/// ceil(chars / 4) over the contents of the request's messages.
fn estimate_input(request: &ModelRequest) -> u64 {
    let chars: usize = request
        .messages
        .iter()
        .map(|m| match m {
            Message::System { content }
            | Message::User { content }
            | Message::Tool { content, .. } => content.chars().count(),
            Message::Assistant { content, .. } => {
                content.as_deref().map_or(0, |c| c.chars().count())
            }
        })
        .sum();
    tokens_for_chars(chars)
}

#[async_trait::async_trait]
impl ModelClient for ScriptedModel {
    fn provider(&self) -> &'static str {
        "scripted"
    }

    fn model(&self) -> &str {
        &self.label
    }

    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, LlmError> {
        if let Some(latency) = self.latency {
            tokio::time::sleep(latency).await;
        }
        self.answer(request)
    }
}
