//! The Postgres journal on a real throwaway cluster: the shared `Journal`
//! contract (`common/conformance.rs`, also run on SQLite), what is
//! Postgres's own (schema versions, many processes, a connection killed
//! mid-transaction), and run leasing for many workers.
//!
//! One cluster per test process ([`TempPostgres::shared`]), one database per
//! journal. Without the PostgreSQL binaries every test prints SKIPPED and
//! returns (`scripts/test-deps/setup-sql.sh` installs them in CI).

#![expect(clippy::unwrap_used, reason = "test fixtures fail loudly")]

mod common;
#[path = "common/conformance.rs"]
mod conformance;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bureau_protocol::{RunId, RunStatus};
use bureau_store::{Journal, Lease, POSTGRES_SCHEMA_VERSION, PostgresJournal, StoreError};
use bureau_test_support::postgres::TempPostgres;
use common::{run_record, step, steps, summary};

/// A fresh database `name` on the shared cluster and its URL; `None` (and
/// a printed SKIPPED) without PostgreSQL.
fn database(name: &str) -> Option<String> {
    if TempPostgres::bin_dir().is_none() {
        println!(
            "SKIPPED: PostgreSQL server binaries are not installed (run scripts/setup-test-deps.sh)"
        );
        return None;
    }
    let pg = TempPostgres::shared().unwrap();
    pg.create_database(name).unwrap();
    Some(pg.url(name, "postgres"))
}

fn admin(db: &str, sql: &str) -> String {
    TempPostgres::shared().unwrap().admin(db, sql).unwrap()
}

async fn journal(name: &str) -> Option<PostgresJournal> {
    let url = database(name)?;
    Some(PostgresJournal::connect(&url).await.unwrap())
}

/// A raw connection for the test's own SQL (locks, pg_stat_activity).
async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// Polls `check` every 20 ms until it is true; panics after 30 s (a hang
/// guard, not a timing assertion).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- The shared contract -------------------------------------------------

/// Every body of the shared contract, each on its own fresh database (one
/// test, so the cluster starts once for all of them).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_journal_contract_holds_on_postgres() {
    let Some(j) = journal("contract_round_trip").await else {
        return;
    };
    conformance::every_entry_kind_round_trips_with_the_run_and_its_summary(&j).await;
    let j = journal("contract_list").await.unwrap();
    conformance::runs_are_listed_newest_first_up_to_the_limit(&j).await;
    let j = journal("contract_duplicate").await.unwrap();
    conformance::a_duplicate_seq_is_a_conflict_and_its_whole_call_is_discarded(&j).await;
    let j = journal("contract_unknown").await.unwrap();
    conformance::unknown_and_duplicate_runs_are_clear_errors(&j).await;
    let j = journal("contract_huge_seq").await.unwrap();
    conformance::a_seq_beyond_i64_is_refused_before_writing(&j).await;
    let j = journal("contract_reads").await.unwrap();
    conformance::reads_see_committed_writes_immediately(&j).await;
    let j = journal("contract_order").await.unwrap();
    conformance::steps_read_back_in_seq_order_whatever_the_write_order(&j).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_on_postgres_keep_every_record_once_and_in_order() {
    let Some(j) = journal("concurrent_runs").await else {
        return;
    };
    conformance::concurrent_runs_keep_every_record_once_and_in_order(Arc::new(j), 200).await;
    let j = journal("concurrent_failing").await.unwrap();
    conformance::a_failing_call_does_not_fail_the_others(Arc::new(j)).await;
    let j = journal("concurrent_racing").await.unwrap();
    conformance::racing_writers_of_the_same_seq_win_once_each(Arc::new(j)).await;
}

// ---- Postgres's own -------------------------------------------------------

