//! The writer thread: group commit.
//!
//! The thread blocks for one job, takes every other job already queued (up
//! to [`MAX_GROUP`]), runs them all in one `BEGIN IMMEDIATE … COMMIT`, and
//! only then answers each caller with its own result. A call that fails (a
//! duplicate step, an unknown run) is undone alone and the others still
//! commit. If the group cannot commit, every write in it gets the error:
//! nothing is acknowledged that is not durable.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::Receiver;

use bureau_protocol::{JOURNAL_VERSION, RunId};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::encode::{RunRow, StepRow, SummaryRow};
use super::read::ReadJob;
use super::{keys, map_err};
use crate::StoreError;

/// At most this many jobs share one transaction, so one commit stays short
/// and the first callers are answered early.
const MAX_GROUP: usize = 1024;

/// Bound on the writer's caches; past it a cache starts over (entries are
/// looked up again on demand).
const MAX_CACHED_RUNS: usize = 100_000;

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
    UpdateRun(SummaryRow),
}

type Waiter = oneshot::Sender<Result<(), StoreError>>;

/// The writer's connection and what it remembers between groups.
struct Writer<'a> {
    conn: Connection,
    path: &'a Path,
    /// `runs.id` by run id.
    run_ids: HashMap<RunId, i64>,
    /// For a `runs.id`: no step of the run has a higher seq (exact or too
    /// high, never too low). A step above it cannot be a duplicate, so the
    /// common append needs no lookup at all.
    max_seqs: HashMap<i64, i64>,
    /// Rows appended since `step_keys` was last flushed.
    tail_rows: u64,
    /// Set when the current group must be rolled back as a whole.
    poisoned: bool,
}

