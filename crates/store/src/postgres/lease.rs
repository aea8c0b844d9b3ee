//! Run leasing for many workers: a queue of runs in `bureau.runs`, claimed
//! with `SELECT … FOR NO KEY UPDATE SKIP LOCKED` (two workers never wait
//! for, nor take, the same run), each claim with a new fencing token.
//!
//! A lease expires unless renewed; an expired lease's run is claimed again
//! by the next worker (a crashed worker's run is taken over) with a higher
//! token. Every write a leased worker makes through [`Lease`] checks the
//! token in the same transaction and locks the run's row against a
//! takeover until it commits, so a stale worker's late writes change
//! nothing and fail with [`StoreError::LeaseLost`].
//!
//! Expiry uses the database's clock only, so workers' clocks may disagree.

use std::sync::Arc;
use std::time::Duration;

use bureau_protocol::{RunId, RunRecord, RunStatus, RunSummary, StepRecord};
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, Client};

use super::pool::Conn;
use super::pool::{cause, db_err};
use super::{NOW_MS, PostgresJournal, append};
use crate::StoreError;
use crate::sqlite::encode;

/// The `LISTEN`/`NOTIFY` channel on which enqueued runs are announced.
pub(crate) const CHANNEL: &str = "bureau_run_queue";

/// A worker's hold on one run, from [`PostgresJournal::claim`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub run_id: RunId,
    /// The worker id given to `claim`.
    pub worker: String,
    /// Grows with every claim of any run; the write fence.
    pub fencing_token: u64,
    /// When the lease lapses unless renewed, in milliseconds since the
    /// Unix epoch on the database's clock.
    pub expires_at_ms: i64,
}

impl PostgresJournal {
    /// Journals a new run with status [`RunStatus::Queued`] for a worker
    /// to claim, and wakes idle workers ([`WorkSignal`]). A run id that is
    /// already journaled is [`StoreError::RunExists`].
    #[tracing::instrument(skip_all, fields(run_id = %run.run_id))]
    pub async fn enqueue(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.insert_run(run, RunStatus::Queued).await
    }

    /// Takes the oldest queued run, or a running run whose lease expired,
    /// for `worker` for `lease`: its status becomes `running` and it gets a
    /// new fencing token. `None` when there is nothing to do. Concurrent
    /// claims never return the same run.
    #[tracing::instrument(skip_all, fields(worker = %worker))]
    pub async fn claim(&self, worker: &str, lease: Duration) -> Result<Option<Lease>, StoreError> {
        let lease_ms = lease_ms(lease)?;
        let mut conn = self.pool.get().await?;
        let result = claim(&mut conn, worker, lease_ms).await;
        conn.settle(result)
    }

    /// Extends a lease to `lease` from now. [`StoreError::LeaseLost`] if the
    /// run was taken over or released. A lease that expired but was not
    /// yet taken over is renewed.
    pub async fn renew(&self, held: &Lease, lease: Duration) -> Result<Lease, StoreError> {
        let lease_ms = lease_ms(lease)?;
        let mut conn = self.pool.get().await?;
        let result = conn
            .client()?
            .query_opt(
                &format!(
                    "UPDATE bureau.runs SET lease_expires_ms = {NOW_MS} + $3
                     WHERE run_id = $1 AND lease_token = $2 AND status = 'running'
                     RETURNING lease_expires_ms"
                ),
                &[&held.run_id.to_string(), &token(held)?, &lease_ms],
            )
            .await
            .map_err(db_err("renew a lease"));
        let row = conn.settle(result)?.ok_or_else(|| lost(held))?;
        Ok(Lease {
            expires_at_ms: row.try_get(0).map_err(db_err("renew a lease"))?,
            ..held.clone()
        })
    }

