//! Both providers against `FakeLlm`, our own loopback server speaking the
//! real wire formats: exact request shapes, parsing, streaming, errors and
//! retries.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bureau_llm::{LlmError, ModelClient, RetryPolicy, Retrying};
use bureau_protocol::{FinishReason, Message, Usage};
use bureau_test_support::fake_llm::{FakeLlm, Reply, anthropic_message, openai_completion};
use common::{anthropic, conversation, openai, simple_request};
use serde_json::{Value, json};

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({"id": "c1", "object": "chat.completion.chunk", "model": "gpt-test-0613",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn retrying<C: ModelClient>(client: C) -> Retrying<C> {
    Retrying::new(client, RetryPolicy::default()).with_jitter(Arc::new(|| 0.0))
}

#[tokio::test]
async fn openai_request_json_has_the_exact_shape() {
    let fake = FakeLlm::start().await;
    fake.enqueue_openai(Reply::Json(openai_completion(Some("ok"), &[], (1, 1))));
    let client = bureau_llm::OpenAiClient::new(bureau_llm::OpenAiConfig {
        extra_headers: vec![("OpenAI-Organization".into(), "org-1".into())],
        max_output_tokens: Some(999),
        ..common::openai(&fake.openai_base_url(), false)
            .config()
            .clone()
    })
    .unwrap();

    let response = client.complete(&conversation()).await.unwrap();

    let expected = json!({
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Write the time to now.txt"},
            {"role": "assistant", "content": "Checking the time.", "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "time__get_current_time", "arguments": "{\"timezone\":\"UTC\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "files__write", "arguments": "{\"path\":\"now.txt\",\"content\":\"?\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_a", "content": "12:00"},
            {"role": "tool", "tool_call_id": "call_b", "content": "denied"}
        ],
        "tools": [
            {"type": "function", "function": {"name": "files__write", "description": "Write a file",
                "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}, "required": ["path"]}}},
            {"type": "function", "function": {"name": "time__get_current_time",
                "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}}}}
        ],
        "max_completion_tokens": 256,
        "temperature": 0.5
    });
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(requests[0].body, expected);
    // raw_request is exactly what went on the wire.
    assert_eq!(response.raw_request, expected);
    assert_eq!(requests[0].header("authorization"), Some("Bearer sk-test"));
    assert_eq!(requests[0].header("openai-organization"), Some("org-1"));
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn openai_non_streamed_tool_calls_map_names_back() {
    let fake = FakeLlm::start().await;
    let body = openai_completion(
        None,
        &[
            (
                "call_1",
                "files__write",
                json!({"path": "a.txt", "content": "hi"}),
            ),
            ("call_2", "time__get_current_time", json!({})),
        ],
        (42, 17),
    );
    fake.enqueue_openai(Reply::Json(body.clone()));
    let response = openai(&fake.openai_base_url(), false)
        .complete(&simple_request("go"))
        .await
        .unwrap();

    assert_eq!(response.turn.text, None);
    let calls = &response.turn.tool_calls;
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].id.as_str(), calls[0].name.as_str()),
        ("call_1", "files.write")
    );
    assert_eq!(
        calls[0].arguments,
        json!({"path": "a.txt", "content": "hi"})
    );
    assert_eq!(
        (calls[1].id.as_str(), calls[1].name.as_str()),
        ("call_2", "time.get_current_time")
    );
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 42,
            output_tokens: 17
        }
    );
    assert_eq!(response.model, "fake-gpt");
    assert_eq!(response.raw_response, body);
}

#[tokio::test]
async fn openai_streamed_parallel_tool_calls_are_reassembled_exactly() {
    let fake = FakeLlm::start().await;
    let events = vec![
        chunk(json!({"role": "assistant", "content": null}), None),
        chunk(json!({"content": "Doing "}), None),
        chunk(json!({"content": "both."}), None),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_w", "type": "function", "function": {"name": "files__write", "arguments": ""}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"pa"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 1, "id": "call_t", "type": "function", "function": {"name": "time__get_current_time", "arguments": "{\"time"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "th\": \"a \\\"b\\\".txt\", "}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 1, "function": {"arguments": "zone\":\"Europe/"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"content\": \"é✓\"}"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 1, "function": {"arguments": "Paris\"}"}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
        json!({"id": "c1", "object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 120, "completion_tokens": 33, "total_tokens": 153}}),
    ];
    fake.enqueue_openai(Reply::Stream(events.clone()));
    let response = openai(&fake.openai_base_url(), true)
        .complete(&simple_request("go"))
        .await
        .unwrap();

    assert_eq!(response.turn.text.as_deref(), Some("Doing both."));
    let calls = &response.turn.tool_calls;
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].id.as_str(), calls[0].name.as_str()),
        ("call_w", "files.write")
    );
    assert_eq!(
        calls[0].arguments,
        json!({"path": "a \"b\".txt", "content": "é✓"})
    );
    assert_eq!(
        (calls[1].id.as_str(), calls[1].name.as_str()),
        ("call_t", "time.get_current_time")
    );
    assert_eq!(calls[1].arguments, json!({"timezone": "Europe/Paris"}));
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 120,
            output_tokens: 33
        }
    );
    assert_eq!(response.model, "gpt-test-0613");

    // The raw response is every event's data, in order, `[DONE]` included.
    let mut raw = events;
    raw.push(Value::String("[DONE]".into()));
    assert_eq!(response.raw_response, Value::Array(raw));

    let body = &fake.requests()[0].body;
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn openai_streamed_bad_arguments_are_kept_raw_without_failing() {
    let fake = FakeLlm::start().await;
    fake.enqueue_openai(Reply::Stream(vec![
        chunk(json!({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "files__write", "arguments": "{\"path\": "}}]}), None),
        chunk(json!({}), Some("tool_calls")),
    ]));
    let response = openai(&fake.openai_base_url(), true)
        .complete(&simple_request("go"))
        .await
        .unwrap();
    assert_eq!(
        response.turn.tool_calls[0].arguments,
        Value::String("{\"path\": ".into())
    );
    assert_eq!(response.turn.tool_calls[0].name, "files.write");
}

