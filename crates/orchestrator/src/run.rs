//! One run of the agent loop, as an explicit state machine:
//! `CallModel → RunTools → CallModel → … → Finish`, with `Exhausted`
//! taking over when a guardrail trips.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bureau_config::{AgentConfig, OnExhausted, Price};
use bureau_llm::ModelClient;
use bureau_protocol::{
    JournalEntry, Message, ModelRequest, RunEvent, RunId, RunRecord, RunStatus, RunSummary,
    StepRecord, ToolCall, ToolOutcome, ToolResult, ToolSpec, Usage, arguments_hash, meta,
};
use bureau_store::Journal;
use futures::StreamExt;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::guard::{Admission, CircuitBreakers, LoopDetector, backoff_delay};
use crate::host::{ToolCallError, ToolHost};
use crate::{EventSink, OrchestratorError};

/// What to run.
#[derive(Clone, Debug)]
pub struct RunRequest {
    pub run_id: RunId,
    pub agent_name: String,
    pub agent: AgentConfig,
    /// `provider:model` as shown to users, e.g. `scripted:demo.json`.
    pub model_label: String,
    pub price: Option<Price>,
    pub task: String,
}

/// The next state of the loop.
enum Next {
    CallModel,
    RunTools(Vec<ToolCall>),
    /// Calls held for approval, with their approval ids, to present again.
    Held(Vec<(ToolCall, String)>),
    Exhausted {
        status: RunStatus,
        reason: String,
    },
    Finish {
        status: RunStatus,
        reason: String,
        answer: Option<String>,
    },
}

pub(crate) struct RunLoop<'a> {
    model: &'a dyn ModelClient,
    host: &'a dyn ToolHost,
    journal: &'a dyn Journal,
    events: &'a dyn EventSink,
    cancel: CancellationToken,
    req: RunRequest,
    conversation: ModelRequest,
    deadline: Option<Instant>,
    turns: u32,
    usage: Usage,
    cost_usd: f64,
    seq: u64,
    loops: LoopDetector,
    breakers: Mutex<CircuitBreakers>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Tools whose qualified name matches one of the agent's patterns.
pub(crate) fn select_tools(all: &[ToolSpec], patterns: &[String]) -> Vec<ToolSpec> {
    all.iter()
        .filter(|t| {
            patterns
                .iter()
                .any(|p| bureau_config::tool_pattern_matches(p, &t.name))
        })
        .cloned()
        .collect()
}

/// Cuts `text` to at most `limit` characters, saying so.
pub(crate) fn truncate_for_model(text: String, limit: usize) -> String {
    let total = text.chars().count();
    if total <= limit {
        return text;
    }
    let cut: String = text.chars().take(limit).collect();
    format!(
        "{cut}\n[truncated: {limit} of {total} characters shown; the whole result is kept in the run's journal]"
    )
}

impl<'a> RunLoop<'a> {
    pub(crate) fn new(
        tools: Arc<[ToolSpec]>,
        model: &'a dyn ModelClient,
        host: &'a dyn ToolHost,
        journal: &'a dyn Journal,
        events: &'a dyn EventSink,
        cancel: CancellationToken,
        req: RunRequest,
    ) -> Self {
        let conversation = ModelRequest {
            model: model.model().to_owned(),
            messages: vec![
                Message::system(req.agent.system_prompt.clone()),
                Message::user(req.task.clone()),
            ],
            tools,
            max_output_tokens: None,
            temperature: None,
        };
        let breakers = CircuitBreakers::new(
            req.agent.circuit_breaker.failure_threshold,
            req.agent.circuit_breaker.cooldown,
        );
        let deadline = req.agent.deadline.map(|d| Instant::now() + d);
        Self {
            model,
            host,
            journal,
            events,
            cancel,
            req,
            conversation,
            deadline,
            turns: 0,
            usage: Usage::default(),
            cost_usd: 0.0,
            seq: 0,
            loops: LoopDetector::default(),
            breakers: Mutex::new(breakers),
        }
    }

