//! The audit step: one event per `tools/call`, whatever happened to it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bureau_protocol::RunId;

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

/// One audited call. Arguments are recorded only as their hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub tool: Arc<str>,
    /// `bureau_protocol::arguments_hash(tool, arguments)`.
    pub arguments_hash: String,
    pub run_id: Option<RunId>,
    pub decision: AuditDecision,
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
        let (decision, reason) = match &event.decision {
            AuditDecision::Allowed => ("allowed", None),
            AuditDecision::Denied { reason } => ("denied", Some(reason.as_str())),
            AuditDecision::ApprovalRequired { reason } => {
                ("approval_required", Some(reason.as_str()))
            }
            AuditDecision::Rejected { reason } => ("rejected", Some(reason.as_str())),
        };
        let (outcome, error) = match &event.outcome {
            AuditOutcome::Ok => ("ok", None),
            AuditOutcome::ToolError { message } => ("tool_error", Some(message.as_str())),
            AuditOutcome::Panicked => ("panicked", None),
            AuditOutcome::TimedOut => ("timed_out", None),
            AuditOutcome::NotRun => ("not_run", None),
        };
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
