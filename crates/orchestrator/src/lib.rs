//! The control plane's agent loop: plan, act, observe, adapt.
//!
//! This crate owns the loop as an explicit state machine (call the model →
//! run the tool calls it asked for → feed results back → repeat) and the
//! guardrails around it: max turns, token and cost budgets, a deadline,
//! loop detection, retries with backoff and a per-tool circuit breaker,
//! result truncation, bounded parallel tool calls. Every step is journaled
//! before its effects are visible.
//!
//! It reaches tools only through MCP ([`bureau_mcp_client::McpHub`] behind
//! [`ToolHost`]); it knows nothing of policy, sandboxes or the gateway's
//! internals, and reads no environment or files of its own.

mod guard;
mod host;
mod provenance;
mod resume;
mod run;
mod spans;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bureau_llm::ModelClient;
use bureau_protocol::{RunEvent, RunStatus, RunSummary, ToolSpec};
use bureau_store::{Journal, StoreError};
use tokio_util::sync::CancellationToken;

pub use host::{ToolCallError, ToolHost};
pub use run::RunRequest;

/// Receives a run's events as they happen.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: RunEvent);

    /// False when events would be thrown away, so the loop can skip
    /// building them (they clone text and arguments).
    fn enabled(&self) -> bool {
        true
    }
}

impl<F: Fn(RunEvent) + Send + Sync> EventSink for F {
    fn emit(&self, event: RunEvent) {
        self(event)
    }
}

/// Discards events.
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: RunEvent) {}

    fn enabled(&self) -> bool {
        false
    }
}

/// Why a run could not be carried on at all. Everything else — a failing
/// model, failing tools, tripped guardrails — ends the run with a status.
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    #[error("the journal could not be written, so the run was stopped: {0}")]
    Journal(#[from] StoreError),
}

/// Tool lists offered, by the agent's tool patterns.
type Offers = HashMap<Vec<String>, Arc<[ToolSpec]>>;

/// Runs agents: a model, the tools it may reach, and a journal.
#[derive(Clone)]
pub struct Orchestrator {
    model: Arc<dyn ModelClient>,
    tools: Arc<dyn ToolHost>,
    journal: Arc<dyn Journal>,
    /// The tools offered per set of agent patterns, computed once and
    /// shared by every run: schemas are large and runs are many.
    offers: Arc<Mutex<Offers>>,
}

impl Orchestrator {
    pub fn new(
        model: Arc<dyn ModelClient>,
        tools: Arc<dyn ToolHost>,
        journal: Arc<dyn Journal>,
    ) -> Self {
        Self {
            model,
            tools,
            journal,
            offers: Arc::default(),
        }
    }

    /// Runs one agent to an end status. Cancelling `cancel` ends the run as
    /// `cancelled` at the next await point; calls in flight are cut off.
    pub async fn run(
        &self,
        request: RunRequest,
        events: &dyn EventSink,
        cancel: CancellationToken,
    ) -> Result<RunSummary, OrchestratorError> {
        self.run_loop(request, events, cancel).run().await
    }

    /// Continues a run that stopped before it ended — its process died, or
    /// it paused as `awaiting_approval` — from its journal. `request` carries
    /// the run's id and task and the agent settings to go on with (raise a
    /// budget here to grant more). Finished steps are not executed again.
    pub async fn resume(
        &self,
        request: RunRequest,
        events: &dyn EventSink,
        cancel: CancellationToken,
    ) -> Result<RunSummary, OrchestratorError> {
        let steps = self.journal.steps(request.run_id).await?;
        // Running again; what the run had used so far stays as it was.
        let previous = self
            .journal
            .get_run(request.run_id)
            .await?
            .and_then(|v| v.summary);
        let resumed = RunSummary {
            status: RunStatus::Running,
            reason: "resumed from its journal".into(),
            answer: None,
            ..previous.unwrap_or(RunSummary {
                run_id: request.run_id,
                status: RunStatus::Running,
                reason: String::new(),
                turns: 0,
                usage: Default::default(),
                cost_usd: 0.0,
                answer: None,
                agent: request.agent_name.clone(),
                model: request.model_label.clone(),
                scripted: self.model.provider() == "scripted",
            })
        };
        self.journal.update_run(&resumed).await?;
        self.run_loop(request, events, cancel).resume(steps).await
    }

    fn run_loop<'a>(
        &'a self,
        request: RunRequest,
        events: &'a dyn EventSink,
        cancel: CancellationToken,
    ) -> run::RunLoop<'a> {
        let offered = self.offered(&request.agent.tools);
        run::RunLoop::new(
            offered,
            &*self.model,
            &*self.tools,
            &*self.journal,
            events,
            cancel,
            request,
        )
    }

    /// The tools an agent with these patterns is offered.
    fn offered(&self, patterns: &[String]) -> Arc<[ToolSpec]> {
        let mut offers = self
            .offers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(tools) = offers.get(patterns) {
            return tools.clone();
        }
        let tools: Arc<[ToolSpec]> = run::select_tools(&self.tools.tools(), patterns).into();
        offers.insert(patterns.to_vec(), tools.clone());
        tools
    }
}
