//! The `Journal` contract as test bodies, run against every backend
//! (`tests/journal.rs` for SQLite, `tests/postgres.rs` for Postgres). Each
//! body takes a fresh, empty journal. Included with `#[path]` by both, next
//! to `mod common;`.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test bodies shared by several test binaries fail loudly"
)]

use std::collections::HashSet;
use std::sync::Arc;

use bureau_protocol::{RunId, RunStatus, StepRecord};
use bureau_store::{Journal, StoreError};

use crate::common::{run_record, step, steps, summary};

pub async fn every_entry_kind_round_trips_with_the_run_and_its_summary(j: &dyn Journal) {
    let run = run_record(1_700_000_000_000);
    j.create_run(&run).await.unwrap();

    let view = j.get_run(run.run_id).await.unwrap().unwrap();
    assert_eq!(view.run, run);
    assert_eq!(view.status, RunStatus::Running);
    assert_eq!(view.summary, None);

    // 15 entries: all three kinds, all five tool outcomes; one record per
    // call and batches of three.
    let all = steps(run.run_id, 0..15);
    j.append(all[..1].to_vec()).await.unwrap();
    j.append(all[1..3].to_vec()).await.unwrap();
    for chunk in all[3..].chunks(3) {
        j.append(chunk.to_vec()).await.unwrap();
    }
    j.append(Vec::new()).await.unwrap();
    assert_eq!(j.steps(run.run_id).await.unwrap(), all);

    let done = summary(&run, RunStatus::Completed);
    j.update_run(&done).await.unwrap();
    let view = j.get_run(run.run_id).await.unwrap().unwrap();
    assert_eq!(view.run, run);
    assert_eq!(view.status, RunStatus::Completed);
    assert_eq!(view.summary, Some(done));
    assert!(view.updated_at_ms > 0);

    assert_eq!(j.get_run(RunId::new()).await.unwrap(), None);
    assert!(j.steps(RunId::new()).await.unwrap().is_empty());
}

pub async fn runs_are_listed_newest_first_up_to_the_limit(j: &dyn Journal) {
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

/// `runs` concurrent runs of 30 records each, in calls of one and three.
pub async fn concurrent_runs_keep_every_record_once_and_in_order(j: Arc<dyn Journal>, runs: u64) {
    let mut tasks = Vec::new();
    for t in 0..runs {
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
    let listed = j
        .list_runs(u32::try_from(runs).unwrap() + 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), usize::try_from(runs).unwrap());
    assert!(
        listed
            .iter()
            .all(|v| v.status == RunStatus::Completed && ids.contains(&v.run.run_id))
    );
}

pub async fn a_duplicate_seq_is_a_conflict_and_its_whole_call_is_discarded(j: &dyn Journal) {
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
    let err = j
        .append(vec![
            step(run.run_id, 3),
            step(run.run_id, 4),
            step(run.run_id, 0),
        ])
        .await
        .unwrap_err();
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

/// 100 concurrent calls on one run, every other one carrying a duplicate
/// of seq 0: the good ones all commit, the bad ones write nothing.
pub async fn a_failing_call_does_not_fail_the_others(j: Arc<dyn Journal>) {
    let run = run_record(1);
    j.create_run(&run).await.unwrap();
    j.append(vec![step(run.run_id, 0)]).await.unwrap();
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
                "{i}: {result:?}"
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

/// Many concurrent writers of the same seqs of one run: each seq is
/// written exactly once, by exactly one of them.
pub async fn racing_writers_of_the_same_seq_win_once_each(j: Arc<dyn Journal>) {
    let run = run_record(1);
    j.create_run(&run).await.unwrap();
    let mut tasks = Vec::new();
    for writer in 0..8_i64 {
        let j = j.clone();
        let run_id = run.run_id;
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for seq in 0..40 {
                let mut record = step(run_id, seq);
                record.at_ms = writer;
                match j.append(vec![record]).await {
                    Ok(()) => won.push((seq, writer)),
                    Err(StoreError::Conflict { seq: s, .. }) => assert_eq!(s, seq),
                    Err(other) => panic!("writer {writer}, seq {seq}: {other}"),
                }
            }
            won
        }));
    }
    let mut winners = std::collections::HashMap::new();
    for t in tasks {
        for (seq, writer) in t.await.unwrap() {
            assert!(winners.insert(seq, writer).is_none(), "seq {seq} won twice");
        }
    }
    assert_eq!(winners.len(), 40);
    let stored = j.steps(run.run_id).await.unwrap();
    assert_eq!(stored.len(), 40);
    for s in stored {
        assert_eq!(Some(&s.at_ms), winners.get(&s.seq), "seq {}", s.seq);
    }
}

pub async fn unknown_and_duplicate_runs_are_clear_errors(j: &dyn Journal) {
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
    // A call mixing a known and an unknown run writes nothing.
    let err = j
        .append(vec![step(run.run_id, 0), step(stray, 0)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownRun { run_id } if run_id == stray),
        "{err}"
    );
    assert!(j.steps(run.run_id).await.unwrap().is_empty());

    let mut again = run.clone();
    again.task = "something else".into();
    let err = j.create_run(&again).await.unwrap_err();
    assert!(matches!(err, StoreError::RunExists { .. }), "{err}");
    assert_eq!(j.get_run(run.run_id).await.unwrap().unwrap().run, run);
}

pub async fn a_seq_beyond_i64_is_refused_before_writing(j: &dyn Journal) {
    let run = run_record(1);
    j.create_run(&run).await.unwrap();
    let mut huge = step(run.run_id, 1);
    huge.seq = u64::MAX;
    let err = j.append(vec![step(run.run_id, 0), huge]).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    assert!(j.steps(run.run_id).await.unwrap().is_empty());
}

pub async fn reads_see_committed_writes_immediately(j: &dyn Journal) {
    let run = run_record(1);
    j.create_run(&run).await.unwrap();
    for seq in 0..50 {
        j.append(vec![step(run.run_id, seq)]).await.unwrap();
        let got: Vec<StepRecord> = j.steps(run.run_id).await.unwrap();
        assert_eq!(got.len(), usize::try_from(seq + 1).unwrap());
    }
}

/// Steps written out of order (a gap, then filling it) read back by seq.
pub async fn steps_read_back_in_seq_order_whatever_the_write_order(j: &dyn Journal) {
    let run = run_record(1);
    j.create_run(&run).await.unwrap();
    let r = run.run_id;
    j.append(vec![step(r, 5), step(r, 2)]).await.unwrap();
    j.append(vec![step(r, 0), step(r, 4)]).await.unwrap();
    j.append(vec![step(r, 3), step(r, 1)]).await.unwrap();
    assert_eq!(j.steps(r).await.unwrap(), steps(r, 0..6));
    let err = j.append(vec![step(r, 4)]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { seq: 4, .. }), "{err}");
}
