//! Writing one `append` call: one prepared call of the schema's
//! `bureau.append_steps` function, so the call is atomic as one statement
//! (no `BEGIN`/`COMMIT` round trips) and a refusal is an error the
//! function raises with the first bad record's number.

use std::collections::HashSet;

use bureau_protocol::{JOURNAL_VERSION, StepRecord};

use super::lease::Lease;
use super::pool::{Conn, db_err};
use crate::StoreError;
use crate::sqlite::encode::{self, StepRow};

const APPEND: &str = "SELECT bureau.append_steps($1, $2, $3, $4, $5, $6, $7)";

/// Encodes records and refuses a call that repeats a `(run_id, seq)`.
pub(crate) fn encode_steps(records: &[StepRecord]) -> Result<Vec<StepRow>, StoreError> {
    let rows = records
        .iter()
        .map(encode::step)
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = HashSet::with_capacity(rows.len());
    for row in &rows {
        if !seen.insert((row.run_id, row.seq)) {
            return Err(StoreError::Conflict {
                run_id: row.run_id,
                seq: row.seq,
            });
        }
    }
    Ok(rows)
}

/// Why a write failed: a record refused (its index in the rows given, and
/// the error for it) or anything else.
pub(crate) enum Failure {
    Refused { index: usize, error: StoreError },
    Other(StoreError),
}

impl Failure {
    pub(crate) fn into_error(self) -> StoreError {
        match self {
            Failure::Refused { error, .. } | Failure::Other(error) => error,
        }
    }
}

/// Writes every row or none; with `fence`, only while the lease holds.
pub(crate) async fn write(
    conn: &mut Conn<'_>,
    rows: &[&StepRow],
    fence: Option<&Lease>,
) -> Result<(), Failure> {
    let statement = conn
        .prepare(APPEND, "append steps")
        .await
        .map_err(Failure::Other)?;
    let run_ids: Vec<String> = rows.iter().map(|r| r.run_id.to_string()).collect();
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq_key).collect();
    let at_ms: Vec<i64> = rows.iter().map(|r| r.at_ms).collect();
    let entries: Vec<&str> = rows.iter().map(|r| r.entry.as_str()).collect();
    let version = i32::try_from(JOURNAL_VERSION).unwrap_or(i32::MAX);
    let fence_run = fence.map(|l| l.run_id.to_string());
    let fence_token = match fence {
        Some(lease) => Some(super::lease::token(lease).map_err(Failure::Other)?),
        None => None,
    };
    let result = conn
        .client()
        .map_err(Failure::Other)?
        .execute(
            &statement,
            &[
                &run_ids,
                &seqs,
                &at_ms,
                &entries,
                &version,
                &fence_run,
                &fence_token,
            ],
        )
        .await;
    let Err(e) = result else { return Ok(()) };
    let other = |e| Failure::Other(db_err("append steps")(e));
    let Some(db) = e.as_db_error() else {
        return Err(other(e));
    };
    let code = db.code().code();
    if let ("BR003", Some(lease)) = (code, fence) {
        return Err(Failure::Other(super::lease::lost(lease)));
    }
    let record = db
        .detail()
        .and_then(|d| d.parse::<usize>().ok())
        .and_then(|ord| ord.checked_sub(1))
        .and_then(|i| rows.get(i).map(|row| (i, row)));
    match (code, record) {
        ("BR001", Some((index, row))) => Err(Failure::Refused {
            index,
            error: StoreError::UnknownRun { run_id: row.run_id },
        }),
        ("BR002", Some((index, row))) => Err(Failure::Refused {
            index,
            error: StoreError::Conflict {
                run_id: row.run_id,
                seq: row.seq,
            },
        }),
        _ => Err(other(e)),
    }
}
