//! Making a live folder exactly a snapshot.
//!
//! Folder by folder, through descriptors opened beneath the live folder
//! (never following a symbolic link): names the snapshot does not have are
//! removed (a link is unlinked, not followed; a folder is emptied through
//! descriptors beneath it); an entry of the wrong type is replaced (a link
//! named like a snapshot folder is removed and a real folder made in its
//! place); a file whose content differs is written to a temporary file in
//! the same folder and renamed over the name, which replaces whatever entry
//! was there without following it. Files already right (by the stat cache,
//! or by hashing when the size matches) are kept, with their exec bit fixed.
//! Restore is not atomic: on error the live folder can be half-updated;
//! restoring again finishes the job. No `fsync`: the live folder is scratch
//! that can always be restored again.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};

use crate::blob::BlobStore;
use crate::collect::join;
use crate::fsx::{self, StatKey, is_exec};
use crate::manifest::{Entry, EntryKind, Manifest};
use crate::statcache::StatCache;
use crate::{BlobHash, Limit, WorkspaceError};

/// What a restore did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreStats {
    pub files_written: u64,
    pub bytes_written: u64,
    /// Files already identical (at most their exec bit fixed).
    pub files_kept: u64,
    pub dirs_created: u64,
    /// Paths removed because the snapshot does not have them (or has
    /// another kind of entry there), invalid UTF-8 replaced by U+FFFD.
    pub removed: Vec<String>,
}

pub(crate) struct Restorer<'a> {
    pub blobs: &'a dyn BlobStore,
    pub old_cache: &'a StatCache,
    pub racy_before_ns: i128,
    pub max_depth: u32,
    pub new_cache: StatCache,
    pub stats: RestoreStats,
    children: HashMap<&'a str, BTreeMap<&'a str, &'a Entry>>,
    tmp_counter: u64,
}

impl<'a> Restorer<'a> {
    pub(crate) fn new(
        blobs: &'a dyn BlobStore,
        manifest: &'a Manifest,
        old_cache: &'a StatCache,
        racy_before_ns: i128,
        max_depth: u32,
    ) -> Self {
        let mut children: HashMap<&str, BTreeMap<&str, &Entry>> = HashMap::new();
        for e in manifest.entries() {
            children.entry(e.parent()).or_default().insert(e.name(), e);
        }
        Restorer {
            blobs,
            old_cache,
            racy_before_ns,
            max_depth,
            new_cache: StatCache::default(),
            stats: RestoreStats::default(),
            children,
            tmp_counter: 0,
        }
    }

