//! The writer thread: group commit.
//!
//! The thread blocks for one job, takes every other job already queued (up
//! to [`MAX_GROUP`]), runs them all in one `BEGIN IMMEDIATE … COMMIT`, and
//! only then answers each caller with its own result. A job that fails
//! (a duplicate step, an unknown run) is undone alone — a single statement
//! by SQLite's statement rollback, several records by a savepoint — and
//! the others still commit. If the commit itself fails, every write in the
//! group gets the error: nothing is acknowledged that is not durable.

use std::path::Path;
use std::sync::mpsc::Receiver;

use bureau_protocol::JOURNAL_VERSION;
use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::encode::{RunRow, StepRow, SummaryRow};
use super::map_err;
use super::read::ReadJob;
use crate::StoreError;

/// At most this many jobs share one transaction, so one commit stays short
/// and the first callers are answered early.
const MAX_GROUP: usize = 1024;

pub(crate) enum Job {
    Write { op: WriteOp, done: oneshot::Sender<Result<(), StoreError>> },
    /// A read on the writer's connection (in-memory journals only), run
    /// between groups.
    Read(ReadJob),
}

pub(crate) enum WriteOp {
    CreateRun(RunRow),
    Append(Vec<StepRow>),
    UpdateRun(SummaryRow),
}

type Waiter = oneshot::Sender<Result<(), StoreError>>;

pub(crate) fn run(conn: Connection, path: &Path, rx: Receiver<Job>) {
    let mut ops: Vec<WriteOp> = Vec::with_capacity(MAX_GROUP);
    let mut waiters: Vec<Waiter> = Vec::with_capacity(MAX_GROUP);
    let mut results: Vec<Result<(), StoreError>> = Vec::with_capacity(MAX_GROUP);
    let mut reads: Vec<ReadJob> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(job) = next.take() {
            match job {
                Job::Write { op, done } => {
                    ops.push(op);
                    waiters.push(done);
                }
                Job::Read(read) => reads.push(read),
            }
            taken += 1;
            if taken < MAX_GROUP {
                next = rx.try_recv().ok();
            }
        }
        if !ops.is_empty() {
            commit_group(&conn, path, &ops, &mut results);
            tracing::trace!(writes = ops.len(), "journal group committed");
            for (waiter, result) in waiters.drain(..).zip(results.drain(..)) {
                // A caller that stopped waiting (cancelled) may ignore it.
                let _ = waiter.send(result);
            }
            ops.clear();
        }
        for read in reads.drain(..) {
            read(&conn);
        }
    }
    tracing::debug!(path = %path.display(), "journal writer stopped");
}

/// Runs `ops` in one transaction; leaves one result per op in `results`.
fn commit_group(
    conn: &Connection,
    path: &Path,
    ops: &[WriteOp],
    results: &mut Vec<Result<(), StoreError>>,
) {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        fail_all(path, "begin a transaction", e, ops.len(), results);
        return;
    }
    for op in ops {
        match apply(conn, path, op) {
            // SQLite rolled the whole transaction back (I/O error, disk
            // full…): nothing of the group is in it any more.
            Err(e) if conn.is_autocommit() => {
                results.clear();
                results.extend((0..ops.len()).map(|_| Err(same_error(&e))));
                return;
            }
            result => results.push(result),
        }
    }
    if let Err(e) = exec(conn, "COMMIT") {
        if !conn.is_autocommit() {
            let _ = exec(conn, "ROLLBACK");
        }
        results.clear();
        fail_all(path, "commit", e, ops.len(), results);
    }
}

fn fail_all(
    path: &Path,
    action: &'static str,
    e: rusqlite::Error,
    n: usize,
    results: &mut Vec<Result<(), StoreError>>,
) {
    let err = map_err(path, action, e);
    results.extend((0..n).map(|_| Err(same_error(&err))));
}

/// A copy of a group-wide failure for each waiter.
fn same_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::NotAJournal { path, detail } => {
            StoreError::NotAJournal { path: path.clone(), detail: detail.clone() }
        }
        StoreError::Corrupt { path, detail } => {
            StoreError::Corrupt { path: path.clone(), detail: detail.clone() }
        }
        StoreError::Database { action, source } => {
            StoreError::Database { action, source: source.clone() }
        }
        other => StoreError::Database {
            action: "commit",
            source: std::sync::Arc::new(std::io::Error::other(other.to_string())),
        },
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute([])
}

fn apply(conn: &Connection, path: &Path, op: &WriteOp) -> Result<(), StoreError> {
    match op {
        WriteOp::Append(steps) => match steps.as_slice() {
            [one] => insert_step(conn, path, one),
            many => {
                exec(conn, "SAVEPOINT append").map_err(|e| map_err(path, "append steps", e))?;
                let inserted = many.iter().try_for_each(|s| insert_step(conn, path, s));
                let end = match &inserted {
                    Ok(()) => exec(conn, "RELEASE append"),
                    Err(_) => exec(conn, "ROLLBACK TO append").and(exec(conn, "RELEASE append")),
                };
                inserted.and(end.map(drop).map_err(|e| map_err(path, "append steps", e)))
            }
        },
        WriteOp::CreateRun(run) => conn
            .prepare_cached(
                "INSERT INTO runs (run_id, agent, model, task, status, summary, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'running', NULL, ?5, ?6)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    run.run_key,
                    run.agent,
                    run.model,
                    run.task,
                    run.created_at,
                    run.updated_at
                ])
            })
            .map(drop)
            .map_err(|e| match constraint(&e) {
                Some(Constraint::PrimaryKey) => StoreError::RunExists { run_id: run.run_id },
                _ => map_err(path, "create a run", e),
            }),
        WriteOp::UpdateRun(s) => {
            let changed = conn
                .prepare_cached(
                    "UPDATE runs SET status = ?2, summary = ?3, updated_at = ?4 WHERE run_id = ?1",
                )
                .and_then(|mut st| {
                    st.execute(params![s.run_key, s.status.as_str(), s.summary, s.updated_at])
                })
                .map_err(|e| map_err(path, "update a run", e))?;
            match changed {
                0 => Err(StoreError::UnknownRun { run_id: s.run_id }),
                _ => Ok(()),
            }
        }
    }
}

fn insert_step(conn: &Connection, path: &Path, s: &StepRow) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO steps (run_id, seq, at_ms, version, entry) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut st| st.execute(params![s.run_key, s.seq_key, s.at_ms, JOURNAL_VERSION, s.entry]))
    .map(drop)
    .map_err(|e| match constraint(&e) {
        Some(Constraint::PrimaryKey) => StoreError::Conflict { run_id: s.run_id, seq: s.seq },
        Some(Constraint::ForeignKey) => StoreError::UnknownRun { run_id: s.run_id },
        None => map_err(path, "append steps", e),
    })
}

enum Constraint {
    PrimaryKey,
    ForeignKey,
}

fn constraint(e: &rusqlite::Error) -> Option<Constraint> {
    use rusqlite::ffi;
    match e {
        rusqlite::Error::SqliteFailure(f, _) => match f.extended_code {
            ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE => {
                Some(Constraint::PrimaryKey)
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some(Constraint::ForeignKey),
            _ => None,
        },
        _ => None,
    }
}