/// Writers in 4 journals (like 4 processes) race for the same steps with
/// two-record calls in opposite orders: every call commits whole or is a
/// conflict (never a deadlock or another database error), and every step
/// is stored once, by a call that was told it won.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_multi_record_calls_from_many_journals_never_deadlock() {
    let Some(url) = database("racing_pairs") else {
        return;
    };
    let first = PostgresJournal::connect(&url).await.unwrap();
    let run = run_record(1);
    first.create_run(&run).await.unwrap();
    let mut journals = vec![Arc::new(first)];
    for _ in 1..4 {
        journals.push(Arc::new(PostgresJournal::connect(&url).await.unwrap()));
    }
    let mut tasks = Vec::new();
    for writer in 0..16_i64 {
        let j = journals[usize::try_from(writer).unwrap() % 4].clone();
        let run_id = run.run_id;
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for pair in 0..60_u64 {
                // Pairs (2k, 2k+1) forwards for even writers, backwards
                // for odd ones.
                let (a, b) = (2 * (pair % 30), 2 * (pair % 30) + 1);
                let (a, b) = if writer % 2 == 0 { (a, b) } else { (b, a) };
                let mut records = vec![step(run_id, a), step(run_id, b)];
                for r in &mut records {
                    r.at_ms = writer;
                }
                match j.append(records).await {
                    Ok(()) => won.extend([(a, writer), (b, writer)]),
                    Err(StoreError::Conflict { .. }) => {}
                    Err(other) => panic!("writer {writer}: {other}"),
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
    let stored = journals[0].steps(run.run_id).await.unwrap();
    assert_eq!(stored.len(), 60);
    for s in stored {
        assert_eq!(Some(&s.at_ms), winners.get(&s.seq), "seq {}", s.seq);
    }
}

#[tokio::test]
async fn data_survives_reconnecting_and_a_newer_entry_is_a_clear_error() {
    let Some(url) = database("reconnect") else {
        return;
    };
    let run = run_record(1);
    {
        let j = PostgresJournal::connect(&url).await.unwrap();
        j.create_run(&run).await.unwrap();
        j.append(steps(run.run_id, 0..6)).await.unwrap();
        j.update_run(&summary(&run, RunStatus::AwaitingApproval))
            .await
            .unwrap();
    }
    let j = PostgresJournal::connect(&url).await.unwrap();
    assert_eq!(j.steps(run.run_id).await.unwrap(), steps(run.run_id, 0..6));
    let view = j.get_run(run.run_id).await.unwrap().unwrap();
    assert_eq!(view.status, RunStatus::AwaitingApproval);
    j.append(steps(run.run_id, 6..9)).await.unwrap();
    assert_eq!(j.steps(run.run_id).await.unwrap(), steps(run.run_id, 0..9));

    // What a future Bureau would write.
    admin(
        "reconnect",
        &format!(
            "INSERT INTO bureau.steps (run, seq, at_ms, version, entry)
             SELECT id, 9, 0, 999, '{{}}' FROM bureau.runs WHERE run_id = '{}'",
            run.run_id
        ),
    );
    let err = j.steps(run.run_id).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NewerEntry {
                seq: 9,
                found: 999,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_untouched() {
    let Some(url) = database("newer_schema") else {
        return;
    };
    let run = run_record(1);
    {
        let j = PostgresJournal::connect(&url).await.unwrap();
        assert!(j.target().contains("/newer_schema"), "{}", j.target());
        j.create_run(&run).await.unwrap();
    }
    admin(
        "newer_schema",
        "UPDATE bureau.schema_version SET version = version + 1;
         CREATE TABLE bureau.approvals (id text);",
    );
    let snapshot = |db: &str| {
        admin(
            db,
            "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables
                 WHERE table_schema = 'bureau';
             SELECT version FROM bureau.schema_version;
             SELECT count(*) FROM bureau.runs;",
        )
    };
    let before = snapshot("newer_schema");
    // A password in the URL must not show in the message.
    let with_password = url.replace("postgres@", "postgres:s3cret@");
    let err = PostgresJournal::connect(&with_password).await.unwrap_err();
    match &err {
        StoreError::NewerSchema {
            found, supported, ..
        } => assert_eq!(
            (*found, *supported),
            (POSTGRES_SCHEMA_VERSION + 1, POSTGRES_SCHEMA_VERSION)
        ),
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("/newer_schema") && msg.contains("upgrade bureau"),
        "{msg}"
    );
    assert!(!msg.contains("s3cret"), "{msg}");
    assert_eq!(snapshot("newer_schema"), before);
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error_without_the_password() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgresql://bureau:s3cret@127.0.0.1:{port}/journal?connect_timeout=5");
    let err = PostgresJournal::connect(&url).await.unwrap_err();
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}/journal")), "{msg}");
    assert!(msg.contains("check that the server is running"), "{msg}");
    assert!(!msg.contains("s3cret"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_workers_starting_on_a_new_database_all_succeed() {
    let Some(url) = database("many_starts") else {
        return;
    };
    let starts: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresJournal::connect(&url).await.map(drop) })
        })
        .collect();
    for (i, start) in starts.into_iter().enumerate() {
        let started = start.await.unwrap();
        assert!(started.is_ok(), "worker {i}: {started:?}");
    }
    assert_eq!(
        admin("many_starts", "SELECT version FROM bureau.schema_version"),
        POSTGRES_SCHEMA_VERSION.to_string()
    );
}

/// The journal's connection is killed while its `append` has written part
/// of a batch inside its transaction: none of the batch is visible, the
/// call fails, and the journal carries on with a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_mid_transaction_leaves_nothing_half_written() {
    let Some(url) = database("killed") else {
        return;
    };
    let j = Arc::new(PostgresJournal::connect(&url).await.unwrap());
    let run = run_record(1);
    j.create_run(&run).await.unwrap();
    j.append(steps(run.run_id, 0..3)).await.unwrap();

    // Another session holds an uncommitted seq 5, so the journal's insert of
    // [3, 4, 5, 6] writes what comes before 5, then waits on 5.
    let mut blocker = raw(&url).await;
    let tx = blocker.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO bureau.steps (run, seq, at_ms, version, entry)
         SELECT id, 5, 0, 1, '{}' FROM bureau.runs WHERE run_id = $1",
        &[&run.run_id.to_string()],
    )
    .await
    .unwrap();
    let append = {
        let j = j.clone();
        let run_id = run.run_id;
        tokio::spawn(async move { j.append(steps(run_id, 3..7)).await })
    };
    let watcher = raw(&url).await;
    let pid = Arc::new(std::sync::Mutex::new(None::<i32>));
    eventually("the append to wait on the lock", || {
        let watcher = &watcher;
        let pid = pid.clone();
        async move {
            let row = watcher
                .query_opt(
                    "SELECT pid FROM pg_stat_activity
                     WHERE wait_event_type = 'Lock' AND query LIKE '%bureau.append_steps%'",
                    &[],
                )
                .await
                .unwrap();
            let found = row.map(|r| r.get::<_, i32>(0));
            *pid.lock().unwrap() = found;
            found.is_some()
        }
    })
    .await;
    let pid = pid.lock().unwrap().unwrap();
    let killed: bool = watcher
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap()
        .get(0);
    assert!(killed);
    let result = tokio::time::timeout(Duration::from_secs(30), append)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(result, Err(StoreError::Database { .. })),
        "{result:?}"
    );
    tx.rollback().await.unwrap();

    assert_eq!(j.steps(run.run_id).await.unwrap(), steps(run.run_id, 0..3));
    // The pool replaced the dead connection.
    j.append(steps(run.run_id, 3..7)).await.unwrap();
    assert_eq!(j.steps(run.run_id).await.unwrap(), steps(run.run_id, 0..7));
}

