//! Opening a journal file safely, and the schema's forward-only migrations.
//!
//! A file is inspected read-only before anything is written to it: garbage,
//! another program's database or a newer schema is an error and the file is
//! left exactly as it was.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::map_err;
use crate::StoreError;

/// The schema version this build writes and reads (`PRAGMA user_version`).
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// `PRAGMA application_id` of a Bureau journal: "Bure" in ASCII.
const APPLICATION_ID: i32 = 0x4275_7265;

/// Page size of a new journal file.
const PAGE_SIZE: u32 = 8 * 1024;

/// How long a connection waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// `MIGRATIONS[n]` takes a journal from schema version `n` to `n + 1`.
/// Append only: never edit a migration that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: runs and their steps. Times are milliseconds since the Unix epoch;
    // `summary` is a `RunSummary` as JSON; `entry` is a `JournalEntry` as
    // JSON in the shape of journal version `version`.
    //
    // Steps refer to their run by `runs.id`, a small integer (AUTOINCREMENT:
    // never reused, so the writer may cache it). `steps` is a log in commit
    // order with no other index, so appending writes only its last pages.
    // `step_keys` maps (run, seq) to a step; it is filled in sorted batches
    // (see `keys.rs`) and covers every step up to `step_keys_upto.upto`.
    // Together they key every step by (run, seq), uniquely.
    "CREATE TABLE runs (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id     TEXT    NOT NULL UNIQUE,
        agent      TEXT    NOT NULL,
        model      TEXT    NOT NULL,
        task       TEXT    NOT NULL,
        status     TEXT    NOT NULL,
        summary    TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX runs_newest_first ON runs (created_at DESC, run_id DESC);
    CREATE TABLE steps (
        id      INTEGER PRIMARY KEY,
        run     INTEGER NOT NULL, -- runs.id, checked by the writer
        seq     INTEGER NOT NULL,
        at_ms   INTEGER NOT NULL,
        version INTEGER NOT NULL,
        entry   TEXT    NOT NULL
    );
    CREATE TABLE step_keys (
        run  INTEGER NOT NULL,
        seq  INTEGER NOT NULL,
        step INTEGER NOT NULL,
        PRIMARY KEY (run, seq)
    ) WITHOUT ROWID;
    CREATE TABLE step_keys_upto (upto INTEGER NOT NULL);
    INSERT INTO step_keys_upto (upto) VALUES (0);",
];

/// Opens (creating it and its directory if needed) the journal at `path`
/// for writing: checks what the file is, switches it to WAL with
/// `synchronous=NORMAL` and migrates it to [`SCHEMA_VERSION`].
pub(crate) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |source: rusqlite::Error| StoreError::Open {
        path: path.to_path_buf(),
        source: Arc::new(source),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            source: Arc::new(e),
        })?;
    }
    check_header(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    inspect(&conn, path)?;

    // Takes effect only on a new file (before WAL is on). Measured with
    // `examples/journal_bench.rs`: 8 KiB costs ~10% less per step than
    // 4 KiB with 1,000+ concurrent runs (fewer WAL frames per commit) and
    // about the same for one run alone, where 16 KiB costs ~20% more (each
    // commit rewrites the whole last page).
    conn.pragma_update(None, "page_size", PAGE_SIZE)
        .map_err(|e| map_err(path, "set the page size", e))?;
    // Switching to WAL needs the file to itself for a moment: another
    // process opening the same new journal at the same time (`bureau runs
    // list` while `bureau run` starts) makes SQLite keep the old mode and
    // say so, without an error. Retry for as long as a busy wait would.
    let started = std::time::Instant::now();
    // The busy handler does not cover this pragma, so a lock held by the
    // other process comes back as SQLITE_BUSY: retry that too.
    let mode = loop {
        let attempt: Result<String, rusqlite::Error> =
            conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0));
        let timed_out = started.elapsed() >= BUSY_TIMEOUT;
        match attempt {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") || timed_out => break mode,
            Err(rusqlite::Error::SqliteFailure(f, _))
                if !timed_out
                    && matches!(
                        f.code,
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                    ) => {}
            Err(e) => return Err(map_err(path, "switch to WAL mode", e)),
            Ok(_) => {}
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Database {
            action: "switch to WAL mode",
            source: Arc::new(std::io::Error::other(format!(
                "the file system kept journal mode `{mode}`; put the data directory on a local file system"
            ))),
        });
    }
    set_writer_pragmas(&conn, path)?;
    migrate(&conn, path)?;
    // Steps a killed process left unindexed.
    super::keys::flush_now(&conn).map_err(|e| map_err(path, "index the last steps", e))?;
    Ok(conn)
}

/// A private in-memory journal for one writer connection.
pub(crate) fn open_memory() -> Result<Connection, StoreError> {
    let path = Path::new(":memory:");
    let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
        path: path.to_path_buf(),
        source: Arc::new(source),
    })?;
    set_writer_pragmas(&conn, path)?;
    migrate(&conn, path)?;
    Ok(conn)
}