    /// The run under its `invoke_agent` span, in the run's own trace.
    pub(crate) async fn run(self) -> Result<RunSummary, OrchestratorError> {
        let span = crate::spans::invoke_agent(&self.req);
        crate::spans::agent_done(&span, self.start().instrument(span.clone()).await)
    }

    /// [`Self::continue_from`] under its `invoke_agent` span: a resumed run
    /// continues its trace.
    pub(crate) async fn resume(
        self,
        steps: Vec<StepRecord>,
    ) -> Result<RunSummary, OrchestratorError> {
        let span = crate::spans::invoke_agent(&self.req);
        let summary = self.continue_from(steps).instrument(span.clone()).await;
        crate::spans::agent_done(&span, summary)
    }

    async fn start(self) -> Result<RunSummary, OrchestratorError> {
        let record = RunRecord {
            run_id: self.req.run_id,
            agent: self.req.agent_name.clone(),
            model: self.req.model_label.clone(),
            task: self.req.task.clone(),
            created_at_ms: now_ms(),
        };
        self.journal.create_run(&record).await?;
        self.drive(Next::CallModel).await
    }

    /// Continues a run from its journal: finished steps are replayed, never
    /// re-executed; calls that were in flight are closed as interrupted.
    async fn continue_from(
        mut self,
        steps: Vec<StepRecord>,
    ) -> Result<RunSummary, OrchestratorError> {
        let replay = crate::resume::replay(&steps, self.req.agent.max_tool_result_chars);
        self.conversation.messages.extend(replay.messages);
        self.turns = replay.turns;
        for usage in replay.usages {
            self.add_usage(usage);
        }
        for hash in &replay.call_hashes {
            self.loops.record(hash);
        }
        self.seq = replay.next_seq;
        let turn = self.turns;
        let mut records = Vec::new();
        for call in replay.interrupted {
            let result = ToolResult::error(crate::resume::INTERRUPTED);
            let rec = self.record(JournalEntry::ToolCallFinished {
                turn,
                id: call.id,
                name: call.name,
                outcome: ToolOutcome::Failed,
                result,
                duration_ms: 0,
            });
            records.push(rec);
        }
        if !records.is_empty() {
            self.journal.append(records).await?;
        }
        let next = match replay.final_text {
            Some(answer) => Next::Finish {
                status: RunStatus::Completed,
                reason: "the model gave a final answer".into(),
                answer,
            },
            None if !replay.held.is_empty() => Next::Held(replay.held),
            None => Next::CallModel,
        };
        self.drive(next).await
    }

    async fn drive(mut self, mut next: Next) -> Result<RunSummary, OrchestratorError> {
        self.emit(|| RunEvent::RunStarted {
            run_id: self.req.run_id,
            agent: self.req.agent_name.clone(),
            model: self.req.model_label.clone(),
            task: self.req.task.clone(),
        });
        let (status, reason, answer) = loop {
            next = match next {
                Next::CallModel => self.call_model().await?,
                Next::RunTools(calls) => self.run_tools(calls).await?,
                Next::Held(held) => self.run_held(held).await?,
                Next::Exhausted { status, reason } => self.exhausted(status, reason).await?,
                Next::Finish {
                    status,
                    reason,
                    answer,
                } => break (status, reason, answer),
            };
        };
        let summary = RunSummary {
            run_id: self.req.run_id,
            status,
            reason: reason.clone(),
            turns: self.turns,
            usage: self.usage,
            cost_usd: self.cost_usd,
            answer: answer.clone(),
            agent: self.req.agent_name.clone(),
            model: self.req.model_label.clone(),
            scripted: self.model.provider() == "scripted",
        };
        self.journal.update_run(&summary).await?;
        self.emit(|| RunEvent::RunFinished {
            run_id: self.req.run_id,
            status,
            reason,
            answer,
        });
        Ok(summary)
    }

    /// Builds and sends an event only when someone listens.
    fn emit(&self, event: impl FnOnce() -> RunEvent) {
        if self.events.enabled() {
            self.events.emit(event());
        }
    }

