//! Journal cost: appends records from 1 task and from 1,000 concurrent
//! tasks (each its own run) and prints CPU per record and records/s.
//!
//! ```text
//! cargo run --release -p bureau-store --example journal_bench -- [RECORDS] [DIR] [TASKSxPER_CALL]
//! ```
//!
//! CPU is the whole process (`CLOCK_PROCESS_CPUTIME_ID`: callers, the tokio
//! runtime and the journal's threads); "writer" is the journal threads
//! alone (from /proc/self/task/*/schedstat). Building the records is part
//! of every scenario, so the `null` rows are the harness's own cost; "net"
//! subtracts it.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bureau_protocol::StepRecord;
use bureau_store::{Journal, NullJournal, SqliteJournal};
use common::{run_record, step};

#[derive(Clone, Copy)]
struct Scenario {
    tasks: u64,
    /// Records per `append` call (3 = one agent step per call).
    per_call: u64,
}

struct Measured {
    cpu_us: f64,
    writer_us: f64,
    wall_s: f64,
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let records: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = match args.next() {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let only = args.next();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    let scenarios = [(1, 1), (1, 3), (100, 3), (1000, 1), (1000, 3)]
        .map(|(tasks, per_call)| Scenario { tasks, per_call });
    println!(
        "{records} records per scenario; entry JSON ≈ {} bytes",
        mean_entry_bytes()
    );
    println!(
        "{:<8} {:>6} {:>9} {:>12} {:>10} {:>10} {:>10} {:>12}",
        "journal",
        "tasks",
        "rec/call",
        "records/s",
        "µs/rec",
        "net µs/rec",
        "writer µs",
        "net µs/step"
    );
    for s in scenarios {
        if only.as_ref().is_some_and(|o| *o != format!("{}x{}", s.tasks, s.per_call)) {
            continue;
        }
        let null = rt.block_on(measure(Arc::new(NullJournal), s, records))?;
        let path = dir
            .path()
            .join(format!("bench-{}-{}.db", s.tasks, s.per_call));
        let sqlite = rt.block_on(measure(Arc::new(SqliteJournal::open(&path)?), s, records))?;
        let n = records as f64;
        for (name, m) in [("null", &null), ("sqlite", &sqlite)] {
            let per_rec = m.cpu_us / n;
            let net = (m.cpu_us - null.cpu_us) / n;
            println!(
                "{:<8} {:>6} {:>9} {:>12.0} {:>10.2} {:>10.2} {:>10.2} {:>12.2}",
                name,
                s.tasks,
                s.per_call,
                n / m.wall_s,
                per_rec,
                net,
                m.writer_us / n,
                net * 3.0,
            );
        }
        println!("         file size {:.1} MB", file_mb(&path));
    }
    Ok(())
}

async fn measure(j: Arc<dyn Journal>, s: Scenario, records: u64) -> anyhow::Result<Measured> {
    let per_task = records / s.tasks;
    let mut runs = Vec::new();
    for t in 0..s.tasks {
        let run = run_record(i64::try_from(t)?);
        j.create_run(&run).await?;
        runs.push(run.run_id);
    }
    let writer0 = journal_thread_ns();
    let cpu0 = process_cpu_ns();
    let wall = Instant::now();
    let mut tasks = Vec::new();
    for run_id in runs {
        let j = j.clone();
        tasks.push(tokio::spawn(async move {
            let mut seq = 0;
            while seq < per_task {
                let n = s.per_call.min(per_task - seq);
                let batch: Vec<StepRecord> = (seq..seq + n).map(|q| step(run_id, q)).collect();
                j.append(batch).await?;
                seq += n;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let wall_s = wall.elapsed().as_secs_f64();
    let cpu_us = (process_cpu_ns() - cpu0) as f64 / 1000.0;
    let writer_us = (journal_thread_ns() - writer0) as f64 / 1000.0;
    drop(j);
    Ok(Measured {
        cpu_us,
        writer_us,
        wall_s,
    })
}

fn process_cpu_ns() -> i128 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec)
}

/// CPU time of the journal's own threads so far.
fn journal_thread_ns() -> i128 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.starts_with("bureau-journal"))
        })
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| {
            s.split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<i128>().ok())
        })
        .sum()
}

fn mean_entry_bytes() -> usize {
    let run_id = bureau_protocol::RunId::new();
    let total: usize = (0..300)
        .map(|q| serde_json::to_string(&step(run_id, q).entry).map_or(0, |s| s.len()))
        .sum();
    total / 300
}

fn file_mb(path: &Path) -> f64 {
    let wal = path.with_extension("db-wal");
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    (size(path) + size(&wal)) as f64 / 1e6
}
