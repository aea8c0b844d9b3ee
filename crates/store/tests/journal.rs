//! The journal's behaviour through its public API, on real SQLite files.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use bureau_protocol::{RunId, RunStatus, StepRecord};
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

#[tokio::test]
async fn every_entry_kind_round_trips_with_the_run_and_its_summary() {
    let (_dir, journals) = journals();
    for j in journals {
        let run = run_record(1_700_000_000_000);
        j.create_run(&run).await.unwrap();

        let view = j.get_run(run.run_id).await.unwrap().unwrap();
        assert_eq!(view.run, run);
        assert_eq!(view.status, RunStatus::Running);
        assert_eq!(view.summary, None);

        // 15 entries: all three kinds, all five tool outcomes; one record
        // per call and batches of three.
        let all = steps(run.run_id, 0..15);
        j.append(all[..1].to_vec()).await.unwrap();
        j.append(all[1..3].to_vec()).await.unwrap();
        for chunk in all[3..].chunks(3) {
            j.append(chunk.to_vec()).await.unwrap();
        }
        j.append(Vec::new()).await.unwrap();
        assert_eq!(
            j.steps(run.run_id).await.unwrap(),
            all,
            "{}",
            j.path().display()
        );

        let done = summary(&run, RunStatus::Completed);
        j.update_run(&done).await.unwrap();
        let view = j.get_run(run.run_id).await.unwrap().unwrap();
        assert_eq!(view.run, run);
        assert_eq!(view.status, RunStatus::Completed);
        assert_eq!(view.summary, Some(done));
        assert!(view.updated_at_ms > 0);

        assert_eq!(j.get_run(RunId::new()).await.unwrap(), None);
        assert!(j.steps(RunId::new()).await.unwrap().is_empty());
        j.close().unwrap();
    }
}