    fn record(&mut self, entry: JournalEntry) -> StepRecord {
        let rec = StepRecord {
            run_id: self.req.run_id,
            seq: self.seq,
            at_ms: now_ms(),
            entry,
        };
        self.seq += 1;
        rec
    }

    /// The guardrail that stops the next model call, if any.
    fn tripped(&self) -> Option<(RunStatus, String)> {
        let agent = &self.req.agent;
        if self.turns >= agent.max_turns {
            return Some((
                RunStatus::MaxTurns,
                format!(
                    "the run used all {} turns (max_turns) before the model finished",
                    agent.max_turns
                ),
            ));
        }
        if let Some(budget) = agent.token_budget.filter(|b| self.usage.total() >= *b) {
            return Some((
                RunStatus::TokenBudget,
                format!(
                    "the run used {} of its {budget} token budget",
                    self.usage.total()
                ),
            ));
        }
        if let Some(budget) = agent.cost_budget_usd.filter(|b| self.cost_usd >= *b) {
            return Some((
                RunStatus::CostBudget,
                format!(
                    "the run cost ${:.4} of its ${budget:.4} budget",
                    self.cost_usd
                ),
            ));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some((RunStatus::Deadline, self.deadline_reason()));
        }
        None
    }

    fn deadline_reason(&self) -> String {
        let secs = self
            .req
            .agent
            .deadline
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        format!("the run passed its {secs:.1}s deadline")
    }

    /// Awaits `fut` unless the run is cancelled or its deadline passes first.
    async fn guarded<T>(&self, fut: impl Future<Output = T>) -> Result<T, Next> {
        let deadline = async {
            match self.deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            out = fut => Ok(out),
            () = self.cancel.cancelled() => Err(Next::Finish {
                status: RunStatus::Cancelled,
                reason: "the run was cancelled".into(),
                answer: None,
            }),
            () = deadline => Err(Next::Exhausted { status: RunStatus::Deadline, reason: self.deadline_reason() }),
        }
    }

    fn add_usage(&mut self, usage: Usage) {
        self.usage.add(usage);
        if let Some(p) = &self.req.price {
            self.cost_usd += usage.input_tokens as f64 / 1e6 * p.input_per_mtok
                + usage.output_tokens as f64 / 1e6 * p.output_per_mtok;
        }
    }

    async fn call_model(&mut self) -> Result<Next, OrchestratorError> {
        if self.cancel.is_cancelled() {
            return Ok(Next::Finish {
                status: RunStatus::Cancelled,
                reason: "the run was cancelled".into(),
                answer: None,
            });
        }
        if let Some((status, reason)) = self.tripped() {
            return Ok(Next::Exhausted { status, reason });
        }
        let span = crate::spans::chat(self.model.provider(), self.model.model());
        let call = self
            .model
            .complete(&self.conversation)
            .instrument(span.clone());
        let response = match self.guarded(call).await {
            Ok(Ok(r)) => {
                crate::spans::chat_answered(&span, &r);
                r
            }
            Ok(Err(e)) => {
                crate::spans::failed(&span, &e.to_string());
                return Ok(Next::Finish {
                    status: RunStatus::Failed,
                    reason: format!("the model call failed: {e}"),
                    answer: None,
                });
            }
            Err(next) => return Ok(next),
        };
        self.turns += 1;
        let turn = self.turns;
        self.add_usage(response.usage);
        let assistant = response.turn.clone();
        self.emit(|| RunEvent::ModelCalled {
            turn,
            usage: response.usage,
            text: assistant.text.clone(),
            tool_calls: assistant.tool_calls.clone(),
            final_answer_call: false,
        });

        // Loop detection happens before any call is journaled as started:
        // the repeated call never leaves.
        let mut looped = None;
        for call in &assistant.tool_calls {
            let n = self
                .loops
                .record(&arguments_hash(&call.name, &call.arguments));
            if n >= self.req.agent.loop_limit && looped.is_none() {
                looped = Some((call.name.clone(), n));
            }
        }
        let mut records = vec![self.record(JournalEntry::ModelCall { turn, response })];
        if let Some((name, n)) = looped {
            self.journal.append(records).await?;
            return Ok(Next::Finish {
                status: RunStatus::LoopDetected,
                reason: format!(
                    "the model asked for the same `{name}` call {n} times (loop_limit)"
                ),
                answer: assistant.text,
            });
        }
        for call in &assistant.tool_calls {
            let rec = self.record(JournalEntry::ToolCallStarted {
                turn,
                call: call.clone(),
            });
            records.push(rec);
        }
        // The plan and every call's intent are durable before any call leaves.
        self.journal.append(records).await?;
        self.conversation
            .messages
            .push(Message::assistant(&assistant));
        if assistant.tool_calls.is_empty() {
            return Ok(Next::Finish {
                status: RunStatus::Completed,
                reason: "the model gave a final answer".into(),
                answer: assistant.text,
            });
        }
        Ok(Next::RunTools(assistant.tool_calls))
    }

