//! Rebuilding a run's state from its journal, for resuming it.
//!
//! The journal is plain data: replaying it executes nothing. Model answers
//! become assistant messages again, finished tool calls their results; a
//! call journaled as started but never finished was in flight when the
//! process stopped, and is reported to the model as interrupted — never
//! silently repeated, since it may have taken effect.

use bureau_protocol::{JournalEntry, Message, StepRecord, ToolCall, Usage, arguments_hash};

use crate::run::truncate_for_model;

/// What the model is told about a call that was in flight at a crash.
pub(crate) const INTERRUPTED: &str = "interrupted: the process stopped while this call was in flight, so it may or may not have taken effect; check its effect before repeating it";

/// What the model is told about a held call the run went on without.
pub(crate) const NEVER_APPROVED: &str =
    "not run: the call was held for a human's approval and the run went on without it";

/// A run's state, as its journal tells it.
pub(crate) struct Replay {
    /// Assistant and tool messages after the system prompt and the task.
    pub(crate) messages: Vec<Message>,
    pub(crate) turns: u32,
    pub(crate) usages: Vec<Usage>,
    /// Every tool call made so far, for loop detection.
    pub(crate) call_hashes: Vec<String>,
    /// Calls started but never finished, in the model's order; `messages`
    /// already tells the model they were interrupted.
    pub(crate) interrupted: Vec<ToolCall>,
    /// Calls of the last turn held for a human's approval, with the
    /// approval id, not yet answered: presented again on resume.
    pub(crate) held: Vec<(ToolCall, String)>,
    /// The seq the next record takes.
    pub(crate) next_seq: u64,
    /// The last model answer asked for no tools: the run had finished, only
    /// its final status was not recorded.
    pub(crate) final_text: Option<Option<String>>,
}

pub(crate) fn replay(steps: &[StepRecord], max_result_chars: usize) -> Replay {
    let mut r = Replay {
        messages: Vec::new(),
        turns: 0,
        usages: Vec::new(),
        call_hashes: Vec::new(),
        interrupted: Vec::new(),
        held: Vec::new(),
        next_seq: steps.iter().map(|s| s.seq + 1).max().unwrap_or(0),
        final_text: None,
    };
    // Calls of the latest turn that have not finished yet.
    let mut open: Vec<ToolCall> = Vec::new();
    // Closes open calls: the model sees them as interrupted, in place.
    let close = |open: &mut Vec<ToolCall>, r: &mut Replay| {
        for call in open.drain(..) {
            r.messages.push(Message::Tool {
                tool_call_id: call.id.clone(),
                name: call.name.clone(),
                content: INTERRUPTED.to_owned(),
                is_error: true,
            });
            r.interrupted.push(call);
        }
    };
    for step in steps {
        match &step.entry {
            JournalEntry::ModelCall { turn, response } => {
                // A new model answer closes the previous turn: anything still
                // open there was cut off (the journal says so by absence).
                close(&mut open, &mut r);
                // Held calls the run went on without (not expected: a held
                // call pauses the run) never ran.
                for (call, _) in r.held.drain(..) {
                    r.messages.push(Message::Tool {
                        tool_call_id: call.id.clone(),
                        name: call.name.clone(),
                        content: NEVER_APPROVED.to_owned(),
                        is_error: true,
                    });
                }
                r.turns = r.turns.max(*turn);
                r.usages.push(response.usage);
                r.messages.push(Message::assistant(&response.turn));
                r.final_text = response
                    .turn
                    .tool_calls
                    .is_empty()
                    .then(|| response.turn.text.clone());
            }
            JournalEntry::ToolCallStarted { call, .. } => {
                r.call_hashes
                    .push(arguments_hash(&call.name, &call.arguments));
                open.push(call.clone());
            }
            JournalEntry::ToolCallFinished {
                id, name, result, ..
            } => {
                let call = open
                    .iter()
                    .position(|c| &c.id == id)
                    .map(|i| open.remove(i))
                    .or_else(|| {
                        r.held
                            .iter()
                            .position(|(c, _)| &c.id == id)
                            .map(|i| r.held.remove(i).0)
                    });
                if let Some(approval) = crate::run::held_for_approval(result) {
                    if let Some(call) = call {
                        r.held.push((call, approval));
                    }
                    continue;
                }
                r.messages.push(Message::Tool {
                    tool_call_id: id.clone(),
                    name: name.clone(),
                    content: truncate_for_model(result.to_model_text(), max_result_chars),
                    is_error: result.is_error,
                });
            }
        }
    }
    close(&mut open, &mut r);
    r
}

