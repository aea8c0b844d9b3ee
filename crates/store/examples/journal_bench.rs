//! Journal cost: concurrent runs append agent steps of three records each;
//! prints CPU per step and per record, and records/s.
//!
//! ```text
//! cargo run --release -p bureau-store --example journal_bench -- [DIR] [SCENARIO]
//! ```
//!
//! A step is three records appended in the shape given: `1+1+1` (three
//! calls), `3` (one call), `2+1` (what the orchestrator does: the model
//! call with the tool calls it starts, then the tool results). `@100ms`
//! waits that long before each step, like a model answering.
//!
//! CPU is the whole process (`CLOCK_PROCESS_CPUTIME_ID`: callers, the tokio
//! runtime and the journal's threads); "writer" is the journal's threads
//! alone (from /proc/self/task/*/schedstat). Each scenario also runs with
//! `NullJournal` (building the records, the tasks, the sleeps): "net" is
//! SQLite minus that, the journal's own cost.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bureau_protocol::{RunId, StepRecord};
use bureau_store::{Journal, NullJournal, SqliteJournal};
use common::{run_record, step};

#[derive(Clone, Copy)]
struct Scenario {
    runs: u64,
    steps: u64,
    /// Records per `append` call, in order, for one step (sums to 3).
    shape: &'static [u64],
    latency_ms: u64,
}

impl Scenario {
    fn name(&self) -> String {
        let shape: Vec<String> = self.shape.iter().map(u64::to_string).collect();
        format!(
            "{}x{}x{}@{}ms",
            self.runs,
            self.steps,
            shape.join("+"),
            self.latency_ms
        )
    }
}

const SCENARIOS: [Scenario; 9] = [
    Scenario {
        runs: 1,
        steps: 3000,
        shape: &[1, 1, 1],
        latency_ms: 0,
    },
    Scenario {
        runs: 1,
        steps: 3000,
        shape: &[3],
        latency_ms: 0,
    },
    Scenario {
        runs: 1,
        steps: 3000,
        shape: &[2, 1],
        latency_ms: 0,
    },
    Scenario {
        runs: 100,
        steps: 300,
        shape: &[3],
        latency_ms: 0,
    },
    Scenario {
        runs: 1000,
        steps: 30,
        shape: &[1, 1, 1],
        latency_ms: 0,
    },
    Scenario {
        runs: 1000,
        steps: 30,
        shape: &[3],
        latency_ms: 0,
    },
    Scenario {
        runs: 1000,
        steps: 30,
        shape: &[2, 1],
        latency_ms: 0,
    },
    Scenario {
        runs: 1000,
        steps: 10,
        shape: &[2, 1],
        latency_ms: 100,
    },
    Scenario {
        runs: 10000,
        steps: 10,
        shape: &[2, 1],
        latency_ms: 100,
    },
];

struct Measured {
    cpu_us: f64,
    writer_us: f64,
    wall_s: f64,
    read_ms: f64,
    read_steps: usize,
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = match args.next() {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let only = args.next();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    println!(
        "runs x steps x records per call @ model latency; entry JSON ≈ {} bytes; {} CPUs",
        mean_entry_bytes(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!(
        "{:<22} {:>8} {:>10} {:>10} {:>12} {:>12} {:>11} {:>9}",
        "scenario",
        "records",
        "records/s",
        "µs/step",
        "null µs/step",
        "net µs/step",
        "writer µs/st",
        "net µs/rec"
    );
    for s in SCENARIOS {
        if only.as_ref().is_some_and(|o| *o != s.name()) {
            continue;
        }
        let null = rt.block_on(measure(Arc::new(NullJournal), s))?;
        let path = dir.path().join(format!("{}.db", s.name()));
        let sqlite = rt.block_on(measure(Arc::new(SqliteJournal::open(&path)?), s))?;
        let n_steps = (s.runs * s.steps) as f64;
        let net = (sqlite.cpu_us - null.cpu_us) / n_steps;
        println!(
            "{:<22} {:>8} {:>10.0} {:>10.2} {:>12.2} {:>12.2} {:>11.2} {:>9.2}",
            s.name(),
            s.runs * s.steps * 3,
            n_steps * 3.0 / sqlite.wall_s,
            sqlite.cpu_us / n_steps,
            null.cpu_us / n_steps,
            net,
            sqlite.writer_us / n_steps,
            net / 3.0,
        );
        println!(
            "{:<22} file {:.1} MB; steps() of one run: {} records in {:.2} ms",
            "",
            file_mb(&path),
            sqlite.read_steps,
            sqlite.read_ms
        );
    }
    Ok(())
}

async fn measure(j: Arc<dyn Journal>, s: Scenario) -> anyhow::Result<Measured> {
    let mut runs = Vec::new();
    for t in 0..s.runs {
        let run = run_record(i64::try_from(t)?);
        j.create_run(&run).await?;
        runs.push(run.run_id);
    }
    let last_run = runs.last().copied();
    let writer0 = journal_thread_ns();
    let cpu0 = process_cpu_ns();
    let wall = Instant::now();
    let mut tasks = Vec::new();
    for run_id in runs {
        let j = j.clone();
        tasks.push(tokio::spawn(run(j, run_id, s)));
    }
    for t in tasks {
        t.await??;
    }
    let wall_s = wall.elapsed().as_secs_f64();
    let cpu_us = (process_cpu_ns() - cpu0) as f64 / 1000.0;
    let writer_us = (journal_thread_ns() - writer0) as f64 / 1000.0;
    // Reading one run back (the last steps may still be in the key index's
    // tail, which a read scans).
    let read = Instant::now();
    let read_steps = match last_run {
        Some(run_id) => j.steps(run_id).await?.len(),
        None => 0,
    };
    let read_ms = read.elapsed().as_secs_f64() * 1000.0;
    drop(j);
    Ok(Measured {
        cpu_us,
        writer_us,
        wall_s,
        read_ms,
        read_steps,
    })
}

async fn run(j: Arc<dyn Journal>, run_id: RunId, s: Scenario) -> anyhow::Result<()> {
    let mut seq = 0;
    for _ in 0..s.steps {
        if s.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(s.latency_ms)).await;
        }
        for n in s.shape {
            let batch: Vec<StepRecord> = (seq..seq + n).map(|q| step(run_id, q)).collect();
            j.append(batch).await?;
            seq += n;
        }
    }
    Ok(())
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
    let run_id = RunId::new();
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
