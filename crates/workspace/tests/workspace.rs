//! Commit, log, diff, restore and hydrate against real folders.
#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bureau_workspace::{
    Change, ChangeKind, NodeKind, SnapshotLabel, StoreOptions, WorkspaceError, WorkspaceId,
    WorkspaceStore,
};

#[derive(Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File { bytes: Vec<u8>, exec: bool },
    Other(String),
}

/// Everything under `root`, without following links.
fn tree(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(root.join(&rel)).unwrap() {
            let e = e.unwrap();
            let r = rel.join(e.file_name());
            let md = std::fs::symlink_metadata(e.path()).unwrap();
            let key = r.to_string_lossy().into_owned();
            if md.is_dir() {
                out.insert(key, Node::Dir);
                stack.push(r);
            } else if md.is_file() {
                let exec = md.permissions().mode() & 0o111 != 0;
                out.insert(
                    key,
                    Node::File {
                        bytes: std::fs::read(e.path()).unwrap(),
                        exec,
                    },
                );
            } else {
                out.insert(key, Node::Other(format!("{:?}", md.file_type())));
            }
        }
    }
    out
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

fn set_exec(root: &Path, rel: &str) {
    std::fs::set_permissions(root.join(rel), std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn ws(name: &str) -> WorkspaceId {
    WorkspaceId::new(name).unwrap()
}

fn step(n: u64) -> SnapshotLabel {
    SnapshotLabel::step(1_700_000_000_000 + n, "run-1", n)
}

fn blob_count(store_root: &Path) -> usize {
    walk_files(&store_root.join("blobs"))
}

fn walk_files(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_name() == ".tmp" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            n += walk_files(&e.path());
        } else {
            n += 1;
        }
    }
    n
}

fn sample(live: &Path) {
    write(live, "README.md", b"# data\n");
    write(
        live,
        "data/sales.csv",
        b"region,amount\nnorth,10\nsouth,20\n",
    );
    write(live, "data/empty.txt", b"");
    write(live, "bin/run.sh", b"#!/bin/sh\necho hi\n");
    set_exec(live, "bin/run.sh");
    std::fs::create_dir_all(live.join("out/empty/deeper")).unwrap();
}

#[test]
fn round_trip_restores_bytes_empty_dirs_and_exec_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let store = WorkspaceStore::open(tmp.path().join("store")).unwrap();
    let live = tmp.path().join("live");
    sample(&live);
    let before = tree(&live);
    assert!(matches!(before.get("out/empty/deeper"), Some(Node::Dir)));

    let c = store.commit(&ws("w1"), &live, step(1)).unwrap();
    assert!(c.recorded);
    assert!(c.skipped.is_empty());
    assert_eq!(c.stats.files, 4);
    assert_eq!(c.stats.dirs, 5);

    std::fs::remove_dir_all(&live).unwrap();
    let r = store.restore(&ws("w1"), &c.snapshot, &live).unwrap();
    assert_eq!(r.stats.files_written, 4);
    assert_eq!(tree(&live), before);

    // A fresh folder elsewhere, hydrated from the latest snapshot.
    let other = tmp.path().join("machine-2/live");
    let h = store.hydrate(&ws("w1"), &other).unwrap();
    assert_eq!(h.snapshot, Some(c.snapshot));
    assert_eq!(tree(&other), before);
}

#[test]
fn unchanged_commit_stores_no_blob_and_returns_the_same_id() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let store = WorkspaceStore::open(root.clone()).unwrap();
    let live = tmp.path().join("live");
    sample(&live);
    let first = store.commit(&ws("w"), &live, step(1)).unwrap();
    let blobs = blob_count(&root);
    // 4 files with 4 distinct contents + the manifest.
    assert_eq!(blobs, 5);
    assert_eq!(first.stats.blobs_stored, 5);

    let second = store.commit(&ws("w"), &live, step(2)).unwrap();
    assert_eq!(second.snapshot, first.snapshot);
    assert!(!second.recorded);
    assert!(second.changes.is_empty());
    assert_eq!(second.stats.blobs_stored, 0);
    assert_eq!(second.stats.bytes_stored, 0);
    assert_eq!(blob_count(&root), blobs);
    assert_eq!(store.log(&ws("w")).unwrap().len(), 1);
}

