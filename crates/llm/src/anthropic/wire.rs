//! Messages API JSON: request bodies out, responses and stream events in.

use std::collections::BTreeMap;

use bureau_protocol::{
    AssistantTurn, FinishReason, Message, ModelRequest, ToolCall, ToolCallId, Usage,
};
use serde_json::{Map, Value, json};

use super::AnthropicConfig;
use crate::LlmError;
use crate::args::{arguments_object, parse_arguments};
use crate::http::event_json;
use crate::names::ToolNameMap;
use crate::sse::SseEvent;

/// What a parsed answer carries besides the raw JSON.
pub(super) use crate::http::Parsed;

/// Messages with consecutive same-role entries merged (the API wants
/// user and assistant turns to alternate).
#[derive(Default)]
struct Conversation {
    turns: Vec<(&'static str, Vec<Value>)>,
}

impl Conversation {
    fn push(&mut self, role: &'static str, block: Value) {
        match self.turns.last_mut() {
            Some((last, blocks)) if *last == role => blocks.push(block),
            _ => self.turns.push((role, vec![block])),
        }
    }

    fn into_json(self) -> Vec<Value> {
        self.turns
            .into_iter()
            .map(|(role, mut blocks)| {
                // A lone text block is sent as a plain string, as people write it.
                let content = match blocks.as_slice() {
                    [b] if b.get("type").and_then(Value::as_str) == Some("text") => blocks
                        .pop()
                        .and_then(|b| b.get("text").cloned())
                        .unwrap_or_default(),
                    _ => Value::Array(blocks),
                };
                json!({"role": role, "content": content})
            })
            .collect()
    }
}

/// The request body for `request`, tool names mapped through `names`.
pub(super) fn request_body(
    config: &AnthropicConfig,
    request: &ModelRequest,
    names: &ToolNameMap,
) -> Value {
    let mut system: Vec<&str> = Vec::new();
    let mut conversation = Conversation::default();
    let mut history_tools: Vec<&str> = Vec::new();
    for message in &request.messages {
        match message {
            Message::System { content } => system.push(content),
            Message::User { content } => {
                conversation.push("user", json!({"type": "text", "text": content}));
            }
            Message::Assistant {
                content,
                tool_calls,
            } => {
                if let Some(text) = content.as_deref().filter(|t| !t.is_empty()) {
                    conversation.push("assistant", json!({"type": "text", "text": text}));
                }
                for call in tool_calls {
                    history_tools.push(&call.name);
                    conversation.push(
                        "assistant",
                        json!({
                            "type": "tool_use",
                            "id": call.id.as_str(),
                            "name": names.to_wire(&call.name),
                            "input": arguments_object(&call.arguments),
                        }),
                    );
                }
            }
            Message::Tool {
                tool_call_id,
                name,
                content,
                is_error,
            } => {
                history_tools.push(name);
                conversation.push(
                    "user",
                    json!({
                        "type": "tool_result",
                        "tool_use_id": tool_call_id.as_str(),
                        "content": content,
                        "is_error": is_error,
                    }),
                );
            }
        }
    }

    let mut body = Map::new();
    body.insert("model".into(), Value::String(config.model.clone()));
    body.insert(
        "max_tokens".into(),
        Value::from(
            request
                .max_output_tokens
                .unwrap_or(config.max_output_tokens),
        ),
    );
    if !system.is_empty() {
        body.insert("system".into(), Value::String(system.join("\n\n")));
    }
    body.insert("messages".into(), Value::Array(conversation.into_json()));
    if !request.tools.is_empty() {
        let tools = request
            .tools
            .iter()
            .map(|t| {
                let mut tool = Map::new();
                tool.insert("name".into(), Value::String(names.to_wire(&t.name)));
                if !t.description.is_empty() {
                    tool.insert("description".into(), Value::String(t.description.clone()));
                }
                tool.insert("input_schema".into(), t.input_schema.clone());
                Value::Object(tool)
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    } else if !history_tools.is_empty() {
        // The API refuses a history with tool blocks and no tool
        // definitions. No tools offered means "answer now": declare the
        // history's tools and forbid calling them.
        let mut declared: Vec<Value> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for name in history_tools {
            if !seen.contains(&name) {
                seen.push(name);
                declared.push(json!({
                    "name": names.to_wire(name),
                    "input_schema": {"type": "object"},
                }));
            }
        }
        body.insert("tools".into(), Value::Array(declared));
        body.insert("tool_choice".into(), json!({"type": "none"}));
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), Value::from(f64::from(t)));
    }
    if config.stream {
        body.insert("stream".into(), Value::Bool(true));
    }
    Value::Object(body)
}

/// `stop_reason` as Bureau's [`FinishReason`].
fn finish_reason(reason: Option<&str>, has_tool_calls: bool) -> FinishReason {
    match reason {
        Some("end_turn" | "stop_sequence") => FinishReason::Stop,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("refusal") => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_owned()),
        None if has_tool_calls => FinishReason::ToolCalls,
        None => FinishReason::Other("none".to_owned()),
    }
}

