//! The journal's behaviour through its public API, on real SQLite files:
//! the shared `Journal` contract (`common/conformance.rs`, also run against
//! Postgres in `tests/postgres.rs`) on a file and in memory, then what is
//! SQLite's own (files, headers, the key index).

mod common;
#[path = "common/conformance.rs"]
mod conformance;

use std::sync::Arc;

use bureau_protocol::RunStatus;
use bureau_store::{Journal, SCHEMA_VERSION, SqliteJournal, StoreError};
use common::{run_record, step, steps, summary};

/// A journal in a file and one in memory, to run the same test on both.
#[expect(clippy::unwrap_used, reason = "a test fixture fails loudly")]
fn journals() -> (tempfile::TempDir, Vec<SqliteJournal>) {
    let dir = tempfile::tempdir().unwrap();
    let file = SqliteJournal::open(&dir.path().join("bureau.db")).unwrap();
    let memory = SqliteJournal::open_in_memory().unwrap();
    (dir, vec![file, memory])
}

/// Runs a shared body on a fresh file journal and a fresh in-memory one,
/// closing each afterwards (a close that fails fails the test).
macro_rules! on_both {
    ($body:path) => {{
        let (_dir, journals) = journals();
        for j in journals {
            $body(&j).await;
            j.close().unwrap();
        }
    }};
    (arc $body:path $(, $arg:expr)*) => {{
        let (_dir, journals) = journals();
        for j in journals {
            let j: Arc<dyn Journal> = Arc::new(j);
            $body(j $(, $arg)*).await;
        }
    }};
}

#[tokio::test]
async fn every_entry_kind_round_trips_with_the_run_and_its_summary() {
    on_both!(conformance::every_entry_kind_round_trips_with_the_run_and_its_summary);
}

