//! Collecting a live folder into manifest entries and blobs.
//!
//! The live folder was written by untrusted code. The walk holds a
//! descriptor per folder and handles each name in it with
//! `fstatat(AT_SYMLINK_NOFOLLOW)`; folders and files are opened with
//! `openat2` beneath their parent (see [`crate::fsx`]) and checked again
//! with `fstat` on the opened descriptor (same type, inode and device as the
//! `lstat`). Symbolic links, FIFOs, sockets and devices are never opened:
//! they are skipped and reported, as are names that are not UTF-8. A file
//! with several hard links is read through its descriptor like any other
//! file: its content is what the live folder shows, wherever its other
//! links are. Every cap is checked while walking and fails the commit
//! before any manifest or log entry is written.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::FileType;
use rustix::io::Errno;
use serde::{Deserialize, Serialize};

use crate::blob::{BlobSource, BlobStore, Put};
use crate::fsx::{self, StatKey, is_exec};
use crate::manifest::{Entry, EntryKind};
use crate::statcache::StatCache;
use crate::{BlobHash, Limit, Limits, WorkspaceError};

/// Files up to this size are read into memory once (hash and store from the
/// same buffer); larger ones are hashed while streaming and, if their blob
/// is new, read a second time into blob storage, which checks the hash.
const SMALL_FILE: u64 = 1 << 20;

/// An entry of the live folder that was not committed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The path, with invalid UTF-8 replaced by U+FFFD.
    pub path: String,
    pub reason: SkipReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    /// A file type the kernel reported that is none of the above.
    OtherType,
    /// The name is not valid UTF-8 (a folder's whole subtree is skipped).
    NonUtf8Name,
    /// The entry disappeared or was replaced between listing and opening.
    Vanished,
    /// Opening it was refused (`EACCES`/`EPERM`, e.g. mode 000 when the
    /// store does not run as root).
    Unreadable,
}

/// Counters of one collection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectStats {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    /// Files whose hash came from the stat cache (not read).
    pub files_from_cache: u64,
    pub files_hashed: u64,
    pub bytes_hashed: u64,
    pub blobs_stored: u64,
    pub bytes_stored: u64,
}

pub(crate) struct Collector<'a> {
    pub blobs: &'a dyn BlobStore,
    pub limits: Limits,
    pub old_cache: &'a StatCache,
    /// Hashes known to be in blob storage (those of the latest snapshot).
    pub known: &'a HashSet<BlobHash>,
    pub racy_before_ns: i128,
    pub entries: Vec<Entry>,
    pub skipped: Vec<Skipped>,
    pub stats: CollectStats,
    pub new_cache: StatCache,
    seen: u64,
}

impl<'a> Collector<'a> {
    pub(crate) fn new(
        blobs: &'a dyn BlobStore,
        limits: Limits,
        old_cache: &'a StatCache,
        known: &'a HashSet<BlobHash>,
        racy_before_ns: i128,
    ) -> Self {
        Collector {
            blobs,
            limits,
            old_cache,
            known,
            racy_before_ns,
            entries: Vec::new(),
            skipped: Vec::new(),
            stats: CollectStats::default(),
            new_cache: StatCache::default(),
            seen: 0,
        }
    }

    fn over(&self, limit: Limit, max: u64, path: &str) -> WorkspaceError {
        WorkspaceError::LimitExceeded {
            limit,
            max,
            path: (!path.is_empty()).then(|| path.to_owned()),
        }
    }

    fn skip(&mut self, path: String, reason: SkipReason) {
        self.skipped.push(Skipped { path, reason });
    }

