//! The per-workspace stat cache (git's index, reduced): path → the stat
//! fields of the file when it was last hashed, and the hash.
//!
//! A commit re-reads a file unless its `lstat` matches a *trusted* entry in
//! size, mtime, ctime, inode, device and mode. An entry is trusted only if
//! the file's mtime and ctime were both older than `racy_window` before the
//! commit (or restore) that wrote the entry started. The argument: any later
//! change to the file's content or metadata sets its ctime to the kernel's
//! current (coarse) time, which is then later than the trusted ctime, so the
//! stat no longer matches; only changes within the same clock tick as the
//! hashing could keep the old ctime, and those files are not trusted. ctime
//! cannot be set from user space, so `utimensat` putting mtime back after a
//! same-size edit is noticed. Not covered: the system clock stepping
//! backwards by more than the window, and file systems whose ctime lies (some
//! network and FUSE file systems); the live folder is a local host folder.
//!
//! The cache is only a cache: a missing, torn or unreadable file is treated
//! as empty, which costs re-hashing, never correctness. It is written with
//! temporary file + rename and no `fsync`.
//!
//! Format: `BWSC1\n`, entry count (u64 LE), entries (path length u32, path,
//! size u64, mtime ns i128, ctime ns i128, inode u64, device u64, mode u32,
//! trusted u8, hash 32 bytes), then a BLAKE3 of everything before it.

use std::collections::HashMap;
use std::path::Path;

use crate::fsx::StatKey;
use crate::{BlobHash, WorkspaceError};

const MAGIC: &[u8; 6] = b"BWSC1\n";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CacheEntry {
    pub stat: StatKey,
    pub hash: BlobHash,
    pub trusted: bool,
}

#[derive(Debug, Default)]
pub(crate) struct StatCache {
    entries: HashMap<String, CacheEntry>,
}

impl StatCache {
    /// The hash of `path` if the cache vouches that a file with this stat
    /// still has it.
    pub(crate) fn lookup(&self, path: &str, stat: &StatKey) -> Option<BlobHash> {
        self.entries
            .get(path)
            .filter(|e| e.trusted && e.stat == *stat)
            .map(|e| e.hash)
    }

    /// Records a file hashed (or written) by an operation that started at
    /// `started_ns`; trusted only if it was last changed before the window.
    pub(crate) fn record(
        &mut self,
        path: String,
        stat: StatKey,
        hash: BlobHash,
        racy_before_ns: i128,
    ) {
        let trusted = stat.changed_ns() < racy_before_ns;
        self.entries.insert(
            path,
            CacheEntry {
                stat,
                hash,
                trusted,
            },
        );
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Reads the cache; any problem yields an empty cache.
    pub(crate) fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|b| decode(&b))
            .unwrap_or_default()
    }

    pub(crate) fn save(&self, path: &Path) -> Result<(), WorkspaceError> {
        let mut out = Vec::with_capacity(64 + self.entries.len() * 128);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for (p, e) in &self.entries {
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            out.extend_from_slice(p.as_bytes());
            out.extend_from_slice(&e.stat.size.to_le_bytes());
            out.extend_from_slice(&e.stat.mtime_ns.to_le_bytes());
            out.extend_from_slice(&e.stat.ctime_ns.to_le_bytes());
            out.extend_from_slice(&e.stat.ino.to_le_bytes());
            out.extend_from_slice(&e.stat.dev.to_le_bytes());
            out.extend_from_slice(&e.stat.mode.to_le_bytes());
            out.push(u8::from(e.trusted));
            out.extend_from_slice(e.hash.as_bytes());
        }
        let sum = blake3::hash(&out);
        out.extend_from_slice(sum.as_bytes());
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".index-")
            .tempfile_in(dir)
            .map_err(|e| WorkspaceError::io("create stat cache in", dir.display(), e))?;
        std::io::Write::write_all(&mut tmp, &out)
            .map_err(|e| WorkspaceError::io("write stat cache", path.display(), e))?;
        tmp.persist(path)
            .map_err(|e| WorkspaceError::io("write stat cache", path.display(), e.error))?;
        Ok(())
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|s| s.try_into().ok())
    }
}

fn decode(bytes: &[u8]) -> Option<StatCache> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if blake3::hash(body).as_bytes() != sum {
        return None;
    }
    let mut c = Cursor(body);
    if c.take(MAGIC.len())? != MAGIC {
        return None;
    }
    let count = u64::from_le_bytes(c.array()?);
    let mut entries = HashMap::new();
    for _ in 0..count {
        let len = u32::from_le_bytes(c.array()?) as usize;
        let path = std::str::from_utf8(c.take(len)?).ok()?.to_owned();
        let stat = StatKey {
            size: u64::from_le_bytes(c.array()?),
            mtime_ns: i128::from_le_bytes(c.array()?),
            ctime_ns: i128::from_le_bytes(c.array()?),
            ino: u64::from_le_bytes(c.array()?),
            dev: u64::from_le_bytes(c.array()?),
            mode: u32::from_le_bytes(c.array()?),
        };
        let trusted = c.array::<1>()?[0] == 1;
        let hash = BlobHash::from_bytes(c.array()?);
        entries.insert(
            path,
            CacheEntry {
                stat,
                hash,
                trusted,
            },
        );
    }
    if !c.0.is_empty() {
        return None;
    }
    Some(StatCache { entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(changed: i128) -> StatKey {
        StatKey {
            size: 3,
            mtime_ns: changed,
            ctime_ns: changed,
            ino: 7,
            dev: 1,
            mode: 0o100644,
        }
    }

    #[test]
    fn round_trips_and_rejects_torn_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let mut c = StatCache::default();
        c.record("a/b".into(), key(10), BlobHash::of(b"abc"), 100);
        c.record("racy".into(), key(100), BlobHash::of(b"xyz"), 100);
        c.save(&path).unwrap();
        let back = StatCache::load(&path);
        assert_eq!(back.len(), 2);
        assert_eq!(back.lookup("a/b", &key(10)), Some(BlobHash::of(b"abc")));
        // Changed at or after the racy bound: kept but not trusted.
        assert_eq!(back.lookup("racy", &key(100)), None);
        // Any stat field differing: not vouched for.
        assert_eq!(back.lookup("a/b", &key(11)), None);

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert_eq!(StatCache::load(&path).len(), 0);
    }
}