#[tokio::test]
async fn runs_are_listed_newest_first_up_to_the_limit() {
    on_both!(conformance::runs_are_listed_newest_first_up_to_the_limit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_runs_keep_every_record_once_and_in_order() {
    on_both!(arc conformance::concurrent_runs_keep_every_record_once_and_in_order, 200);
}

#[tokio::test]
async fn a_duplicate_seq_is_a_conflict_and_its_whole_call_is_discarded() {
    on_both!(conformance::a_duplicate_seq_is_a_conflict_and_its_whole_call_is_discarded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_call_does_not_fail_the_others_in_its_group() {
    on_both!(arc conformance::a_failing_call_does_not_fail_the_others);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_of_the_same_seq_win_once_each() {
    on_both!(arc conformance::racing_writers_of_the_same_seq_win_once_each);
}

#[tokio::test]
async fn unknown_and_duplicate_runs_are_clear_errors() {
    on_both!(conformance::unknown_and_duplicate_runs_are_clear_errors);
}

#[tokio::test]
async fn a_seq_beyond_sqlite_integers_is_refused_before_writing() {
    on_both!(conformance::a_seq_beyond_i64_is_refused_before_writing);
}

#[tokio::test]
async fn reads_see_committed_writes_immediately() {
    on_both!(conformance::reads_see_committed_writes_immediately);
}

#[tokio::test]
async fn steps_read_back_in_seq_order_whatever_the_write_order() {
    on_both!(conformance::steps_read_back_in_seq_order_whatever_the_write_order);
}

#[tokio::test]
async fn data_survives_closing_and_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bureau.db");
    let run = run_record(1);
    {
        let j = SqliteJournal::open(&path).unwrap();
        j.create_run(&run).await.unwrap();
        j.append(steps(run.run_id, 0..6)).await.unwrap();
        j.update_run(&summary(&run, RunStatus::AwaitingApproval))
            .await
            .unwrap();
        // Dropped, not closed: drop must be as safe as close.
    }
    let j = SqliteJournal::open(&path).unwrap();
    assert_eq!(j.steps(run.run_id).await.unwrap(), steps(run.run_id, 0..6));
    let view = j.get_run(run.run_id).await.unwrap().unwrap();
    assert_eq!(view.status, RunStatus::AwaitingApproval);
    // A resumed run continues where it stopped.
    j.append(steps(run.run_id, 6..9)).await.unwrap();
    j.close().unwrap();
    let j = SqliteJournal::open(&path).unwrap();
    assert_eq!(j.steps(run.run_id).await.unwrap(), steps(run.run_id, 0..9));
}

#[test]
fn a_garbage_file_is_a_clear_error_and_stays_untouched() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("text.db", b"name,rows\norders,42\n".repeat(200)),
        ("short.db", b"x".to_vec()),
        ("fake-header.db", {
            let mut b = b"SQLite format 3\0".to_vec();
            b.extend(std::iter::repeat_n(0xA5_u8, 8192));
            b
        }),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let err = SqliteJournal::open(&path).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::NotAJournal { .. } | StoreError::Corrupt { .. }
            ),
            "{name}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("move it aside"), "{msg}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} was modified");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with("-wal") || n.ends_with("-shm") || n.ends_with("-journal"))
        .collect();
    assert!(left.is_empty(), "side files created: {left:?}");
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bureau.db");
    let run = run_record(1);
    {
        let j = SqliteJournal::open(&path).unwrap();
        j.create_run(&run).await.unwrap();
        j.close().unwrap();
    }
    {
        // What a future Bureau would leave behind.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        c.execute_batch("CREATE TABLE approvals (id TEXT)").unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = SqliteJournal::open(&path).unwrap_err();
    match &err {
        StoreError::NewerSchema {
            found, supported, ..
        } => {
            assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("upgrade bureau"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[tokio::test]
async fn a_step_from_a_newer_journal_version_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bureau.db");
    let run = run_record(1);
    let j = SqliteJournal::open(&path).unwrap();
    j.create_run(&run).await.unwrap();
    j.append(steps(run.run_id, 0..2)).await.unwrap();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute(
            "INSERT INTO steps (run, seq, at_ms, version, entry)
             SELECT id, 2, 0, 999, '{}' FROM runs WHERE run_id = ?1",
            [run.run_id.to_string()],
        )
        .unwrap();
    }
    let err = j.steps(run.run_id).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NewerEntry {
                seq: 2,
                found: 999,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade bureau"), "{err}");
}

/// More records than one batch of the key index (4,096), so at every point
/// some steps are indexed and some are still in the tail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_stay_unique_and_in_order_across_key_index_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bureau.db");
    let runs: Vec<_> = (0..3).map(run_record).collect();
    let per_run = 1700_u64;
    {
        let j = SqliteJournal::open(&path).unwrap();
        for r in &runs {
            j.create_run(r).await.unwrap();
        }
        for start in (0..per_run).step_by(50) {
            for r in &runs {
                j.append(steps(r.run_id, start..start + 50)).await.unwrap();
            }
        }
        for r in &runs {
            assert_eq!(
                j.steps(r.run_id).await.unwrap(),
                steps(r.run_id, 0..per_run)
            );
            // Seq 0 was indexed long ago; the last one is in the tail.
            for seq in [0, per_run - 1] {
                let err = j.append(vec![step(r.run_id, seq)]).await.unwrap_err();
                assert!(
                    matches!(err, StoreError::Conflict { .. }),
                    "seq {seq}: {err}"
                );
            }
        }
        // A gap, then filling it: order on read is by seq.
        let r = runs[0].run_id;
        j.append(vec![step(r, per_run + 2)]).await.unwrap();
        j.append(vec![step(r, per_run), step(r, per_run + 1)])
            .await
            .unwrap();
        let err = j.append(vec![step(r, per_run + 1)]).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        assert_eq!(j.steps(r).await.unwrap(), steps(r, 0..per_run + 3));
    }
    // A new writer knows nothing in memory: duplicates are still refused.
    let j = SqliteJournal::open(&path).unwrap();
    let r = runs[1].run_id;
    for seq in [0, 1000, per_run - 1] {
        let err = j.append(vec![step(r, seq)]).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict { .. }),
            "seq {seq}: {err}"
        );
    }
    j.append(vec![step(r, per_run)]).await.unwrap();
    assert_eq!(j.steps(r).await.unwrap(), steps(r, 0..per_run + 1));
    assert_eq!(
        j.steps(runs[2].run_id).await.unwrap(),
        steps(runs[2].run_id, 0..per_run)
    );
}

#[test]
fn many_processes_opening_one_new_journal_at_once_all_succeed() {
    // `bureau runs list` started while `bureau run` creates the journal: the
    // WAL switch and the header check must not trip over each other.
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bureau.db");
        let openers: Vec<_> = (0..6)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || SqliteJournal::open(&path).map(drop))
            })
            .collect();
        for (i, t) in openers.into_iter().enumerate() {
            let opened = t.join().unwrap();
            assert!(opened.is_ok(), "round {round}, opener {i}: {opened:?}");
        }
    }
}
