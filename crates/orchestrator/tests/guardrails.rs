//! Each guardrail and each stop reason, driven by the scripted model.
//!
//! Tools here come from a test `ToolHost` whose failures are scripted, so
//! retries, the circuit breaker and parallelism can be driven exactly; the
//! MCP path itself is covered end to end by the CLI's tests.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bureau_config::{AgentConfig, Config, OnExhausted, Price};
use bureau_llm::{ModelClient, ScriptedModel};
use bureau_orchestrator::{Orchestrator, RunRequest, ToolCallError, ToolHost};
use bureau_protocol::{
    JournalEntry, RunEvent, RunId, RunStatus, RunSummary, ToolCall, ToolOutcome, ToolResult,
    ToolSpec,
};
use bureau_store::{Journal, SqliteJournal};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

/// How a test tool behaves.
#[derive(Clone)]
enum Behaviour {
    Echo,
    /// Fails (retryably) this many times, then echoes.
    FailTimes(usize),
    AlwaysFail,
    Sleep(Duration),
    Big(usize),
}

struct TestHost {
    tools: HashMap<String, Behaviour>,
    calls: Mutex<Vec<String>>,
    failures: Mutex<HashMap<String, usize>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl TestHost {
    fn new(tools: &[(&str, Behaviour)]) -> Arc<Self> {
        Arc::new(Self {
            tools: tools
                .iter()
                .map(|(n, b)| (n.to_string(), b.clone()))
                .collect(),
            calls: Mutex::new(Vec::new()),
            failures: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        })
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl ToolHost for TestHost {
    fn tools(&self) -> Vec<ToolSpec> {
        let mut names: Vec<&String> = self.tools.keys().collect();
        names.sort();
        names
            .into_iter()
            .map(|n| ToolSpec {
                name: n.clone(),
                description: "test tool".into(),
                input_schema: json!({"type": "object"}),
            })
            .collect()
    }

    async fn call(
        &self,
        call: &ToolCall,
        meta: &Map<String, Value>,
    ) -> Result<ToolResult, ToolCallError> {
        assert!(
            meta.contains_key(bureau_protocol::meta::RUN_ID),
            "every call carries its run id"
        );
        self.calls.lock().unwrap().push(call.name.clone());
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let behaviour = self
            .tools
            .get(&call.name)
            .cloned()
            .unwrap_or(Behaviour::Echo);
        let out = match behaviour {
            Behaviour::Echo => Ok(ToolResult::text(format!("echo {}", call.arguments))),
            Behaviour::FailTimes(n) => {
                let mut f = self.failures.lock().unwrap();
                let c = f.entry(call.name.clone()).or_insert(0);
                if *c < n {
                    *c += 1;
                    Err(ToolCallError::Retryable(
                        "connection reset by the test".into(),
                    ))
                } else {
                    Ok(ToolResult::text("recovered"))
                }
            }
            Behaviour::AlwaysFail => Err(ToolCallError::Retryable("the server is down".into())),
            Behaviour::Sleep(d) => {
                tokio::time::sleep(d).await;
                Ok(ToolResult::text(format!("slept {}", call.arguments)))
            }
            Behaviour::Big(n) => Ok(ToolResult::text("x".repeat(n))),
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        out
    }
}

fn agent() -> AgentConfig {
    let mut a = Config::default()
        .agents
        .get("default")
        .cloned()
        .expect("default agent");
    a.tool_retry.base_delay = Duration::from_millis(1);
    a.tool_retry.max_delay = Duration::from_millis(5);
    a
}

fn model(script: Value) -> Arc<dyn ModelClient> {
    Arc::new(ScriptedModel::from_json(&script.to_string(), "test").expect("script parses"))
}

struct Outcome {
    summary: RunSummary,
    events: Vec<RunEvent>,
    journal: Arc<SqliteJournal>,
}

async fn run_with(
    model: Arc<dyn ModelClient>,
    host: Arc<TestHost>,
    agent: AgentConfig,
    price: Option<Price>,
    cancel: CancellationToken,
) -> Outcome {
    let journal = Arc::new(SqliteJournal::open_in_memory().expect("journal"));
    let orchestrator = Orchestrator::new(model, host, journal.clone());
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let events = events.clone();
        move |e: RunEvent| events.lock().unwrap().push(e)
    };
    let request = RunRequest {
        run_id: RunId::new(),
        agent_name: "test".into(),
        agent,
        model_label: "scripted:test".into(),
        price,
        task: "do the thing".into(),
    };
    let summary = orchestrator.run(request, &sink, cancel).await.expect("run");
    let events = events.lock().unwrap().clone();
    Outcome {
        summary,
        events,
        journal,
    }
}

async fn run(script: Value, host: Arc<TestHost>, agent: AgentConfig) -> Outcome {
    run_with(model(script), host, agent, None, CancellationToken::new()).await
}

fn call(name: &str, args: Value) -> Value {
    json!({"name": name, "arguments": args})
}

async fn entries(o: &Outcome) -> Vec<JournalEntry> {
    o.journal
        .steps(o.summary.run_id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.entry)
        .collect()
}

#[tokio::test]
async fn a_run_completes_with_its_answer_and_a_full_journal() {
    let host = TestHost::new(&[("t.echo", Behaviour::Echo)]);
    let script = json!({"turns": [
        {"tool_calls": [call("t.echo", json!({"n": 1}))]},
        {"tool_calls": [call("t.echo", json!({"n": 2}))]},
        {"text": "all done"}
    ]});
    let o = run(script, host.clone(), agent()).await;
    assert_eq!(o.summary.status, RunStatus::Completed);
    assert_eq!(o.summary.answer.as_deref(), Some("all done"));
    assert_eq!(o.summary.turns, 3);
    assert!(o.summary.scripted);
    assert_eq!(host.calls(), vec!["t.echo", "t.echo"]);
    let kinds: Vec<&str> = entries(&o)
        .await
        .iter()
        .map(|e| match e {
            JournalEntry::ModelCall { .. } => "model",
            JournalEntry::ToolCallStarted { .. } => "started",
            JournalEntry::ToolCallFinished { .. } => "finished",
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "model", "started", "finished", "model", "started", "finished", "model"
        ]
    );
    let stored = o
        .journal
        .get_run(o.summary.run_id)
        .await
        .unwrap()
        .expect("run stored");
    assert_eq!(
        stored.summary.as_ref().map(|s| s.status),
        Some(RunStatus::Completed)
    );
    assert!(matches!(
        o.events.last(),
        Some(RunEvent::RunFinished {
            status: RunStatus::Completed,
            ..
        })
    ));
}

#[tokio::test]
async fn max_turns_ends_with_one_final_answer_call_without_tools() {
    let host = TestHost::new(&[("t.echo", Behaviour::Echo)]);
    let mut a = agent();
    a.max_turns = 3;
    let script = json!({"turns": [{"tool_calls": [call("t.echo", json!({}))]}, {"tool_calls": [call("t.echo", json!({"i": 2}))]}, {"tool_calls": [call("t.echo", json!({"i": 3}))]}, {"tool_calls": [call("t.echo", json!({"i": 4}))]}], "final_answer": "partial answer"});
    let o = run(script, host.clone(), a).await;
    assert_eq!(o.summary.status, RunStatus::MaxTurns);
    assert_eq!(o.summary.answer.as_deref(), Some("partial answer"));
    assert_eq!(
        host.calls().len(),
        3,
        "three turns of tools, then no more tool calls"
    );
    let finals: Vec<_> = o
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                RunEvent::ModelCalled {
                    final_answer_call: true,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(finals.len(), 1);
}

#[tokio::test]
async fn exhaustion_can_pause_the_run_for_a_human_instead() {
    let host = TestHost::new(&[("t.echo", Behaviour::Echo)]);
    let mut a = agent();
    a.max_turns = 2;
    a.on_exhausted = OnExhausted::Pause;
    let script = json!({"turns": [{"tool_calls": [call("t.echo", json!({"i": 1}))]}, {"tool_calls": [call("t.echo", json!({"i": 2}))]}, {"tool_calls": [call("t.echo", json!({"i": 3}))]}]});
    let o = run(script, host, a).await;
    assert_eq!(o.summary.status, RunStatus::AwaitingApproval);
    assert!(
        o.summary.reason.contains("max_turns"),
        "{}",
        o.summary.reason
    );
    assert!(o.summary.answer.is_none());
}

#[tokio::test]
async fn the_token_budget_counts_input_and_output() {
    let host = TestHost::new(&[("t.echo", Behaviour::Echo)]);
    let mut a = agent();
    a.token_budget = Some(250);
    let turn = |i: u32| json!({"tool_calls": [call("t.echo", json!({"i": i}))], "usage": {"input_tokens": 100, "output_tokens": 20}});
    let script =
        json!({"turns": [turn(1), turn(2), turn(3), turn(4)], "final_answer": "out of tokens"});
    let o = run(script, host.clone(), a).await;
    assert_eq!(o.summary.status, RunStatus::TokenBudget);
    assert_eq!(
        host.calls().len(),
        3,
        "120, 240, 360 ≥ 250 after the third call"
    );
    assert!(o.summary.usage.input_tokens >= 300 && o.summary.usage.output_tokens >= 60);
    assert_eq!(o.summary.answer.as_deref(), Some("out of tokens"));
}

#[tokio::test]
async fn the_cost_budget_uses_the_price_table() {
    let host = TestHost::new(&[("t.echo", Behaviour::Echo)]);
    let mut a = agent();
    a.cost_budget_usd = Some(0.5);
    // 100k input tokens at $3/M = $0.30 per turn.
    let turn = |i: u32| json!({"tool_calls": [call("t.echo", json!({"i": i}))], "usage": {"input_tokens": 100_000, "output_tokens": 0}});
    let script = json!({"turns": [turn(1), turn(2), turn(3)], "final_answer": "budget spent"});
    let price = Some(Price {
        input_per_mtok: 3.0,
        output_per_mtok: 15.0,
    });
    let o = run_with(
        model(script),
        host.clone(),
        a,
        price,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(o.summary.status, RunStatus::CostBudget);
    assert_eq!(host.calls().len(), 2);
    assert!(o.summary.cost_usd >= 0.6, "{}", o.summary.cost_usd);
}

#[tokio::test]
async fn the_deadline_cuts_off_a_slow_model() {
    let host = TestHost::new(&[("t.echo", Behaviour::Echo)]);
    let mut a = agent();
    a.deadline = Some(Duration::from_millis(200));
    let slow: Arc<dyn ModelClient> = Arc::new(
        ScriptedModel::from_json(
            &json!({"turns": [{"text": "too late"}]}).to_string(),
            "slow",
        )
        .unwrap()
        .with_latency(Duration::from_secs(600)),
    );
    let o = run_with(slow, host, a, None, CancellationToken::new()).await;
    assert_eq!(o.summary.status, RunStatus::Deadline);
    assert!(o.summary.answer.is_none());
}

#[tokio::test]
async fn the_same_call_repeated_ends_the_run_as_a_loop() {
    let host = TestHost::new(&[("t.echo", Behaviour::Echo)]);
    let mut a = agent();
    a.loop_limit = 3;
    let script = json!({"turns": [{"tool_calls": [call("t.echo", json!({"a": 1, "b": [1, 2]}))]}], "repeat_last": true});
    let o = run(script, host.clone(), a).await;
    assert_eq!(o.summary.status, RunStatus::LoopDetected);
    assert_eq!(
        host.calls().len(),
        2,
        "the third identical call never leaves"
    );
}

#[tokio::test]
async fn a_failing_model_fails_the_run_with_its_reason() {
    let host = TestHost::new(&[("t.echo", Behaviour::Echo)]);
    let script = json!({"turns": [{"tool_calls": [call("t.echo", json!({}))]}]});
    let o = run(script, host, agent()).await;
    assert_eq!(o.summary.status, RunStatus::Failed);
    assert!(
        o.summary.reason.contains("model call failed"),
        "{}",
        o.summary.reason
    );
}

#[tokio::test]
async fn cancelling_ends_the_run_as_cancelled() {
    let host = TestHost::new(&[("t.slow", Behaviour::Sleep(Duration::from_secs(600)))]);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let script = json!({"turns": [{"tool_calls": [call("t.slow", json!({}))]}, {"text": "never"}]});
    let o = run_with(model(script), host, agent(), None, cancel).await;
    assert_eq!(o.summary.status, RunStatus::Cancelled);
    let e = entries(&o).await;
    assert!(
        matches!(
            e.last(),
            Some(JournalEntry::ToolCallFinished {
                outcome: ToolOutcome::Failed,
                ..
            })
        ),
        "a cut-off call is closed in the journal"
    );
}

#[tokio::test]
async fn large_results_are_truncated_for_the_model_but_kept_whole() {
    let host = TestHost::new(&[("t.big", Behaviour::Big(50_000))]);
    let mut a = agent();
    a.max_tool_result_chars = 1_000;
    let script = json!({"turns": [{"tool_calls": [call("t.big", json!({}))]}, {"text": "ok"}]});
    let o = run(script, host, a).await;
    assert_eq!(o.summary.status, RunStatus::Completed);
    let preview = o.events.iter().find_map(|e| match e {
        RunEvent::ToolFinished { preview, .. } => Some(preview.clone()),
        _ => None,
    });
    let preview = preview.expect("tool finished");
    assert!(
        preview.len() < 1_200 && preview.contains("truncated"),
        "{}",
        preview.len()
    );
    let whole = entries(&o).await.into_iter().find_map(|e| match e {
        JournalEntry::ToolCallFinished { result, .. } => Some(result.to_model_text().len()),
        _ => None,
    });
    assert_eq!(whole, Some(50_000));
}

#[tokio::test]
async fn parallel_calls_run_bounded_and_return_in_the_models_order() {
    let host = TestHost::new(&[
        ("t.slow", Behaviour::Sleep(Duration::from_millis(50))),
        ("t.echo", Behaviour::Echo),
    ]);
    let mut a = agent();
    a.tool_concurrency = 2;
    let calls: Vec<Value> = (0..5).map(|i| call("t.slow", json!({"i": i}))).collect();
    let script = json!({"turns": [{"tool_calls": calls}, {"text": "done"}]});
    let o = run(script, host.clone(), a).await;
    assert_eq!(o.summary.status, RunStatus::Completed);
    assert_eq!(host.calls().len(), 5);
    assert_eq!(
        host.max_in_flight.load(Ordering::SeqCst),
        2,
        "bounded by tool_concurrency and actually parallel"
    );
    let order: Vec<String> = o
        .events
        .iter()
        .filter_map(|e| match e {
            RunEvent::ToolFinished { preview, .. } => Some(preview.clone()),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = (0..5)
        .map(|i| format!("slept {}", json!({"i": i})))
        .collect();
    assert_eq!(order, expected);
}

#[tokio::test]
async fn failing_tools_are_retried_with_backoff() {
    let host = TestHost::new(&[("t.flaky", Behaviour::FailTimes(2))]);
    let script = json!({"turns": [{"tool_calls": [call("t.flaky", json!({}))]}, {"text": "done"}]});
    let o = run(script, host.clone(), agent()).await;
    assert_eq!(o.summary.status, RunStatus::Completed);
    assert_eq!(host.calls().len(), 3);
    let retries = o
        .events
        .iter()
        .filter(|e| matches!(e, RunEvent::ToolRetrying { .. }))
        .count();
    assert_eq!(retries, 2);
    assert!(o.events.iter().any(|e| matches!(
        e,
        RunEvent::ToolFinished {
            outcome: ToolOutcome::Ok,
            ..
        }
    )));
}

#[tokio::test]
async fn a_tool_that_keeps_failing_trips_its_circuit_breaker() {
    let host = TestHost::new(&[
        ("t.down", Behaviour::AlwaysFail),
        ("t.echo", Behaviour::Echo),
    ]);
    let mut a = agent();
    a.tool_retry.max_attempts = 1;
    a.circuit_breaker.failure_threshold = 2;
    a.circuit_breaker.cooldown = Duration::from_secs(600);
    let script = json!({"turns": [
        {"tool_calls": [call("t.down", json!({"i": 1}))]},
        {"tool_calls": [call("t.down", json!({"i": 2}))]},
        {"tool_calls": [call("t.down", json!({"i": 3})), call("t.echo", json!({}))]},
        {"text": "gave up on t.down"}
    ]});
    let o = run(script, host.clone(), a).await;
    assert_eq!(o.summary.status, RunStatus::Completed);
    assert_eq!(
        host.calls(),
        vec!["t.down", "t.down", "t.echo"],
        "the third t.down call never left"
    );
    let outcomes: Vec<ToolOutcome> = o
        .events
        .iter()
        .filter_map(|e| match e {
            RunEvent::ToolFinished { outcome, .. } => Some(*outcome),
            _ => None,
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ToolOutcome::Failed,
            ToolOutcome::Failed,
            ToolOutcome::CircuitOpen,
            ToolOutcome::Ok
        ]
    );
}

#[tokio::test]
async fn unknown_and_unoffered_tools_are_refused() {
    let host = TestHost::new(&[
        ("t.echo", Behaviour::Echo),
        ("secret.drop", Behaviour::Echo),
    ]);
    let mut a = agent();
    a.tools = vec!["t.*".into()];
    let script = json!({"turns": [
        {"tool_calls": [call("secret.drop", json!({})), call("nope.tool", json!({}))]},
        {"text": "done"}
    ]});
    let o = run(script, host.clone(), a).await;
    assert_eq!(o.summary.status, RunStatus::Completed);
    assert!(
        host.calls().is_empty(),
        "neither call reached the host: {:?}",
        host.calls()
    );
    let previews: Vec<String> = o
        .events
        .iter()
        .filter_map(|e| match e {
            RunEvent::ToolFinished {
                preview,
                outcome: ToolOutcome::Failed,
                ..
            } => Some(preview.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(previews.len(), 2);
    assert!(previews[0].contains("not available") && previews[0].contains("t.echo"));
}