#[tokio::test]
async fn anthropic_request_json_has_the_exact_shape() {
    let fake = FakeLlm::start().await;
    fake.enqueue_anthropic(Reply::Json(anthropic_message(Some("ok"), &[], (1, 1))));
    let response = anthropic(&fake.anthropic_base_url(), false)
        .complete(&conversation())
        .await
        .unwrap();

    let expected = json!({
        "model": "claude-test",
        "max_tokens": 256,
        "system": "You are terse.",
        "messages": [
            {"role": "user", "content": "Write the time to now.txt"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking the time."},
                {"type": "tool_use", "id": "call_a", "name": "time__get_current_time", "input": {"timezone": "UTC"}},
                {"type": "tool_use", "id": "call_b", "name": "files__write", "input": {"path": "now.txt", "content": "?"}}
            ]},
            // Consecutive tool results are one user message.
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_a", "content": "12:00", "is_error": false},
                {"type": "tool_result", "tool_use_id": "call_b", "content": "denied", "is_error": true}
            ]}
        ],
        "tools": [
            {"name": "files__write", "description": "Write a file",
             "input_schema": {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}, "required": ["path"]}},
            {"name": "time__get_current_time", "input_schema": {"type": "object", "properties": {"timezone": {"type": "string"}}}}
        ],
        "temperature": 0.5
    });
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/messages");
    assert_eq!(requests[0].body, expected);
    assert_eq!(response.raw_request, expected);
    assert_eq!(requests[0].header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(requests[0].header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(requests[0].header("authorization"), None);
}

#[tokio::test]
async fn anthropic_final_answer_call_declares_history_tools_and_forbids_them() {
    let fake = FakeLlm::start().await;
    fake.enqueue_anthropic(Reply::Json(anthropic_message(
        Some("It is noon."),
        &[],
        (5, 3),
    )));
    let mut request = conversation();
    request.tools = Default::default();
    request.messages.push(Message::user("Answer now."));
    let response = anthropic(&fake.anthropic_base_url(), false)
        .complete(&request)
        .await
        .unwrap();
    assert_eq!(response.turn.text.as_deref(), Some("It is noon."));

    let body = &fake.requests()[0].body;
    assert_eq!(body["tool_choice"], json!({"type": "none"}));
    assert_eq!(
        body["tools"],
        json!([
            {"name": "time__get_current_time", "input_schema": {"type": "object"}},
            {"name": "files__write", "input_schema": {"type": "object"}}
        ])
    );
    // The user's nudge joins the tool results' user message, after them.
    let last = &body["messages"][2];
    assert_eq!(last["role"], "user");
    assert_eq!(
        last["content"][2],
        json!({"type": "text", "text": "Answer now."})
    );
    assert_eq!(body["messages"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn anthropic_non_streamed_text_and_tool_use() {
    let fake = FakeLlm::start().await;
    let body = anthropic_message(
        Some("Writing."),
        &[("toolu_1", "files__write", json!({"path": "x"}))],
        (30, 12),
    );
    fake.enqueue_anthropic(Reply::Json(body.clone()));
    let response = anthropic(&fake.anthropic_base_url(), false)
        .complete(&simple_request("go"))
        .await
        .unwrap();
    assert_eq!(response.turn.text.as_deref(), Some("Writing."));
    assert_eq!(response.turn.tool_calls.len(), 1);
    assert_eq!(response.turn.tool_calls[0].name, "files.write");
    assert_eq!(response.turn.tool_calls[0].id.as_str(), "toolu_1");
    assert_eq!(response.turn.tool_calls[0].arguments, json!({"path": "x"}));
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 30,
            output_tokens: 12
        }
    );
    assert_eq!(response.model, "fake-claude");
    assert_eq!(response.raw_response, body);
}

#[tokio::test]
async fn anthropic_streamed_parallel_tool_use_is_reassembled_exactly() {
    let fake = FakeLlm::start().await;
    let events = vec![
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude-test-2025", "stop_reason": null, "usage": {"input_tokens": 200, "cache_read_input_tokens": 50, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "ping"}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "On "}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "it."}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_a", "name": "files__write", "input": {}}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"path\": \"n"}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "ow.txt\", \"content\": [1, 2"}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "]}"}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_b", "name": "time__get_current_time", "input": {}}}),
        json!({"type": "content_block_stop", "index": 2}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 61}}),
        json!({"type": "message_stop"}),
    ];
    fake.enqueue_anthropic(Reply::Stream(events.clone()));
    let response = anthropic(&fake.anthropic_base_url(), true)
        .complete(&simple_request("go"))
        .await
        .unwrap();

    assert_eq!(response.turn.text.as_deref(), Some("On it."));
    let calls = &response.turn.tool_calls;
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].id.as_str(), calls[0].name.as_str()),
        ("toolu_a", "files.write")
    );
    assert_eq!(
        calls[0].arguments,
        json!({"path": "now.txt", "content": [1, 2]})
    );
    // No input deltas: the start block's `input` is the arguments.
    assert_eq!(
        (calls[1].id.as_str(), calls[1].name.as_str()),
        ("toolu_b", "time.get_current_time")
    );
    assert_eq!(calls[1].arguments, json!({}));
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 250,
            output_tokens: 61
        }
    );
    assert_eq!(response.model, "claude-test-2025");
    assert_eq!(response.raw_response, Value::Array(events));
    assert_eq!(fake.requests()[0].body["stream"], json!(true));
}

