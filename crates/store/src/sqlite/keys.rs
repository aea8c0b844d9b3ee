//! The (run, seq) key of every step, maintained in batches.
//!
//! An index on (run, seq) updated on every commit costs most of an append
//! when many runs are active: each commit rewrites one index page per run
//! it touches. So `steps` is a plain log and `step_keys` is filled from it
//! in one sorted batch every [`FLUSH_ROWS`] rows, in the same transaction
//! as the commit that crosses the threshold, and when the journal is opened
//! and closed. Steps above `step_keys_upto.upto` (the tail: at most about
//! `FLUSH_ROWS` rows) are found by scanning the tail instead; every query
//! here and in `read.rs` looks at both.

use rusqlite::{Connection, params};

/// Rows appended before the tail is moved into `step_keys`.
pub(crate) const FLUSH_ROWS: u64 = 4096;

/// Moves the tail into `step_keys`; returns how many keys were added.
///
/// `OR IGNORE`: the writer never lets a duplicate into the log, so an
/// ignored row can only come from two processes appending the same step of
/// the same run at once; the first one stays visible.
pub(crate) fn flush(conn: &Connection) -> rusqlite::Result<usize> {
    let added = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO step_keys (run, seq, step)
             SELECT run, seq, id FROM steps
             WHERE id > (SELECT upto FROM step_keys_upto) ORDER BY run, seq",
        )?
        .execute([])?;
    conn.prepare_cached(
        "UPDATE step_keys_upto SET upto = (SELECT coalesce(max(id), 0) FROM steps)",
    )?
    .execute([])?;
    Ok(added)
}

/// The highest seq of a run, or -1 if it has none.
pub(crate) fn max_seq(conn: &Connection, run: i64) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT coalesce(max(m), -1) FROM (
             SELECT max(seq) AS m FROM step_keys WHERE run = ?1
             UNION ALL
             SELECT max(seq) FROM steps
             WHERE id > (SELECT upto FROM step_keys_upto) AND run = ?1)",
    )?
    .query_row(params![run], |row| row.get(0))
}

/// Whether a run already has a step `seq`.
pub(crate) fn exists(conn: &Connection, run: i64, seq: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM step_keys WHERE run = ?1 AND seq = ?2)
             OR EXISTS (SELECT 1 FROM steps
                        WHERE id > (SELECT upto FROM step_keys_upto) AND run = ?1 AND seq = ?2)",
    )?
    .query_row(params![run, seq], |row| row.get(0))
}

/// Flushes in its own transaction (on open and close).
pub(crate) fn flush_now(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match flush(conn) {
        Ok(n) => conn.execute_batch("COMMIT").map(|()| n),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(conn: &Connection, run: i64, seq: i64) {
        conn.execute(
            "INSERT INTO steps (run, seq, at_ms, version, entry) VALUES (?1, ?2, 0, 1, '{}')",
            params![run, seq],
        )
        .unwrap();
    }

    #[test]
    fn keys_are_found_in_the_index_and_in_the_tail() {
        let conn = super::super::schema::open_memory().unwrap();
        assert_eq!(max_seq(&conn, 1).unwrap(), -1);
        for seq in 0..3 {
            append(&conn, 1, seq);
        }
        append(&conn, 2, 0);
        assert_eq!(flush_now(&conn).unwrap(), 4);
        // Indexed now; more steps land in the tail.
        append(&conn, 1, 7);
        assert_eq!(max_seq(&conn, 1).unwrap(), 7);
        assert_eq!(max_seq(&conn, 2).unwrap(), 0);
        assert!(exists(&conn, 1, 1).unwrap(), "indexed");
        assert!(exists(&conn, 1, 7).unwrap(), "in the tail");
        assert!(!exists(&conn, 1, 5).unwrap());
        assert!(!exists(&conn, 3, 0).unwrap());
        assert_eq!(flush(&conn).unwrap(), 1);
        assert_eq!(flush(&conn).unwrap(), 0, "nothing left to index");
        let upto: i64 = conn
            .query_row("SELECT upto FROM step_keys_upto", [], |r| r.get(0))
            .unwrap();
        assert_eq!(upto, 5);
    }
}
