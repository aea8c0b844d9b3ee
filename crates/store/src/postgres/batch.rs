//! Group commit for `append`: calls from many concurrent runs share one
//! statement (one transaction, one WAL flush) when they arrive together.
//!
//! One task takes the first queued call, waits for a free slot (at most
//! the pool's size in flight), then takes every call queued meanwhile (up
//! to [`MAX_BATCH_ROWS`] rows) and writes them on a pooled connection as one
//! `bureau.append_steps` call. A call alone is written at once, so an
//! idle journal answers as fast as without batching. Every call is still
//! all-or-nothing on its own: a refused record (unknown run, duplicate
//! step) fails only its call, whose records are taken out before the rest
//! are written again; calls that write the same `(run, seq)` never share
//! a statement, so each sees the other's commit. A database failure is
//! reported to every call of the statement: nothing is acknowledged that
//! was not committed.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use super::append::{self, Failure};
use super::pool::Pool;
use crate::StoreError;
use crate::sqlite::encode::StepRow;

/// At most this many rows share one statement.
const MAX_BATCH_ROWS: usize = 4096;

struct Pending {
    rows: Vec<StepRow>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The queue into the group-commit task (which ends when this is dropped,
/// after writing and answering what is queued and in flight).
pub(crate) struct Batcher {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Batcher {
    /// Starts the task on the current runtime.
    pub(crate) fn spawn(pool: Arc<Pool>, in_flight: usize) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, rx, in_flight.max(1)));
        Self { queue }
    }

    /// Writes one call's rows: all of them or, on error, none.
    pub(crate) async fn append(&self, rows: Vec<StepRow>) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Pending { rows, done })
            .map_err(|_| StoreError::Closed {
                detail: "the journal's append task stopped",
            })?;
        answer.await.map_err(|_| StoreError::Closed {
            detail: "the journal's append task stopped before answering",
        })?
    }
}

async fn run(pool: Arc<Pool>, mut rx: mpsc::UnboundedReceiver<Pending>, in_flight: usize) {
    let slots = Arc::new(Semaphore::new(in_flight));
    while let Some(first) = rx.recv().await {
        // Calls that queue while every slot is busy join this batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let mut rows = first.rows.len();
        let mut batch = vec![first];
        while rows < MAX_BATCH_ROWS {
            match rx.try_recv() {
                Ok(next) => {
                    rows += next.rows.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            write_batch(&pool, batch).await;
            drop(slot);
        });
    }
}

async fn write_batch(pool: &Pool, mut calls: Vec<Pending>) {
    while !calls.is_empty() {
        // This round: the calls none of whose keys an earlier call of the
        // round writes. The others wait for the next round.
        let mut keys = HashSet::new();
        let mut round = Vec::with_capacity(calls.len());
        let mut later = Vec::new();
        for call in calls {
            if call.rows.iter().any(|r| keys.contains(&(r.run_id, r.seq))) {
                later.push(call);
            } else {
                keys.extend(call.rows.iter().map(|r| (r.run_id, r.seq)));
                round.push(call);
            }
        }
        write_round(pool, round).await;
        calls = later;
    }
}

async fn write_round(pool: &Pool, mut round: Vec<Pending>) {
    let mut conn = match pool.get().await {
        Ok(conn) => conn,
        Err(e) => return answer_all(round, &e),
    };
    while !round.is_empty() {
        let rows: Vec<&StepRow> = round.iter().flat_map(|call| call.rows.iter()).collect();
        match append::write(&mut conn, &rows, None).await {
            Ok(()) => {
                for call in round {
                    let _ = call.done.send(Ok(()));
                }
                return;
            }
            Err(Failure::Refused { index, error }) => {
                let Some(owner) = owner_of(&round, index) else {
                    return answer_all(round, &error);
                };
                let refused = round.remove(owner);
                let _ = refused.done.send(Err(error));
            }
            Err(Failure::Other(error)) => {
                let error = match conn.settle(Err::<(), _>(error)) {
                    Err(e) => e,
                    Ok(()) => return,
                };
                return answer_all(round, &error);
            }
        }
    }
}

/// The call that carried row `index` of the round's rows.
fn owner_of(round: &[Pending], index: usize) -> Option<usize> {
    let mut start = 0;
    for (i, call) in round.iter().enumerate() {
        let end = start + call.rows.len();
        if index < end {
            return Some(i);
        }
        start = end;
    }
    None
}

fn answer_all(calls: Vec<Pending>, error: &StoreError) {
    for call in calls {
        let _ = call.done.send(Err(share(error)));
    }
}

/// The same failure for another caller of the same statement.
fn share(error: &StoreError) -> StoreError {
    match error {
        StoreError::Database { action, source } => StoreError::Database {
            action,
            source: source.clone(),
        },
        StoreError::Connect { target, source } => StoreError::Connect {
            target: target.clone(),
            source: source.clone(),
        },
        StoreError::Closed { detail } => StoreError::Closed { detail },
        other => StoreError::Database {
            action: "append steps",
            source: Arc::new(std::io::Error::other(other.to_string())),
        },
    }
}