// ---- Leasing ---------------------------------------------------------------

const LONG: Duration = Duration::from_secs(600);

/// 4 workers (each its own journal and pool, like 4 processes) × 4 tasks
/// drain 2,000 queued runs: every run is claimed exactly once, its fenced
/// step written once, and it ends completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_workers_claim_two_thousand_runs_with_no_double_claims() {
    let Some(url) = database("claims") else {
        return;
    };
    let producer = PostgresJournal::connect(&url).await.unwrap();
    let mut queued = HashSet::new();
    for i in 0..2000 {
        let run = run_record(i);
        producer.enqueue(&run).await.unwrap();
        queued.insert(run.run_id);
    }
    assert_eq!(
        producer
            .get_run(*queued.iter().next().unwrap())
            .await
            .unwrap()
            .unwrap()
            .status,
        RunStatus::Queued
    );
    let claims = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..4 {
        let worker = Arc::new(PostgresJournal::connect(&url).await.unwrap());
        for t in 0..4 {
            let worker = worker.clone();
            let claims = claims.clone();
            let name = format!("worker-{w}");
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(lease) = worker.claim(&name, LONG).await.unwrap() {
                    claims.fetch_add(1, Ordering::Relaxed);
                    assert_eq!(lease.worker, name);
                    worker
                        .append_fenced(&lease, vec![step(lease.run_id, 0)])
                        .await
                        .unwrap();
                    worker.release(&lease, RunStatus::Completed).await.unwrap();
                    mine.push((lease.run_id, lease.fencing_token));
                }
                (w, t, mine)
            }));
        }
    }
    let mut seen = HashSet::new();
    let mut tokens = HashSet::new();
    let mut per_worker = [0_usize; 4];
    for task in tasks {
        let (w, _t, mine) = task.await.unwrap();
        per_worker[w] += mine.len();
        for (run_id, token) in mine {
            assert!(seen.insert(run_id), "run {run_id} claimed twice");
            assert!(tokens.insert(token), "token {token} given twice");
        }
    }
    println!("claims per worker: {per_worker:?}");
    assert_eq!(claims.load(Ordering::Relaxed), 2000);
    assert_eq!(seen, queued);
    let statuses = admin(
        "claims",
        "SELECT status || ':' || count(*) FROM bureau.runs GROUP BY status;
         SELECT count(*) FROM bureau.steps;",
    );
    assert_eq!(statuses, "completed:2000\n2000");
    assert_eq!(producer.claim("late", LONG).await.unwrap(), None);
}

