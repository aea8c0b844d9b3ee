//! Blob storage: content-addressed bytes behind a small trait, and the
//! local-folder implementation.
//!
//! Layout of [`LocalBlobStore`]: `<root>/<first two hex digits>/<hex hash>`
//! (all 256 fan-out folders made when the store is opened), temporary files
//! in `<root>/.tmp`. A put writes a temporary file and checks that what it
//! wrote hashes to the name it was given; a blob is linked under its name
//! without replacing an existing one, so puts are atomic and idempotent and
//! concurrent puts of the same blob are harmless.
//!
//! `fsync` policy with [`Durability::Fsync`]: a blob's bytes are `fsync`ed
//! *before* it is linked under its name, so a name never points at torn
//! bytes after a crash. To avoid one journal commit per file, new blobs wait
//! as temporary files until [`BlobStore::sync`] (which the workspace store
//! calls before writing a snapshot's log entry): it `fsync`s them all from
//! parallel threads, links them, then `fsync`s the fan-out folders that
//! received (or were found to hold) a blob. Until then a pending blob is
//! visible to this store object only. With [`Durability::None`] blobs are
//! linked at once and nothing is `fsync`ed.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tempfile::TempPath;

use crate::{BlobHash, Durability, WorkspaceError};

/// Where a put's bytes come from.
#[derive(Clone, Copy, Debug)]
pub enum BlobSource<'a> {
    Bytes(&'a [u8]),
    /// The first `len` bytes of a file, read with `pread` from offset 0 (the
    /// file's position is not used). The file must hold exactly `len` bytes.
    File {
        file: &'a File,
        len: u64,
    },
}

/// What a put did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Put {
    /// The blob was new and `bytes` were written.
    Stored { bytes: u64 },
    /// A blob with this hash was already present; nothing was written.
    Present,
    /// The source did not hash to the given name (or had another length):
    /// nothing was stored. For a live file this means it changed under us.
    Mismatch,
}

/// Content-addressed storage. Implementations must be safe to call from
/// several threads and processes at once, must never expose a partially
/// written blob under its name, and must verify content against the hash on
/// `put_if_absent` (a blob's name is a promise about its bytes).
pub trait BlobStore: Send + Sync + fmt::Debug {
    fn contains(&self, hash: &BlobHash) -> Result<bool, WorkspaceError>;