#[test]
fn stat_cache_skips_reading_unchanged_files() {
    let tmp = tempfile::tempdir().unwrap();
    // A zero window trusts every file changed before the commit started;
    // fine here because nothing writes during the test's commits.
    let options = StoreOptions {
        racy_window: Duration::ZERO,
        ..StoreOptions::default()
    };
    let store = WorkspaceStore::open_with(tmp.path().join("store"), options).unwrap();
    let live = tmp.path().join("live");
    sample(&live);
    store.commit(&ws("w"), &live, step(1)).unwrap();
    write(&live, "data/new.txt", b"fresh");
    let c = store.commit(&ws("w"), &live, step(2)).unwrap();
    assert_eq!(c.stats.files_from_cache, 4);
    assert_eq!(c.stats.files_hashed, 1);
    assert_eq!(c.stats.bytes_hashed, 5);
    assert_eq!(
        c.changes,
        [Change {
            path: "data/new.txt".into(),
            kind: ChangeKind::Added,
            node: NodeKind::File,
            old_size: None,
            new_size: Some(5),
        }]
    );
}

#[test]
fn step_history_restores_an_old_file_into_a_fresh_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let store = WorkspaceStore::open(tmp.path().join("store")).unwrap();
    let w = ws("run-1");
    let live = tmp.path().join("sandbox-1");
    write(&live, "sales.csv", b"q,amount\n1,100\n2,250\n");
    let s1 = store.commit(&w, &live, step(1)).unwrap();
    for n in 2..=4 {
        write(
            &live,
            &format!("notes/step{n}.txt"),
            format!("step {n}").as_bytes(),
        );
        store.commit(&w, &live, step(n)).unwrap();
    }
    // The sandbox is gone; step 5 runs elsewhere.
    std::fs::remove_dir_all(&live).unwrap();
    let fresh = tmp.path().join("sandbox-5");
    let h = store.hydrate(&w, &fresh).unwrap();
    assert_eq!(h.stats.files_written, 4);
    assert_eq!(
        std::fs::read(fresh.join("sales.csv")).unwrap(),
        b"q,amount\n1,100\n2,250\n"
    );
    let log = store.log(&w).unwrap();
    let steps: Vec<_> = log.iter().map(|i| i.label.step.unwrap()).collect();
    assert_eq!(steps, [1, 2, 3, 4]);
    assert_eq!(log[0].id, s1.snapshot);
    assert_eq!(
        store.read_file(&w, &s1.snapshot, "sales.csv").unwrap(),
        b"q,amount\n1,100\n2,250\n"
    );
    assert!(matches!(
        store.read_file(&w, &s1.snapshot, "notes/step2.txt"),
        Err(WorkspaceError::PathNotInSnapshot { .. })
    ));
}

#[test]
fn diff_and_log_describe_each_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let store = WorkspaceStore::open(tmp.path().join("store")).unwrap();
    let w = ws("w");
    let live = tmp.path().join("live");
    sample(&live);
    let a = store.commit(&w, &live, step(1)).unwrap();
    write(&live, "README.md", b"# data v2\n");
    std::fs::remove_file(live.join("data/empty.txt")).unwrap();
    write(&live, "report/summary.txt", b"total 30");
    std::fs::remove_dir_all(live.join("out/empty/deeper")).unwrap();
    std::fs::set_permissions(
        live.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let b = store
        .commit(&w, &live, step(2).with_message("second"))
        .unwrap();

    let d = store.diff(&w, Some(&a.snapshot), &b.snapshot).unwrap();
    assert_eq!(d, b.changes);
    let summary: Vec<_> = d
        .iter()
        .map(|c| (c.path.as_str(), c.kind, c.node, c.old_size, c.new_size))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "README.md",
                ChangeKind::Modified,
                NodeKind::File,
                Some(7),
                Some(10)
            ),
            (
                "bin/run.sh",
                ChangeKind::Modified,
                NodeKind::File,
                Some(18),
                Some(18)
            ),
            (
                "data/empty.txt",
                ChangeKind::Deleted,
                NodeKind::File,
                Some(0),
                None
            ),
            (
                "out/empty/deeper",
                ChangeKind::Deleted,
                NodeKind::Dir,
                None,
                None
            ),
            ("report", ChangeKind::Added, NodeKind::Dir, None, None),
            (
                "report/summary.txt",
                ChangeKind::Added,
                NodeKind::File,
                None,
                Some(8)
            ),
        ]
    );
    let from_empty = store.diff(&w, None, &a.snapshot).unwrap();
    assert!(from_empty.iter().all(|c| c.kind == ChangeKind::Added));
    assert_eq!(from_empty.len(), 9);

    let log = store.log(&w).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!((log[0].seq, log[0].parent), (1, None));
    assert_eq!((log[1].seq, log[1].parent), (2, Some(a.snapshot)));
    assert_eq!(log[1].label.message.as_deref(), Some("second"));
    assert_eq!(log[1].label.created_at_ms, 1_700_000_000_002);
    assert_eq!((log[1].stats.added, log[1].stats.modified), (2, 2));
    assert_eq!((log[1].stats.deleted, log[1].stats.files), (2, 4));

    let prefix = &b.snapshot.to_hex()[..8];
    assert_eq!(store.resolve(&w, prefix).unwrap(), b.snapshot);
    assert_eq!(store.resolve(&w, "latest").unwrap(), b.snapshot);
    assert!(store.resolve(&w, "zz").is_err());
}

