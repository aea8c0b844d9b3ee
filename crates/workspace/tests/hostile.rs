//! Live folders written by hostile code: links, special files, bad names,
//! caps, and files edited behind the stat cache's back.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use bureau_workspace::{
    Limit, Limits, SkipReason, SnapshotLabel, StoreOptions, WorkspaceError, WorkspaceId,
    WorkspaceStore,
};
use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps};

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

fn ws() -> WorkspaceId {
    WorkspaceId::new("hostile").unwrap()
}

fn label(n: u64) -> SnapshotLabel {
    SnapshotLabel::step(n, "run", n)
}

fn mkfifo(path: &Path) {
    let dir = std::fs::File::open(path.parent().unwrap()).unwrap();
    rustix::fs::mknodat(
        &dir,
        path.file_name().unwrap(),
        FileType::Fifo,
        Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
}

/// Runs `f` on another thread; a hang guard, not a timing assertion.
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("the operation hung (a FIFO was probably opened)"))
}

#[test]
fn special_entries_are_skipped_and_reported_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    write(&live, "ok.txt", b"fine");
    write(&live, "sub/inner.txt", b"inner");
    std::os::unix::fs::symlink("/etc/passwd", live.join("passwd-link")).unwrap();
    std::os::unix::fs::symlink("..", live.join("sub/up")).unwrap();
    std::os::unix::fs::symlink("/etc", live.join("etc-dir")).unwrap();
    mkfifo(&live.join("pipe"));
    let _socket = std::os::unix::net::UnixListener::bind(live.join("sock")).unwrap();
    std::fs::write(live.join(OsStr::from_bytes(b"bad\xff.txt")), b"x").unwrap();
    write(
        &live.join(OsStr::from_bytes(b"dir\xfe")),
        "hidden.txt",
        b"in a non-UTF-8 folder",
    );
    // A hard link to a file outside: read through the descriptor like any
    // file (its content is what the sandbox could see anyway).
    write(tmp.path(), "outside.txt", b"linked");
    std::fs::hard_link(tmp.path().join("outside.txt"), live.join("hard.txt")).unwrap();
    let dev = {
        let dir = std::fs::File::open(&live).unwrap();
        rustix::fs::mknodat(
            &dir,
            "null-dev",
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, 3),
        )
    };
    if let Err(e) = &dev {
        println!(
            "SKIP part: cannot create a device node here ({e}); the device case is not checked"
        );
    }

    let store = WorkspaceStore::open(tmp.path().join("store")).unwrap();
    let live2 = live.clone();
    let c = within_a_minute(move || store.commit(&ws(), &live2, label(1)).map(|c| (c, store)));
    let (c, store) = c.unwrap();

    let mut skipped: Vec<_> = c
        .skipped
        .iter()
        .map(|s| (s.path.clone(), s.reason))
        .collect();
    skipped.sort();
    let mut expected = vec![
        ("bad\u{fffd}.txt".to_owned(), SkipReason::NonUtf8Name),
        ("dir\u{fffd}".to_owned(), SkipReason::NonUtf8Name),
        ("etc-dir".to_owned(), SkipReason::Symlink),
        ("passwd-link".to_owned(), SkipReason::Symlink),
        ("pipe".to_owned(), SkipReason::Fifo),
        ("sock".to_owned(), SkipReason::Socket),
        ("sub/up".to_owned(), SkipReason::Symlink),
    ];
    if dev.is_ok() {
        expected.push(("null-dev".to_owned(), SkipReason::CharDevice));
        expected.sort();
    }
    assert_eq!(skipped, expected);

    let m = store.manifest(&ws(), &c.snapshot).unwrap();
    let paths: Vec<_> = m.entries().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["hard.txt", "ok.txt", "sub", "sub/inner.txt"]);
    assert_eq!(
        store.read_file(&ws(), &c.snapshot, "hard.txt").unwrap(),
        b"linked"
    );
}

#[test]
fn restore_replaces_a_fifo_without_opening_it() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    write(&live, "data.txt", b"real data");
    let store = WorkspaceStore::open(tmp.path().join("store")).unwrap();
    let c = store.commit(&ws(), &live, label(1)).unwrap();
    std::fs::remove_file(live.join("data.txt")).unwrap();
    mkfifo(&live.join("data.txt"));
    let live2 = live.clone();
    within_a_minute(move || store.restore(&ws(), &c.snapshot, &live2).map(|_| ())).unwrap();
    assert_eq!(std::fs::read(live.join("data.txt")).unwrap(), b"real data");
}