/// A lease that expires is taken over by the next claim with a higher
/// token; the stale holder's writes, renewal and release are refused and
/// change nothing. A lease that has not expired is never taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_taken_over_and_the_stale_worker_is_fenced_off() {
    let Some(url) = database("takeover") else {
        return;
    };
    let j = PostgresJournal::connect(&url).await.unwrap();
    let held_run = run_record(1);
    j.enqueue(&held_run).await.unwrap();
    let held = j.claim("w1", LONG).await.unwrap().unwrap();
    assert_eq!(held.run_id, held_run.run_id);
    assert_eq!(
        j.get_run(held.run_id).await.unwrap().unwrap().status,
        RunStatus::Running
    );
    assert_eq!(
        j.claim("w2", LONG).await.unwrap(),
        None,
        "a live lease is never taken"
    );

    let run = run_record(2);
    j.enqueue(&run).await.unwrap();
    let stale = j
        .claim("w1", Duration::from_millis(50))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stale.run_id, run.run_id);
    j.append_fenced(&stale, steps(run.run_id, 0..2))
        .await
        .unwrap();

    // w2 keeps claiming until w1's lease lapses on the database's clock.
    let taken = Arc::new(tokio::sync::Mutex::new(None::<Lease>));
    eventually("the lease to expire and be taken over", || {
        let j = &j;
        let taken = taken.clone();
        async move {
            let lease = j.claim("w2", LONG).await.unwrap();
            let got = lease.is_some();
            *taken.lock().await = lease;
            got
        }
    })
    .await;
    let fresh = taken.lock().await.clone().unwrap();
    assert_eq!(fresh.run_id, run.run_id, "only the expired run is taken");
    assert!(fresh.fencing_token > stale.fencing_token);

    // The stale worker wakes up late: nothing it does lands.
    let err = j
        .append_fenced(&stale, steps(run.run_id, 2..4))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::LeaseLost { run_id, fencing_token }
            if run_id == run.run_id && fencing_token == stale.fencing_token),
        "{err:?}"
    );
    assert!(err.to_string().contains("claim another"), "{err}");
    assert!(matches!(
        j.renew(&stale, LONG).await,
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(matches!(
        j.release(&stale, RunStatus::Failed).await,
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(matches!(
        j.release_with_summary(&stale, &summary(&run, RunStatus::Failed))
            .await,
        Err(StoreError::LeaseLost { .. })
    ));
    let view = j.get_run(run.run_id).await.unwrap().unwrap();
    assert_eq!((view.status, view.summary), (RunStatus::Running, None));
    assert_eq!(j.steps(run.run_id).await.unwrap(), steps(run.run_id, 0..2));

    // The new holder resumes where the run stopped.
    j.append_fenced(&fresh, steps(run.run_id, 2..4))
        .await
        .unwrap();
    let renewed = j.renew(&fresh, LONG).await.unwrap();
    assert!(renewed.expires_at_ms >= fresh.expires_at_ms);
    assert_eq!(renewed.fencing_token, fresh.fencing_token);
    let done = summary(&run, RunStatus::Completed);
    j.release_with_summary(&renewed, &done).await.unwrap();
    assert_eq!(j.steps(run.run_id).await.unwrap(), steps(run.run_id, 0..4));
    let view = j.get_run(run.run_id).await.unwrap().unwrap();
    assert_eq!(view.status, RunStatus::Completed);
    assert_eq!(view.summary, Some(done));
    // Released: even its last holder's token is dead now.
    assert!(matches!(
        j.append_fenced(&fresh, steps(run.run_id, 4..5)).await,
        Err(StoreError::LeaseLost { .. })
    ));
}

#[tokio::test]
async fn release_rules_hand_back_park_or_refuse() {
    let Some(j) = journal("release").await else {
        return;
    };
    let run = run_record(1);
    j.enqueue(&run).await.unwrap();
    assert!(matches!(
        j.enqueue(&run).await,
        Err(StoreError::RunExists { .. })
    ));
    let first = j.claim("w1", LONG).await.unwrap().unwrap();
    // Records of another run never go under this lease.
    let err = j
        .append_fenced(&first, vec![step(RunId::new(), 0)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    // Running is not a way to release.
    let err = j.release(&first, RunStatus::Running).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    // Handed back: the next claim gets it with a new token.
    j.release(&first, RunStatus::Queued).await.unwrap();
    let second = j.claim("w2", LONG).await.unwrap().unwrap();
    assert_eq!(second.run_id, run.run_id);
    assert!(second.fencing_token > first.fencing_token);
    // Parked awaiting approval: nobody claims it.
    j.release(&second, RunStatus::AwaitingApproval)
        .await
        .unwrap();
    assert_eq!(j.claim("w3", LONG).await.unwrap(), None);
    // Runs from create_run carry no lease and are never claimed.
    j.create_run(&run_record(2)).await.unwrap();
    assert_eq!(j.claim("w3", LONG).await.unwrap(), None);
    assert!(matches!(
        j.claim("w3", Duration::ZERO).await,
        Err(StoreError::Invalid { .. })
    ));
}

/// An idle worker sleeping on its work signal wakes when another process
/// enqueues a run, and claims it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_wakes_when_a_run_is_enqueued() {
    let Some(url) = database("wake") else {
        return;
    };
    let worker = Arc::new(PostgresJournal::connect(&url).await.unwrap());
    let producer = PostgresJournal::connect(&url).await.unwrap();
    let signal = worker.work_signal().await.unwrap();
    assert_eq!(worker.claim("w1", LONG).await.unwrap(), None);
    let sleeper = {
        let worker = worker.clone();
        tokio::spawn(async move {
            // Generous: a hang guard, not a latency bound.
            let woken = signal.wait_for_work(Duration::from_secs(30)).await;
            (woken, worker.claim("w1", LONG).await.unwrap())
        })
    };
    let run = run_record(1);
    producer.enqueue(&run).await.unwrap();
    let (woken, lease) = sleeper.await.unwrap();
    assert!(woken, "the worker was not woken by the enqueue");
    assert_eq!(lease.map(|l| l.run_id), Some(run.run_id));
}
