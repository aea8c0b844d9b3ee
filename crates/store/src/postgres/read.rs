//! Queries, decoded into the journal's types.

use bureau_protocol::{JOURNAL_VERSION, JournalEntry, RunId, StepRecord};
use tokio_postgres::{Client, Row};

use super::pool::db_err;
use crate::{RunView, StoreError};

const SELECT_RUNS: &str =
    "SELECT run_id, agent, model, task, status, summary, created_at, updated_at
     FROM bureau.runs ";

pub(crate) async fn run(client: &Client, run_id: RunId) -> Result<Option<RunView>, StoreError> {
    let row = client
        .query_opt(
            &format!("{SELECT_RUNS} WHERE run_id = $1"),
            &[&run_id.to_string()],
        )
        .await
        .map_err(db_err("read a run"))?;
    row.as_ref().map(run_view).transpose()
}

pub(crate) async fn runs(client: &Client, limit: u32) -> Result<Vec<RunView>, StoreError> {
    let rows = client
        .query(
            &format!("{SELECT_RUNS} ORDER BY created_at DESC, run_id DESC LIMIT $1"),
            &[&i64::from(limit)],
        )
        .await
        .map_err(db_err("list runs"))?;
    rows.iter().map(run_view).collect()
}

pub(crate) async fn steps(client: &Client, run_id: RunId) -> Result<Vec<StepRecord>, StoreError> {
    let rows = client
        .query(
            "SELECT s.seq, s.at_ms, s.version, s.entry
             FROM bureau.steps s JOIN bureau.runs r ON r.id = s.run
             WHERE r.run_id = $1 ORDER BY s.seq",
            &[&run_id.to_string()],
        )
        .await
        .map_err(db_err("read steps"))?;
    let err = db_err("read steps");
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get(0).map_err(&err)?;
        let seq = u64::try_from(seq).map_err(|_| StoreError::Decode {
            what: format!("a step of run {run_id}"),
            detail: format!("negative sequence number {seq}"),
        })?;
        let at_ms: i64 = row.try_get(1).map_err(&err)?;
        let version: i32 = row.try_get(2).map_err(&err)?;
        let version = u32::try_from(version).unwrap_or(u32::MAX);
        if version > JOURNAL_VERSION {
            return Err(StoreError::NewerEntry {
                run_id,
                seq,
                found: version,
                supported: JOURNAL_VERSION,
            });
        }
        let text: &str = row.try_get(3).map_err(&err)?;
        let entry: JournalEntry = serde_json::from_str(text).map_err(|e| StoreError::Decode {
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

fn run_view(row: &Row) -> Result<RunView, StoreError> {
    let bad = |column: usize| {
        move |e: tokio_postgres::Error| StoreError::Decode {
            what: format!("column {column} of a run"),
            detail: e.to_string(),
        }
    };
    let text = |i: usize| -> Result<String, StoreError> { row.try_get(i).map_err(bad(i)) };
    let int = |i: usize| -> Result<i64, StoreError> { row.try_get(i).map_err(bad(i)) };
    crate::sqlite::encode::run_view(crate::sqlite::encode::RunColumns {
        run_id: text(0)?,
        agent: text(1)?,
        model: text(2)?,
        task: text(3)?,
        status: text(4)?,
        summary: row.try_get(5).map_err(bad(5))?,
        created_at_ms: int(6)?,
        updated_at_ms: int(7)?,
    })
}