#[cfg(test)]
mod tests {
    use bureau_protocol::{
        AssistantTurn, FinishReason, ModelResponse, RunId, ToolCallId, ToolOutcome, ToolResult,
    };
    use serde_json::json;

    use super::*;

    fn step(seq: u64, entry: JournalEntry) -> StepRecord {
        StepRecord {
            run_id: RunId::new(),
            seq,
            at_ms: 0,
            entry,
        }
    }

    fn model(turn: u32, calls: Vec<ToolCall>, text: Option<&str>) -> JournalEntry {
        JournalEntry::ModelCall {
            turn,
            response: ModelResponse {
                turn: AssistantTurn {
                    text: text.map(str::to_owned),
                    tool_calls: calls,
                },
                finish_reason: FinishReason::ToolCalls,
                usage: Usage {
                    input_tokens: 10,
                    output_tokens: 2,
                },
                model: "m".into(),
                raw_request: serde_json::Value::Null,
                raw_response: serde_json::Value::Null,
            },
        }
    }

    fn call(id: &str) -> ToolCall {
        ToolCall {
            id: ToolCallId::new(id),
            name: "files.write".into(),
            arguments: json!({"path": id}),
        }
    }

    fn finished(id: &str) -> JournalEntry {
        JournalEntry::ToolCallFinished {
            turn: 1,
            id: ToolCallId::new(id),
            name: "files.write".into(),
            outcome: ToolOutcome::Ok,
            result: ToolResult::text("ok"),
            duration_ms: 1,
        }
    }

    #[test]
    fn finished_steps_are_replayed_and_in_flight_calls_are_interrupted() {
        let steps = vec![
            step(0, model(1, vec![call("a")], None)),
            step(
                1,
                JournalEntry::ToolCallStarted {
                    turn: 1,
                    call: call("a"),
                },
            ),
            step(2, finished("a")),
            step(3, model(2, vec![call("b"), call("c")], None)),
            step(
                4,
                JournalEntry::ToolCallStarted {
                    turn: 2,
                    call: call("b"),
                },
            ),
            step(
                5,
                JournalEntry::ToolCallStarted {
                    turn: 2,
                    call: call("c"),
                },
            ),
            step(6, finished("c")),
        ];
        let r = replay(&steps, 100);
        assert_eq!(r.turns, 2);
        assert_eq!(r.next_seq, 7);
        assert_eq!(r.usages.len(), 2);
        assert_eq!(r.call_hashes.len(), 3);
        assert_eq!(
            r.interrupted
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>(),
            vec!["b"]
        );
        assert_eq!(
            r.messages.len(),
            5,
            "two assistant turns, two results, one interruption"
        );
        assert!(
            matches!(&r.messages[4], Message::Tool { content, is_error: true, .. } if content == INTERRUPTED)
        );
        assert!(r.final_text.is_none());
    }

    #[test]
    fn a_last_answer_without_tool_calls_means_the_run_had_finished() {
        let steps = vec![step(0, model(1, vec![], Some("the answer")))];
        let r = replay(&steps, 100);
        assert_eq!(r.final_text, Some(Some("the answer".into())));
        assert!(r.interrupted.is_empty());
    }
}