    /// Ends a lease, leaving the run in `status`: a terminal status or
    /// `AwaitingApproval` parks it (nobody claims it), `Queued` hands it to
    /// the next worker. `Running` is refused (a running run needs a
    /// lease). [`StoreError::LeaseLost`] if the run was taken over.
    pub async fn release(&self, held: &Lease, status: RunStatus) -> Result<(), StoreError> {
        if status == RunStatus::Running {
            return Err(StoreError::Invalid {
                reason: format!(
                    "run {} cannot be released as running: release it as queued to hand it to another worker, or with the status it ended in",
                    held.run_id
                ),
            });
        }
        let mut conn = self.pool.get().await?;
        let result = release(conn.client()?, held, status, None).await;
        conn.settle(result)
    }

    /// [`release`](Self::release) with the run's summary: sets the status
    /// to `summary.status` and stores the summary, as
    /// [`Journal::update_run`](crate::Journal::update_run) does, but only
    /// while the lease holds. A stale lease writes nothing and is
    /// [`StoreError::LeaseLost`].
    pub async fn release_with_summary(
        &self,
        held: &Lease,
        summary: &RunSummary,
    ) -> Result<(), StoreError> {
        if summary.run_id != held.run_id {
            return Err(StoreError::Invalid {
                reason: format!(
                    "the lease is for run {} but the summary is for run {}; release each run with its own summary",
                    held.run_id, summary.run_id
                ),
            });
        }
        if summary.status == RunStatus::Running {
            return self.release(held, RunStatus::Running).await;
        }
        let row = encode::summary(summary, 0)?;
        let mut conn = self.pool.get().await?;
        let result = release(conn.client()?, held, summary.status, Some(&row.summary)).await;
        conn.settle(result)
    }

    /// [`Journal::append`](crate::Journal::append) for the holder of
    /// `held`: every record must belong to the leased run, and the whole
    /// call is written only if the lease's fencing token is still the
    /// run's (checked and locked in the same transaction). A stale lease
    /// writes nothing and is [`StoreError::LeaseLost`].
    pub async fn append_fenced(
        &self,
        held: &Lease,
        records: Vec<StepRecord>,
    ) -> Result<(), StoreError> {
        if let Some(other) = records.iter().find(|r| r.run_id != held.run_id) {
            return Err(StoreError::Invalid {
                reason: format!(
                    "the lease is for run {} but a record is for run {}; append each run's steps under its own lease",
                    held.run_id, other.run_id
                ),
            });
        }
        let rows = append::encode_steps(&records)?;
        let rows: Vec<_> = rows.iter().collect();
        let mut conn = self.pool.get().await?;
        let result = append::write(&mut conn, &rows, Some(held))
            .await
            .map_err(append::Failure::into_error);
        conn.settle(result)
    }

    /// A dedicated connection that listens for enqueued runs, so an idle
    /// worker sleeps in [`WorkSignal::wait_for_work`] instead of polling.
    pub async fn work_signal(&self) -> Result<WorkSignal, StoreError> {
        let (client, mut connection) = self
            .pool
            .config()
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| StoreError::Connect {
                target: self.pool.target().to_owned(),
                source: cause(&e),
            })?;
        let notify = Arc::new(Notify::new());
        let wake = notify.clone();
        let driver = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(_))) => wake.notify_one(),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "the work signal's connection failed");
                        break;
                    }
                    None => break,
                }
            }
            // Wake a sleeper so it notices (its next claim reports the
            // database's state).
            wake.notify_one();
        });
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(db_err("listen for queued runs"))?;
        Ok(WorkSignal {
            _client: client,
            notify,
            driver,
        })
    }
}

