//! The SQLite journal: one writer thread with group commit, one reader
//! thread, both owning their connection.

pub(crate) mod encode;
mod keys;
mod read;
mod schema;
mod worker;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bureau_protocol::{RunId, RunRecord, RunSummary, StepRecord};
use rusqlite::Connection;
use tokio::sync::oneshot;

pub use schema::SCHEMA_VERSION;

use crate::{Journal, RunView, StoreError};
use worker::Worker;
use writer::{Job, WriteOp};

/// A journal in one SQLite file (or in memory).
///
/// Writes go to one dedicated writer thread through a channel. The writer
/// takes everything queued, commits it in one transaction (group commit)
/// and then answers every caller, so many concurrent runs share each
/// commit. The file is in WAL mode with `synchronous=NORMAL`: a write that
/// returned survives the process being killed; a power loss or OS crash may
/// lose the last commits (the file stays consistent). Reads use their own
/// read-only connection on a second thread, so they never wait for a
/// commit.
///
/// Dropping the journal (or [`SqliteJournal::close`]) lets the writer
/// commit everything already queued, then stops and joins both threads:
/// the dropping thread waits for those last commits.
pub struct SqliteJournal {
    path: PathBuf,
    writer: Worker<Job>,
    /// `None` in memory: reads then go through the writer's connection.
    reader: Option<Worker<read::ReadJob>>,
}

impl std::fmt::Debug for SqliteJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteJournal")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteJournal {
    /// Opens the journal at `path`, creating the file (and its directory)
    /// if needed and migrating it to [`SCHEMA_VERSION`].
    ///
    /// A file that is not a Bureau journal, is corrupt or has a newer schema
    /// is an error naming the path, and the file is not modified.
    #[tracing::instrument(skip_all, fields(path = %path.display()))]
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = schema::open_writer(path)?;
        let reader_conn = schema::open_reader(path)?;
        let label: Arc<Path> = Arc::from(path);
        let writer = Worker::spawn("bureau-journal-writer", path, move |rx| {
            writer::run(conn, &label, rx)
        })?;
        let reader = Worker::spawn("bureau-journal-reader", path, move |rx| {
            read::serve(reader_conn, rx);
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            writer,
            reader: Some(reader),
        })
    }

    /// A journal that lives in memory and disappears when dropped (tests,
    /// `--journal memory`). Same behaviour as a file, minus durability.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let path = Path::new(":memory:");
        let conn = schema::open_memory()?;
        let label: Arc<Path> = Arc::from(path);
        let writer = Worker::spawn("bureau-journal-writer", path, move |rx| {
            writer::run(conn, &label, rx)
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            writer,
            reader: None,
        })
    }

    /// The file this journal writes (`:memory:` in memory).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits everything already queued, then stops both threads.
    /// Dropping the journal does the same but cannot report a failure.
    pub fn close(mut self) -> Result<(), StoreError> {
        let writer = self.writer.shutdown();
        let reader = self.reader.as_mut().map_or(Ok(()), Worker::shutdown);
        writer.and(reader)
    }

    async fn write(&self, op: WriteOp) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.writer.send(Job::Write { op, done })?;
        answer.await.map_err(|_| StoreError::Closed {
            detail: "the writer stopped before answering",
        })?
    }

    async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection, &Path) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (done, answer) = oneshot::channel();
        let label = self.path.clone();
        let job: read::ReadJob = Box::new(move |conn: &Connection| {
            let _ = done.send(query(conn, &label));
        });
        match &self.reader {
            Some(reader) => reader.send(job)?,
            None => self.writer.send(Job::Read(job))?,
        }
        answer.await.map_err(|_| StoreError::Closed {
            detail: "the reader stopped before answering",
        })?
    }
}

#[async_trait::async_trait]
impl Journal for SqliteJournal {
    #[tracing::instrument(skip_all, fields(run_id = %run.run_id))]
    async fn create_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.write(WriteOp::CreateRun(encode::run(run, now_ms())))
            .await
    }

    async fn append(&self, records: Vec<StepRecord>) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let steps = records
            .iter()
            .map(encode::step)
            .collect::<Result<Vec<_>, _>>()?;
        self.write(WriteOp::Append(steps)).await
    }

    #[tracing::instrument(skip_all, fields(run_id = %summary.run_id, status = %summary.status))]
    async fn update_run(&self, summary: &RunSummary) -> Result<(), StoreError> {
        self.write(WriteOp::UpdateRun(encode::summary(summary, now_ms())?))
            .await
    }

    async fn get_run(&self, run_id: RunId) -> Result<Option<RunView>, StoreError> {
        self.read(move |conn, path| read::run(conn, path, run_id))
            .await
    }

    async fn list_runs(&self, limit: u32) -> Result<Vec<RunView>, StoreError> {
        self.read(move |conn, path| read::runs(conn, path, limit))
            .await
    }

    async fn steps(&self, run_id: RunId) -> Result<Vec<StepRecord>, StoreError> {
        self.read(move |conn, path| read::steps(conn, path, run_id))
            .await
    }
}

/// Maps a database error to the journal's error, naming the file where the
/// problem is the file itself.
pub(crate) fn map_err(path: &Path, action: &'static str, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) => match f.code {
            ErrorCode::NotADatabase => StoreError::NotAJournal {
                path: path.to_path_buf(),
                detail: "the file is not a SQLite database".into(),
            },
            ErrorCode::DatabaseCorrupt => StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: msg.clone().unwrap_or_else(|| f.to_string()),
            },
            _ => StoreError::Database {
                action,
                source: Arc::new(e),
            },
        },
        _ => StoreError::Database {
            action,
            source: Arc::new(e),
        },
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