/// Input tokens count the cache's reads and writes too: Anthropic reports
/// them apart, and all of them are tokens the model read.
fn input_tokens(usage: &Value) -> Option<u64> {
    let fields = [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ];
    let values: Vec<u64> = fields
        .iter()
        .filter_map(|f| usage.get(*f).and_then(Value::as_u64))
        .collect();
    (!values.is_empty()).then(|| values.iter().fold(0u64, |a, b| a.saturating_add(*b)))
}

fn output_tokens(usage: &Value) -> Option<u64> {
    usage.get("output_tokens").and_then(Value::as_u64)
}

fn decode(what: &str) -> LlmError {
    LlmError::Decode(format!("the message has no {what}"))
}

/// A whole (non-streamed) message.
pub(super) fn parse_response(body: &Value, names: &ToolNameMap) -> Result<Parsed, LlmError> {
    if body.get("type").and_then(Value::as_str) == Some("error") {
        return Err(LlmError::from_stream_error(
            body.get("error").unwrap_or(&Value::Null),
        ));
    }
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| decode("`content`"))?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => {
                let id = block
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| decode("`id` in a tool_use block"))?;
                let name = block
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| decode("`name` in a tool_use block"))?;
                let input = block
                    .get("input")
                    .cloned()
                    .unwrap_or_else(|| Value::Object(Map::new()));
                tool_calls.push(ToolCall {
                    id: ToolCallId::new(id),
                    name: names.from_wire(name).to_owned(),
                    arguments: input,
                });
            }
            _ => {} // thinking and server-tool blocks stay in the raw JSON
        }
    }
    let finish = finish_reason(
        body.get("stop_reason").and_then(Value::as_str),
        !tool_calls.is_empty(),
    );
    let usage = body
        .get("usage")
        .map(|u| Usage {
            input_tokens: input_tokens(u).unwrap_or(0),
            output_tokens: output_tokens(u).unwrap_or(0),
        })
        .unwrap_or_default();
    let model = body.get("model").and_then(Value::as_str).map(str::to_owned);
    let text = (!text.is_empty()).then_some(text);
    Ok((AssistantTurn { text, tool_calls }, finish, usage, model))
}

#[derive(Debug)]
enum Block {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        json: String,
        start_input: Value,
    },
    Other,
}

/// Builds one answer from Messages stream events.
#[derive(Debug, Default)]
pub(super) struct StreamAccumulator {
    blocks: BTreeMap<u64, Block>,
    stop_reason: Option<String>,
    usage: Usage,
    model: Option<String>,
    done: bool,
    events: Vec<Value>,
}

impl StreamAccumulator {
    /// Usage fields are cumulative: the latest report of each wins.
    fn on_usage(&mut self, usage: &Value) {
        if let Some(n) = input_tokens(usage) {
            self.usage.input_tokens = n;
        }
        if let Some(n) = output_tokens(usage) {
            self.usage.output_tokens = n;
        }
    }
}

