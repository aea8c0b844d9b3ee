//! A small pool of connections: at most `size` clients, each used by one
//! caller at a time (a transaction needs its connection to itself), opened
//! on demand and replaced when the server closed them. Each connection
//! keeps the statements prepared on it, so a hot query is parsed and
//! planned once per connection, not once per call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::{Client, Config, NoTls, Statement};

use crate::{BackendError, StoreError};

/// How long opening one connection may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Pool {
    config: Config,
    /// The URL without its password, for messages.
    target: String,
    idle: Mutex<Vec<Pooled>>,
    permits: Semaphore,
}

/// A client lent by the pool; it goes back when dropped (unless its
/// connection closed). A transaction dropped before it committed has
/// already queued its `ROLLBACK` on the connection, so the next borrower
/// starts clean.
/// A connection and the statements prepared on it.
struct Pooled {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

pub(crate) struct Conn<'a> {
    pool: &'a Pool,
    client: Option<Pooled>,
    /// Set when a call on this connection failed in the database or the
    /// network: the connection is then closed rather than lent again (the
    /// driver learns that the server hung up only a moment later).
    broken: bool,
    _permit: SemaphorePermit<'a>,
}

impl Pool {
    pub(crate) fn new(mut config: Config, target: String, size: usize) -> Self {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("bureau-journal");
        }
        Self {
            config,
            target,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size.max(1)),
        }
    }

    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// Waits for a free slot, then lends an idle client or opens one.
    pub(crate) async fn get(&self) -> Result<Conn<'_>, StoreError> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed {
                detail: "the connection pool was shut down",
            })?;
        let idle = loop {
            let next = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            match next {
                Some(pooled) if pooled.client.is_closed() => continue,
                other => break other,
            }
        };
        let client = match idle {
            Some(pooled) => pooled,
            None => Pooled {
                client: self.open().await?,
                statements: HashMap::new(),
            },
        };
        Ok(Conn {
            pool: self,
            client: Some(client),
            broken: false,
            _permit: permit,
        })
    }

    /// Opens a connection whose driver runs on the current runtime.
    pub(crate) async fn open(&self) -> Result<Client, StoreError> {
        let (client, connection) =
            self.config
                .connect(NoTls)
                .await
                .map_err(|e| StoreError::Connect {
                    target: self.target.clone(),
                    source: cause(&e),
                })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a journal connection to postgres ended");
            }
        });
        Ok(client)
    }
}

impl Conn<'_> {
    pub(crate) fn client(&mut self) -> Result<&mut Client, StoreError> {
        self.pooled().map(|p| &mut p.client)
    }

    /// `sql` prepared on this connection (once; then from its cache).
    pub(crate) async fn prepare(
        &mut self,
        sql: &'static str,
        action: &'static str,
    ) -> Result<Statement, StoreError> {
        let pooled = self.pooled()?;
        if let Some(statement) = pooled.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = pooled.client.prepare(sql).await.map_err(db_err(action));
        let statement = self.settle(statement)?;
        self.pooled()?.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    fn pooled(&mut self) -> Result<&mut Pooled, StoreError> {
        self.client.as_mut().ok_or(StoreError::Closed {
            detail: "the connection was already returned",
        })
    }
}

impl Conn<'_> {
    /// Passes a call's result through, marking the connection broken if the
    /// call failed in the database or on the way there (not on a refusal
    /// such as a conflict, which leaves the connection healthy).
    pub(crate) fn settle<T>(&mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if matches!(
            result,
            Err(StoreError::Database { .. } | StoreError::Connect { .. })
        ) {
            self.broken = true;
        }
        result
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if self.broken {
            return;
        }
        if let Some(pooled) = self.client.take().filter(|p| !p.client.is_closed()) {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(pooled);
        }
    }
}

/// A driver error as a shareable cause whose message says what the server
/// said (the driver's own `Display` is only "db error"). Never includes
/// the connection string.
pub(crate) fn cause(e: &tokio_postgres::Error) -> BackendError {
    let message = match e.as_db_error() {
        Some(db) => {
            let mut m = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                m.push_str(&format!(" ({detail})"));
            }
            m
        }
        None => match std::error::Error::source(e) {
            Some(inner) => format!("{e}: {inner}"),
            None => e.to_string(),
        },
    };
    Arc::new(std::io::Error::other(message))
}

/// A driver error of `action` as the journal's error.
pub(crate) fn db_err(action: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| StoreError::Database {
        action,
        source: cause(&e),
    }
}
