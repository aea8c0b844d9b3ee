//! The audit log: one entry per decision about a tool call, each chained
//! to the previous entry's hash, so editing, reordering or deleting an
//! entry anywhere but at the very end breaks the chain that `verify`
//! checks. (Cutting entries off the end is only visible against a head
//! hash kept elsewhere: `verify` reports the head for that.)

use std::sync::Arc;

use bureau_protocol::RunId;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Db;
use crate::StoreError;

/// The hash the first entry chains to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One decision about one tool call. Arguments appear only as their hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at_ms: i64,
    pub run_id: Option<RunId>,
    pub agent: String,
    pub tool: String,
    pub arguments_hash: String,
    /// `allowed`, `denied`, `approval_required` or `rejected`.
    pub decision: String,
    /// Why it was denied, held or rejected.
    pub reason: Option<String>,
    pub policy_ids: Vec<String>,
    /// The approval that held or let the call through.
    pub approval_id: Option<String>,
    /// `ok`, `tool_error`, `panicked`, `timed_out` or `not_run`.
    pub outcome: String,
    pub error: Option<String>,
    pub duration_us: u64,
}

/// A stored entry with its place in the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

/// Where the chain is broken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    pub seq: u64,
    pub problem: String,
}

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    pub entries: u64,
    /// The last entry's hash: keep it elsewhere to detect a cut-off tail.
    pub head: String,
    pub first_break: Option<ChainBreak>,
}

/// The chained audit log in `control.db`.
#[derive(Clone)]
pub struct AuditLog {
    db: Arc<Db>,
}

fn chain_hash(prev: &str, record_json: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(record_json.as_bytes());
    hex::encode(h.finalize())
}

impl AuditLog {
    pub(super) fn new(db: Arc<Db>) -> Self {
        Self { db }
    }

    /// Appends one entry, chained to the current head, in one `IMMEDIATE`
    /// transaction (so appends from several processes serialize).
    pub fn append(&self, record: &AuditRecord) -> Result<AuditEntry, StoreError> {
        let json = serde_json::to_string(record).map_err(|source| StoreError::Encode {
            what: "an audit record",
            source,
        })?;
        let mut conn = self.db.lock();
        let err = self.db.err("append to the audit log");
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let head: Option<(i64, String)> = tx
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(&err)?;
        let (seq, prev) = match head {
            Some((s, h)) => (s + 1, h),
            None => (1, GENESIS.to_owned()),
        };
        let hash = chain_hash(&prev, &json);
        tx.execute(
            "INSERT INTO audit (seq, run_id, record, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![seq, record.run_id.map(|r| r.to_string()), json, prev, hash],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(AuditEntry {
            seq: u64::try_from(seq).unwrap_or(0),
            record: record.clone(),
            prev_hash: prev,
            hash,
        })
    }

    /// Entries of one run (all runs when `None`), oldest first, at most
    /// `limit` (the newest ones when cut).
    pub fn list(&self, run: Option<RunId>, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.db.lock();
        let err = self.db.err("read the audit log");
        let mut stmt = conn
            .prepare(
                "SELECT seq, record, prev_hash, hash FROM audit
                 WHERE ?1 IS NULL OR run_id = ?1 ORDER BY seq DESC LIMIT ?2",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map(params![run.map(|r| r.to_string()), limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(&err)?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, json, prev_hash, hash) = row.map_err(&err)?;
            let record = serde_json::from_str(&json).map_err(|e| StoreError::Decode {
                what: format!("audit entry {seq}"),
                detail: e.to_string(),
            })?;
            out.push(AuditEntry {
                seq: u64::try_from(seq).unwrap_or(0),
                record,
                prev_hash,
                hash,
            });
        }
        out.reverse();
        Ok(out)
    }

    /// Walks the whole chain: every entry's hash must be the hash of the
    /// previous entry's hash and its own record, and seqs must be 1, 2, 3…
    pub fn verify(&self) -> Result<ChainReport, StoreError> {
        let conn = self.db.lock();
        let err = self.db.err("read the audit log");
        let mut stmt = conn
            .prepare("SELECT seq, record, prev_hash, hash FROM audit ORDER BY seq")
            .map_err(&err)?;
        let mut rows = stmt.query([]).map_err(&err)?;
        let mut expected_prev = GENESIS.to_owned();
        let mut expected_seq: i64 = 1;
        let mut entries = 0u64;
        let mut first_break = None;
        while let Some(row) = rows.next().map_err(&err)? {
            let seq: i64 = row.get(0).map_err(&err)?;
            let json: String = row.get(1).map_err(&err)?;
            let prev: String = row.get(2).map_err(&err)?;
            let hash: String = row.get(3).map_err(&err)?;
            entries += 1;
            if first_break.is_none() {
                let problem = if seq != expected_seq {
                    Some(format!(
                        "entry {expected_seq} is missing (found {seq} next)"
                    ))
                } else if prev != expected_prev {
                    Some("its previous-hash does not match the entry before it".to_owned())
                } else if chain_hash(&prev, &json) != hash {
                    Some("its content does not match its hash (the entry was edited)".to_owned())
                } else if serde_json::from_str::<AuditRecord>(&json).is_err() {
                    Some("its record is not a valid audit record".to_owned())
                } else {
                    None
                };
                if let Some(problem) = problem {
                    first_break = Some(ChainBreak {
                        seq: u64::try_from(seq).unwrap_or(0),
                        problem,
                    });
                }
            }
            expected_prev = hash;
            expected_seq = seq + 1;
        }
        Ok(ChainReport {
            entries,
            head: expected_prev,
            first_break,
        })
    }
}
