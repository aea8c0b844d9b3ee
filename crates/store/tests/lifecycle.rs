//! The journal's threads: stopped and joined on drop and close, and writes
//! queued when the journal goes away are committed, never dropped.
//! One test in this binary, so that counting threads by name is exact.

mod common;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bureau_store::{Journal, SqliteJournal};
use common::{run_record, settled_threads_named, step, steps};

const THREADS: &str = "bureau-journal-";

#[test]
fn threads_stop_on_drop_and_close_and_queued_appends_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bureau.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let run = run_record(1);

    assert_eq!(settled_threads_named(THREADS, 0), 0);
    let j = SqliteJournal::open(&path).unwrap();
    assert_eq!(
        settled_threads_named(THREADS, 2),
        2,
        "one writer and one reader"
    );
    rt.block_on(j.create_run(&run)).unwrap();

    // 100 appends that are queued and then abandoned by their callers (a
    // cancelled task): each future is polled once, which hands the records
    // to the writer, then dropped. Dropping the journal right after must
    // still commit all of them.
    let mut cx = Context::from_waker(Waker::noop());
    for seq in 0..100 {
        let mut fut = pin!(j.append(vec![step(run.run_id, seq)]));
        assert!(matches!(
            fut.as_mut().poll(&mut cx),
            Poll::Pending | Poll::Ready(Ok(()))
        ));
    }
    drop(j);
    assert_eq!(
        settled_threads_named(THREADS, 0),
        0,
        "threads left after drop"
    );

    let j = SqliteJournal::open(&path).unwrap();
    let got = rt.block_on(j.steps(run.run_id)).unwrap();
    assert_eq!(got, steps(run.run_id, 0..100));
    j.close().unwrap();
    assert_eq!(
        settled_threads_named(THREADS, 0),
        0,
        "threads left after close"
    );

    // In memory: one thread, same rules.
    let j = SqliteJournal::open_in_memory().unwrap();
    assert_eq!(settled_threads_named(THREADS, 1), 1);
    rt.block_on(j.create_run(&run)).unwrap();
    drop(j);
    assert_eq!(settled_threads_named(THREADS, 0), 0);
}