pub(crate) fn run(conn: Connection, path: &Path, rx: Receiver<Job>) {
    let mut w = Writer {
        conn,
        path,
        run_ids: HashMap::new(),
        max_seqs: HashMap::new(),
        tail_rows: 0,
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
    // Closed: leave the file with an empty tail.
    if w.tail_rows > 0
        && let Err(e) = keys::flush_now(&w.conn)
    {
        tracing::warn!(
            path = %path.display(),
            error = %e,
            "could not index the journal's last steps; they will be indexed when it is next opened"
        );
    }
    tracing::debug!(path = %path.display(), "journal writer stopped");
}

impl Writer<'_> {
    /// Runs `ops` in one transaction; leaves one result per op in `results`.
    fn commit_group(&mut self, ops: &[WriteOp], results: &mut Vec<Result<(), StoreError>>) {
        if let Err(e) = exec(&self.conn, "BEGIN IMMEDIATE") {
            let err = map_err(self.path, "begin a transaction", e);
            results.extend(ops.iter().map(|_| Err(same_error(&err))));
            return;
        }
        for op in ops {
            match self.apply(op) {
                // SQLite rolled the whole transaction back (I/O error, disk
                // full…), or an undo failed: nothing of the group may stay.
                Err(e) if self.poisoned || self.conn.is_autocommit() => {
                    self.abandon_group(e, ops.len(), results);
                    return;
                }
                result => results.push(result),
            }
        }
        let flush = self.tail_rows >= keys::FLUSH_ROWS;
        let committed = if flush {
            keys::flush(&self.conn).map(drop)
        } else {
            Ok(())
        }
        .and_then(|()| exec(&self.conn, "COMMIT").map(drop));
        match committed {
            Ok(()) if flush => self.tail_rows = 0,
            Ok(()) => {}
            Err(e) => {
                let err = map_err(self.path, "commit", e);
                self.abandon_group(err, ops.len(), results);
            }
        }
    }

    /// Rolls the open transaction back and fails every op of the group.
    fn abandon_group(
        &mut self,
        err: StoreError,
        n: usize,
        results: &mut Vec<Result<(), StoreError>>,
    ) {
        if !self.conn.is_autocommit() {
            let _ = exec(&self.conn, "ROLLBACK");
        }
        self.poisoned = false;
        // The group may have created runs that are now gone.
        self.run_ids.clear();
        self.max_seqs.clear();
        results.clear();
        results.extend((0..n).map(|_| Err(same_error(&err))));
        tracing::warn!(path = %self.path.display(), error = %err, writes = n, "journal group failed");
    }

    fn apply(&mut self, op: &WriteOp) -> Result<(), StoreError> {
        match op {
            WriteOp::Append(steps) => self.append(steps),
            WriteOp::CreateRun(run) => self.create_run(run),
            WriteOp::UpdateRun(summary) => self.update_run(summary),
        }
    }

    /// One call's records: all or none. A failed INSERT undoes itself
    /// (statement rollback); rows of the call inserted before it are
    /// deleted again. That is exact (they did not exist before: row ids
    /// only grow, and nothing else writes inside the transaction) and
    /// cheaper than a savepoint, which copies every page it touches.
    fn append(&mut self, steps: &[StepRow]) -> Result<(), StoreError> {
        let mut first_id = None;
        for step in steps {
            match self.insert_step(step) {
                Ok(id) => {
                    first_id.get_or_insert(id);
                }
                Err(e) => {
                    if let Some(first) = first_id
                        && let Err(undo_failed) = self.delete_steps_from(first)
                    {
                        // The group now holds part of a failed call: it
                        // must not commit.
                        self.poisoned = true;
                        return Err(undo_failed);
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Inserts one step after checking it is not a duplicate; returns its
    /// row id.
    fn insert_step(&mut self, s: &StepRow) -> Result<i64, StoreError> {
        let run = self.run_key(s.run_id)?;
        let err = |e| map_err(self.path, "append steps", e);
        let max = match self.max_seqs.get(&run) {
            Some(max) => *max,
            None => {
                let max = keys::max_seq(&self.conn, run).map_err(err)?;
                remember(&mut self.max_seqs, run, max);
                max
            }
        };
        if s.seq_key <= max && keys::exists(&self.conn, run, s.seq_key).map_err(err)? {
            return Err(StoreError::Conflict {
                run_id: s.run_id,
                seq: s.seq,
            });
        }
        self.conn
            .prepare_cached(
                "INSERT INTO steps (run, seq, at_ms, version, entry) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut st| {
                st.execute(params![run, s.seq_key, s.at_ms, JOURNAL_VERSION, s.entry])
            })
            .map_err(err)?;
        let id = self.conn.last_insert_rowid();
        if s.seq_key > max {
            self.max_seqs.insert(run, s.seq_key);
        }
        self.tail_rows += 1;
        Ok(id)
    }

    fn delete_steps_from(&mut self, first_id: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM steps WHERE id >= ?1")
            .and_then(|mut st| st.execute(params![first_id]))
            .map(drop)
            .map_err(|e| map_err(self.path, "undo a failed append", e))
    }

    fn create_run(&mut self, run: &RunRow) -> Result<(), StoreError> {
        self.conn
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
            .map_err(|e| match is_unique_violation(&e) {
                true => StoreError::RunExists { run_id: run.run_id },
                false => map_err(self.path, "create a run", e),
            })?;
        let id = self.conn.last_insert_rowid();
        remember(&mut self.run_ids, run.run_id, id);
        remember(&mut self.max_seqs, id, -1);
        Ok(())
    }

    fn update_run(&self, s: &SummaryRow) -> Result<(), StoreError> {
        let changed = self
            .conn
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
            .map_err(|e| map_err(self.path, "update a run", e))?;
        match changed {
            0 => Err(StoreError::UnknownRun { run_id: s.run_id }),
            _ => Ok(()),
        }
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
        remember(&mut self.run_ids, run_id, id);
        Ok(id)
    }
}

fn remember<K: std::hash::Hash + Eq, V>(cache: &mut HashMap<K, V>, key: K, value: V) {
    if cache.len() >= MAX_CACHED_RUNS {
        cache.clear();
    }
    cache.insert(key, value);
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute([])
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

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    use rusqlite::ffi;
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || f.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}