impl crate::http::Accumulate for StreamAccumulator {
    /// Takes one SSE event; `Ok(false)` once `message_stop` arrived.
    fn on_event(&mut self, event: SseEvent) -> Result<bool, LlmError> {
        let data = event_json(&event)?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or("");
        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
        match kind {
            "message_start" => {
                let message = data.get("message");
                if let Some(model) = message.and_then(|m| m.get("model")).and_then(Value::as_str) {
                    self.model = Some(model.to_owned());
                }
                if let Some(u) = message.and_then(|m| m.get("usage")) {
                    self.on_usage(u);
                }
            }
            "content_block_start" => {
                let block = data.get("content_block").unwrap_or(&Value::Null);
                let block = match block.get("type").and_then(Value::as_str) {
                    Some("text") => Block::Text(
                        block
                            .get("text")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                    ),
                    Some("tool_use") => Block::ToolUse {
                        id: block
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                        name: block
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                        json: String::new(),
                        start_input: block.get("input").cloned().unwrap_or(Value::Null),
                    },
                    _ => Block::Other,
                };
                self.blocks.insert(index, block);
            }
            "content_block_delta" => {
                let delta = data.get("delta").unwrap_or(&Value::Null);
                match (
                    self.blocks.get_mut(&index),
                    delta.get("type").and_then(Value::as_str),
                ) {
                    (Some(Block::Text(text)), Some("text_delta")) => {
                        text.push_str(delta.get("text").and_then(Value::as_str).unwrap_or(""));
                    }
                    (Some(Block::ToolUse { json, .. }), Some("input_json_delta")) => {
                        json.push_str(
                            delta
                                .get("partial_json")
                                .and_then(Value::as_str)
                                .unwrap_or(""),
                        );
                    }
                    (None, _) => {
                        return Err(LlmError::Decode(format!(
                            "a content_block_delta names block {index}, which never started"
                        )));
                    }
                    _ => {} // thinking, signature and citation deltas
                }
            }
            "message_delta" => {
                if let Some(reason) = data
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str)
                {
                    self.stop_reason = Some(reason.to_owned());
                }
                if let Some(u) = data.get("usage") {
                    self.on_usage(u);
                }
            }
            "message_stop" => self.done = true,
            "error" => {
                return Err(LlmError::from_stream_error(
                    data.get("error").unwrap_or(&Value::Null),
                ));
            }
            _ => {} // ping, content_block_stop, and event types added later
        }
        self.events.push(data);
        Ok(!self.done)
    }

    /// The answer, once the stream ended; the raw events as a JSON array.
    fn finish(self, names: &ToolNameMap) -> Result<(Parsed, Value), LlmError> {
        if !self.done && self.stop_reason.is_none() {
            return Err(LlmError::Transport(
                "the stream ended before the answer was complete (no stop_reason, no message_stop)"
                    .into(),
            ));
        }
        let mut text = String::new();
        let mut tool_calls = Vec::new();
        for (index, block) in self.blocks {
            match block {
                Block::Text(t) => text.push_str(&t),
                Block::ToolUse {
                    id,
                    name,
                    json,
                    start_input,
                } => {
                    if name.is_empty() {
                        return Err(LlmError::Decode(format!(
                            "streamed tool_use block {index} has no name"
                        )));
                    }
                    let arguments = if json.trim().is_empty() {
                        match start_input {
                            Value::Null => Value::Object(Map::new()),
                            v => v,
                        }
                    } else {
                        parse_arguments(&json)
                    };
                    tool_calls.push(ToolCall {
                        id: ToolCallId::new(id),
                        name: names.from_wire(&name).to_owned(),
                        arguments,
                    });
                }
                Block::Other => {}
            }
        }
        let finish = finish_reason(self.stop_reason.as_deref(), !tool_calls.is_empty());
        let text = (!text.is_empty()).then_some(text);
        Ok((
            (
                AssistantTurn { text, tool_calls },
                finish,
                self.usage,
                self.model,
            ),
            Value::Array(self.events),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Accumulate;

    fn ev(data: Value) -> SseEvent {
        SseEvent {
            event: data.get("type").and_then(Value::as_str).map(str::to_owned),
            data: data.to_string(),
        }
    }

    #[test]
    fn stop_reasons_map() {
        assert_eq!(finish_reason(Some("end_turn"), false), FinishReason::Stop);
        assert_eq!(
            finish_reason(Some("stop_sequence"), false),
            FinishReason::Stop
        );
        assert_eq!(
            finish_reason(Some("tool_use"), true),
            FinishReason::ToolCalls
        );
        assert_eq!(
            finish_reason(Some("max_tokens"), false),
            FinishReason::Length
        );
        assert_eq!(
            finish_reason(Some("pause_turn"), false),
            FinishReason::Other("pause_turn".into())
        );
    }

    #[test]
    fn cache_tokens_count_as_input() {
        let body = json!({
            "content": [{"type": "text", "text": "hi"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 3}
        });
        let (_, _, usage, _) = parse_response(&body, &ToolNameMap::default()).unwrap();
        assert_eq!(
            usage,
            Usage {
                input_tokens: 115,
                output_tokens: 3
            }
        );
    }

    #[test]
    fn an_error_event_is_an_error_and_a_truncated_stream_is_transport() {
        let mut acc = StreamAccumulator::default();
        acc.on_event(ev(
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 3}}}),
        ))
        .unwrap();
        let e = acc
            .on_event(ev(json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})))
            .unwrap_err();
        assert_eq!(
            e,
            LlmError::Server {
                status: 529,
                message: "Overloaded".into()
            }
        );

        let mut acc = StreamAccumulator::default();
        acc.on_event(ev(
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 3}}}),
        ))
        .unwrap();
        assert!(matches!(
            acc.finish(&ToolNameMap::default()),
            Err(LlmError::Transport(_))
        ));
    }

    #[test]
    fn a_delta_for_an_unknown_block_is_a_decode_error() {
        let mut acc = StreamAccumulator::default();
        let e = acc
            .on_event(ev(json!({"type": "content_block_delta", "index": 4, "delta": {"type": "text_delta", "text": "x"}})))
            .unwrap_err();
        assert!(matches!(e, LlmError::Decode(_)));
    }
}