#[tokio::test]
async fn anthropic_stream_error_event_is_a_typed_error() {
    let fake = FakeLlm::start().await;
    fake.enqueue_anthropic(Reply::Stream(vec![
        json!({"type": "message_start", "message": {"model": "m", "usage": {"input_tokens": 1}}}),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ]));
    let e = anthropic(&fake.anthropic_base_url(), true)
        .complete(&simple_request("go"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        LlmError::Server {
            status: 529,
            message: "Overloaded".into()
        }
    );
    assert!(e.is_retryable());
}

#[tokio::test]
async fn a_truncated_stream_is_a_retryable_transport_error() {
    let fake = FakeLlm::start().await;
    fake.enqueue_openai(Reply::RawSse(format!(
        "data: {}\n\n",
        chunk(json!({"content": "par"}), None)
    )));
    let e = openai(&fake.openai_base_url(), true)
        .complete(&simple_request("go"))
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Transport(_)), "{e:?}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn a_malformed_stream_event_is_a_decode_error() {
    let fake = FakeLlm::start().await;
    fake.enqueue_anthropic(Reply::RawSse(
        "event: message_start\ndata: {not json\n\n".into(),
    ));
    let e = anthropic(&fake.anthropic_base_url(), true)
        .complete(&simple_request("go"))
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Decode(_)), "{e:?}");
}

#[tokio::test]
async fn rate_limited_with_retry_after_then_success_through_retrying() {
    let fake = FakeLlm::start().await;
    fake.enqueue_openai(
        Reply::error(
            429,
            json!({"error": {"message": "Rate limit reached for requests", "type": "requests"}}),
        )
        .with_header("retry-after", "1"),
    );
    fake.enqueue_openai(Reply::Json(openai_completion(Some("finally"), &[], (3, 2))));
    let client = retrying(openai(&fake.openai_base_url(), false));

    let response = client.complete(&simple_request("go")).await.unwrap();

    assert_eq!(response.turn.text.as_deref(), Some("finally"));
    assert_eq!(fake.requests().len(), 2);
    assert_eq!(client.provider(), "openai");
    assert_eq!(client.model(), "gpt-test");
}

