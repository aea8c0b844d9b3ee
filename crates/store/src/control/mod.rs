//! The control plane's own records, beside the journal: human approvals
//! (signed, single-use grants) and the tamper-evident audit log. Both live
//! in one SQLite file (`control.db` in the data directory), opened by every
//! process that decides or approves calls — the gateway, `bureau approvals`
//! and `bureau audit` — so each write is one short `IMMEDIATE` transaction.

mod approvals;
mod audit;
mod key;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

pub use approvals::{Approval, ApprovalRequest, ApprovalState, Approvals, CallBinding, Refusal};
pub use audit::{AuditEntry, AuditLog, AuditRecord, ChainBreak, ChainReport};
pub use key::GrantKey;

use crate::StoreError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS approvals (
    id            TEXT PRIMARY KEY,
    run_id        TEXT,
    agent         TEXT NOT NULL,
    tool          TEXT NOT NULL,
    arguments_hash TEXT NOT NULL,
    arguments     TEXT NOT NULL,
    reason        TEXT NOT NULL,
    policy_ids    TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    state         TEXT NOT NULL,
    decided_by    TEXT,
    decided_at_ms INTEGER,
    note          TEXT,
    expires_at_ms INTEGER,
    grant_mac     TEXT,
    used_at_ms    INTEGER
);
CREATE INDEX IF NOT EXISTS approvals_state ON approvals(state, created_at_ms);
CREATE TABLE IF NOT EXISTS audit (
    seq       INTEGER PRIMARY KEY,
    run_id    TEXT,
    record    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_run ON audit(run_id, seq);
";

/// One open `control.db`: hand out [`Approvals`] and [`AuditLog`] from it.
#[derive(Clone)]
pub struct ControlStore {
    db: Arc<Db>,
    key: Arc<GrantKey>,
}

pub(crate) struct Db {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Db {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn err(&self, action: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |e| StoreError::Control {
            path: self.path.clone(),
            action,
            source: Arc::new(e),
        }
    }
}

impl ControlStore {
    /// Opens (creating if needed) the control database at `path`, signing
    /// grants with `key`.
    pub fn open(path: &Path, key: GrantKey) -> Result<Self, StoreError> {
        let open_err = |e: rusqlite::Error| StoreError::Open {
            path: path.to_path_buf(),
            source: Arc::new(e),
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(open_err)?;
        // WAL: readers (`bureau approvals list`) never block the gateway.
        let mut tries = 0;
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => break,
                Err(e) if tries < 50 && is_busy(&e) => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(open_err(e)),
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        Ok(Self {
            db: Arc::new(Db {
                path: path.to_path_buf(),
                conn: Mutex::new(conn),
            }),
            key: Arc::new(key),
        })
    }

    pub fn approvals(&self) -> Approvals {
        Approvals::new(self.db.clone(), self.key.clone())
    }

    pub fn audit(&self) -> AuditLog {
        AuditLog::new(self.db.clone())
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
