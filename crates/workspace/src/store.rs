//! [`WorkspaceStore`]: commit, log, diff, restore, hydrate and read.
//!
//! Layout under the store's root: `blobs/` (the default [`LocalBlobStore`]),
//! `workspaces/<id>/log.jsonl` (the snapshot log), `workspaces/<id>/index`
//! (the stat cache) and `workspaces/<id>/lock` (an `flock` held by commit
//! and restore, so one workspace is changed by one caller at a time while
//! different workspaces proceed in parallel).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};

use crate::blob::{BlobSource, BlobStore, LocalBlobStore, Put, fsync_dir};
use crate::collect::{CollectStats, Collector, Skipped};
use crate::log::{self, SnapshotInfo, SnapshotLabel, SnapshotStats};
use crate::manifest::{self, Change, ChangeKind, EntryKind, Manifest};
use crate::restore::{RestoreStats, Restorer};
use crate::statcache::StatCache;
use crate::{BlobHash, Durability, SnapshotId, StoreOptions, WorkspaceError, WorkspaceId, fsx};

/// The result of [`WorkspaceStore::commit`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub snapshot: SnapshotId,
    pub parent: Option<SnapshotId>,
    /// `false` when the live folder equals the latest snapshot: nothing was
    /// added to the log and `snapshot` is the latest snapshot's id.
    pub recorded: bool,
    /// Changes from `parent` to `snapshot`, in path order.
    pub changes: Vec<Change>,
    /// Entries of the live folder that were not committed, and why.
    pub skipped: Vec<Skipped>,
    pub stats: CollectStats,
}

/// The result of [`WorkspaceStore::restore`] and [`WorkspaceStore::hydrate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restored {
    /// The snapshot the live folder now matches; `None` when hydrating a
    /// workspace without snapshots (the live folder is made empty).
    pub snapshot: Option<SnapshotId>,
    pub stats: RestoreStats,
}

/// Workspaces in one store root.
#[derive(Debug)]
pub struct WorkspaceStore {
    root: PathBuf,
    blobs: Box<dyn BlobStore>,
    options: StoreOptions,
}

struct WsLock {
    _file: File,
}

impl WorkspaceStore {
    /// Opens (creating if needed) a store with default options and local
    /// blob storage in `<root>/blobs`.
    pub fn open(root: PathBuf) -> Result<Self, WorkspaceError> {
        Self::open_with(root, StoreOptions::default())
    }

    pub fn open_with(root: PathBuf, options: StoreOptions) -> Result<Self, WorkspaceError> {
        let blobs = LocalBlobStore::open(root.join("blobs"), options.durability)?;
        Self::with_blob_store(root, Box::new(blobs), options)
    }

    /// A store whose blobs live elsewhere (e.g. object storage); logs and
    /// stat caches stay under `root`.
    pub fn with_blob_store(
        root: PathBuf,
        blobs: Box<dyn BlobStore>,
        options: StoreOptions,
    ) -> Result<Self, WorkspaceError> {
        let ws = root.join("workspaces");
        std::fs::create_dir_all(&ws)
            .map_err(|e| WorkspaceError::io("create store folder", ws.display(), e))?;
        Ok(WorkspaceStore {
            root,
            blobs,
            options,
        })
    }

    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    pub fn blobs(&self) -> &dyn BlobStore {
        &*self.blobs
    }

    fn ws_dir(&self, ws: &WorkspaceId) -> PathBuf {
        self.root.join("workspaces").join(ws.as_str())
    }

    fn log_path(&self, ws: &WorkspaceId) -> PathBuf {
        self.ws_dir(ws).join("log.jsonl")
    }

    fn cache_path(&self, ws: &WorkspaceId) -> PathBuf {
        self.ws_dir(ws).join("index")
    }

