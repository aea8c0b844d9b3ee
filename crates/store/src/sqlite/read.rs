//! Queries, run on the reader thread (or the writer's, in memory).

use std::path::Path;
use std::sync::mpsc::Receiver;

use bureau_protocol::{JOURNAL_VERSION, JournalEntry, RunId, StepRecord};
use rusqlite::{Connection, Row, params};

use super::map_err;
use crate::{RunView, StoreError};

/// A query with its answer channel, run against a connection.
pub(crate) type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

pub(crate) fn serve(conn: Connection, rx: Receiver<ReadJob>) {
    while let Ok(job) = rx.recv() {
        job(&conn);
    }
}

macro_rules! select_runs {
    ($rest:literal) => {
        concat!(
            "SELECT run_id, agent, model, task, status, summary, created_at, updated_at FROM runs ",
            $rest
        )
    };
}

pub(crate) fn run(
    conn: &Connection,
    path: &Path,
    run_id: RunId,
) -> Result<Option<RunView>, StoreError> {
    let err = |e| map_err(path, "read a run", e);
    let mut st = conn
        .prepare_cached(select_runs!("WHERE run_id = ?1"))
        .map_err(err)?;
    let mut rows = st.query(params![run_id.to_string()]).map_err(err)?;
    match rows.next().map_err(err)? {
        Some(row) => run_view(row).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn runs(conn: &Connection, path: &Path, limit: u32) -> Result<Vec<RunView>, StoreError> {
    let err = |e| map_err(path, "list runs", e);
    let mut st = conn
        .prepare_cached(select_runs!(
            "ORDER BY created_at DESC, run_id DESC LIMIT ?1"
        ))
        .map_err(err)?;
    let mut rows = st.query(params![limit]).map_err(err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(err)? {
        out.push(run_view(row)?);
    }
    Ok(out)
}

pub(crate) fn steps(
    conn: &Connection,
    path: &Path,
    run_id: RunId,
) -> Result<Vec<StepRecord>, StoreError> {
    let err = |e| map_err(path, "read steps", e);
    let mut st = conn
        .prepare_cached(
            "WITH r AS (SELECT id FROM runs WHERE run_id = ?1)
             SELECT s.seq, s.at_ms, s.version, s.entry
             FROM step_keys k JOIN steps s ON s.id = k.step
             WHERE k.run = (SELECT id FROM r)
             UNION ALL
             SELECT seq, at_ms, version, entry FROM steps
             WHERE id > (SELECT upto FROM step_keys_upto) AND run = (SELECT id FROM r)
             ORDER BY 1",
        )
        .map_err(err)?;
    let mut rows = st.query(params![run_id.to_string()]).map_err(err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(err)? {
        let seq: i64 = row.get(0).map_err(err)?;
        let seq = u64::try_from(seq).map_err(|_| StoreError::Decode {
            what: format!("a step of run {run_id}"),
            detail: format!("negative sequence number {seq}"),
        })?;
        let at_ms: i64 = row.get(1).map_err(err)?;
        let version: u32 = row.get(2).map_err(err)?;
        if version > JOURNAL_VERSION {
            return Err(StoreError::NewerEntry {
                run_id,
                seq,
                found: version,
                supported: JOURNAL_VERSION,
            });
        }
        let text: String = row.get(3).map_err(err)?;
        let entry: JournalEntry = serde_json::from_str(&text).map_err(|e| StoreError::Decode {
            what: format!("step {seq} of run {run_id}"),
            detail: e.to_string(),
        })?;
        out.push(StepRecord {
            run_id,
            seq,
            at_ms,
            entry,
        });
    }
    Ok(out)
}

fn run_view(row: &Row<'_>) -> Result<RunView, StoreError> {
    let text = |i: usize| -> Result<String, StoreError> { row.get(i).map_err(|e| bad_row(i, e)) };
    let int = |i: usize| -> Result<i64, StoreError> { row.get(i).map_err(|e| bad_row(i, e)) };
    super::encode::run_view(super::encode::RunColumns {
        run_id: text(0)?,
        agent: text(1)?,
        model: text(2)?,
        task: text(3)?,
        status: text(4)?,
        summary: row.get(5).map_err(|e| bad_row(5, e))?,
        created_at_ms: int(6)?,
        updated_at_ms: int(7)?,
    })
}

fn bad_row(column: usize, e: rusqlite::Error) -> StoreError {
    StoreError::Decode {
        what: format!("column {column} of a run"),
        detail: e.to_string(),
    }
}
