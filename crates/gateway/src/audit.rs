//! The audit step: one event per `tools/call`, whatever happened to it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bureau_protocol::{ApprovalId, RunId};

/// What the pipeline decided about a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditDecision {
    /// Policy allowed it and it ran.
    Allowed,
    /// Policy denied it.
    Denied { reason: String },
    /// Policy asked for a human's approval; the call did not run.
    ApprovalRequired { reason: String },
    /// It never reached policy: unknown tool, bad arguments, bad run id.
    Rejected { reason: String },
}

impl AuditDecision {
    /// The decision's stable name and its reason, if any.
    pub fn parts(&self) -> (&'static str, Option<&str>) {
        match self {
            AuditDecision::Allowed => ("allowed", None),
            AuditDecision::Denied { reason } => ("denied", Some(reason)),
            AuditDecision::ApprovalRequired { reason } => ("approval_required", Some(reason)),
            AuditDecision::Rejected { reason } => ("rejected", Some(reason)),
        }
    }
}

/// How an allowed call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditOutcome {
    Ok,
    /// The tool reported an error (the model got it as `isError: true`).
    ToolError {
        message: String,
    },
    /// The tool panicked; the connection stayed up.
    Panicked,
    /// The tool ran past the gateway's call timeout.
    TimedOut,
    /// The call was not run (see the decision).
    NotRun,
}

impl AuditOutcome {
    /// The outcome's stable name and its error message, if any.
    pub fn parts(&self) -> (&'static str, Option<&str>) {
        match self {
            AuditOutcome::Ok => ("ok", None),
            AuditOutcome::ToolError { message } => ("tool_error", Some(message)),
            AuditOutcome::Panicked => ("panicked", None),
            AuditOutcome::TimedOut => ("timed_out", None),
            AuditOutcome::NotRun => ("not_run", None),
        }
    }
}

/// One audited call. Arguments are recorded only as their hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub tool: Arc<str>,
    /// `bureau_protocol::arguments_hash(tool, arguments)`.
    pub arguments_hash: String,
    pub run_id: Option<RunId>,
    /// The agent policy decided for (`None` when the call was rejected
    /// before its agent was known).
    pub agent: Option<Arc<str>>,
    pub decision: AuditDecision,
    /// The policies that decided a denial or a hold.
    pub policy_ids: Vec<String>,
    /// The approval that held the call, or that let it through.
    pub approval_id: Option<ApprovalId>,
    pub outcome: AuditOutcome,
    /// From the call's arrival at the pipeline to its result.
    pub duration: Duration,
}

/// Where audit events go. `record` is called on the request's task, once
/// per call: keep it quick (hand off to a channel for slow sinks).
pub trait AuditSink: Send + Sync {
    fn record(&self, event: AuditEvent);
}

/// Logs each event as a `tracing` event on target `bureau::audit`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingAudit;

impl AuditSink for TracingAudit {
    fn record(&self, event: AuditEvent) {
        let run_id = event.run_id.map(|r| r.to_string());
        let (decision, reason) = event.decision.parts();
        let (outcome, error) = event.outcome.parts();
        tracing::info!(
            target: "bureau::audit",
            tool = %event.tool,
            arguments_hash = %event.arguments_hash,
            run_id = run_id.as_deref(),
            decision,
            reason,
            outcome,
            error,
            duration_us = event.duration.as_micros() as u64,
            "tool call"
        );
    }
}

/// Keeps events in memory, for tests.
#[derive(Debug, Default)]
pub struct MemoryAudit {
    events: Mutex<Vec<AuditEvent>>,
}

impl MemoryAudit {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A copy of the events so far, in order.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Removes and returns the events so far.
    pub fn take(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl AuditSink for MemoryAudit {
    fn record(&self, event: AuditEvent) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }
}

/// Appends each event to the hash-chained audit log in `control.db`
/// (`bureau audit`). A write that fails is logged as an error: the call's
/// result is already decided and is not changed by it.
#[derive(Clone)]
pub struct ChainedAudit {
    log: bureau_store::AuditLog,
}

impl ChainedAudit {
    pub fn new(log: bureau_store::AuditLog) -> Self {
        Self { log }
    }
}

impl AuditSink for ChainedAudit {
    fn record(&self, event: AuditEvent) {
        let (decision, reason) = event.decision.parts();
        let (outcome, error) = event.outcome.parts();
        let record = bureau_store::AuditRecord {
            at_ms: crate::pipeline::unix_ms(std::time::SystemTime::now()),
            run_id: event.run_id,
            agent: event.agent.as_deref().unwrap_or("").to_owned(),
            tool: event.tool.to_string(),
            arguments_hash: event.arguments_hash,
            decision: decision.to_owned(),
            reason: reason.map(str::to_owned),
            policy_ids: event.policy_ids,
            approval_id: event.approval_id.map(|a| a.to_string()),
            outcome: outcome.to_owned(),
            error: error.map(str::to_owned),
            duration_us: u64::try_from(event.duration.as_micros()).unwrap_or(u64::MAX),
        };
        if let Err(e) = self.log.append(&record) {
            tracing::error!(target: "bureau::audit", error = %e, tool = %record.tool, "cannot append to the audit log");
        }
    }
}
