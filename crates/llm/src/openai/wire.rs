//! Chat Completions JSON: request bodies out, responses and stream chunks in.

use std::collections::BTreeMap;

use bureau_protocol::{
    AssistantTurn, FinishReason, Message, ModelRequest, ToolCall, ToolCallId, Usage,
};
use serde_json::{Map, Value, json};

use super::OpenAiConfig;
use crate::LlmError;
use crate::args::{arguments_string, parse_arguments};
use crate::http::event_json;
use crate::names::ToolNameMap;
use crate::sse::SseEvent;

/// What a parsed answer carries besides the raw JSON.
pub(super) use crate::http::Parsed;

/// The request body for `request`, tool names mapped through `names`.
pub(super) fn request_body(
    config: &OpenAiConfig,
    request: &ModelRequest,
    names: &ToolNameMap,
) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), Value::String(config.model.clone()));
    let messages: Vec<Value> = request.messages.iter().map(|m| message(m, names)).collect();
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        let tools = request
            .tools
            .iter()
            .map(|t| {
                let mut function = Map::new();
                function.insert("name".into(), Value::String(names.to_wire(&t.name)));
                if !t.description.is_empty() {
                    function.insert("description".into(), Value::String(t.description.clone()));
                }
                function.insert("parameters".into(), t.input_schema.clone());
                json!({"type": "function", "function": function})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(max) = request.max_output_tokens.or(config.max_output_tokens) {
        body.insert("max_completion_tokens".into(), Value::from(max));
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), Value::from(f64::from(t)));
    }
    if config.stream {
        body.insert("stream".into(), Value::Bool(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(body)
}

fn message(message: &Message, names: &ToolNameMap) -> Value {
    match message {
        Message::System { content } => json!({"role": "system", "content": content}),
        Message::User { content } => json!({"role": "user", "content": content}),
        Message::Assistant {
            content,
            tool_calls,
        } => {
            let mut m = Map::new();
            m.insert("role".into(), "assistant".into());
            let content = match content {
                Some(text) => Value::String(text.clone()),
                None if tool_calls.is_empty() => Value::String(String::new()),
                None => Value::Null,
            };
            m.insert("content".into(), content);
            if !tool_calls.is_empty() {
                let calls = tool_calls
                    .iter()
                    .map(|c| {
                        json!({
                            "id": c.id.as_str(),
                            "type": "function",
                            "function": {
                                "name": names.to_wire(&c.name),
                                "arguments": arguments_string(&c.arguments),
                            },
                        })
                    })
                    .collect();
                m.insert("tool_calls".into(), Value::Array(calls));
            }
            Value::Object(m)
        }
        Message::Tool {
            tool_call_id,
            content,
            ..
        } => {
            json!({"role": "tool", "tool_call_id": tool_call_id.as_str(), "content": content})
        }
    }
}

/// `finish_reason` as Bureau's [`FinishReason`].
fn finish_reason(reason: Option<&str>, has_tool_calls: bool) -> FinishReason {
    match reason {
        Some("stop") => FinishReason::Stop,
        Some("tool_calls") => FinishReason::ToolCalls,
        Some("length") => FinishReason::Length,
        Some("content_filter") => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_owned()),
        None if has_tool_calls => FinishReason::ToolCalls,
        None => FinishReason::Other("none".to_owned()),
    }
}

fn usage(value: &Value) -> Usage {
    let n = |k: &str| value.get(k).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: n("prompt_tokens"),
        output_tokens: n("completion_tokens"),
    }
}

/// `content` as text: a string, or an array of `{type:"text", text}` parts.
fn content_text(content: Option<&Value>) -> Option<String> {
    match content? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Array(parts) => {
            let text: String = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            (!text.is_empty()).then_some(text)
        }
        _ => None,
    }
}

fn decode(what: &str) -> LlmError {
    LlmError::Decode(format!("the chat completion has no {what}"))
}

