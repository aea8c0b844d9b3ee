//! Caps on what a commit reads from a live folder, and the store's options.

use std::fmt;
use std::time::Duration;

/// One cap on a live folder. Exceeding any of them fails the commit with
/// [`crate::WorkspaceError::LimitExceeded`] naming the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Entries seen while walking (files, folders and skipped entries all count,
    /// so a folder of a million FIFOs is refused too).
    MaxFiles,
    /// Sum of the sizes of all regular files.
    MaxTotalBytes,
    /// Size of one regular file.
    MaxFileBytes,
    /// Folders nested below the live folder.
    MaxDepth,
    /// Length in bytes of a path relative to the live folder.
    MaxPathBytes,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::MaxFiles => "max_files",
            Limit::MaxTotalBytes => "max_total_bytes",
            Limit::MaxFileBytes => "max_file_bytes",
            Limit::MaxDepth => "max_depth",
            Limit::MaxPathBytes => "max_path_bytes",
        })
    }
}

/// The caps applied to every commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_files: u64,
    pub max_total_bytes: u64,
    pub max_file_bytes: u64,
    pub max_depth: u32,
    pub max_path_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_files: 200_000,
            max_total_bytes: 20 << 30,
            max_file_bytes: 4 << 30,
            max_depth: 64,
            max_path_bytes: 4096,
        }
    }
}

/// When the store makes written data durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Every new blob's bytes are `fsync`ed before it is linked under its
    /// name (in one parallel batch per commit, see [`crate::LocalBlobStore`]),
    /// the folders that received blobs are `fsync`ed before the snapshot's
    /// log entry is written, and the log is `fsync`ed after the append. A
    /// crash never leaves a log entry that names a missing or torn blob, nor
    /// a torn blob under its name. The stat cache is never `fsync`ed.
    Fsync,
    /// No `fsync` at all: for tests and throwaway stores on tmpfs. Writes
    /// are still atomic (temporary file + rename), so a crash can lose
    /// recent snapshots but never shows a half-written blob under its name.
    None,
}

/// Options of a [`crate::WorkspaceStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    pub limits: Limits,
    pub durability: Durability,
    /// Files whose mtime or ctime is within this window before the commit
    /// started are "racily clean": the stat cache does not vouch for them
    /// and the next commit hashes them again. It must exceed the kernel's
    /// timestamp granularity (one clock tick, at most 10 ms on Linux).
    pub racy_window: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            limits: Limits::default(),
            durability: Durability::Fsync,
            racy_window: Duration::from_secs(1),
        }
    }
}
