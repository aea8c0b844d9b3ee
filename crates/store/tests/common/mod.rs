//! Fixtures shared by the store's integration tests.
#![allow(dead_code, reason = "each test binary uses a subset of the fixtures")]

use bureau_protocol::{
    AssistantTurn, Content, FinishReason, JournalEntry, ModelResponse, RunId, RunRecord, RunStatus,
    RunSummary, StepRecord, ToolCall, ToolCallId, ToolOutcome, ToolResult, Usage,
};
use serde_json::json;

pub fn run_record(created_at_ms: i64) -> RunRecord {
    RunRecord {
        run_id: RunId::new(),
        agent: "analyst".into(),
        model: "scripted:demo.json".into(),
        task: "count the rows in orders".into(),
        created_at_ms,
    }
}

pub fn summary(run: &RunRecord, status: RunStatus) -> RunSummary {
    RunSummary {
        run_id: run.run_id,
        status,
        reason: "the model gave a final answer".into(),
        turns: 3,
        usage: Usage {
            input_tokens: 1200,
            output_tokens: 345,
        },
        cost_usd: 0.0123,
        answer: Some("42 rows".into()),
        agent: run.agent.clone(),
        model: run.model.clone(),
        scripted: true,
    }
}

/// A deterministic entry for `seq`, cycling through every kind (and every
/// tool outcome and content type), as an agent step would journal them.
pub fn entry(seq: u64) -> JournalEntry {
    let turn = u32::try_from(seq / 3).unwrap_or(u32::MAX);
    let id = ToolCallId::new(format!("call_{seq}"));
    match seq % 3 {
        0 => JournalEntry::ModelCall {
            turn,
            response: ModelResponse {
                turn: AssistantTurn {
                    text: Some(format!("turn {turn}: let me look")),
                    tool_calls: vec![ToolCall {
                        id,
                        name: "sql.query".into(),
                        arguments: json!({"sql": "select count(*) from orders", "limit": seq}),
                    }],
                },
                finish_reason: if seq.is_multiple_of(2) {
                    FinishReason::ToolCalls
                } else {
                    FinishReason::Other("pause_turn".into())
                },
                usage: Usage {
                    input_tokens: 100 + seq,
                    output_tokens: 20,
                },
                model: "gpt-4o-2024-08-06".into(),
                raw_request: json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
                raw_response: json!({"id": format!("chatcmpl-{seq}"), "choices": []}),
            },
        },
        1 => JournalEntry::ToolCallStarted {
            turn,
            call: ToolCall {
                id,
                name: "sql.query".into(),
                arguments: json!({"sql": "select count(*) from orders"}),
            },
        },
        _ => {
            let outcomes = [
                ToolOutcome::Ok,
                ToolOutcome::ToolError,
                ToolOutcome::Failed,
                ToolOutcome::CircuitOpen,
                ToolOutcome::ApprovalRequired,
            ];
            let outcome = outcomes[(seq / 3 % 5) as usize];
            JournalEntry::ToolCallFinished {
                turn,
                id,
                name: "sql.query".into(),
                outcome,
                result: ToolResult {
                    content: vec![
                        Content::Text {
                            text: "count\n42".into(),
                        },
                        Content::Image {
                            data: "aGk=".into(),
                            mime_type: "image/png".into(),
                        },
                        Content::Audio {
                            data: "aGk=".into(),
                            mime_type: "audio/wav".into(),
                        },
                        Content::Resource {
                            resource: json!({"uri": "file:///tmp/x", "text": "x"}),
                        },
                    ],
                    structured: Some(json!({"rows": [[42]]})),
                    is_error: outcome != ToolOutcome::Ok,
                },
                duration_ms: 7,
            }
        }
    }
}

pub fn step(run_id: RunId, seq: u64) -> StepRecord {
    StepRecord {
        run_id,
        seq,
        at_ms: i64::try_from(seq).map_or(i64::MAX, |s| 1_700_000_000_000 + s),
        entry: entry(seq),
    }
}

pub fn steps(run_id: RunId, seqs: std::ops::Range<u64>) -> Vec<StepRecord> {
    seqs.map(|seq| step(run_id, seq)).collect()
}

/// Waits (up to 10 s) until exactly `n` threads of this process have a
/// name starting with `prefix`, and returns how many there are then. A new
/// thread names itself once it runs, and an exited one leaves /proc a
/// moment after it was joined.
pub fn settled_threads_named(prefix: &str, n: usize) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let count = threads_named(prefix);
        if count == n || std::time::Instant::now() > deadline {
            return count;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Threads of this process whose name starts with `prefix` (names are cut
/// to 15 bytes).
pub fn threads_named(prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}