/// A whole (non-streamed) chat completion.
pub(super) fn parse_response(body: &Value, names: &ToolNameMap) -> Result<Parsed, LlmError> {
    if let Some(error) = body.get("error").filter(|e| e.is_object()) {
        return Err(LlmError::from_stream_error(error));
    }
    let choice = body
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| decode("`choices`"))?;
    let message = choice
        .get("message")
        .ok_or_else(|| decode("`choices[0].message`"))?;
    let mut text = content_text(message.get("content"));
    if text.is_none() {
        text = message
            .get("refusal")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    let mut tool_calls = Vec::new();
    if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
        for (i, call) in calls.iter().enumerate() {
            let function = call
                .get("function")
                .ok_or_else(|| decode("`function` in a tool call"))?;
            let name = function
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| decode("`function.name` in a tool call"))?;
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("call_{i}"), str::to_owned);
            let arguments = match function.get("arguments") {
                Some(Value::String(raw)) => parse_arguments(raw),
                Some(Value::Object(o)) => Value::Object(o.clone()),
                _ => Value::Object(Map::new()),
            };
            tool_calls.push(ToolCall {
                id: ToolCallId::new(id),
                name: names.from_wire(name).to_owned(),
                arguments,
            });
        }
    }
    let finish = finish_reason(
        choice.get("finish_reason").and_then(Value::as_str),
        !tool_calls.is_empty(),
    );
    let usage = body.get("usage").map(usage).unwrap_or_default();
    let model = body.get("model").and_then(Value::as_str).map(str::to_owned);
    Ok((AssistantTurn { text, tool_calls }, finish, usage, model))
}

#[derive(Debug, Default)]
struct PartialCall {
    id: Option<String>,
    name: String,
    arguments: String,
}

/// Builds one answer from `chat.completion.chunk` events.
#[derive(Debug, Default)]
pub(super) struct StreamAccumulator {
    text: String,
    calls: BTreeMap<u64, PartialCall>,
    finish: Option<String>,
    usage: Option<Usage>,
    model: Option<String>,
    done: bool,
    events: Vec<Value>,
}

impl StreamAccumulator {
    fn on_delta(&mut self, delta: &Value) {
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            self.text.push_str(text);
        }
        let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) else {
            return;
        };
        for (position, call) in calls.iter().enumerate() {
            let index = call
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(position as u64);
            let partial = self.calls.entry(index).or_default();
            if let Some(id) = call
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                partial.id.get_or_insert_with(|| id.to_owned());
            }
            let function = call.get("function");
            if let Some(name) = function.and_then(|f| f.get("name")).and_then(Value::as_str) {
                // The name arrives whole in the first delta; later repeats are ignored.
                if partial.name.is_empty() {
                    partial.name.push_str(name);
                }
            }
            if let Some(args) = function
                .and_then(|f| f.get("arguments"))
                .and_then(Value::as_str)
            {
                partial.arguments.push_str(args);
            }
        }
    }
}

