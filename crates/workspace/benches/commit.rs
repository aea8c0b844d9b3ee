//! Commit speed: a live folder of 1 GiB (256 files of 4 MiB) committed cold
//! (empty store) and warm (everything unchanged but one small file).
//!
//! `BENCH_TMPDIR` (default `/tmp`) holds the live folder and the stores;
//! it needs about 3 GiB free. Run: `cargo bench -p bureau-workspace`.
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bureau_workspace::{Durability, SnapshotLabel, StoreOptions, WorkspaceId, WorkspaceStore};
use criterion::{Criterion, criterion_group, criterion_main};

const FILES: usize = 256;
const FILE_BYTES: usize = 4 << 20;

fn base_dir() -> PathBuf {
    std::env::var_os("BENCH_TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
}

/// 256 files of distinct pseudo-random bytes (BLAKE3 XOF), 16 per folder.
fn make_live(live: &Path) {
    let mut buf = vec![0u8; FILE_BYTES];
    for i in 0..FILES {
        let dir = live.join(format!("part-{:02}", i / 16));
        std::fs::create_dir_all(&dir).unwrap();
        let mut xof = blake3::Hasher::new()
            .update(&(i as u64).to_le_bytes())
            .finalize_xof();
        xof.fill(&mut buf);
        std::fs::write(dir.join(format!("chunk-{i:03}.bin")), &buf).unwrap();
    }
    std::fs::write(live.join("notes.txt"), b"step 0").unwrap();
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::Builder::new()
        .prefix("bureau-ws-bench-")
        .tempdir_in(base_dir())
        .unwrap();
    let live = tmp.path().join("live");
    make_live(&live);
    let ws = WorkspaceId::new("bench").unwrap();

    // Cold: a fresh store each time, everything hashed and stored.
    let mut cold = Vec::new();
    for run in 0..3 {
        let root = tmp.path().join(format!("cold-{run}"));
        let store = WorkspaceStore::open(root.clone()).unwrap();
        let t = Instant::now();
        let commit = store
            .commit(&ws, &live, SnapshotLabel::step(0, "bench", 0))
            .unwrap();
        cold.push(t.elapsed());
        // Every file blob and the manifest are new.
        assert_eq!(commit.stats.blobs_stored as usize, FILES + 2);
        drop(store);
        std::fs::remove_dir_all(&root).unwrap();
    }

    // Warm: one store, primed, then one small file changed per commit.
    let store = WorkspaceStore::open(tmp.path().join("warm")).unwrap();
    store
        .commit(&ws, &live, SnapshotLabel::step(0, "bench", 0))
        .unwrap();
    let mut step = 0u64;
    let mut commit_once = |store: &WorkspaceStore| {
        step += 1;
        std::fs::write(live.join("notes.txt"), format!("step {step}")).unwrap();
        let t = Instant::now();
        let c = store
            .commit(&ws, &live, SnapshotLabel::step(step, "bench", step))
            .unwrap();
        let took = t.elapsed();
        assert!(c.recorded);
        assert_eq!(c.changes.len(), 1);
        (took, c)
    };
    // Prime once more so files written during the cold runs are past the
    // racy window.
    commit_once(&store);
    let mut warm = Vec::new();
    let mut last = None;
    for _ in 0..30 {
        let (took, c) = commit_once(&store);
        warm.push(took);
        last = Some(c);
    }
    let last = last.unwrap();

    // The same warm commit without any fsync: what the fsyncs cost.
    let options = StoreOptions {
        durability: Durability::None,
        ..StoreOptions::default()
    };
    let nosync = WorkspaceStore::open_with(tmp.path().join("warm-nosync"), options).unwrap();
    nosync
        .commit(&ws, &live, SnapshotLabel::step(0, "bench", 0))
        .unwrap();
    commit_once(&nosync);
    let nosync_m = median((0..30).map(|_| commit_once(&nosync).0).collect());
    // Another machine: hydrate a fresh folder from the latest snapshot, then
    // commit it unchanged (the restored files are racily clean: re-hashed
    // once, nothing stored).
    let fresh = tmp.path().join("fresh");
    let t = Instant::now();
    let h = store.hydrate(&ws, &fresh).unwrap();
    let hydrate_took = t.elapsed();
    assert_eq!(h.stats.files_written as usize, FILES + 1);
    let t = Instant::now();
    let after = store
        .commit(&ws, &fresh, SnapshotLabel::step(0, "bench", 0))
        .unwrap();
    let after_hydrate_took = t.elapsed();
    assert!(!after.recorded);
    let t = Instant::now();
    let rehydrate = store.hydrate(&ws, &fresh).unwrap();
    let rehydrate_took = t.elapsed();
    assert_eq!(rehydrate.stats.files_written, 0);
    std::fs::remove_dir_all(&fresh).unwrap();
    println!(
        "hydrate 1 GiB into an empty folder: {hydrate_took:?}; first commit after it: \
         {after_hydrate_took:?} ({} bytes hashed, {} stored); hydrate again when up to date: \
         {rehydrate_took:?}",
        after.stats.bytes_hashed, after.stats.bytes_stored
    );

    let (cold_m, warm_m) = (median(cold), median(warm.clone()));
    println!(
        "workspace commit, 1 GiB in {FILES} files: cold median {cold_m:?} (3 runs), \
         warm median {warm_m:?} / max {:?} (30 runs; last: {} from cache, {} hashed, {} bytes stored), \
         cold/warm ratio {:.0}x; warm without fsync: median {nosync_m:?}",
        warm.iter().max().unwrap(),
        last.stats.files_from_cache,
        last.stats.files_hashed,
        last.stats.bytes_stored,
        cold_m.as_secs_f64() / warm_m.as_secs_f64()
    );

    many_small_files(tmp.path());

    c.bench_function("commit_1gib_unchanged_one_small_file_changed", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += commit_once(&store).0;
            }
            total
        });
    });
}

/// How commit cost grows with the number of entries (lstat per file, the
/// manifest and the stat cache are O(entries)).
fn many_small_files(base: &Path) {
    const N: usize = 10_000;
    let live = base.join("many");
    for i in 0..N {
        let dir = live.join(format!("d{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(
            dir.join(format!("f{i}.txt")),
            format!("file {i}\n").repeat(100),
        )
        .unwrap();
    }
    let ws = WorkspaceId::new("many").unwrap();
    let store = WorkspaceStore::open(base.join("many-store")).unwrap();
    let t = Instant::now();
    store
        .commit(&ws, &live, SnapshotLabel::step(0, "bench", 0))
        .unwrap();
    let cold = t.elapsed();
    // Past the racy window, so the stat cache vouches for every file.
    std::thread::sleep(Duration::from_millis(1100));
    store
        .commit(&ws, &live, SnapshotLabel::step(0, "bench", 0))
        .unwrap();
    let mut warm = Vec::new();
    for step in 1..=10u64 {
        std::fs::write(live.join("d000/f0.txt"), format!("step {step}")).unwrap();
        let t = Instant::now();
        let c = store
            .commit(&ws, &live, SnapshotLabel::step(step, "bench", step))
            .unwrap();
        warm.push(t.elapsed());
        assert_eq!(c.stats.files_hashed, 1);
    }
    println!(
        "{N} small files in 100 folders: cold commit {cold:?}, warm commit (one file changed) median {:?}",
        median(warm)
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(10));
    targets = bench
}
criterion_main!(benches);
