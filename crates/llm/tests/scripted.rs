//! The scripted model: turn selection from the request alone, repeat_last,
//! exhaustion, final-answer calls, strict parsing, deterministic usage.

use std::time::{Duration, Instant};

use bureau_llm::{LlmError, ModelClient, NO_FINAL_ANSWER, ScriptedModel};
use bureau_protocol::{FinishReason, Message, ModelRequest, ToolCall, ToolCallId, ToolSpec, Usage};
use serde_json::json;

const SCRIPT: &str = r#"{
  "turns": [
    {"tool_calls": [
      {"name": "files.write", "arguments": {"path": "a.txt", "content": "hi"}},
      {"name": "time.get_current_time", "id": "my-id"}
    ]},
    {"text": "Thinking.", "tool_calls": [{"name": "files.read", "arguments": {"path": "a.txt"}}],
     "usage": {"input_tokens": 1000, "output_tokens": 20}},
    {"text": "done"}
  ]
}"#;

fn tools() -> Vec<ToolSpec> {
    vec![ToolSpec {
        name: "files.write".into(),
        description: String::new(),
        input_schema: json!({"type": "object"}),
    }]
}

fn request(messages: Vec<Message>) -> ModelRequest {
    ModelRequest {
        model: "x".into(),
        messages,
        tools: tools().into(),
        max_output_tokens: None,
        temperature: None,
    }
}

/// A history with `n` assistant turns after a task.
fn history(n: usize) -> Vec<Message> {
    let mut m = vec![Message::system("sys"), Message::user("task")];
    for i in 0..n {
        m.push(Message::Assistant {
            content: None,
            tool_calls: vec![ToolCall {
                id: ToolCallId::new(format!("c{i}")),
                name: "files.write".into(),
                arguments: json!({}),
            }],
        });
        m.push(Message::Tool {
            tool_call_id: ToolCallId::new(format!("c{i}")),
            name: "files.write".into(),
            content: "ok".into(),
            is_error: false,
        });
    }
    m
}

#[tokio::test]
async fn the_turn_is_the_number_of_assistant_messages() {
    let model = ScriptedModel::from_json(SCRIPT, "demo").unwrap();
    assert_eq!(model.provider(), "scripted");
    assert_eq!(model.model(), "demo");

    let first = model.complete(&request(history(0))).await.unwrap();
    assert_eq!(first.turn.text, None);
    let calls = &first.turn.tool_calls;
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].id.as_str(), calls[0].name.as_str()),
        ("call_0_0", "files.write")
    );
    assert_eq!(
        calls[0].arguments,
        json!({"path": "a.txt", "content": "hi"})
    );
    // Explicit ids are kept; missing arguments are `{}`.
    assert_eq!(
        (calls[1].id.as_str(), calls[1].name.as_str()),
        ("my-id", "time.get_current_time")
    );
    assert_eq!(calls[1].arguments, json!({}));
    assert_eq!(first.finish_reason, FinishReason::ToolCalls);
    assert_eq!(first.model, "demo");
    assert_eq!(first.raw_request, serde_json::Value::Null);

    let second = model.complete(&request(history(1))).await.unwrap();
    assert_eq!(second.turn.text.as_deref(), Some("Thinking."));
    assert_eq!(second.turn.tool_calls[0].id.as_str(), "call_1_0");
    assert_eq!(
        second.usage,
        Usage {
            input_tokens: 1000,
            output_tokens: 20
        }
    );

    let third = model.complete(&request(history(2))).await.unwrap();
    assert_eq!(third.turn.text.as_deref(), Some("done"));
    assert!(third.turn.tool_calls.is_empty());
    assert_eq!(third.finish_reason, FinishReason::Stop);

    // Stateless: asking again for an earlier turn gives the same answer.
    assert_eq!(model.complete(&request(history(0))).await.unwrap(), first);
}