impl crate::http::Accumulate for StreamAccumulator {
    /// Takes one SSE event; `Ok(false)` once `[DONE]` arrived.
    fn on_event(&mut self, event: SseEvent) -> Result<bool, LlmError> {
        if event.data.trim() == "[DONE]" {
            self.events.push(Value::String(event.data));
            self.done = true;
            return Ok(false);
        }
        let chunk = event_json(&event)?;
        if let Some(error) = chunk.get("error").filter(|e| e.is_object()) {
            return Err(LlmError::from_stream_error(error));
        }
        if let Some(model) = chunk.get("model").and_then(Value::as_str) {
            self.model.get_or_insert_with(|| model.to_owned());
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage(u));
        }
        let choices = chunk
            .get("choices")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        // Only the first choice (`index` 0) is Bureau's: `n` is never set.
        if let Some(choice) = choices
            .iter()
            .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
        {
            if let Some(delta) = choice.get("delta") {
                self.on_delta(delta);
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish = Some(reason.to_owned());
            }
        }
        self.events.push(chunk);
        Ok(true)
    }

    /// The answer, once the stream ended; the raw events as a JSON array.
    fn finish(self, names: &ToolNameMap) -> Result<(Parsed, Value), LlmError> {
        if !self.done && self.finish.is_none() {
            return Err(LlmError::Transport(
                "the stream ended before the answer was complete (no finish_reason, no [DONE])"
                    .into(),
            ));
        }
        let mut tool_calls = Vec::with_capacity(self.calls.len());
        for (index, call) in self.calls {
            if call.name.is_empty() {
                return Err(LlmError::Decode(format!(
                    "streamed tool call {index} has no name"
                )));
            }
            tool_calls.push(ToolCall {
                id: ToolCallId::new(call.id.unwrap_or_else(|| format!("call_{index}"))),
                name: names.from_wire(&call.name).to_owned(),
                arguments: parse_arguments(&call.arguments),
            });
        }
        let finish = finish_reason(self.finish.as_deref(), !tool_calls.is_empty());
        let text = (!self.text.is_empty()).then_some(self.text);
        Ok((
            (
                AssistantTurn { text, tool_calls },
                finish,
                self.usage.unwrap_or_default(),
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

    fn names() -> ToolNameMap {
        ToolNameMap::new(["files.write"])
    }

    #[test]
    fn finish_reasons_map() {
        assert_eq!(finish_reason(Some("stop"), false), FinishReason::Stop);
        assert_eq!(
            finish_reason(Some("tool_calls"), true),
            FinishReason::ToolCalls
        );
        assert_eq!(finish_reason(Some("length"), false), FinishReason::Length);
        assert_eq!(
            finish_reason(Some("content_filter"), false),
            FinishReason::ContentFilter
        );
        assert_eq!(
            finish_reason(Some("eos"), false),
            FinishReason::Other("eos".into())
        );
    }

    #[test]
    fn a_completion_with_parallel_calls_and_bad_arguments_parses() {
        let body = json!({
            "model": "gpt-x",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "files__write", "arguments": "{\"path\":\"x\"}"}},
                    {"id": "b", "type": "function", "function": {"name": "other", "arguments": "{not json"}}
                ]}}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        });
        let (turn, finish, usage, model) = parse_response(&body, &names()).unwrap();
        assert_eq!(turn.text, None);
        assert_eq!(turn.tool_calls[0].name, "files.write");
        assert_eq!(turn.tool_calls[0].arguments, json!({"path": "x"}));
        assert_eq!(turn.tool_calls[1].name, "other");
        assert_eq!(
            turn.tool_calls[1].arguments,
            Value::String("{not json".into())
        );
        assert_eq!(finish, FinishReason::ToolCalls);
        assert_eq!(
            usage,
            Usage {
                input_tokens: 11,
                output_tokens: 7
            }
        );
        assert_eq!(model.as_deref(), Some("gpt-x"));
    }

    #[test]
    fn a_body_without_choices_is_a_decode_error() {
        let e = parse_response(&json!({"object": "list"}), &names()).unwrap_err();
        assert!(matches!(e, LlmError::Decode(_)));
        let e = parse_response(
            &json!({"error": {"message": "quota", "code": "rate_limit_exceeded"}}),
            &names(),
        )
        .unwrap_err();
        assert!(matches!(e, LlmError::RateLimited { .. }));
    }

    #[test]
    fn a_truncated_stream_is_a_transport_error() {
        let mut acc = StreamAccumulator::default();
        acc.on_event(SseEvent {
            event: None,
            data: r#"{"choices":[{"index":0,"delta":{"content":"hi"}}]}"#.into(),
        })
        .unwrap();
        assert!(matches!(acc.finish(&names()), Err(LlmError::Transport(_))));
    }

    #[test]
    fn a_stream_error_chunk_is_an_error() {
        let mut acc = StreamAccumulator::default();
        let e = acc
            .on_event(SseEvent {
                event: None,
                data: r#"{"error":{"message":"overloaded","type":"server_error"}}"#.into(),
            })
            .unwrap_err();
        assert!(e.is_retryable());
    }
}