    fn put_if_absent(&self, hash: &BlobHash, source: BlobSource<'_>)
    -> Result<Put, WorkspaceError>;

    /// The blob's bytes, verified against `hash`.
    fn get(&self, hash: &BlobHash) -> Result<Vec<u8>, WorkspaceError>;

    /// Streams the blob into `out` and returns its length. The bytes are
    /// verified after they are written, so on error `out` may hold garbage:
    /// write into a temporary file and discard it on error.
    fn copy_to(&self, hash: &BlobHash, out: &mut dyn Write) -> Result<u64, WorkspaceError> {
        let bytes = self.get(hash)?;
        out.write_all(&bytes)
            .map_err(|e| WorkspaceError::io("write blob", hash, e))?;
        Ok(bytes.len() as u64)
    }

    /// Makes every blob put so far durable. Called before a snapshot is
    /// recorded in a log.
    fn sync(&self) -> Result<(), WorkspaceError> {
        Ok(())
    }
}

const CHUNK: usize = 1 << 20;

/// Blobs in a local folder.
#[derive(Debug)]
pub struct LocalBlobStore {
    root: PathBuf,
    tmp: PathBuf,
    durability: Durability,
    /// Fan-out folders that received a blob since the last `sync`.
    dirty: Mutex<BTreeSet<String>>,
    /// New blobs written but not yet `fsync`ed and linked (Fsync only).
    pending: Mutex<HashMap<BlobHash, TempPath>>,
    /// Held for a whole `sync`, so a `sync` that finds nothing pending has
    /// waited for one in progress that took its blobs.
    syncing: Mutex<()>,
}

/// How many threads `sync` uses to `fsync` pending blobs.
const SYNC_THREADS: usize = 16;

impl LocalBlobStore {
    /// Opens (creating if needed) a blob folder.
    pub fn open(root: PathBuf, durability: Durability) -> Result<Self, WorkspaceError> {
        let tmp = root.join(".tmp");
        std::fs::create_dir_all(&tmp)
            .map_err(|e| WorkspaceError::io("create blob folder", tmp.display(), e))?;
        // All 256 fan-out folders exist from the start, so a put never
        // creates a folder whose own entry would need an `fsync`.
        let mut created = false;
        for i in 0..=255u8 {
            let dir = root.join(hex::encode([i]));
            match std::fs::create_dir(&dir) {
                Ok(()) => created = true,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(WorkspaceError::io("create blob folder", dir.display(), e)),
            }
        }
        if created && durability == Durability::Fsync {
            fsync_dir(&root)?;
        }
        Ok(LocalBlobStore {
            root,
            tmp,
            durability,
            dirty: Mutex::new(BTreeSet::new()),
            pending: Mutex::new(HashMap::new()),
            syncing: Mutex::new(()),
        })
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<BlobHash, TempPath>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where to read a blob: its temporary file while pending.
    fn read_path(&self, hash: &BlobHash) -> PathBuf {
        match self.pending().get(hash) {
            Some(tmp) => tmp.to_path_buf(),
            None => self.path_of(hash).0,
        }
    }

    /// Links a blob whose bytes are durable (or need not be) into place.
    fn link(&self, tmp: TempPath, hash: &BlobHash) -> Result<bool, WorkspaceError> {
        let (path, fan) = self.path_of(hash);
        let stored = match tmp.persist_noclobber(&path) {
            Ok(()) => true,
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(WorkspaceError::io("store blob", path.display(), e.error)),
        };
        self.mark_dirty(fan);
        Ok(stored)
    }

    fn path_of(&self, hash: &BlobHash) -> (PathBuf, String) {
        let hex = hash.to_hex();
        let fan = hex[..2].to_owned();
        (self.root.join(&fan).join(&hex), fan)
    }

    fn mark_dirty(&self, fan: String) {
        if self.durability == Durability::Fsync {
            self.dirty
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(fan);
        }
    }

    fn write_temp(
        &self,
        hash: &BlobHash,
        source: BlobSource<'_>,
    ) -> Result<Option<(tempfile::NamedTempFile, u64)>, WorkspaceError> {
        let mut tmp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&self.tmp)
            .map_err(|e| WorkspaceError::io("create temporary file in", self.tmp.display(), e))?;
        let mut hasher = blake3::Hasher::new();
        let (written, expected_len) = match source {
            BlobSource::Bytes(bytes) => {
                hasher.update(bytes);
                tmp.write_all(bytes)
                    .map_err(|e| WorkspaceError::io("write blob", hash, e))?;
                (bytes.len() as u64, bytes.len() as u64)
            }
            BlobSource::File { file, len } => {
                let mut buf = vec![0u8; CHUNK];
                let mut off = 0u64;
                loop {
                    let n = file
                        .read_at(&mut buf, off)
                        .map_err(|e| WorkspaceError::io("read file for blob", hash, e))?;
                    if n == 0 {
                        break;
                    }
                    off += n as u64;
                    if off > len {
                        return Ok(None);
                    }
                    hasher.update(&buf[..n]);
                    tmp.write_all(&buf[..n])
                        .map_err(|e| WorkspaceError::io("write blob", hash, e))?;
                }
                (off, len)
            }
        };
        if written != expected_len || BlobHash::from(hasher.finalize()) != *hash {
            return Ok(None);
        }
        Ok(Some((tmp, written)))
    }
}

impl BlobStore for LocalBlobStore {
    fn contains(&self, hash: &BlobHash) -> Result<bool, WorkspaceError> {
        if self.pending().contains_key(hash) {
            return Ok(true);
        }
        let (path, _) = self.path_of(hash);
        match std::fs::symlink_metadata(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(WorkspaceError::io("look up blob", path.display(), e)),
        }
    }

    fn put_if_absent(
        &self,
        hash: &BlobHash,
        source: BlobSource<'_>,
    ) -> Result<Put, WorkspaceError> {
        let (_, fan) = self.path_of(hash);
        if self.contains(hash)? {
            // Another writer (maybe another process) may have linked it in
            // without its folder being durable yet: the next `sync` covers it.
            self.mark_dirty(fan);
            return Ok(Put::Present);
        }
        let Some((tmp, bytes)) = self.write_temp(hash, source)? else {
            return Ok(Put::Mismatch);
        };
        let tmp = tmp.into_temp_path();
        match self.durability {
            Durability::None => Ok(if self.link(tmp, hash)? {
                Put::Stored { bytes }
            } else {
                Put::Present
            }),
            Durability::Fsync => {
                let mut pending = self.pending();
                if pending.contains_key(hash) {
                    return Ok(Put::Present);
                }
                pending.insert(*hash, tmp);
                Ok(Put::Stored { bytes })
            }
        }
    }

    fn get(&self, hash: &BlobHash) -> Result<Vec<u8>, WorkspaceError> {
        let path = self.read_path(hash);
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => WorkspaceError::BlobMissing {
                hash: hash.to_hex(),
            },
            _ => WorkspaceError::io("read blob", path.display(), e),
        })?;
        if BlobHash::of(&bytes) != *hash {
            return Err(WorkspaceError::BlobCorrupt {
                hash: hash.to_hex(),
            });
        }
        Ok(bytes)
    }

    fn copy_to(&self, hash: &BlobHash, out: &mut dyn Write) -> Result<u64, WorkspaceError> {
        let path = self.read_path(hash);
        let mut file = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => WorkspaceError::BlobMissing {
                hash: hash.to_hex(),
            },
            _ => WorkspaceError::io("open blob", path.display(), e),
        })?;
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| WorkspaceError::io("read blob", path.display(), e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| WorkspaceError::io("write blob", hash, e))?;
            total += n as u64;
        }
        if BlobHash::from(hasher.finalize()) != *hash {
            return Err(WorkspaceError::BlobCorrupt {
                hash: hash.to_hex(),
            });
        }
        Ok(total)
    }

    fn sync(&self) -> Result<(), WorkspaceError> {
        if self.durability != Durability::Fsync {
            return Ok(());
        }
        let _syncing = self
            .syncing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pending: Vec<(BlobHash, TempPath)> = self.pending().drain().collect();
        // Bytes first, from parallel threads (concurrent `fsync`s share
        // journal commits), then the names.
        parallel(&pending, |(hash, tmp)| {
            File::open(tmp)
                .and_then(|f| f.sync_all())
                .map_err(|e| WorkspaceError::io("fsync blob", hash, e))
        })?;
        for (hash, tmp) in pending {
            self.link(tmp, &hash)?;
        }
        let dirty = std::mem::take(
            &mut *self
                .dirty
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let dirs: Vec<PathBuf> = dirty.into_iter().map(|f| self.root.join(f)).collect();
        parallel(&dirs, |d| fsync_dir(d))
    }
}

