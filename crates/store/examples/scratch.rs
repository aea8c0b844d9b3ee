use rusqlite::{Connection, params};
use std::time::Instant;

fn cpu() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 * 1e6 + t.tv_nsec as f64 / 1e3
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let entry = "x".repeat(318);
    let nruns: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(1000);
    let page: u32 = std::env::args()
        .nth(2)
        .map(|a| a.parse().unwrap())
        .unwrap_or(4096);
    let n = 100_000;
    for schema in ["int"] {
        for per_commit in [3, 30, 300] {
            let path = dir.path().join(format!("{schema}-{per_commit}.db"));
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "page_size", page).unwrap();
            c.pragma_update(None, "journal_mode", "wal").unwrap();
            c.pragma_update(None, "synchronous", "NORMAL").unwrap();
            if std::env::var("EXCL").is_ok() {
                c.pragma_update(None, "locking_mode", "EXCLUSIVE").unwrap();
            }
            if let Ok(v) = std::env::var("CACHE") {
                c.pragma_update(None, "cache_size", v).unwrap();
            }
            if let Ok(v) = std::env::var("MMAP") {
                c.pragma_update(None, "mmap_size", v).unwrap();
            }
            if let Ok(v) = std::env::var("AC") {
                c.pragma_update(None, "wal_autocheckpoint", v).unwrap();
            }
            let ddl = match schema {
                "text" => {
                    "CREATE TABLE steps (run TEXT NOT NULL, seq INTEGER NOT NULL, at_ms INTEGER NOT NULL, version INTEGER NOT NULL, entry TEXT NOT NULL, PRIMARY KEY (run, seq))"
                }
                "int" => {
                    "CREATE TABLE steps (run INTEGER NOT NULL, seq INTEGER NOT NULL, at_ms INTEGER NOT NULL, version INTEGER NOT NULL, entry TEXT NOT NULL, PRIMARY KEY (run, seq))"
                }
                "int_norowid" => {
                    "CREATE TABLE steps (run INTEGER NOT NULL, seq INTEGER NOT NULL, at_ms INTEGER NOT NULL, version INTEGER NOT NULL, entry TEXT NOT NULL, PRIMARY KEY (run, seq)) WITHOUT ROWID"
                }
                _ => {
                    "CREATE TABLE steps (k INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, version INTEGER NOT NULL, entry TEXT NOT NULL)"
                }
            };
            c.execute_batch(ddl).unwrap();
            let runs: Vec<String> = (0..nruns)
                .map(|i| format!("01a20be0-6887-7305-ba8b-{:012}", i))
                .collect();
            let c0 = cpu();
            let w = Instant::now();
            let mut i = 0;
            while i < n {
                c.prepare_cached("BEGIN IMMEDIATE")
                    .unwrap()
                    .execute([])
                    .unwrap();
                for _ in 0..per_commit {
                    let r = i % nruns;
                    let seq = (i / nruns) as i64;
                    match schema {
                        "text" => c
                            .prepare_cached("INSERT INTO steps VALUES (?1, ?2, ?3, ?4, ?5)")
                            .unwrap()
                            .execute(params![runs[r], seq, 0i64, 1u32, entry])
                            .unwrap(),
                        "int" | "int_norowid" => c
                            .prepare_cached("INSERT INTO steps VALUES (?1, ?2, ?3, ?4, ?5)")
                            .unwrap()
                            .execute(params![r as i64 + 1, seq, 0i64, 1u32, entry])
                            .unwrap(),
                        _ => c
                            .prepare_cached("INSERT INTO steps VALUES (?1, ?2, ?3, ?4)")
                            .unwrap()
                            .execute(params![((r as i64 + 1) << 32) | seq, 0i64, 1u32, entry])
                            .unwrap(),
                    };
                    i += 1;
                }
                c.prepare_cached("COMMIT").unwrap().execute([]).unwrap();
            }
            let us = (cpu() - c0) / n as f64;
            println!(
                "{schema:<12} {per_commit:>4}/commit {us:>8.2} µs cpu/rec  {:>8.0} rec/s",
                n as f64 / w.elapsed().as_secs_f64()
            );
        }
    }
}
