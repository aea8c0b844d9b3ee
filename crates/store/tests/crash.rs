//! Crash durability: a child process appends and reports each
//! acknowledgement, is killed with SIGKILL mid-stream, and the reopened
//! journal holds every acknowledged record.
//!
//! The child is this test binary itself, run with `--exact crash_child`
//! and the journal path in an environment variable set on the child only.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bureau_protocol::RunId;
use bureau_store::{Journal, SqliteJournal};
use common::{run_record, steps};

const CHILD_DB: &str = "BUREAU_STORE_TEST_CRASH_CHILD_DB";
const RUNS: u64 = 8;
/// Kill the child once this many records are acknowledged: more than one
/// batch of the key index, so the child both indexed some steps and left a
/// tail for the reopen to index.
const KILL_AFTER: usize = 6000;
const SIGKILL: i32 = 9;

/// Helper mode: does nothing unless started by the test below.
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async move {
        let j = Arc::new(SqliteJournal::open(&PathBuf::from(path)).unwrap());
        let started = Instant::now();
        let mut tasks = Vec::new();
        for r in 0..RUNS {
            let j = j.clone();
            tasks.push(tokio::spawn(async move {
                let run = run_record(i64::try_from(r).unwrap());
                j.create_run(&run).await.unwrap();
                let mut seq = 0;
                // Runs until killed; gives up on its own after two minutes
                // or when the parent stops reading.
                while started.elapsed() < Duration::from_secs(120) {
                    let n = 1 + (seq + r) % 3;
                    j.append(steps(run.run_id, seq..seq + n)).await.unwrap();
                    let mut out = std::io::stdout().lock();
                    if writeln!(out, "ack {} {} {}", run.run_id, seq, seq + n)
                        .and_then(|()| out.flush())
                        .is_err()
                    {
                        std::process::exit(3);
                    }
                    seq += n;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn acknowledged_appends_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bureau.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();

    // run -> end of the acknowledged prefix (exclusive).
    let mut acked: HashMap<RunId, u64> = HashMap::new();
    let mut records = 0;
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // libtest may print its "test crash_child ... " header on the
        // same line as the first ack.
        let Some(rest) = line.find("ack ").map(|i| &line[i + 4..]) else {
            continue;
        };
        let parts: Vec<&str> = rest.split(' ').collect();
        let (run_id, from, to): (RunId, u64, u64) = (
            parts[0].parse().unwrap(),
            parts[1].parse().unwrap(),
            parts[2].parse().unwrap(),
        );
        let end = acked.entry(run_id).or_insert(0);
        assert_eq!(*end, from, "acks of one run arrive in order");
        *end = to;
        records += usize::try_from(to - from).unwrap();
        if records >= KILL_AFTER && !killed {
            child.kill().unwrap(); // SIGKILL
            killed = true;
        }
        // Keep reading: acks written before the kill are still in the pipe.
    }
    let status = child.wait().unwrap();
    assert!(
        killed,
        "the child stopped on its own after {records} records: {status}"
    );
    assert_eq!(status.signal(), Some(SIGKILL), "{status}");
    assert_eq!(acked.len(), usize::try_from(RUNS).unwrap());

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let j = SqliteJournal::open(&path).unwrap();
    let mut found = 0;
    for (run_id, end) in &acked {
        let got = rt.block_on(j.steps(*run_id)).unwrap();
        let committed = u64::try_from(got.len()).unwrap();
        assert!(
            committed >= *end,
            "run {run_id}: {committed} records, {end} acknowledged"
        );
        // Committed but unacknowledged records may follow, always whole
        // calls in order: the journal is a prefix of what was sent.
        assert_eq!(got, steps(*run_id, 0..committed), "run {run_id}");
        found += got.len();
    }
    assert!(found >= records);
    assert_eq!(rt.block_on(j.list_runs(100)).unwrap().len(), acked.len());
}