fn capped(limits: Limits) -> (tempfile::TempDir, WorkspaceStore) {
    let tmp = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        limits,
        ..StoreOptions::default()
    };
    let store = WorkspaceStore::open_with(tmp.path().join("store"), options).unwrap();
    (tmp, store)
}

fn expect_cap(store: &WorkspaceStore, live: &Path, want: Limit) {
    let before = store.log(&ws()).unwrap();
    match store.commit(&ws(), live, label(9)) {
        Err(WorkspaceError::LimitExceeded { limit, .. }) => assert_eq!(limit, want),
        other => panic!("expected the {want} cap, got {other:?}"),
    }
    // Nothing recorded: the log is exactly as before.
    assert_eq!(store.log(&ws()).unwrap(), before);
}

#[test]
fn each_cap_fails_the_commit_naming_the_cap() {
    let base = Limits {
        max_files: 100,
        max_total_bytes: 10_000,
        max_file_bytes: 1_000,
        max_depth: 4,
        max_path_bytes: 64,
    };
    let (tmp, store) = capped(base);
    let live = tmp.path().join("live");
    write(&live, "ok.txt", b"fine");
    let ok = store.commit(&ws(), &live, label(1)).unwrap();

    write(&live, "big.bin", &[7u8; 1_001]);
    expect_cap(&store, &live, Limit::MaxFileBytes);
    std::fs::remove_file(live.join("big.bin")).unwrap();

    for i in 0..11 {
        write(&live, &format!("many/{i}.bin"), &[1u8; 999]);
    }
    expect_cap(&store, &live, Limit::MaxTotalBytes);
    std::fs::remove_dir_all(live.join("many")).unwrap();

    for i in 0..100 {
        mkfifo(&live.join(format!("fifo{i}")));
    }
    expect_cap(&store, &live, Limit::MaxFiles);
    for i in 0..100 {
        std::fs::remove_file(live.join(format!("fifo{i}"))).unwrap();
    }

    std::fs::create_dir_all(live.join("a/b/c/d/e")).unwrap();
    expect_cap(&store, &live, Limit::MaxDepth);
    std::fs::remove_dir_all(live.join("a")).unwrap();

    write(&live, &"n".repeat(65), b"long name");
    expect_cap(&store, &live, Limit::MaxPathBytes);
    std::fs::remove_file(live.join("n".repeat(65))).unwrap();

    // Back within every cap: the same snapshot as before.
    let again = store.commit(&ws(), &live, label(2)).unwrap();
    assert_eq!(again.snapshot, ok.snapshot);
    assert!(!again.recorded);
}

