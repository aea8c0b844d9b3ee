//! The Postgres journal: the same [`Journal`] as SQLite, shared by many
//! worker processes, plus run leasing with fencing tokens (`lease.rs`).
//!
//! Connections are plain TCP or a Unix socket without TLS: point the URL at
//! a server on loopback, on a socket, or behind a local TLS-terminating
//! proxy; never across an untrusted network. Every write is one
//! transaction and is committed when it returns, as durable as the
//! server's `synchronous_commit` makes it (`on` by default: flushed to its
//! disk). Appends of concurrent runs share statements (group commit,
//! `batch.rs`), each still all-or-nothing on its own.
//!
//! Layout: `schema.rs` (migrations, the `append_steps` function),
//! `pool.rs` (connections, prepared statements), `append.rs` and
//! `batch.rs` (writing steps), `read.rs` (queries), `lease.rs` (the
//! run queue for many workers).

mod pool;
mod read;
mod schema;

use std::str::FromStr;
use std::sync::Arc;

use bureau_protocol::{RunId, RunRecord, RunStatus, RunSummary, StepRecord};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config};

pub use lease::{Lease, WorkSignal};
pub use schema::POSTGRES_SCHEMA_VERSION;

use crate::sqlite::encode;
use crate::{Journal, RunView, StoreError};
use batch::Batcher;
use pool::{Pool, db_err};

/// The SQL for "now" in milliseconds since the Unix epoch, on the
/// database's clock (one clock for every worker); a macro so that
/// statements can be `concat!`ed into `&'static str` and prepared once.
/// Defined before the submodules, which use it by textual scope.
macro_rules! now_ms {
    () => {
        "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
    };
}

const NOW_MS: &str = now_ms!();

mod append;
mod batch;
mod lease;

/// A journal in a PostgreSQL database, safe to share between processes.
pub struct PostgresJournal {
    pool: Arc<Pool>,
    batcher: Batcher,
}

impl std::fmt::Debug for PostgresJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresJournal")
            .field("target", &self.pool.target())
            .finish_non_exhaustive()
    }
}

impl PostgresJournal {
    /// Connections a journal opens at most unless told otherwise.
    pub const DEFAULT_POOL_SIZE: usize = 8;

    /// Connects with [`Self::DEFAULT_POOL_SIZE`] connections at most; see
    /// [`PostgresJournal::connect_with_pool_size`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_pool_size(url, Self::DEFAULT_POOL_SIZE).await
    }

    /// Connects to the database at `url` (a `postgresql://` URL or a
    /// `key=value` string; no TLS), creates or migrates the journal schema
    /// to [`POSTGRES_SCHEMA_VERSION`] and keeps up to `pool_size`
    /// connections (at least one) for concurrent calls.
    ///
    /// A newer schema is [`StoreError::NewerSchema`] and nothing is
    /// written. Messages name the database by its URL without the password.
    #[tracing::instrument(skip_all)]
    pub async fn connect_with_pool_size(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let config = Config::from_str(url).map_err(|_| StoreError::Connect {
            target: "(the URL given)".into(),
            source: Arc::new(std::io::Error::other(
                "it is not a valid postgres URL or key=value connection string",
            )),
        })?;
        let target = redact(&config);
        let pool = Arc::new(Pool::new(config, target, pool_size));
        {
            let mut conn = pool.get().await?;
            schema::migrate(conn.client()?, pool.target()).await?;
        }
        let batcher = Batcher::spawn(pool.clone(), pool_size);
        Ok(Self { pool, batcher })
    }

    /// The database as `postgresql://user@host:port/dbname` (no password).
    pub fn target(&self) -> &str {
        self.pool.target()
    }
}

/// A read on a pooled connection, tried once more on a fresh connection
/// if the first failed in the database or the network (an idle connection
/// the server closed since).
macro_rules! read_retrying {
    ($pool:expr, |$client:ident| $call:expr) => {{
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut conn = $pool.get().await?;
            let $client = conn.client()?;
            let result = $call.await;
            match conn.settle(result) {
                Err(StoreError::Database { .. }) if attempts < 2 => continue,
                other => break other,
            }
        }
    }};
}

