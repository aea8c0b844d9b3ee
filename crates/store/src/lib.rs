//! Bureau's journal: every run and every step of the agent loop, durable
//! before the step's effects are visible, so a killed run can be resumed.
//!
//! This crate owns the [`Journal`] trait (backend-neutral: no database
//! types in it), its SQLite backend [`SqliteJournal`] (one writer thread,
//! group commit, WAL), its Postgres backend [`PostgresJournal`] (many
//! workers, run leasing with fencing tokens), the do-nothing
//! [`NullJournal`], the schemas and their forward-only migrations. It
//! stores `bureau_protocol` types as versioned JSON and must not know how
//! they are produced: nothing about models, tools, policies, HTTP or where
//! the data directory lives or which database URL to use (the CLI decides
//! and passes a path or a URL).
//!
//! Durability: an `append` that returned is committed (SQLite WAL,
//! `synchronous=NORMAL`): it survives the process being killed, which is
//! what resuming a run needs; an OS crash or power loss may lose the last
//! commits but never corrupts the file. Cost: appends from many concurrent
//! runs share commits (group commit on one writer thread); see
//! `examples/journal_bench.rs` for the measured CPU per record.

mod control;
mod error;
mod null;
mod postgres;
mod sqlite;

use bureau_protocol::{RunId, RunRecord, RunStatus, RunSummary, StepRecord};
use serde::{Deserialize, Serialize};

pub use control::{
    Approval, ApprovalRequest, ApprovalState, Approvals, AuditEntry, AuditLog, AuditRecord,
    CallBinding, ChainBreak, ChainReport, ControlStore, GrantKey, Refusal,
};
pub use error::{BackendError, StoreError};
pub use null::NullJournal;
pub use postgres::{Lease, POSTGRES_SCHEMA_VERSION, PostgresJournal, WorkSignal};
pub use sqlite::{SCHEMA_VERSION, SqliteJournal};

/// Where runs and their steps are recorded.
///
/// Implementations are shared between many concurrent runs
/// (`Arc<dyn Journal>`); every method may be called from any task.
#[async_trait::async_trait]
pub trait Journal: Send + Sync {
    /// Records a new run with status [`RunStatus::Running`]. A run id that
    /// is already journaled is [`StoreError::RunExists`].
    async fn create_run(&self, run: &RunRecord) -> Result<(), StoreError>;

    /// Durable when it returns (committed). Records of one call are
    /// committed together: all of them or, on error, none. A `(run_id, seq)`
    /// that is already journaled is [`StoreError::Conflict`], never an
    /// overwrite; a run that was never created is [`StoreError::UnknownRun`].
    async fn append(&self, records: Vec<StepRecord>) -> Result<(), StoreError>;

    /// Sets a run's current status and summary (the status is
    /// `summary.status`). A run that was never created is
    /// [`StoreError::UnknownRun`].
    async fn update_run(&self, summary: &RunSummary) -> Result<(), StoreError>;

    /// The run with its latest summary, or `None` if it is not journaled.
    async fn get_run(&self, run_id: RunId) -> Result<Option<RunView>, StoreError>;

    /// Up to `limit` runs, newest (by `created_at_ms`) first.
    async fn list_runs(&self, limit: u32) -> Result<Vec<RunView>, StoreError>;

    /// Every step of a run in `seq` order (empty for an unknown run).
    async fn steps(&self, run_id: RunId) -> Result<Vec<StepRecord>, StoreError>;
}

/// A run as the journal knows it: what it was asked to do, where it stands
/// and the latest summary written for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    pub run: RunRecord,
    /// `Running` after `create_run`, then the status of the latest summary.
    pub status: RunStatus,
    /// The latest summary passed to `update_run`, if any.
    pub summary: Option<RunSummary>,
    /// When the run was last created or updated, in milliseconds since the
    /// Unix epoch (the journal's clock).
    pub updated_at_ms: i64,
}
