//! The writer thread: group commit.
//!
//! The thread blocks for one job, takes every other job already queued (up
//! to [`MAX_GROUP`]), runs them all in one `BEGIN IMMEDIATE … COMMIT`, and
//! only then answers each caller with its own result. A job that fails
//! (a duplicate step, an unknown run) is undone alone — a single statement
//! by SQLite's statement rollback, several records by a savepoint — and
//! the others still commit. If the commit itself fails, every write in the
//! group gets the error: nothing is acknowledged that is not durable.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::Receiver;

use bureau_protocol::{JOURNAL_VERSION, RunId};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::encode::{RunRow, StepRow, SummaryRow};
use super::map_err;
use super::read::ReadJob;
use crate::StoreError;

/// At most this many jobs share one transaction, so one commit stays short
/// and the first callers are answered early.
const MAX_GROUP: usize = 1024;

pub(crate) enum Job {
    Write {
        op: WriteOp,
        done: oneshot::Sender<Result<(), StoreError>>,
    },
    /// A read on the writer's connection (in-memory journals only), run
    /// between groups.
    Read(ReadJob),
}

pub(crate) enum WriteOp {
    CreateRun(RunRow),
    Append(Vec<StepRow>),
    AppendRaw(Vec<bureau_protocol::StepRecord>),
    UpdateRun(SummaryRow),
}

type Waiter = oneshot::Sender<Result<(), StoreError>>;

/// The writer's connection and what it remembers between groups.
struct Writer<'a> {
    conn: Connection,
    path: &'a Path,
    /// `runs.id` of runs seen by this writer. Cleared when a group fails,
    /// since a failed group may have created (then lost) a run.
    run_ids: HashMap<RunId, i64>,
    /// Set when the current group must be rolled back as a whole.
    poisoned: bool,
}

/// Bound on `run_ids`; past it the cache starts over (ids are looked up
/// again on demand).
const MAX_CACHED_RUNS: usize = 100_000;

pub(crate) fn run(conn: Connection, path: &Path, rx: Receiver<Job>) {
    let mut w = Writer {
        conn,
        path,
        run_ids: HashMap::new(),
        poisoned: false,
    };
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
            w.commit_group(&ops, &mut results);
            tracing::trace!(writes = ops.len(), "journal group committed");
            for (waiter, result) in waiters.drain(..).zip(results.drain(..)) {
                // A caller that stopped waiting (cancelled) may ignore it.
                let _ = waiter.send(result);
            }
            ops.clear();
        }
        for read in reads.drain(..) {
            read(&w.conn);
        }
    }
    tracing::debug!(path = %path.display(), "journal writer stopped");
}