#[test]
fn snapshots_of_one_workspace_are_not_visible_through_another() {
    let tmp = tempfile::tempdir().unwrap();
    let store = WorkspaceStore::open(tmp.path().join("store")).unwrap();
    let live = tmp.path().join("live");
    sample(&live);
    let a = store.commit(&ws("tenant-a"), &live, step(1)).unwrap();
    assert!(matches!(
        store.read_file(&ws("tenant-b"), &a.snapshot, "README.md"),
        Err(WorkspaceError::UnknownSnapshot { .. })
    ));
    assert!(matches!(
        store.restore(&ws("tenant-b"), &a.snapshot, &tmp.path().join("x")),
        Err(WorkspaceError::UnknownSnapshot { .. })
    ));
    assert!(WorkspaceId::new("../etc").is_err());
    assert!(WorkspaceId::new(".hidden").is_err());
}

#[test]
fn restore_writes_only_what_differs_and_deletes_extras() {
    let tmp = tempfile::tempdir().unwrap();
    let store = WorkspaceStore::open(tmp.path().join("store")).unwrap();
    let w = ws("w");
    let live = tmp.path().join("live");
    sample(&live);
    let c = store.commit(&w, &live, step(1)).unwrap();
    let want = tree(&live);

    write(&live, "data/sales.csv", b"tampered");
    write(&live, "junk/deep/file.bin", b"junk");
    write(&live, "stray.txt", b"x");
    std::fs::set_permissions(
        live.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let r = store.restore(&w, &c.snapshot, &live).unwrap();
    assert_eq!(tree(&live), want);
    assert_eq!(r.stats.files_written, 1);
    assert_eq!(r.stats.files_kept, 3);
    let mut removed = r.stats.removed.clone();
    removed.sort();
    assert_eq!(removed, ["junk", "stray.txt"]);

    // Restoring again changes nothing.
    let again = store.hydrate(&w, &live).unwrap();
    assert_eq!(again.stats.files_written, 0);
    assert!(again.stats.removed.is_empty());
}

#[test]
fn restore_replaces_planted_symlinks_without_following_them() {
    let tmp = tempfile::tempdir().unwrap();
    let store = WorkspaceStore::open(tmp.path().join("store")).unwrap();
    let w = ws("w");
    let live = tmp.path().join("live");
    write(&live, "a/passwd", b"snapshot content");
    write(&live, "b.txt", b"snapshot b");
    let c = store.commit(&w, &live, step(1)).unwrap();

    // Outside the live folder: what a naive restore would write into.
    let outside = tmp.path().join("outside");
    write(&outside, "passwd", b"host secret");
    write(&outside, "b-target", b"host b");
    write(&outside, "keep/me", b"keep");

    std::fs::remove_dir_all(&live).unwrap();
    std::fs::create_dir(&live).unwrap();
    // `a` is a link to a folder outside (like `a -> /etc`), `b.txt` a link
    // to an outside file, and an extra link to an outside folder.
    std::os::unix::fs::symlink(&outside, live.join("a")).unwrap();
    std::os::unix::fs::symlink(outside.join("b-target"), live.join("b.txt")).unwrap();
    std::os::unix::fs::symlink(outside.join("keep"), live.join("extra")).unwrap();
    std::fs::create_dir(live.join("dir-extra")).unwrap();
    std::os::unix::fs::symlink(&outside, live.join("dir-extra/up")).unwrap();

    store.restore(&w, &c.snapshot, &live).unwrap();
    assert_eq!(
        std::fs::read(outside.join("passwd")).unwrap(),
        b"host secret"
    );
    assert_eq!(std::fs::read(outside.join("b-target")).unwrap(), b"host b");
    assert_eq!(std::fs::read(outside.join("keep/me")).unwrap(), b"keep");
    let t = tree(&live);
    assert_eq!(t.len(), 3, "{t:?}");
    assert_eq!(t["a"], Node::Dir);
    assert_eq!(
        t["a/passwd"],
        Node::File {
            bytes: b"snapshot content".to_vec(),
            exec: false
        }
    );
    assert_eq!(
        t["b.txt"],
        Node::File {
            bytes: b"snapshot b".to_vec(),
            exec: false
        }
    );
}

#[test]
fn live_folder_that_is_a_symlink_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = WorkspaceStore::open(tmp.path().join("store")).unwrap();
    let real = tmp.path().join("real");
    sample(&real);
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert!(matches!(
        store.commit(&ws("w"), &link, step(1)),
        Err(WorkspaceError::LiveFolder { .. })
    ));
    assert!(matches!(
        store.commit(&ws("w"), &tmp.path().join("missing"), step(1)),
        Err(WorkspaceError::LiveFolder { .. })
    ));
}

