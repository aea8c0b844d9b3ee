//! Append latency and throughput, SQLite on tmpfs against Postgres.
//!
//! ```text
//! cargo run --release -p bureau-store --example journal_latency -- [--postgres URL] [--pool N]
//! ```
//!
//! Two numbers per journal: the latency of one-record appends to a single
//! run (p50/p99 over 2,000 calls, each awaited before the next), and
//! appends per second with 100 concurrent runs appending one record at a
//! time (300 each). SQLite runs on `/dev/shm` (tmpfs: its commits never
//! wait for a disk). Without `--postgres`, a throwaway cluster is started
//! (as `bureau_test_support` does for tests: loopback TCP) and measured
//! twice: as started (`fsync=off`, `synchronous_commit=off`, like tmpfs),
//! then with `fsync=on` and `synchronous_commit=on` (durable on this
//! machine's disk). Prints; asserts nothing.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bureau_store::{Journal, PostgresJournal, SqliteJournal};
use bureau_test_support::postgres::TempPostgres;
use common::{run_record, step};

const SINGLE_APPENDS: u64 = 2000;
const RUNS: u64 = 100;
const PER_RUN: u64 = 300;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut url = None;
    let mut pool = PostgresJournal::DEFAULT_POOL_SIZE;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--postgres" => url = args.next(),
            "--pool" => pool = args.next().unwrap_or_default().parse()?,
            other => anyhow::bail!("unknown argument {other}; see the example's doc comment"),
        }
    }
    println!("journal                          single p50    single p99    100 runs appends/s");

    let dir = tempfile::tempdir_in("/dev/shm")?;
    let sqlite: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&dir.path().join("bureau.db"))?);
    report("sqlite (tmpfs)", sqlite).await?;

    match url {
        Some(url) => {
            let j = PostgresJournal::connect_with_pool_size(&url, pool).await?;
            report(&format!("postgres (given, pool {pool})"), Arc::new(j)).await?;
        }
        None => {
            let pg = TempPostgres::start()?;
            pg.create_database("bench_fast")?;
            let j =
                PostgresJournal::connect_with_pool_size(&pg.url("bench_fast", "postgres"), pool)
                    .await?;
            report(&format!("postgres fsync off, pool {pool}"), Arc::new(j)).await?;

            // fsync can only be set at start: restart the cluster with
            // the server's defaults (fsync, synchronous_commit and
            // full_page_writes on). The watchdog still stops it at the end.
            restart_durable(&pg)?;
            pg.create_database("bench_durable")?;
            let j =
                PostgresJournal::connect_with_pool_size(&pg.url("bench_durable", "postgres"), pool)
                    .await?;
            let settings = pg.admin(
                "bench_durable",
                "SELECT current_setting('fsync') || ',' || current_setting('synchronous_commit')",
            )?;
            report(
                &format!("postgres durable ({settings}), pool {pool}"),
                Arc::new(j),
            )
            .await?;
        }
    }
    Ok(())
}

async fn report(name: &str, j: Arc<dyn Journal>) -> anyhow::Result<()> {
    // One run, one record per call, each awaited.
    let run = run_record(0);
    j.create_run(&run).await?;
    let mut latencies = Vec::with_capacity(SINGLE_APPENDS as usize);
    for seq in 0..SINGLE_APPENDS {
        let record = step(run.run_id, seq);
        let started = Instant::now();
        j.append(vec![record]).await?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];

    // 100 runs at once.
    let started = Instant::now();
    let tasks: Vec<_> = (0..RUNS)
        .map(|i| {
            let j = j.clone();
            tokio::spawn(async move {
                let run = run_record(i64::try_from(i).unwrap_or(0) + 1);
                j.create_run(&run).await?;
                for seq in 0..PER_RUN {
                    j.append(vec![step(run.run_id, seq)]).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed();
    let rate = (RUNS * PER_RUN) as f64 / elapsed.as_secs_f64();
    println!(
        "{name:<32} {:>10}    {:>10}    {rate:>10.0}",
        us(p(0.5)),
        us(p(0.99))
    );
    Ok(())
}

/// Restarts the throwaway cluster without its speed-ups (as root, the
/// server runs as `postgres`, like `TempPostgres` starts it).
fn restart_durable(pg: &TempPostgres) -> anyhow::Result<()> {
    let bin = TempPostgres::bin_dir().ok_or_else(|| anyhow::anyhow!("no postgres binaries"))?;
    let dir = pg.dir();
    let options = format!(
        "-p {} -k {} -c listen_addresses=127.0.0.1",
        pg.port(),
        dir.display()
    );
    let status = std::process::Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join("pg_ctl"))
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-l"])
        .arg(dir.join("server.log"))
        .args(["-w", "-m", "fast", "restart", "-o", &options])
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "pg_ctl restart failed: {status}");
    Ok(())
}

fn us(d: Duration) -> String {
    format!("{} µs", d.as_micros())
}