/// Runs `f` on every item from up to [`SYNC_THREADS`] threads.
fn parallel<T: Sync>(
    items: &[T],
    f: impl Fn(&T) -> Result<(), WorkspaceError> + Sync,
) -> Result<(), WorkspaceError> {
    match items {
        [] => Ok(()),
        [one] => f(one),
        many => std::thread::scope(|scope| {
            let f = &f;
            let handles: Vec<_> = many
                .chunks(many.len().div_ceil(SYNC_THREADS))
                .map(|chunk| scope.spawn(move || chunk.iter().try_for_each(f)))
                .collect();
            handles.into_iter().try_for_each(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(WorkspaceError::io(
                        "fsync",
                        "blob storage",
                        std::io::Error::other("an fsync thread panicked"),
                    ))
                })
            })
        }),
    }
}

pub(crate) fn fsync_dir(dir: &Path) -> Result<(), WorkspaceError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| WorkspaceError::io("fsync folder", dir.display(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn puts_are_idempotent_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path().join("b"), Durability::Fsync).unwrap();
        let h = BlobHash::of(b"hello");
        assert!(!store.contains(&h).unwrap());
        assert_eq!(
            store
                .put_if_absent(&h, BlobSource::Bytes(b"hello"))
                .unwrap(),
            Put::Stored { bytes: 5 }
        );
        assert_eq!(
            store
                .put_if_absent(&h, BlobSource::Bytes(b"hello"))
                .unwrap(),
            Put::Present
        );
        store.sync().unwrap();
        assert_eq!(store.get(&h).unwrap(), b"hello");
        // Wrong content for a name is refused and nothing is stored.
        let other = BlobHash::of(b"other");
        assert_eq!(
            store
                .put_if_absent(&other, BlobSource::Bytes(b"evil"))
                .unwrap(),
            Put::Mismatch
        );
        assert!(!store.contains(&other).unwrap());
        // A file source longer than announced is a mismatch.
        let f = dir.path().join("f");
        std::fs::write(&f, b"other!").unwrap();
        let file = File::open(&f).unwrap();
        assert_eq!(
            store
                .put_if_absent(
                    &other,
                    BlobSource::File {
                        file: &file,
                        len: 5
                    }
                )
                .unwrap(),
            Put::Mismatch
        );
        // A corrupted blob is detected on read.
        let (path, _) = store.path_of(&h);
        std::fs::write(&path, b"HELLO").unwrap();
        assert!(matches!(
            store.get(&h),
            Err(WorkspaceError::BlobCorrupt { .. })
        ));
        // No temporary files are left behind.
        assert_eq!(
            std::fs::read_dir(dir.path().join("b/.tmp"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn fsync_puts_are_linked_by_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path().join("b"), Durability::Fsync).unwrap();
        let blobs: Vec<Vec<u8>> = (0..40u32)
            .map(|i| i.to_le_bytes().repeat(i as usize + 1))
            .collect();
        for b in &blobs {
            let h = BlobHash::of(b);
            assert!(matches!(
                store.put_if_absent(&h, BlobSource::Bytes(b)).unwrap(),
                Put::Stored { .. }
            ));
            // Pending: visible to this store, not yet under its name.
            assert!(store.contains(&h).unwrap());
            assert_eq!(&store.get(&h).unwrap(), b);
            assert!(!store.path_of(&h).0.exists());
            assert_eq!(
                store.put_if_absent(&h, BlobSource::Bytes(b)).unwrap(),
                Put::Present
            );
        }
        store.sync().unwrap();
        for b in &blobs {
            assert_eq!(
                &std::fs::read(store.path_of(&BlobHash::of(b)).0).unwrap(),
                b
            );
        }
        let tmp_left = std::fs::read_dir(dir.path().join("b/.tmp"))
            .unwrap()
            .count();
        assert_eq!(tmp_left, 0);
        // Another store object on the same folder sees them.
        let other = LocalBlobStore::open(dir.path().join("b"), Durability::Fsync).unwrap();
        assert_eq!(other.get(&BlobHash::of(&blobs[7])).unwrap(), blobs[7]);
    }
}