fn set_mtime(path: &Path, sec: i64, nsec: i64) {
    let dir = std::fs::File::open(path.parent().unwrap()).unwrap();
    let t = Timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    };
    rustix::fs::utimensat(
        &dir,
        path.file_name().unwrap(),
        &Timestamps {
            last_access: t,
            last_modification: t,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn mtime(path: &Path) -> (i64, i64) {
    let st = rustix::fs::stat(path).unwrap();
    (st.st_mtime, st.st_mtime_nsec as i64)
}

/// The racy case: a same-size edit right after a commit, with mtime put back
/// by `utimensat`, is noticed. The file's ctime is inside the racy window,
/// so the cache does not vouch for it and it is hashed again.
#[test]
fn same_size_edit_with_mtime_put_back_is_noticed_inside_the_racy_window() {
    let tmp = tempfile::tempdir().unwrap();
    let store = WorkspaceStore::open(tmp.path().join("store")).unwrap();
    let live = tmp.path().join("live");
    let f = live.join("counter.txt");
    write(&live, "counter.txt", b"value=1");
    let first = store.commit(&ws(), &live, label(1)).unwrap();
    let (s, ns) = mtime(&f);
    std::fs::write(&f, b"value=2").unwrap();
    set_mtime(&f, s, ns);
    assert_eq!(mtime(&f), (s, ns));
    let second = store.commit(&ws(), &live, label(2)).unwrap();
    assert_ne!(second.snapshot, first.snapshot);
    assert_eq!(second.stats.files_from_cache, 0);
    assert_eq!(
        store
            .read_file(&ws(), &second.snapshot, "counter.txt")
            .unwrap(),
        b"value=2"
    );
}

/// Outside the racy window the cache vouches for the file (it is not read),
/// yet a same-size edit with mtime put back is still noticed: `utimensat`
/// sets ctime, which user space cannot put back, and ctime is compared.
#[test]
fn same_size_edit_with_mtime_put_back_is_noticed_through_ctime() {
    let tmp = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        racy_window: Duration::from_millis(50),
        ..StoreOptions::default()
    };
    let store = WorkspaceStore::open_with(tmp.path().join("store"), options).unwrap();
    let live = tmp.path().join("live");
    let f = live.join("counter.txt");
    write(&live, "counter.txt", b"value=1");
    // Let the file's timestamps age past the window (a precondition, not an
    // assertion about speed).
    std::thread::sleep(Duration::from_millis(200));
    let first = store.commit(&ws(), &live, label(1)).unwrap();
    assert_eq!(first.stats.files_hashed, 1);
    let cached = store.commit(&ws(), &live, label(2)).unwrap();
    assert_eq!(cached.stats.files_from_cache, 1);
    assert_eq!(cached.stats.bytes_hashed, 0);

    let (s, ns) = mtime(&f);
    std::fs::write(&f, b"value=2").unwrap();
    set_mtime(&f, s, ns);
    let third = store.commit(&ws(), &live, label(3)).unwrap();
    assert_eq!(third.stats.files_from_cache, 0);
    assert_ne!(third.snapshot, first.snapshot);
    assert_eq!(
        store
            .read_file(&ws(), &third.snapshot, "counter.txt")
            .unwrap(),
        b"value=2"
    );
}

/// A file replaced by another with the same size and mtime (new inode) is
/// noticed too.
#[test]
fn replaced_file_with_same_size_and_mtime_is_noticed() {
    let tmp = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        racy_window: Duration::from_millis(50),
        ..StoreOptions::default()
    };
    let store = WorkspaceStore::open_with(tmp.path().join("store"), options).unwrap();
    let live = tmp.path().join("live");
    let f = live.join("a.txt");
    write(&live, "a.txt", b"AAAA");
    std::thread::sleep(Duration::from_millis(200));
    let first = store.commit(&ws(), &live, label(1)).unwrap();
    let (s, ns) = mtime(&f);
    write(&live, "a.tmp", b"BBBB");
    set_mtime(&live.join("a.tmp"), s, ns);
    std::fs::rename(live.join("a.tmp"), &f).unwrap();
    let second = store.commit(&ws(), &live, label(2)).unwrap();
    assert_ne!(second.snapshot, first.snapshot);
    assert_eq!(
        store.read_file(&ws(), &second.snapshot, "a.txt").unwrap(),
        b"BBBB"
    );
}

/// Blob storage that lets a "still running sandbox" append to a live file
/// while the commit is storing it.
#[derive(Debug)]
struct WritesDuringPut {
    inner: bureau_workspace::LocalBlobStore,
    victim: std::path::PathBuf,
}

impl bureau_workspace::BlobStore for WritesDuringPut {
    fn contains(&self, hash: &bureau_workspace::BlobHash) -> Result<bool, WorkspaceError> {
        self.inner.contains(hash)
    }
    fn put_if_absent(
        &self,
        hash: &bureau_workspace::BlobHash,
        source: bureau_workspace::BlobSource<'_>,
    ) -> Result<bureau_workspace::Put, WorkspaceError> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.victim)
            .unwrap();
        f.write_all(b"more").unwrap();
        self.inner.put_if_absent(hash, source)
    }
    fn get(&self, hash: &bureau_workspace::BlobHash) -> Result<Vec<u8>, WorkspaceError> {
        self.inner.get(hash)
    }
}

#[test]
fn a_file_growing_during_the_commit_fails_it_without_a_log_entry() {
    for size in [10usize, 3 << 20] {
        let tmp = tempfile::tempdir().unwrap();
        let live = tmp.path().join("live");
        write(&live, "growing.bin", &vec![5u8; size]);
        let blobs = WritesDuringPut {
            inner: bureau_workspace::LocalBlobStore::open(
                tmp.path().join("blobs"),
                bureau_workspace::Durability::None,
            )
            .unwrap(),
            victim: live.join("growing.bin"),
        };
        let store = WorkspaceStore::with_blob_store(
            tmp.path().join("store"),
            Box::new(blobs),
            StoreOptions::default(),
        )
        .unwrap();
        match store.commit(&ws(), &live, label(1)) {
            Err(WorkspaceError::ChangedDuringCommit { path }) => assert_eq!(path, "growing.bin"),
            other => panic!("size {size}: expected ChangedDuringCommit, got {other:?}"),
        }
        assert!(store.log(&ws()).unwrap().is_empty());
    }
}