    fn lock(&self, ws: &WorkspaceId) -> Result<WsLock, WorkspaceError> {
        let dir = self.ws_dir(ws);
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| WorkspaceError::io("create workspace folder", dir.display(), e))?;
            if self.options.durability == Durability::Fsync {
                fsync_dir(&self.root.join("workspaces"))?;
            }
        }
        let path = dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| WorkspaceError::io("open workspace lock", path.display(), e))?;
        rustix::fs::flock(&file, FlockOperation::LockExclusive)
            .map_err(|e| WorkspaceError::io("lock workspace", path.display(), e))?;
        Ok(WsLock { _file: file })
    }

    /// The racy-clean bound for an operation starting now: files changed
    /// after it are not trusted by the stat cache. This and nothing else
    /// reads the wall clock, because file timestamps come from it.
    fn racy_before_ns(&self) -> i128 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        now.as_nanos() as i128 - self.options.racy_window.as_nanos() as i128
    }

    /// The workspace's log, oldest first.
    pub fn log(&self, ws: &WorkspaceId) -> Result<Vec<SnapshotInfo>, WorkspaceError> {
        log::read(&self.log_path(ws))
    }

    /// The latest snapshot, if any (reads only the end of the log).
    pub fn latest(&self, ws: &WorkspaceId) -> Result<Option<SnapshotInfo>, WorkspaceError> {
        log::last(&self.log_path(ws))
    }

    /// Resolves `latest`, a full id or a unique prefix (4+ hex digits) among
    /// the workspace's snapshots.
    pub fn resolve(&self, ws: &WorkspaceId, text: &str) -> Result<SnapshotId, WorkspaceError> {
        let log = self.log(ws)?;
        if text == "latest" {
            return log
                .last()
                .map(|i| i.id)
                .ok_or_else(|| WorkspaceError::NoSnapshots {
                    workspace: ws.to_string(),
                });
        }
        let lower = text.to_ascii_lowercase();
        if lower.len() < 4 || lower.len() > 64 || !lower.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(WorkspaceError::InvalidSnapshotId {
                text: text.to_owned(),
            });
        }
        let matches: HashSet<SnapshotId> = log
            .iter()
            .filter(|i| i.id.to_hex().starts_with(&lower))
            .map(|i| i.id)
            .collect();
        let mut it = matches.into_iter();
        match (it.next(), it.next()) {
            (Some(id), None) => Ok(id),
            (None, _) => Err(WorkspaceError::UnknownSnapshot {
                workspace: ws.to_string(),
                snapshot: text.to_owned(),
            }),
            (Some(_), Some(_)) => Err(WorkspaceError::AmbiguousSnapshot {
                workspace: ws.to_string(),
                prefix: text.to_owned(),
            }),
        }
    }

    /// Loads a snapshot's manifest after checking that the snapshot is in
    /// this workspace's log (blobs are shared between workspaces; the log
    /// is what a workspace may see).
    pub fn manifest(
        &self,
        ws: &WorkspaceId,
        snapshot: &SnapshotId,
    ) -> Result<Manifest, WorkspaceError> {
        if !self.log(ws)?.iter().any(|i| i.id == *snapshot) {
            return Err(WorkspaceError::UnknownSnapshot {
                workspace: ws.to_string(),
                snapshot: snapshot.to_hex(),
            });
        }
        self.load_manifest(snapshot)
    }

    fn load_manifest(&self, id: &SnapshotId) -> Result<Manifest, WorkspaceError> {
        Manifest::decode(&self.blobs.get(id)?, id)
    }

    /// Commits the live folder as a new snapshot of `ws`.
    pub fn commit(
        &self,
        ws: &WorkspaceId,
        live: &Path,
        label: SnapshotLabel,
    ) -> Result<Commit, WorkspaceError> {
        let _lock = self.lock(ws)?;
        let head = self.latest(ws)?;
        let head = head.as_ref();
        let parent_manifest = head.map(|h| self.load_manifest(&h.id)).transpose()?;
        let known = parent_manifest
            .as_ref()
            .map(Manifest::hashes)
            .unwrap_or_default();
        let cache_path = self.cache_path(ws);
        let old_cache = StatCache::load(&cache_path);
        let root = fsx::open_live_root(live)?;
        let racy_before_ns = self.racy_before_ns();
        let mut collector = Collector::new(
            &*self.blobs,
            self.options.limits,
            &old_cache,
            &known,
            racy_before_ns,
        );
        collector.walk(root.as_fd(), "", 0)?;
        let Collector {
            entries,
            skipped,
            mut stats,
            new_cache,
            ..
        } = collector;
        let manifest = Manifest::new(entries);
        let encoded = manifest.encode()?;
        let id = BlobHash::of(&encoded);
        let parent = head.map(|h| h.id);
        if parent == Some(id) {
            new_cache.save(&cache_path)?;
            return Ok(Commit {
                snapshot: id,
                parent,
                recorded: false,
                changes: Vec::new(),
                skipped,
                stats,
            });
        }
        match self.blobs.put_if_absent(&id, BlobSource::Bytes(&encoded))? {
            Put::Stored { bytes } => {
                stats.blobs_stored += 1;
                stats.bytes_stored += bytes;
            }
            Put::Present => {}
            Put::Mismatch => {
                return Err(WorkspaceError::corrupt("a new manifest", "hash mismatch"));
            }
        }
        self.blobs.sync()?;
        let changes = manifest::diff(parent_manifest.as_ref(), &manifest);
        let info = SnapshotInfo {
            seq: head.map_or(1, |h| h.seq + 1),
            id,
            parent,
            label,
            stats: snapshot_stats(&manifest, &changes),
        };
        let log_path = self.log_path(ws);
        let new_log = !log_path.exists();
        log::append(&log_path, &info, self.options.durability)?;
        if new_log && self.options.durability == Durability::Fsync {
            fsync_dir(&self.ws_dir(ws))?;
        }
        new_cache.save(&cache_path)?;
        Ok(Commit {
            snapshot: id,
            parent,
            recorded: true,
            changes,
            skipped,
            stats,
        })
    }

    /// Changes from `from` (or from an empty folder) to `to`.
    pub fn diff(
        &self,
        ws: &WorkspaceId,
        from: Option<&SnapshotId>,
        to: &SnapshotId,
    ) -> Result<Vec<Change>, WorkspaceError> {
        let to = self.manifest(ws, to)?;
        let from = from.map(|f| self.manifest(ws, f)).transpose()?;
        Ok(manifest::diff(from.as_ref(), &to))
    }

    /// The bytes of one file of a snapshot.
    pub fn read_file(
        &self,
        ws: &WorkspaceId,
        snapshot: &SnapshotId,
        path: &str,
    ) -> Result<Vec<u8>, WorkspaceError> {
        let m = self.manifest(ws, snapshot)?;
        let path = path.trim_start_matches("./");
        match m.get(path).map(|e| e.kind) {
            Some(EntryKind::File { hash, .. }) => self.blobs.get(&hash),
            Some(EntryKind::Dir) => Err(WorkspaceError::NotAFile {
                snapshot: snapshot.to_hex(),
                path: path.to_owned(),
            }),
            None => Err(WorkspaceError::PathNotInSnapshot {
                snapshot: snapshot.to_hex(),
                path: path.to_owned(),
            }),
        }
    }

    /// Makes `live` exactly `snapshot` (creating it if missing).
    pub fn restore(
        &self,
        ws: &WorkspaceId,
        snapshot: &SnapshotId,
        live: &Path,
    ) -> Result<Restored, WorkspaceError> {
        let _lock = self.lock(ws)?;
        let m = self.manifest(ws, snapshot)?;
        let stats = self.restore_locked(ws, &m, live)?;
        Ok(Restored {
            snapshot: Some(*snapshot),
            stats,
        })
    }

    /// Brings `live` to the latest snapshot: creates it if missing, and
    /// rewrites only what differs (files the stat cache vouches for are not
    /// read). Uncommitted changes in `live` are discarded. A workspace
    /// without snapshots yields an empty live folder.
    pub fn hydrate(&self, ws: &WorkspaceId, live: &Path) -> Result<Restored, WorkspaceError> {
        let _lock = self.lock(ws)?;
        let latest = self.latest(ws)?;
        let m = match &latest {
            Some(info) => self.load_manifest(&info.id)?,
            None => Manifest::new(Vec::new()),
        };
        let stats = self.restore_locked(ws, &m, live)?;
        Ok(Restored {
            snapshot: latest.map(|i| i.id),
            stats,
        })
    }

    fn restore_locked(
        &self,
        ws: &WorkspaceId,
        m: &Manifest,
        live: &Path,
    ) -> Result<RestoreStats, WorkspaceError> {
        if std::fs::symlink_metadata(live).is_err() {
            std::fs::create_dir_all(live)
                .map_err(|e| WorkspaceError::io("create live folder", live.display(), e))?;
        }
        let root = fsx::open_live_root(live)?;
        let cache_path = self.cache_path(ws);
        let old_cache = StatCache::load(&cache_path);
        let mut r = Restorer::new(
            &*self.blobs,
            m,
            &old_cache,
            self.racy_before_ns(),
            self.options.limits.max_depth,
        );
        r.sync_dir(root.as_fd(), "", 0)?;
        r.new_cache.save(&cache_path)?;
        Ok(r.stats)
    }
}

fn snapshot_stats(m: &Manifest, changes: &[Change]) -> SnapshotStats {
    let count = |k: ChangeKind| changes.iter().filter(|c| c.kind == k).count() as u64;
    SnapshotStats {
        files: m.file_count(),
        dirs: m.dir_count(),
        bytes: m.total_bytes(),
        added: count(ChangeKind::Added),
        modified: count(ChangeKind::Modified),
        deleted: count(ChangeKind::Deleted),
    }
}