/// A read-only connection to a journal already opened by [`open_writer`].
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |source: rusqlite::Error| StoreError::Open {
        path: path.to_path_buf(),
        source: Arc::new(source),
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(open_err)?;
    Ok(conn)
}

fn set_writer_pragmas(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    // NORMAL in WAL mode: a commit is in the OS once it returns, so it
    // survives the process being killed; a power loss may lose the last
    // commits (never corrupting the file).
    // No foreign-key checks: the writer resolves every step's run itself
    // (`runs.id`, cached), which makes the check redundant work per row.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .and_then(|()| conn.pragma_update(None, "foreign_keys", false))
        .map_err(|e| map_err(path, "configure the connection", e))?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

/// The first bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Refuses a non-empty file that does not start like a SQLite database.
/// SQLite itself would treat a file shorter than its header as an empty
/// database and overwrite it.
fn check_header(path: &Path) -> Result<(), StoreError> {
    use std::io::Read;
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                source: Arc::new(e),
            });
        }
    };
    let mut head = Vec::with_capacity(SQLITE_MAGIC.len());
    (&mut file)
        .take(SQLITE_MAGIC.len() as u64)
        .read_to_end(&mut head)
        .map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            source: Arc::new(e),
        })?;
    if head.is_empty() || head == SQLITE_MAGIC {
        return Ok(());
    }
    Err(StoreError::NotAJournal {
        path: path.to_path_buf(),
        detail: "the file is not a SQLite database".into(),
    })
}

/// Reads what the file is without writing to it.
fn inspect(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let read = |sql: &str| -> Result<i64, StoreError> {
        conn.query_row(sql, [], |row| row.get::<_, i64>(0))
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::NotADatabase =>
                {
                    StoreError::NotAJournal {
                        path: path.to_path_buf(),
                        detail: "the file is not a SQLite database".into(),
                    }
                }
                other => map_err(path, "read the journal header", other),
            })
    };
    // One read transaction, so the three reads see one state: another
    // process may be creating this same journal right now.
    conn.execute_batch("BEGIN")
        .map_err(|e| map_err(path, "read the journal header", e))?;
    let snapshot = (|| {
        Ok((
            read("PRAGMA application_id")?,
            read("PRAGMA user_version")?,
            read("SELECT count(*) FROM sqlite_schema")?,
        ))
    })();
    let _ = conn.execute_batch("COMMIT");
    let (app_id, version, objects): (i64, i64, i64) = snapshot?;

    if app_id != i64::from(APPLICATION_ID) && (app_id != 0 || version != 0 || objects != 0) {
        return Err(StoreError::NotAJournal {
            path: path.to_path_buf(),
            detail: format!(
                "it is a SQLite database of another program (application id {app_id}, {objects} schema objects)"
            ),
        });
    }
    check_version(path, version)
}

fn check_version(path: &Path, version: i64) -> Result<(), StoreError> {
    if version < 0 || version > i64::from(SCHEMA_VERSION) {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found: u32::try_from(version).unwrap_or(u32::MAX),
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Applies the missing migrations, each in its own transaction that also
/// bumps `user_version`, so a crash mid-way leaves a consistent version.
fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let err = |e| map_err(path, "migrate the journal schema", e);
    loop {
        conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
        // Re-read inside the write lock: another process may have migrated.
        let step = conn
            .query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))
            .map_err(err)
            .and_then(|v| check_version(path, v).map(|()| v));
        let version = match step {
            Ok(v) => v,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        let Some(sql) = usize::try_from(version)
            .ok()
            .and_then(|v| MIGRATIONS.get(v))
        else {
            conn.execute_batch("COMMIT").map_err(err)?;
            return Ok(());
        };
        let applied = conn
            .execute_batch(sql)
            .and_then(|()| conn.pragma_update(None, "user_version", version + 1))
            .and_then(|()| conn.pragma_update(None, "application_id", APPLICATION_ID))
            .and_then(|()| conn.execute_batch("COMMIT"));
        if let Err(e) = applied {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(err(e));
        }
        tracing::info!(path = %path.display(), version = version + 1, "journal schema migrated");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_file_is_migrated_to_the_current_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/bureau.db");
        let conn = open_writer(&path).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        let app: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, i64::from(SCHEMA_VERSION));
        assert_eq!(app, i64::from(APPLICATION_ID));
        assert_eq!(mode, "wal");
        let page: u32 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(page, PAGE_SIZE);
        drop(conn);
        // Opening again is a no-op migration.
        open_writer(&path).unwrap();
    }

    #[test]
    fn another_programs_database_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');")
                .unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let err = open_writer(&path).unwrap_err();
        assert!(matches!(err, StoreError::NotAJournal { .. }), "{err}");
        assert!(err.to_string().contains("other.db"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