    async fn run_tools(&mut self, calls: Vec<ToolCall>) -> Result<Next, OrchestratorError> {
        let turn = self.turns;
        // Idempotency keys follow the journal: the started records took the
        // seqs just before this one, in call order.
        let first_seq = self.seq - calls.len() as u64;
        let concurrency = self.req.agent.tool_concurrency.max(1);
        let this = &*self;
        // The futures are built eagerly (they are lazy until polled) so the
        // stream holds no closure: that keeps the run future `Send` for
        // `tokio::spawn` callers.
        let pending: Vec<_> = calls
            .iter()
            .enumerate()
            .map(|(i, call)| this.execute(call, first_seq + i as u64, None))
            .collect();
        let results = this.guarded(
            futures::stream::iter(pending)
                .buffered(concurrency)
                .collect::<Vec<_>>(),
        );
        let results = match results.await {
            Ok(r) => r,
            Err(next) => {
                // Calls cut off by cancellation or the deadline are recorded as
                // failed so the journal never holds a started call without an end.
                let mut records = Vec::with_capacity(calls.len());
                for call in &calls {
                    let rec = self.record(JournalEntry::ToolCallFinished {
                        turn,
                        id: call.id.clone(),
                        name: call.name.clone(),
                        outcome: ToolOutcome::Failed,
                        result: ToolResult::error(
                            "the call was cut off: the run was cancelled or hit its deadline",
                        ),
                        duration_ms: 0,
                    });
                    records.push(rec);
                }
                self.journal.append(records).await?;
                return Ok(next);
            }
        };
        let mut records = Vec::with_capacity(results.len());
        let mut held = Vec::new();
        for (call, done) in calls.into_iter().zip(results) {
            let (rec, on_hold) = self.observe(turn, call, done);
            records.push(rec);
            held.extend(on_hold);
        }
        self.journal.append(records).await?;
        Ok(paused_or(held, Next::CallModel))
    }

    /// One finished call: its event, its message to the model (not for a
    /// call held for approval: the model sees its real result once a human
    /// decides) and its journal record. Returns how a held call is named in
    /// the pause reason.
    fn observe(&mut self, turn: u32, call: ToolCall, done: Done) -> (StepRecord, Option<String>) {
        let held =
            held_for_approval(&done.result).map(|id| format!("`{}` (approval {id})", call.name));
        if held.is_none() {
            let limit = self.req.agent.max_tool_result_chars;
            let preview = truncate_for_model(done.result.to_model_text(), limit);
            self.emit(|| RunEvent::ToolFinished {
                id: call.id.clone(),
                name: call.name.clone(),
                outcome: done.outcome,
                preview: preview.clone(),
                duration_ms: done.duration_ms,
            });
            self.conversation.messages.push(Message::Tool {
                tool_call_id: call.id.clone(),
                name: call.name.clone(),
                content: preview,
                is_error: done.result.is_error,
            });
        }
        let rec = self.record(JournalEntry::ToolCallFinished {
            turn,
            id: call.id,
            name: call.name,
            outcome: done.outcome,
            result: done.result,
            duration_ms: done.duration_ms,
        });
        (rec, held)
    }