#[tokio::test]
async fn the_rate_limit_error_keeps_status_retry_after_and_message() {
    let fake = FakeLlm::start().await;
    fake.enqueue_anthropic(
        Reply::error(429, json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Number of request tokens has exceeded your per-minute rate limit"}}))
            .with_header("retry-after", "17"),
    );
    let e = anthropic(&fake.anthropic_base_url(), false)
        .complete(&simple_request("go"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        LlmError::RateLimited {
            status: 429,
            retry_after: Some(Duration::from_secs(17)),
            message: "Number of request tokens has exceeded your per-minute rate limit".into(),
        }
    );
    assert!(e.to_string().contains("per-minute rate limit"));
}

#[tokio::test]
async fn server_errors_then_success_through_retrying() {
    let fake = FakeLlm::start().await;
    fake.enqueue_anthropic(Reply::error_message(500, "Internal server error"));
    fake.enqueue_anthropic(Reply::error(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    fake.enqueue_anthropic(Reply::Json(anthropic_message(Some("ok"), &[], (1, 1))));
    let response = retrying(anthropic(&fake.anthropic_base_url(), false))
        .complete(&simple_request("go"))
        .await
        .unwrap();
    assert_eq!(response.turn.text.as_deref(), Some("ok"));
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    let fake = FakeLlm::start().await;
    for _ in 0..3 {
        fake.enqueue_openai(Reply::error_message(503, "busy"));
    }
    let policy = RetryPolicy {
        max_attempts: 2,
        ..RetryPolicy::default()
    };
    let client =
        Retrying::new(openai(&fake.openai_base_url(), false), policy).with_jitter(Arc::new(|| 0.0));
    let e = client.complete(&simple_request("go")).await.unwrap_err();
    assert_eq!(
        e,
        LlmError::Server {
            status: 503,
            message: "busy".into()
        }
    );
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn unauthorized_is_fatal_and_not_retried() {
    let fake = FakeLlm::start().await;
    fake.enqueue_openai(Reply::error(401, json!({"error": {"message": "Incorrect API key provided: sk-test", "type": "invalid_request_error", "code": "invalid_api_key"}})));
    fake.enqueue_openai(Reply::Json(openai_completion(Some("never"), &[], (1, 1))));
    let e = retrying(openai(&fake.openai_base_url(), false))
        .complete(&simple_request("go"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        LlmError::Auth {
            status: 401,
            message: "Incorrect API key provided: sk-test".into()
        }
    );
    assert!(!e.is_retryable());
    assert_eq!(fake.requests().len(), 1);
    assert_eq!(fake.pending(), 1);
}

#[tokio::test]
async fn bad_request_is_fatal_and_keeps_the_message() {
    let fake = FakeLlm::start().await;
    fake.enqueue_anthropic(Reply::error(400, json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: must be positive"}})));
    let e = retrying(anthropic(&fake.anthropic_base_url(), true))
        .complete(&simple_request("go"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        LlmError::BadRequest {
            status: 400,
            message: "max_tokens: must be positive".into()
        }
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_malformed_json_body_is_a_decode_error() {
    let fake = FakeLlm::start().await;
    fake.enqueue_openai(Reply::malformed("{\"choices\": [ oops"));
    fake.enqueue_anthropic(Reply::malformed("<html>gateway</html>"));
    let e = retrying(openai(&fake.openai_base_url(), false))
        .complete(&simple_request("go"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LlmError::Decode(m) if m.contains("oops")),
        "{e:?}"
    );
    let e = anthropic(&fake.anthropic_base_url(), false)
        .complete(&simple_request("go"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LlmError::Decode(m) if m.contains("gateway")),
        "{e:?}"
    );
    // Decode errors are not retried.
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn connection_refused_is_a_retryable_transport_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let e = openai(&format!("http://127.0.0.1:{port}/v1"), false)
        .complete(&simple_request("go"))
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Transport(_)), "{e:?}");
    assert!(e.is_retryable());
    assert!(e.to_string().contains("check the base URL"));
}

#[tokio::test]
async fn a_silent_server_is_a_timeout() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let client = bureau_llm::OpenAiClient::new(bureau_llm::OpenAiConfig {
        timeout: Duration::from_millis(300),
        ..openai(&format!("http://127.0.0.1:{port}/v1"), false)
            .config()
            .clone()
    })
    .unwrap();
    let e = client.complete(&simple_request("go")).await.unwrap_err();
    assert_eq!(e, LlmError::Timeout);
    assert!(e.is_retryable());
    server.abort();
}