#[test]
fn hydrate_without_snapshots_makes_an_empty_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let store = WorkspaceStore::open(tmp.path().join("store")).unwrap();
    let live = tmp.path().join("live");
    let h = store.hydrate(&ws("new"), &live).unwrap();
    assert_eq!(h.snapshot, None);
    assert!(tree(&live).is_empty());
}

#[test]
fn concurrent_commits_of_two_workspaces_and_of_one() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(WorkspaceStore::open(tmp.path().join("store")).unwrap());
    let mut handles = Vec::new();
    for t in 0..4 {
        let store = Arc::clone(&store);
        // Threads 0 and 1 share workspace "shared" (each its own live folder);
        // threads 2 and 3 have their own workspaces.
        let name = if t < 2 {
            "shared".to_owned()
        } else {
            format!("own-{t}")
        };
        let live = tmp.path().join(format!("live-{t}"));
        handles.push(std::thread::spawn(move || {
            let mut ids = Vec::new();
            for n in 0..5u64 {
                write(
                    &live,
                    &format!("f{n}.txt"),
                    format!("thread {t} step {n}").as_bytes(),
                );
                write(&live, "common.txt", b"same in every thread");
                let c = store.commit(&ws(&name), &live, step(n)).unwrap();
                ids.push(c.snapshot);
            }
            (name, live, ids)
        }));
    }
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (name, live, ids) in &results {
        let log = store.log(&ws(name)).unwrap();
        let seqs: Vec<_> = log.iter().map(|i| i.seq).collect();
        let expected: Vec<u64> = (1..=log.len() as u64).collect();
        assert_eq!(seqs, expected);
        // Each parent is the entry before it: no lost or interleaved append.
        for pair in log.windows(2) {
            assert_eq!(pair[1].parent, Some(pair[0].id));
        }
        for id in ids {
            assert!(log.iter().any(|i| i.id == *id));
        }
        // The last snapshot each thread made restores to its live folder.
        let out = tmp.path().join(format!(
            "check-{}",
            live.file_name().unwrap().to_string_lossy()
        ));
        store.restore(&ws(name), ids.last().unwrap(), &out).unwrap();
        assert_eq!(tree(&out), tree(live));
    }
    assert_eq!(store.log(&ws("own-2")).unwrap().len(), 5);
    assert_eq!(store.log(&ws("shared")).unwrap().len(), 10);
}

#[test]
fn hydrate_brings_a_stale_folder_to_the_latest_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let store = WorkspaceStore::open(tmp.path().join("store")).unwrap();
    let w = ws("shared");
    let a = tmp.path().join("machine-a");
    let b = tmp.path().join("machine-b");
    sample(&a);
    let s1 = store.commit(&w, &a, step(1)).unwrap();

    // Machine B picks the workspace up, works, commits.
    store.hydrate(&w, &b).unwrap();
    write(&b, "data/sales.csv", b"region,amount\nnorth,11\n");
    write(&b, "b-was-here.txt", b"b");
    let s2 = store.commit(&w, &b, step(2)).unwrap();
    assert_eq!(s2.parent, Some(s1.snapshot));
    // Committing right after hydrating: same content, nothing stored.
    let again = store.commit(&w, &b, step(3)).unwrap();
    assert!(!again.recorded);
    assert_eq!(again.stats.bytes_stored, 0);

    // Machine A is stale and has an uncommitted scratch file: hydrate makes
    // it the latest snapshot exactly.
    write(&a, "scratch.tmp", b"uncommitted");
    let h = store.hydrate(&w, &a).unwrap();
    assert_eq!(h.snapshot, Some(s2.snapshot));
    assert_eq!(tree(&a), tree(&b));
    assert_eq!(h.stats.files_written, 2);
    assert_eq!(h.stats.removed, ["scratch.tmp"]);
    assert!(matches!(
        store.read_file(&w, &s2.snapshot, "data"),
        Err(WorkspaceError::NotAFile { .. })
    ));
}