#[async_trait::async_trait]
impl Journal for PostgresJournal {
    #[tracing::instrument(skip_all, fields(run_id = %run.run_id))]
    async fn create_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.insert_run(run, RunStatus::Running).await
    }

    async fn append(&self, records: Vec<StepRecord>) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let rows = append::encode_steps(&records)?;
        self.batcher.append(rows).await
    }

    #[tracing::instrument(skip_all, fields(run_id = %summary.run_id, status = %summary.status))]
    async fn update_run(&self, summary: &RunSummary) -> Result<(), StoreError> {
        let row = encode::summary(summary, 0)?;
        let mut conn = self.pool.get().await?;
        let result = conn
            .client()?
            .execute(
                &format!(
                    "UPDATE bureau.runs SET status = $2, summary = $3, updated_at = {NOW_MS}
                     WHERE run_id = $1"
                ),
                &[&row.run_key, &row.status.as_str(), &row.summary],
            )
            .await
            .map_err(db_err("update a run"));
        if conn.settle(result)? == 0 {
            return Err(StoreError::UnknownRun { run_id: row.run_id });
        }
        Ok(())
    }

    async fn get_run(&self, run_id: RunId) -> Result<Option<RunView>, StoreError> {
        read_retrying!(self.pool, |client| read::run(client, run_id))
    }

    async fn list_runs(&self, limit: u32) -> Result<Vec<RunView>, StoreError> {
        read_retrying!(self.pool, |client| read::runs(client, limit))
    }

    async fn steps(&self, run_id: RunId) -> Result<Vec<StepRecord>, StoreError> {
        read_retrying!(self.pool, |client| read::steps(client, run_id))
    }
}

impl PostgresJournal {
    /// Inserts a run with `status` (`Running` from `create_run`, `Queued`
    /// from `enqueue`).
    async fn insert_run(&self, run: &RunRecord, status: RunStatus) -> Result<(), StoreError> {
        let row = encode::run(run, 0);
        let mut conn = self.pool.get().await?;
        let result = insert_run(conn.client()?, &row, status).await;
        conn.settle(result)
    }
}

/// Inserts a run; a queued run is announced to idle workers in the same
/// transaction (delivered when it commits).
async fn insert_run(
    client: &mut Client,
    row: &encode::RunRow,
    status: RunStatus,
) -> Result<(), StoreError> {
    let err = db_err("create a run");
    let tx = client.transaction().await.map_err(&err)?;
    let inserted = tx
        .execute(
            &format!(
                "INSERT INTO bureau.runs (run_id, agent, model, task, status, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, {NOW_MS})
                 ON CONFLICT (run_id) DO NOTHING"
            ),
            &[
                &row.run_key,
                &row.agent,
                &row.model,
                &row.task,
                &status.as_str(),
                &row.created_at,
            ],
        )
        .await
        .map_err(&err)?;
    if inserted == 0 {
        return Err(StoreError::RunExists { run_id: row.run_id });
    }
    if status == RunStatus::Queued {
        tx.execute("SELECT pg_notify($1, '')", &[&lease::CHANNEL])
            .await
            .map_err(&err)?;
    }
    tx.commit().await.map_err(&err)
}

/// `postgresql://user@host:port/dbname` from a parsed config: never the
/// password.
fn redact(config: &Config) -> String {
    let user = config.get_user().unwrap_or("");
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or(user);
    format!("postgresql://{user}@{host}:{port}/{db}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_never_shows_the_password() {
        let config =
            Config::from_str("postgresql://bureau:s3cret@db.internal:6543/journal").unwrap();
        let shown = redact(&config);
        assert_eq!(shown, "postgresql://bureau@db.internal:6543/journal");
        assert!(!shown.contains("s3cret"));
    }

    #[tokio::test]
    async fn a_bad_url_is_a_connect_error_without_the_url() {
        let err = PostgresJournal::connect("postgresql://u:s3cret@host:notaport/db")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Connect { .. }), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}