#[tokio::test]
async fn runs_are_listed_newest_first_up_to_the_limit() {
    let (_dir, journals) = journals();
    for j in journals {
        let runs: Vec<_> = [30, 10, 50, 20, 40].into_iter().map(run_record).collect();
        for r in &runs {
            j.create_run(r).await.unwrap();
        }
        j.update_run(&summary(&runs[1], RunStatus::Failed))
            .await
            .unwrap();

        let listed = j.list_runs(100).await.unwrap();
        let created: Vec<i64> = listed.iter().map(|v| v.run.created_at_ms).collect();
        assert_eq!(created, vec![50, 40, 30, 20, 10]);
        assert_eq!(listed[4].status, RunStatus::Failed);
        assert_eq!(listed[0].status, RunStatus::Running);

        let top2 = j.list_runs(2).await.unwrap();
        assert_eq!(top2, listed[..2].to_vec());
        assert!(j.list_runs(0).await.unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_runs_keep_every_record_once_and_in_order() {
    let (_dir, journals) = journals();
    for j in journals {
        let j: Arc<dyn Journal> = Arc::new(j);
        let mut tasks = Vec::new();
        for t in 0..200_u64 {
            let j = j.clone();
            tasks.push(tokio::spawn(async move {
                let run = run_record(i64::try_from(t).unwrap());
                j.create_run(&run).await.unwrap();
                let mut seq = 0;
                while seq < 30 {
                    // Alternate one-record calls and three-record steps.
                    let n = if (seq + t) % 2 == 0 { 1 } else { 3 };
                    j.append(steps(run.run_id, seq..seq + n)).await.unwrap();
                    seq += n;
                    tokio::task::yield_now().await;
                }
                j.update_run(&summary(&run, RunStatus::Completed))
                    .await
                    .unwrap();
                (run.run_id, seq)
            }));
        }
        let mut ids = HashSet::new();
        for task in tasks {
            let (run_id, n) = task.await.unwrap();
            let got = j.steps(run_id).await.unwrap();
            assert_eq!(got, steps(run_id, 0..n), "run {run_id}");
            assert!(ids.insert(run_id));
        }
        let listed = j.list_runs(1000).await.unwrap();
        assert_eq!(listed.len(), 200);
        assert!(
            listed
                .iter()
                .all(|v| v.status == RunStatus::Completed && ids.contains(&v.run.run_id))
        );
    }
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

#[tokio::test]
async fn a_duplicate_seq_is_a_conflict_and_its_whole_call_is_discarded() {
    let (_dir, journals) = journals();
    for j in journals {
        let run = run_record(1);
        j.create_run(&run).await.unwrap();
        j.append(steps(run.run_id, 0..3)).await.unwrap();

        // Single record.
        let mut dup = step(run.run_id, 1);
        dup.at_ms = 99;
        let err = j.append(vec![dup]).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict { run_id, seq: 1 } if run_id == run.run_id),
            "{err}"
        );
        assert!(err.to_string().contains("never overwrites"), "{err}");

        // A batch whose last record collides: none of it is written.
        let err = j.append(vec![
            step(run.run_id, 3),
            step(run.run_id, 4),
            step(run.run_id, 0),
        ]);
        let err = err.await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { seq: 0, .. }), "{err}");

        // A batch that collides with itself.
        let err = j
            .append(vec![step(run.run_id, 5), step(run.run_id, 5)])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { seq: 5, .. }), "{err}");

        assert_eq!(j.steps(run.run_id).await.unwrap(), steps(run.run_id, 0..3));
        // The journal keeps working after a conflict.
        j.append(steps(run.run_id, 3..6)).await.unwrap();
        assert_eq!(j.steps(run.run_id).await.unwrap(), steps(run.run_id, 0..6));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_call_does_not_fail_the_others_in_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let j = Arc::new(SqliteJournal::open(&dir.path().join("bureau.db")).unwrap());
    let run = run_record(1);
    j.create_run(&run).await.unwrap();
    j.append(vec![step(run.run_id, 0)]).await.unwrap();
    // Many concurrent calls, every other one a duplicate of seq 0: the
    // good ones must all commit whether or not they share a group with a
    // bad one.
    let mut tasks = Vec::new();
    for i in 1..=100_u64 {
        let j = j.clone();
        let run_id = run.run_id;
        tasks.push(tokio::spawn(async move {
            let records = if i % 2 == 0 {
                vec![step(run_id, i), step(run_id, 0)]
            } else {
                vec![step(run_id, i)]
            };
            (i, j.append(records).await)
        }));
    }
    for t in tasks {
        let (i, result) = t.await.unwrap();
        match i % 2 {
            0 => assert!(
                matches!(result, Err(StoreError::Conflict { seq: 0, .. })),
                "{i}"
            ),
            _ => result.unwrap(),
        }
    }
    let got: Vec<u64> = j
        .steps(run.run_id)
        .await
        .unwrap()
        .iter()
        .map(|s| s.seq)
        .collect();
    let want: Vec<u64> = std::iter::once(0)
        .chain((1..=100).filter(|i| i % 2 == 1))
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn unknown_and_duplicate_runs_are_clear_errors() {
    let (_dir, journals) = journals();
    for j in journals {
        let run = run_record(1);
        let stray = RunId::new();
        let err = j.append(vec![step(stray, 0)]).await.unwrap_err();
        assert!(
            matches!(err, StoreError::UnknownRun { run_id } if run_id == stray),
            "{err}"
        );
        let err = j
            .update_run(&summary(&run, RunStatus::Failed))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::UnknownRun { .. }), "{err}");
        assert!(err.to_string().contains("create_run"), "{err}");

        j.create_run(&run).await.unwrap();
        let mut again = run.clone();
        again.task = "something else".into();
        let err = j.create_run(&again).await.unwrap_err();
        assert!(matches!(err, StoreError::RunExists { .. }), "{err}");
        assert_eq!(j.get_run(run.run_id).await.unwrap().unwrap().run, run);
    }
}

#[tokio::test]
async fn a_seq_beyond_sqlite_integers_is_refused_before_writing() {
    let j = SqliteJournal::open_in_memory().unwrap();
    let run = run_record(1);
    j.create_run(&run).await.unwrap();
    let mut huge = step(run.run_id, 1);
    huge.seq = u64::MAX;
    let err = j.append(vec![step(run.run_id, 0), huge]).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    assert!(j.steps(run.run_id).await.unwrap().is_empty());
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

#[tokio::test]
async fn reads_see_committed_writes_immediately() {
    let dir = tempfile::tempdir().unwrap();
    let j = SqliteJournal::open(&dir.path().join("bureau.db")).unwrap();
    let run = run_record(1);
    j.create_run(&run).await.unwrap();
    for seq in 0..50 {
        j.append(vec![step(run.run_id, seq)]).await.unwrap();
        let got: Vec<StepRecord> = j.steps(run.run_id).await.unwrap();
        assert_eq!(got.len(), usize::try_from(seq + 1).unwrap());
    }
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
