//! Shared fixtures for the llm integration tests.
#![allow(dead_code)]

use std::time::Duration;

use bureau_llm::{AnthropicClient, AnthropicConfig, OpenAiClient, OpenAiConfig};
use bureau_protocol::{Message, ModelRequest, ToolCall, ToolCallId, ToolSpec};
use serde_json::json;

#[expect(
    clippy::unwrap_used,
    reason = "a test helper: a client that cannot be built fails the test"
)]
pub fn openai(base_url: &str, stream: bool) -> OpenAiClient {
    OpenAiClient::new(OpenAiConfig {
        base_url: base_url.to_owned(),
        api_key: Some("sk-test".into()),
        model: "gpt-test".into(),
        stream,
        timeout: Duration::from_secs(30),
        max_output_tokens: None,
        extra_headers: vec![],
    })
    .unwrap()
}

#[expect(
    clippy::unwrap_used,
    reason = "a test helper: a client that cannot be built fails the test"
)]
pub fn anthropic(base_url: &str, stream: bool) -> AnthropicClient {
    AnthropicClient::new(AnthropicConfig {
        base_url: base_url.to_owned(),
        api_key: Some("sk-ant-test".into()),
        model: "claude-test".into(),
        stream,
        timeout: Duration::from_secs(30),
        max_output_tokens: 1024,
        version: "2023-06-01".into(),
    })
    .unwrap()
}

pub fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "files.write".into(),
            description: "Write a file".into(),
            input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}, "required": ["path"]}),
        },
        ToolSpec {
            name: "time.get_current_time".into(),
            description: String::new(),
            input_schema: json!({"type": "object", "properties": {"timezone": {"type": "string"}}}),
        },
    ]
}

/// A single user question, with tools offered.
pub fn simple_request(question: &str) -> ModelRequest {
    ModelRequest {
        model: "ignored".into(),
        messages: vec![Message::system("You are terse."), Message::user(question)],
        tools: tools().into(),
        max_output_tokens: None,
        temperature: None,
    }
}

/// A conversation past one parallel tool call: system, user, assistant
/// with two calls, two tool results (one an error).
pub fn conversation() -> ModelRequest {
    ModelRequest {
        model: "ignored".into(),
        messages: vec![
            Message::system("You are terse."),
            Message::user("Write the time to now.txt"),
            Message::Assistant {
                content: Some("Checking the time.".into()),
                tool_calls: vec![
                    ToolCall {
                        id: ToolCallId::new("call_a"),
                        name: "time.get_current_time".into(),
                        arguments: json!({"timezone": "UTC"}),
                    },
                    ToolCall {
                        id: ToolCallId::new("call_b"),
                        name: "files.write".into(),
                        arguments: json!({"path": "now.txt", "content": "?"}),
                    },
                ],
            },
            Message::Tool {
                tool_call_id: ToolCallId::new("call_a"),
                name: "time.get_current_time".into(),
                content: "12:00".into(),
                is_error: false,
            },
            Message::Tool {
                tool_call_id: ToolCallId::new("call_b"),
                name: "files.write".into(),
                content: "denied".into(),
                is_error: true,
            },
        ],
        tools: tools().into(),
        max_output_tokens: Some(256),
        temperature: Some(0.5),
    }
}