/// The claim: the oldest queued run or expired lease, skipping rows
/// another transaction holds.
const CLAIM: &str = concat!(
    "UPDATE bureau.runs SET status = 'running', lease_owner = $1,
         lease_token = nextval('bureau.lease_tokens'),
         lease_expires_ms = ",
    now_ms!(),
    " + $2, updated_at = ",
    now_ms!(),
    "
     WHERE id = (
         SELECT id FROM bureau.runs
         WHERE status = 'queued'
            OR (status = 'running' AND lease_expires_ms < ",
    now_ms!(),
    ")
         ORDER BY id LIMIT 1
         FOR NO KEY UPDATE SKIP LOCKED)
     RETURNING run_id, lease_token, lease_expires_ms"
);

/// Claims in one prepared statement.
async fn claim(
    conn: &mut Conn<'_>,
    worker: &str,
    lease_ms: i64,
) -> Result<Option<Lease>, StoreError> {
    let err = db_err("claim a run");
    let statement = conn.prepare(CLAIM, "claim a run").await?;
    let row = conn
        .client()?
        .query_opt(&statement, &[&worker, &lease_ms])
        .await
        .map_err(&err)?;
    let Some(row) = row else { return Ok(None) };
    let key: String = row.try_get(0).map_err(&err)?;
    let token: i64 = row.try_get(1).map_err(&err)?;
    Ok(Some(Lease {
        run_id: key.parse().map_err(|e| StoreError::Decode {
            what: "a claimed run id".into(),
            detail: format!("{e}"),
        })?,
        worker: worker.to_owned(),
        fencing_token: u64::try_from(token).unwrap_or(0),
        expires_at_ms: row.try_get(2).map_err(&err)?,
    }))
}

/// Ends a lease in one transaction (the announcement is sent at commit).
async fn release(
    client: &mut Client,
    held: &Lease,
    status: RunStatus,
    summary: Option<&str>,
) -> Result<(), StoreError> {
    let err = db_err("release a lease");
    let tx = client.transaction().await.map_err(&err)?;
    let updated = tx
        .execute(
            &format!(
                "UPDATE bureau.runs SET status = $3, summary = coalesce($4, summary),
                     lease_owner = NULL, lease_expires_ms = NULL, updated_at = {NOW_MS}
                 WHERE run_id = $1 AND lease_token = $2 AND status = 'running'"
            ),
            &[
                &held.run_id.to_string(),
                &token(held)?,
                &status.as_str(),
                &summary,
            ],
        )
        .await
        .map_err(&err)?;
    if updated == 0 {
        return Err(lost(held));
    }
    if status == RunStatus::Queued {
        tx.execute("SELECT pg_notify($1, '')", &[&CHANNEL])
            .await
            .map_err(&err)?;
    }
    tx.commit().await.map_err(&err)
}

/// Wakes an idle worker when a run is enqueued (or handed back). Wake-ups
/// are hints: after one, call `claim` (another worker may have been
/// faster); a wake-up that arrives while nobody waits is kept for the next
/// wait, so none is lost between a claim that found nothing and the wait.
pub struct WorkSignal {
    _client: tokio_postgres::Client,
    notify: Arc<Notify>,
    driver: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for WorkSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkSignal").finish_non_exhaustive()
    }
}

impl WorkSignal {
    /// Waits until a run is announced or `timeout` passes; `true` if woken.
    /// Use a timeout and claim after it anyway: an expired lease is not
    /// announced.
    pub async fn wait_for_work(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.notify.notified())
            .await
            .is_ok()
    }
}

impl Drop for WorkSignal {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

fn lease_ms(lease: Duration) -> Result<i64, StoreError> {
    match i64::try_from(lease.as_millis()) {
        Ok(ms) if ms > 0 => Ok(ms),
        _ => Err(StoreError::Invalid {
            reason: format!(
                "a lease of {lease:?} is not usable: give a duration of at least one millisecond"
            ),
        }),
    }
}

pub(crate) fn token(held: &Lease) -> Result<i64, StoreError> {
    i64::try_from(held.fencing_token).map_err(|_| lost(held))
}

pub(crate) fn lost(held: &Lease) -> StoreError {
    StoreError::LeaseLost {
        run_id: held.run_id,
        fencing_token: held.fencing_token,
    }
}