impl Writer<'_> {
    /// Runs `ops` in one transaction; leaves one result per op in `results`.
    fn commit_group(&mut self, ops: &[WriteOp], results: &mut Vec<Result<(), StoreError>>) {
        if let Err(e) = exec(&self.conn, "BEGIN IMMEDIATE") {
            fail_all(self.path, "begin a transaction", e, ops.len(), results);
            return;
        }
        for op in ops {
            match self.apply(op) {
                // SQLite rolled the whole transaction back (I/O error, disk
                // full…), or an undo failed: nothing of the group may stay.
                Err(e) if self.poisoned || self.conn.is_autocommit() => {
                    if !self.conn.is_autocommit() {
                        let _ = exec(&self.conn, "ROLLBACK");
                    }
                    self.poisoned = false;
                    self.run_ids.clear();
                    results.clear();
                    results.extend((0..ops.len()).map(|_| Err(same_error(&e))));
                    return;
                }
                result => results.push(result),
            }
        }
        if let Err(e) = exec(&self.conn, "COMMIT") {
            if !self.conn.is_autocommit() {
                let _ = exec(&self.conn, "ROLLBACK");
            }
            self.run_ids.clear();
            results.clear();
            fail_all(self.path, "commit", e, ops.len(), results);
        }
    }

    fn apply(&mut self, op: &WriteOp) -> Result<(), StoreError> {
        match op {
            WriteOp::Append(steps) => self.append(steps),
            WriteOp::AppendRaw(recs) => {
                let steps = recs.iter().map(super::encode::step).collect::<Result<Vec<_>, _>>()?;
                self.append(&steps)
            }
            WriteOp::CreateRun(run) => self.create_run(run),
            WriteOp::UpdateRun(summary) => self.update_run(summary),
        }
    }

    /// One call's records: all or none. A failed INSERT undoes itself
    /// (statement rollback); the records of the call inserted before it are
    /// deleted again, which is exact since they did not exist before. This
    /// is cheaper than a savepoint, which copies every page it touches.
    fn append(&mut self, steps: &[StepRow]) -> Result<(), StoreError> {
        for (done, step) in steps.iter().enumerate() {
            if let Err(e) = self.insert_step(step) {
                for undo in &steps[..done] {
                    if let Err(undo_failed) = self.delete_step(undo) {
                        // The group now holds part of a failed call: it
                        // must not commit.
                        self.poisoned = true;
                        return Err(undo_failed);
                    }
                }
                return Err(e);
            }
        }
        Ok(())
    }

    fn delete_step(&mut self, s: &StepRow) -> Result<(), StoreError> {
        let run = self.run_key(s.run_id)?;
        self.conn
            .prepare_cached("DELETE FROM steps WHERE run = ?1 AND seq = ?2")
            .and_then(|mut st| st.execute(params![run, s.seq_key]))
            .map(drop)
            .map_err(|e| map_err(self.path, "undo a failed append", e))
    }

    fn create_run(&mut self, run: &RunRow) -> Result<(), StoreError> {
        let (conn, path) = (&self.conn, self.path);
        conn.prepare_cached(
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
        .map_err(|e| match constraint(&e) {
            Some(Constraint::Unique) => StoreError::RunExists { run_id: run.run_id },
            _ => map_err(path, "create a run", e),
        })?;
        let id = conn.last_insert_rowid();
        self.remember(run.run_id, id);
        Ok(())
    }

    fn update_run(&self, s: &SummaryRow) -> Result<(), StoreError> {
        let (conn, path) = (&self.conn, self.path);
        let changed = conn
            .prepare_cached(
                "UPDATE runs SET status = ?2, summary = ?3, updated_at = ?4 WHERE run_id = ?1",
            )
            .and_then(|mut st| {
                st.execute(params![
                    s.run_key,
                    s.status.as_str(),
                    s.summary,
                    s.updated_at
                ])
            })
            .map_err(|e| map_err(path, "update a run", e))?;
        match changed {
            0 => Err(StoreError::UnknownRun { run_id: s.run_id }),
            _ => Ok(()),
        }
    }

    fn insert_step(&mut self, s: &StepRow) -> Result<(), StoreError> {
        let run = self.run_key(s.run_id)?;
        self.conn
            .prepare_cached(
                "INSERT INTO steps (run, seq, at_ms, version, entry) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut st| {
                st.execute(params![run, s.seq_key, s.at_ms, JOURNAL_VERSION, s.entry])
            })
            .map(drop)
            .map_err(|e| match constraint(&e) {
                Some(Constraint::Unique) => StoreError::Conflict {
                    run_id: s.run_id,
                    seq: s.seq,
                },
                Some(Constraint::ForeignKey) => StoreError::UnknownRun { run_id: s.run_id },
                None => map_err(self.path, "append steps", e),
            })
    }

    /// `runs.id` of a run: from the cache, else from the table.
    fn run_key(&mut self, run_id: RunId) -> Result<i64, StoreError> {
        if let Some(id) = self.run_ids.get(&run_id) {
            return Ok(*id);
        }
        let found = self
            .conn
            .prepare_cached("SELECT id FROM runs WHERE run_id = ?1")
            .and_then(|mut st| st.query_row(params![run_id.to_string()], |row| row.get(0)))
            .optional()
            .map_err(|e| map_err(self.path, "look up a run", e))?;
        let id = found.ok_or(StoreError::UnknownRun { run_id })?;
        self.remember(run_id, id);
        Ok(id)
    }

    fn remember(&mut self, run_id: RunId, id: i64) {
        if self.run_ids.len() >= MAX_CACHED_RUNS {
            self.run_ids.clear();
        }
        self.run_ids.insert(run_id, id);
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
        StoreError::NotAJournal { path, detail } => StoreError::NotAJournal {
            path: path.clone(),
            detail: detail.clone(),
        },
        StoreError::Corrupt { path, detail } => StoreError::Corrupt {
            path: path.clone(),
            detail: detail.clone(),
        },
        StoreError::Database { action, source } => StoreError::Database {
            action,
            source: source.clone(),
        },
        other => StoreError::Database {
            action: "commit",
            source: std::sync::Arc::new(std::io::Error::other(other.to_string())),
        },
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute([])
}

enum Constraint {
    /// A primary key or unique constraint.
    Unique,
    ForeignKey,
}

fn constraint(e: &rusqlite::Error) -> Option<Constraint> {
    use rusqlite::ffi;
    match e {
        rusqlite::Error::SqliteFailure(f, _) => match f.extended_code {
            ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE => {
                Some(Constraint::Unique)
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some(Constraint::ForeignKey),
            _ => None,
        },
        _ => None,
    }
}