    /// Walks the folder open as `dir`, whose path is `rel` (`""` at the top).
    pub(crate) fn walk(
        &mut self,
        dir: BorrowedFd<'_>,
        rel: &str,
        depth: u32,
    ) -> Result<(), WorkspaceError> {
        let budget = self.limits.max_files.saturating_sub(self.seen);
        let Some(names) =
            fsx::list_names_capped(dir, budget).map_err(|e| io_err("list folder", rel, e))?
        else {
            return Err(self.over(Limit::MaxFiles, self.limits.max_files, rel));
        };
        for raw in names {
            self.seen += 1;
            if self.seen > self.limits.max_files {
                return Err(self.over(Limit::MaxFiles, self.limits.max_files, rel));
            }
            let path = join(rel, &String::from_utf8_lossy(&raw));
            let Ok(name) = std::str::from_utf8(&raw) else {
                self.skip(path, SkipReason::NonUtf8Name);
                continue;
            };
            if path.len() as u64 > u64::from(self.limits.max_path_bytes) {
                return Err(self.over(
                    Limit::MaxPathBytes,
                    u64::from(self.limits.max_path_bytes),
                    &path,
                ));
            }
            let Some(st) = fsx::lstat_at(dir, &raw).map_err(|e| io_err("stat", &path, e))? else {
                self.skip(path, SkipReason::Vanished);
                continue;
            };
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => {
                    if depth + 1 > self.limits.max_depth {
                        return Err(self.over(
                            Limit::MaxDepth,
                            u64::from(self.limits.max_depth),
                            &path,
                        ));
                    }
                    let child = match fsx::open_dir_beneath(dir, name.as_bytes()) {
                        Ok(fd) => fd,
                        Err(Errno::LOOP | Errno::NOTDIR | Errno::NOENT | Errno::XDEV) => {
                            self.skip(path, SkipReason::Vanished);
                            continue;
                        }
                        Err(Errno::ACCESS | Errno::PERM) => {
                            self.skip(path, SkipReason::Unreadable);
                            continue;
                        }
                        Err(Errno::NOSYS) => return Err(WorkspaceError::Unsupported),
                        Err(e) => return Err(io_err("open folder", &path, e)),
                    };
                    let fst = rustix::fs::fstat(&child).map_err(|e| io_err("stat", &path, e))?;
                    if fst.st_ino != st.st_ino || fst.st_dev != st.st_dev {
                        self.skip(path, SkipReason::Vanished);
                        continue;
                    }
                    self.stats.dirs += 1;
                    self.entries.push(Entry {
                        path: path.clone(),
                        kind: EntryKind::Dir,
                    });
                    self.walk(child.as_fd(), &path, depth + 1)?;
                }
                FileType::RegularFile => self.file(dir, name, path, StatKey::of(&st))?,
                FileType::Symlink => self.skip(path, SkipReason::Symlink),
                FileType::Fifo => self.skip(path, SkipReason::Fifo),
                FileType::Socket => self.skip(path, SkipReason::Socket),
                FileType::CharacterDevice => self.skip(path, SkipReason::CharDevice),
                FileType::BlockDevice => self.skip(path, SkipReason::BlockDevice),
                FileType::Unknown => self.skip(path, SkipReason::OtherType),
            }
        }
        Ok(())
    }

    fn count_file(&mut self, path: &str, size: u64) -> Result<(), WorkspaceError> {
        if size > self.limits.max_file_bytes {
            return Err(self.over(Limit::MaxFileBytes, self.limits.max_file_bytes, path));
        }
        self.stats.bytes += size;
        if self.stats.bytes > self.limits.max_total_bytes {
            return Err(self.over(Limit::MaxTotalBytes, self.limits.max_total_bytes, path));
        }
        self.stats.files += 1;
        Ok(())
    }

    fn push_file(&mut self, path: String, stat: StatKey, hash: BlobHash) {
        self.entries.push(Entry {
            path: path.clone(),
            kind: EntryKind::File {
                size: stat.size,
                exec: is_exec(stat.mode),
                hash,
            },
        });
        self.new_cache.record(path, stat, hash, self.racy_before_ns);
    }

    fn file(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &str,
        path: String,
        lstat: StatKey,
    ) -> Result<(), WorkspaceError> {
        if let Some(hash) = self.old_cache.lookup(&path, &lstat)
            && (self.known.contains(&hash) || self.blobs.contains(&hash)?)
        {
            self.count_file(&path, lstat.size)?;
            self.stats.files_from_cache += 1;
            self.push_file(path, lstat, hash);
            return Ok(());
        }
        let fd = match fsx::open_file_beneath(dir, name.as_bytes()) {
            Ok(fd) => fd,
            Err(Errno::LOOP | Errno::NOENT | Errno::XDEV | Errno::NXIO) => {
                self.skip(path, SkipReason::Vanished);
                return Ok(());
            }
            Err(Errno::ACCESS | Errno::PERM) => {
                self.skip(path, SkipReason::Unreadable);
                return Ok(());
            }
            Err(Errno::NOSYS) => return Err(WorkspaceError::Unsupported),
            Err(e) => return Err(io_err("open", &path, e)),
        };
        let before = rustix::fs::fstat(&fd).map_err(|e| io_err("stat", &path, e))?;
        if FileType::from_raw_mode(before.st_mode) != FileType::RegularFile
            || before.st_ino != lstat.ino
            || before.st_dev != lstat.dev
        {
            self.skip(path, SkipReason::Vanished);
            return Ok(());
        }
        let stat = StatKey::of(&before);
        self.count_file(&path, stat.size)?;
        let file = File::from(fd);
        let hash = self.hash_and_store(&file, &path, stat.size)?;
        let after = rustix::fs::fstat(&file).map_err(|e| io_err("stat", &path, e))?;
        if StatKey::of(&after) != stat {
            return Err(WorkspaceError::ChangedDuringCommit { path });
        }
        self.push_file(path, stat, hash);
        Ok(())
    }

    fn hash_and_store(
        &mut self,
        file: &File,
        path: &str,
        size: u64,
    ) -> Result<BlobHash, WorkspaceError> {
        self.stats.files_hashed += 1;
        let changed = || WorkspaceError::ChangedDuringCommit {
            path: path.to_owned(),
        };
        if size <= SMALL_FILE {
            let mut buf = Vec::with_capacity(size as usize);
            file.take(size + 1)
                .read_to_end(&mut buf)
                .map_err(|e| WorkspaceError::io("read", path, e))?;
            if buf.len() as u64 != size {
                return Err(changed());
            }
            self.stats.bytes_hashed += size;
            let hash = BlobHash::of(&buf);
            if !self.known.contains(&hash) {
                self.put(&hash, BlobSource::Bytes(&buf), path)?;
            }
            return Ok(hash);
        }
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        let mut reader = file.take(size + 1);
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| WorkspaceError::io("read", path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            total += n as u64;
        }
        if total != size {
            return Err(changed());
        }
        self.stats.bytes_hashed += size;
        let hash = BlobHash::from(hasher.finalize());
        if !self.known.contains(&hash) {
            self.put(&hash, BlobSource::File { file, len: size }, path)?;
        }
        Ok(hash)
    }

    fn put(
        &mut self,
        hash: &BlobHash,
        source: BlobSource<'_>,
        path: &str,
    ) -> Result<(), WorkspaceError> {
        match self.blobs.put_if_absent(hash, source)? {
            Put::Stored { bytes } => {
                self.stats.blobs_stored += 1;
                self.stats.bytes_stored += bytes;
                Ok(())
            }
            Put::Present => Ok(()),
            Put::Mismatch => Err(WorkspaceError::ChangedDuringCommit {
                path: path.to_owned(),
            }),
        }
    }
}

pub(crate) fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_owned()
    } else {
        format!("{rel}/{name}")
    }
}

fn io_err(op: &'static str, path: &str, e: Errno) -> WorkspaceError {
    let shown = if path.is_empty() { "." } else { path };
    WorkspaceError::io(op, shown, fsx::errno_io(e))
}