#[tokio::test]
async fn past_the_end_is_an_error_naming_the_fix() {
    let model = ScriptedModel::from_json(SCRIPT, "demo").unwrap();
    let e = model.complete(&request(history(3))).await.unwrap_err();
    assert_eq!(
        e,
        LlmError::Script("the script has only 3 turns; add turns or set repeat_last".into())
    );
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn repeat_last_answers_the_last_turn_with_fresh_ids() {
    let script = r#"{"turns": [{"text": "a"}, {"tool_calls": [{"name": "files.write"}]}], "repeat_last": true}"#;
    let model = ScriptedModel::from_json(script, "loop").unwrap();
    for n in 1..5 {
        let r = model.complete(&request(history(n))).await.unwrap();
        assert_eq!(r.turn.tool_calls.len(), 1);
        assert_eq!(r.turn.tool_calls[0].id.as_str(), format!("call_{n}_0"));
    }
}

#[tokio::test]
async fn a_final_answer_call_never_gets_tool_calls() {
    let no_tools = |n| ModelRequest {
        tools: Default::default(),
        ..request(history(n))
    };

    // `final_answer` wins whatever the turn.
    let model = ScriptedModel::from_json(
        r#"{"turns": [{"tool_calls": [{"name": "files.write"}]}], "final_answer": "All written."}"#,
        "s",
    )
    .unwrap();
    let r = model.complete(&no_tools(0)).await.unwrap();
    assert_eq!(r.turn.text.as_deref(), Some("All written."));
    assert!(r.turn.tool_calls.is_empty());
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(
        model
            .complete(&no_tools(7))
            .await
            .unwrap()
            .turn
            .text
            .as_deref(),
        Some("All written.")
    );

    // Else the next turn's text, when that turn has no tool calls.
    let model = ScriptedModel::from_json(SCRIPT, "s").unwrap();
    let r = model.complete(&no_tools(2)).await.unwrap();
    assert_eq!(r.turn.text.as_deref(), Some("done"));
    assert!(r.turn.tool_calls.is_empty());

    // A next turn with tool calls (even with text), or none at all: the placeholder.
    for n in [0, 1, 3, 10] {
        let r = model.complete(&no_tools(n)).await.unwrap();
        assert_eq!(
            r.turn.text.as_deref(),
            Some(NO_FINAL_ANSWER),
            "after {n} turns"
        );
        assert!(r.turn.tool_calls.is_empty());
    }
}

#[test]
fn unknown_fields_are_errors_naming_the_field() {
    let cases = [
        (r#"{"turns": [], "repeat": true}"#, "repeat"),
        (r#"{"turns": [{"txt": "hi"}]}"#, "txt"),
        (
            r#"{"turns": [{"tool_calls": [{"name": "a.b", "args": {}}]}]}"#,
            "args",
        ),
        (
            r#"{"turns": [{"text": "a", "usage": {"input_tokens": 1, "output_tokens": 1, "cost": 2}}]}"#,
            "cost",
        ),
    ];
    for (script, field) in cases {
        let e = ScriptedModel::from_json(script, "bad.json").unwrap_err();
        let LlmError::Script(message) = &e else {
            panic!("{e:?}")
        };
        assert!(message.contains(&format!("`{field}`")), "{message}");
        assert!(message.contains("bad.json"), "{message}");
    }
}

#[test]
fn malformed_scripts_are_clear_errors() {
    for (script, needle) in [
        ("{", "invalid"),
        (r#"{"repeat_last": true}"#, "`turns`"),
        (r#"{"turns": [{}]}"#, "neither `text` nor `tool_calls`"),
        (
            r#"{"turns": [{"tool_calls": [{"name": " "}]}]}"#,
            "empty `name`",
        ),
        (
            r#"{"turns": [{"text": "a", "usage": {"input_tokens": 1}}]}"#,
            "output_tokens",
        ),
    ] {
        let e = ScriptedModel::from_json(script, "s").unwrap_err();
        assert!(
            matches!(&e, LlmError::Script(m) if m.contains(needle)),
            "{script}: {e}"
        );
    }
}

#[tokio::test]
async fn usage_is_estimated_deterministically_from_characters() {
    let model = ScriptedModel::from_json(SCRIPT, "s").unwrap();
    // Contents: "sys" + "task" = 7 chars; "éé" counts 2 chars, not 4 bytes.
    let mut messages = history(2);
    messages.push(Message::user("éé"));
    let input_chars = 3 + 4 + 2 * 2 /* "ok" twice */ + 2;
    let r = model.complete(&request(messages.clone())).await.unwrap();
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: (input_chars as u64).div_ceil(4),
            output_tokens: 1 /* "done" */
        }
    );
    assert_eq!(
        model.complete(&request(messages)).await.unwrap().usage,
        r.usage
    );

    // Tool calls count as their serialized JSON.
    let r = model.complete(&request(history(0))).await.unwrap();
    let serialized = serde_json::to_string(&r.turn.tool_calls).unwrap();
    assert_eq!(
        r.usage.output_tokens,
        (serialized.chars().count() as u64).div_ceil(4)
    );
    assert_eq!(r.usage.input_tokens, 2 /* ceil(7 / 4) */);
}

#[tokio::test]
async fn from_path_reads_the_script_once_and_names_the_model_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.json");
    std::fs::write(&path, SCRIPT).unwrap();
    let model = ScriptedModel::from_path(&path).unwrap();
    assert_eq!(model.model(), path.display().to_string());
    assert_eq!(model.turn_count(), 3);
    // No file I/O per call: the script can go away.
    std::fs::remove_file(&path).unwrap();
    assert!(model.complete(&request(history(2))).await.is_ok());

    let e = ScriptedModel::from_path(&dir.path().join("missing.json")).unwrap_err();
    assert!(
        matches!(&e, LlmError::Script(m) if m.contains("missing.json") && m.contains("check the path")),
        "{e}"
    );
}

#[tokio::test]
async fn latency_delays_the_answer_without_changing_it() {
    let plain = ScriptedModel::from_json(SCRIPT, "s").unwrap();
    let slow = plain.clone().with_latency(Duration::from_millis(5));
    let req = request(history(1));
    assert_eq!(
        slow.complete(&req).await.unwrap(),
        plain.complete(&req).await.unwrap()
    );
}

/// Not a check: prints the cost of one answer for `docs/benchmarks.md`.
/// Run with `cargo test -p bureau-llm --release --test scripted -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn measure_answer_cost() {
    let model = ScriptedModel::from_json(SCRIPT, "s").unwrap();
    // Turn 0 answers two tool calls, turn 2 a text; filler grows the history.
    for (turn, filler) in [(0usize, 0usize), (0, 40), (2, 0), (2, 40)] {
        let mut messages = history(turn);
        for i in 0..filler {
            messages.push(Message::user(format!(
                "filler message number {i}: {}",
                "lorem ipsum ".repeat(20)
            )));
        }
        let req = request(messages);
        let n = 200_000u32;
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(model.answer(std::hint::black_box(&req)).unwrap());
        }
        let answer = start.elapsed() / n;
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(bureau_llm::ToolNameMap::for_request(std::hint::black_box(
                &req,
            )));
        }
        let names = start.elapsed() / n;
        println!(
            "turn {turn}, {} messages: scripted answer {answer:?}; tool name map {names:?}",
            req.messages.len()
        );
    }
}
