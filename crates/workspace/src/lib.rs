//! Bureau's workspaces: folders that outlive the sandboxes working in them.
//!
//! A sandbox works in a plain host folder, the *live folder*. After each
//! step [`WorkspaceStore::commit`] stores the folder as a content-addressed
//! snapshot: every regular file a whole-file BLAKE3 blob, and a manifest
//! (sorted paths, sizes, exec bits, hashes, explicit folders) stored as a
//! blob whose hash is the snapshot id, recorded in the workspace's log. The
//! next step, maybe on another machine or after the live folder was
//! deleted, is [`WorkspaceStore::hydrate`]d from the latest snapshot.
//! Unchanged files cost one `lstat`: a stat cache per workspace (git's
//! index) remembers their hashes, with git's racy-clean rule.
//!
//! The live folder is written by untrusted code: it is read and written only
//! through descriptors opened with `openat2` beneath it, never following a
//! symbolic link, never opening FIFOs, sockets or devices, within caps.
//!
//! This crate owns blob storage (behind [`BlobStore`]), manifests, snapshot
//! logs and stat caches. It must not know about sandboxes, runs, policy or
//! HTTP: callers pass the live folder's path and a [`SnapshotLabel`] (with
//! the time), and get typed results back.
//!
//! Not in this version: garbage collection of blobs no log references;
//! chunking (a changed large file is stored whole again); a shared log for
//! several machines (blobs can live anywhere behind [`BlobStore`], but logs
//! and stat caches are files under the store root, so machines must share
//! that folder); ownership of restored files (they belong to the caller).
//! Commit while the sandbox is paused: a file that changes while it is read
//! fails the commit ([`WorkspaceError::ChangedDuringCommit`]), but files read
//! at different moments are not a consistent point-in-time view. The only
//! clock read is the racy-clean bound of the stat cache (see `statcache`).

mod blob;
mod collect;
mod error;
mod fsx;
mod ids;
mod limits;
mod log;
mod manifest;
mod restore;
mod statcache;
mod store;

pub use blob::{BlobSource, BlobStore, LocalBlobStore, Put};
pub use collect::{CollectStats, SkipReason, Skipped};
pub use error::WorkspaceError;
pub use ids::{BlobHash, SnapshotId, WorkspaceId};
pub use limits::{Durability, Limit, Limits, StoreOptions};
pub use log::{SnapshotInfo, SnapshotLabel, SnapshotStats};
pub use manifest::{Change, ChangeKind, Entry, EntryKind, Manifest, NodeKind, diff};
pub use restore::RestoreStats;
pub use store::{Commit, Restored, WorkspaceStore};