    /// Presents held calls again with their approval ids, on resume: a call
    /// a human approved runs now; one still pending keeps the run paused;
    /// a denial or expiry reaches the model as the call's error.
    async fn run_held(&mut self, held: Vec<(ToolCall, String)>) -> Result<Next, OrchestratorError> {
        let turn = self.turns;
        let mut records = Vec::with_capacity(held.len());
        let mut still = Vec::new();
        for (call, approval) in held {
            let seq = self.seq;
            let done = self.execute(&call, seq, Some(&approval)).await;
            let (rec, on_hold) = self.observe(turn, call, done);
            records.push(rec);
            still.extend(on_hold);
        }
        self.journal.append(records).await?;
        Ok(paused_or(still, Next::CallModel))
    }

    /// One call: offered? circuit closed? then the call, with retries for
    /// failures that are safe to retry.
    fn execute<'b>(
        &'b self,
        call: &'b ToolCall,
        seq: u64,
        approval: Option<&'b str>,
    ) -> impl Future<Output = Done> + Send + 'b {
        let span = crate::spans::execute_tool(call);
        let traced = span.clone();
        async move {
            let done = self.execute_traced(call, seq, approval).await;
            crate::spans::tool_done(&traced, done.outcome);
            done
        }
        .instrument(span)
    }

    async fn execute_traced(&self, call: &ToolCall, seq: u64, approval: Option<&str>) -> Done {
        let started = Instant::now();
        let done = |outcome, result| Done {
            outcome,
            result,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        let offered = &self.conversation.tools;
        if !offered.iter().any(|t| t.name == call.name) {
            let mut names: Vec<&str> = offered.iter().map(|t| t.name.as_str()).collect();
            names.sort_unstable();
            return done(
                ToolOutcome::Failed,
                ToolResult::error(format!(
                    "tool `{}` is not available to this agent; use one of: {}",
                    call.name,
                    names.join(", ")
                )),
            );
        }
        if let Admission::Open { retry_in } = self.breaker(|b| b.admit(&call.name, Instant::now()))
        {
            return done(
                ToolOutcome::CircuitOpen,
                ToolResult::error(format!(
                    "tool `{}` is unavailable after repeated failures; it may be tried again in {}s — use another tool or answer without it",
                    call.name,
                    retry_in.as_secs().max(1)
                )),
            );
        }
        let mut meta = Map::new();
        meta.insert(
            meta::RUN_ID.into(),
            Value::String(self.req.run_id.to_string()),
        );
        meta.insert(
            meta::AGENT.into(),
            Value::String(self.req.agent_name.clone()),
        );
        meta.insert(
            meta::IDEMPOTENCY_KEY.into(),
            Value::String(format!("{}:{seq}", self.req.run_id)),
        );
        if let Some(id) = approval {
            meta.insert(meta::APPROVAL_ID.into(), Value::String(id.to_owned()));
        }
        let untrusted = crate::provenance::untrusted_args(call, &self.conversation.messages);
        if !untrusted.is_empty() {
            meta.insert(
                meta::UNTRUSTED_ARGS.into(),
                Value::Array(untrusted.into_iter().map(Value::String).collect()),
            );
        }
        let policy = &self.req.agent.tool_retry;
        let mut attempt = 1;
        loop {
            match self.host.call(call, &meta).await {
                Ok(result) if upstream_failed(&result) => {
                    // The gateway could not reach the tool's server: a
                    // failure for the breaker, like a transport error.
                    self.breaker(|b| b.failure(&call.name, Instant::now()));
                    return done(ToolOutcome::Failed, result);
                }
                Ok(result) => {
                    self.breaker(|b| b.success(&call.name));
                    let outcome = if held_for_approval(&result).is_some() {
                        ToolOutcome::ApprovalRequired
                    } else if result.is_error {
                        ToolOutcome::ToolError
                    } else {
                        ToolOutcome::Ok
                    };
                    return done(outcome, result);
                }
                Err(ToolCallError::Retryable(e)) if attempt < policy.max_attempts => {
                    let delay = backoff_delay(
                        attempt,
                        policy.base_delay,
                        policy.max_delay,
                        rand::random::<f64>(),
                    );
                    self.emit(|| RunEvent::ToolRetrying {
                        id: call.id.clone(),
                        name: call.name.clone(),
                        attempt,
                        delay_ms: delay.as_millis() as u64,
                        error: e,
                    });
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => {
                    self.breaker(|b| b.failure(&call.name, Instant::now()));
                    let tries = if attempt > 1 {
                        format!(" after {attempt} attempts")
                    } else {
                        String::new()
                    };
                    return done(
                        ToolOutcome::Failed,
                        ToolResult::error(format!("tool `{}` failed{tries}: {e}", call.name)),
                    );
                }
            }
        }
    }

    fn breaker<T>(&self, f: impl FnOnce(&mut CircuitBreakers) -> T) -> T {
        let mut guard = self
            .breakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// A guardrail tripped: pause for a human, or ask once for a final answer.
    async fn exhausted(
        &mut self,
        status: RunStatus,
        reason: String,
    ) -> Result<Next, OrchestratorError> {
        match self.req.agent.on_exhausted {
            OnExhausted::Pause => Ok(Next::Finish {
                status: RunStatus::AwaitingApproval,
                reason: format!("{reason}; the run is paused until a human grants more budget"),
                answer: None,
            }),
            OnExhausted::FinalAnswer if status == RunStatus::Deadline => Ok(Next::Finish {
                status,
                reason: format!("{reason}; no time was left for a final answer"),
                answer: None,
            }),
            OnExhausted::FinalAnswer => {
                let mut request = self.conversation.clone();
                request.tools = Arc::default();
                request.messages.push(Message::user(format!(
                    "This run has reached a limit ({reason}). Do not call any tools. Give your final answer now, from what you already know, and say what is left undone."
                )));
                let response = match self.guarded(self.model.complete(&request)).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => {
                        return Ok(Next::Finish {
                            status,
                            reason: format!("{reason}; the final-answer call failed: {e}"),
                            answer: None,
                        });
                    }
                    Err(Next::Finish {
                        status: RunStatus::Cancelled,
                        reason,
                        answer,
                    }) => {
                        return Ok(Next::Finish {
                            status: RunStatus::Cancelled,
                            reason,
                            answer,
                        });
                    }
                    Err(_) => {
                        return Ok(Next::Finish {
                            status,
                            reason: format!("{reason}; the final-answer call ran out of time"),
                            answer: None,
                        });
                    }
                };
                self.turns += 1;
                let turn = self.turns;
                self.add_usage(response.usage);
                let text = response.turn.text.clone();
                self.emit(|| RunEvent::ModelCalled {
                    turn,
                    usage: response.usage,
                    text: text.clone(),
                    tool_calls: Vec::new(),
                    final_answer_call: true,
                });
                let rec = self.record(JournalEntry::ModelCall { turn, response });
                self.journal.append(vec![rec]).await?;
                Ok(Next::Finish {
                    status,
                    reason,
                    answer: text,
                })
            }
        }
    }
}

/// The approval id of a result the gateway held for a human.
pub(crate) fn held_for_approval(result: &ToolResult) -> Option<String> {
    result
        .structured
        .as_ref()?
        .get(meta::APPROVAL_REQUIRED)?
        .get("id")?
        .as_str()
        .map(str::to_owned)
}

fn upstream_failed(result: &ToolResult) -> bool {
    result
        .structured
        .as_ref()
        .and_then(|s| s.get(meta::UPSTREAM_FAILURE))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Pauses the run when calls are held for approval, else goes on.
fn paused_or(held: Vec<String>, next: Next) -> Next {
    if held.is_empty() {
        return next;
    }
    Next::Finish {
        status: RunStatus::AwaitingApproval,
        reason: format!(
            "waiting for a human to approve {}; approve or deny with `bureau approvals`, then resume the run",
            held.join(", ")
        ),
        answer: None,
    }
}

struct Done {
    outcome: ToolOutcome,
    result: ToolResult,
    duration_ms: u64,
}