    pub(crate) fn sync_dir(
        &mut self,
        dir: BorrowedFd<'_>,
        rel: &str,
        depth: u32,
    ) -> Result<(), WorkspaceError> {
        if depth > self.max_depth {
            return Err(WorkspaceError::LimitExceeded {
                limit: Limit::MaxDepth,
                max: u64::from(self.max_depth),
                path: Some(rel.to_owned()),
            });
        }
        let empty = BTreeMap::new();
        let wanted = self.children.get(rel).unwrap_or(&empty).clone();
        let existing = fsx::list_names(dir).map_err(|e| io_err("list folder", rel, e))?;
        for raw in existing {
            let keep = std::str::from_utf8(&raw).is_ok_and(|n| wanted.contains_key(n));
            if !keep {
                let path = join(rel, &String::from_utf8_lossy(&raw));
                fsx::remove_at(dir, &raw, 0).map_err(|e| io_err("remove", &path, e))?;
                self.stats.removed.push(path);
            }
        }
        for (name, entry) in wanted {
            let path = entry.path.as_str();
            let st = fsx::lstat_at(dir, name.as_bytes()).map_err(|e| io_err("stat", path, e))?;
            let ty = st.as_ref().map(|s| FileType::from_raw_mode(s.st_mode));
            match entry.kind {
                EntryKind::Dir => {
                    if ty != Some(FileType::Directory) {
                        if ty.is_some() {
                            self.remove(dir, name, path)?;
                        }
                        rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755))
                            .map_err(|e| io_err("create folder", path, e))?;
                        self.stats.dirs_created += 1;
                    }
                    let child = fsx::open_dir_beneath(dir, name.as_bytes())
                        .map_err(|e| io_err("open folder", path, e))?;
                    self.sync_dir(child.as_fd(), path, depth + 1)?;
                }
                EntryKind::File { size, exec, hash } => {
                    match (ty, st) {
                        (Some(FileType::RegularFile), Some(st))
                            if self.same_content(dir, name, path, &st, size, &hash)? =>
                        {
                            self.fix_exec(dir, name, path, exec, &hash)?;
                            self.stats.files_kept += 1;
                            continue;
                        }
                        (Some(FileType::Directory), _) => self.remove(dir, name, path)?,
                        _ => {}
                    }
                    self.write_file(dir, name, path, exec, &hash)?;
                }
            }
        }
        Ok(())
    }

    fn remove(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &str,
        path: &str,
    ) -> Result<(), WorkspaceError> {
        fsx::remove_at(dir, name.as_bytes(), 0).map_err(|e| io_err("remove", path, e))?;
        self.stats.removed.push(path.to_owned());
        Ok(())
    }

    fn same_content(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &str,
        path: &str,
        st: &rustix::fs::Stat,
        size: u64,
        hash: &BlobHash,
    ) -> Result<bool, WorkspaceError> {
        let key = StatKey::of(st);
        if key.size != size {
            return Ok(false);
        }
        if self.old_cache.lookup(path, &key) == Some(*hash) {
            return Ok(true);
        }
        let fd = match fsx::open_file_beneath(dir, name.as_bytes()) {
            Ok(fd) => fd,
            Err(Errno::LOOP | Errno::NOENT | Errno::NXIO) => return Ok(false),
            Err(e) => return Err(io_err("open", path, e)),
        };
        let fst = rustix::fs::fstat(&fd).map_err(|e| io_err("stat", path, e))?;
        if FileType::from_raw_mode(fst.st_mode) != FileType::RegularFile {
            return Ok(false);
        }
        let mut hasher = blake3::Hasher::new();
        let mut reader = File::from(fd).take(size + 1);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| WorkspaceError::io("read", path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(BlobHash::from(hasher.finalize()) == *hash)
    }

    fn fix_exec(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &str,
        path: &str,
        exec: bool,
        hash: &BlobHash,
    ) -> Result<(), WorkspaceError> {
        let fd =
            fsx::open_file_beneath(dir, name.as_bytes()).map_err(|e| io_err("open", path, e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| io_err("stat", path, e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(io_err("restore", path, Errno::AGAIN));
        }
        let st = if is_exec(st.st_mode) != exec {
            rustix::fs::fchmod(&fd, file_mode(exec)).map_err(|e| io_err("chmod", path, e))?;
            rustix::fs::fstat(&fd).map_err(|e| io_err("stat", path, e))?
        } else {
            st
        };
        self.new_cache.record(
            path.to_owned(),
            StatKey::of(&st),
            *hash,
            self.racy_before_ns,
        );
        Ok(())
    }

    fn write_file(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &str,
        path: &str,
        exec: bool,
        hash: &BlobHash,
    ) -> Result<(), WorkspaceError> {
        let (tmp_name, fd) = loop {
            self.tmp_counter += 1;
            let tmp_name = format!(
                ".bureau-restore.{}.{}",
                std::process::id(),
                self.tmp_counter
            );
            match fsx::open_beneath(
                dir,
                tmp_name.as_bytes(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
                file_mode(exec),
            ) {
                Ok(fd) => break (tmp_name, fd),
                Err(Errno::EXIST) if self.tmp_counter < 1_000_000 => {}
                Err(e) => return Err(io_err("create temporary file for", path, e)),
            }
        };
        let result = (|| {
            let mut file = File::from(fd);
            let bytes = self.blobs.copy_to(hash, &mut file)?;
            rustix::fs::fchmod(&file, file_mode(exec)).map_err(|e| io_err("chmod", path, e))?;
            let st = rustix::fs::fstat(&file).map_err(|e| io_err("stat", path, e))?;
            rustix::fs::renameat(dir, tmp_name.as_str(), dir, name)
                .map_err(|e| io_err("rename into place", path, e))?;
            Ok::<_, WorkspaceError>((bytes, st))
        })();
        match result {
            Ok((bytes, st)) => {
                self.stats.files_written += 1;
                self.stats.bytes_written += bytes;
                self.new_cache.record(
                    path.to_owned(),
                    StatKey::of(&st),
                    *hash,
                    self.racy_before_ns,
                );
                Ok(())
            }
            Err(e) => {
                let _ = rustix::fs::unlinkat(dir, tmp_name.as_str(), rustix::fs::AtFlags::empty());
                Err(e)
            }
        }
    }
}

fn file_mode(exec: bool) -> Mode {
    Mode::from_raw_mode(if exec { 0o755 } else { 0o644 })
}

fn io_err(op: &'static str, path: &str, e: Errno) -> WorkspaceError {
    let shown = if path.is_empty() { "." } else { path };
    WorkspaceError::io(op, shown, fsx::errno_io(e))
}
