use std::path::PathBuf;
use std::sync::Arc;

use bureau_protocol::RunId;

/// The cause of a backend failure, kept as a shareable error so that one
/// failed group commit can be reported to every caller in the group.
pub type BackendError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in the journal. Messages are sentences a
/// user can act on; the fields carry what a program needs to decide.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file could not be opened or created at all.
    #[error(
        "cannot open the journal at {path}: {source}; check that the path is a writable file in a writable directory"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: BackendError,
    },

    /// The file exists but is not a Bureau journal (garbage, or another
    /// program's database). It was not modified.
    #[error(
        "{path} is not a Bureau journal ({detail}); it was left untouched: move it aside or choose another data directory"
    )]
    NotAJournal { path: PathBuf, detail: String },

    /// The file was written by a newer Bureau whose schema this build does
    /// not know. It was not modified.
    #[error(
        "the journal at {path} has schema version {found}, but this build of bureau knows versions up to {supported}; upgrade bureau or choose another data directory"
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// The database reported that its file is damaged.
    #[error(
        "the journal at {path} is corrupt ({detail}); restore it from a backup or move it aside and start a new one"
    )]
    Corrupt { path: PathBuf, detail: String },

    /// A step with this `(run_id, seq)` is already journaled. Nothing of the
    /// `append` call that carried it was written.
    #[error(
        "run {run_id} already has a journaled step {seq}; the journal never overwrites a step: append the next sequence number instead"
    )]
    Conflict { run_id: RunId, seq: u64 },

    /// `create_run` for a run id that is already journaled.
    #[error("run {run_id} is already in the journal; start the new run with a fresh run id")]
    RunExists { run_id: RunId },

    /// A step or summary for a run that was never created.
    #[error(
        "run {run_id} is not in the journal; call create_run before appending steps or updating it"
    )]
    UnknownRun { run_id: RunId },

    /// A value that cannot be stored (for example a sequence number above
    /// `i64::MAX`).
    #[error("cannot journal this value: {reason}")]
    Invalid { reason: String },

    /// A stored step was written by a newer Bureau.
    #[error(
        "step {seq} of run {run_id} has journal version {found}, but this build reads versions up to {supported}; upgrade bureau to read it"
    )]
    NewerEntry {
        run_id: RunId,
        seq: u64,
        found: u32,
        supported: u32,
    },

    /// A value could not be turned into JSON.
    #[error("cannot encode {what} as JSON: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    /// Stored data could not be read back.
    #[error(
        "cannot read {what} from the journal: {detail}; the file may have been edited by hand or by another program"
    )]
    Decode { what: String, detail: String },

    /// Any other failure of the database.
    #[error("the journal could not {action}: {source}")]
    Database {
        action: &'static str,
        #[source]
        source: BackendError,
    },

    /// The journal's writer or reader thread is gone (it was closed, or it
    /// stopped after an error). The request was not carried out.
    #[error("the journal is closed ({detail}); reopen it to continue")]
    Closed { detail: &'static str },

    /// The Postgres journal could not be reached. `target` is the URL
    /// without its password.
    #[error(
        "cannot connect to the Postgres journal at {target}: {source}; check that the server is running and that the URL's host, port, database and user are right"
    )]
    Connect {
        target: String,
        #[source]
        source: BackendError,
    },

    /// A leased worker's write or renewal after its lease was taken over
    /// (it expired and another worker claimed the run) or released.
    /// Nothing of the call was written.
    #[error(
        "the lease on run {run_id} with fencing token {fencing_token} is no longer held (it expired and another worker took the run over, or it was released); nothing was written: stop working on this run and claim another"
    )]
    LeaseLost { run_id: RunId, fencing_token: u64 },

    /// The control database (approvals, audit log) failed.
    #[error("cannot {action} in {path}: {source}")]
    Control {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: BackendError,
    },

    /// The approval signing key could not be read or created.
    #[error(
        "cannot use the approval signing key at {path}: {source}; it must be a 32-byte file readable by bureau (delete it to make a new one, which voids pending grants)"
    )]
    Key {
        path: PathBuf,
        #[source]
        source: BackendError,
    },

    /// Approve or deny of an approval that is not pending.
    #[error(
        "approval {id} is not pending (unknown, or already decided); see `bureau approvals list`"
    )]
    NotPending { id: String },
}
