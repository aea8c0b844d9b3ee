use thiserror::Error;

use crate::limits::Limit;

/// Why a workspace operation failed. Messages are lowercase sentences that
/// say what to do; fields carry the structured facts (paths, ids, caps).
#[derive(Debug, Error)]
pub enum WorkspaceError {
    #[error(
        "`{id}` is not a valid workspace id ({reason}): use 1-128 characters from letters, digits, `.`, `_` and `-`, not starting with `.`"
    )]
    InvalidWorkspaceId { id: String, reason: &'static str },

    #[error(
        "`{text}` is not a snapshot id: give the 64-character hex id `bureau workspace log` shows, or a unique prefix of at least 4 characters"
    )]
    InvalidSnapshotId { text: String },

    #[error(
        "the prefix `{prefix}` matches several snapshots of workspace `{workspace}`: give more characters"
    )]
    AmbiguousSnapshot { workspace: String, prefix: String },

    #[error(
        "snapshot {snapshot} is not in the log of workspace `{workspace}`: run `bureau workspace log {workspace}` to list its snapshots"
    )]
    UnknownSnapshot { workspace: String, snapshot: String },

    #[error("workspace `{workspace}` has no snapshots yet: commit the live folder first")]
    NoSnapshots { workspace: String },

    #[error(
        "the live folder exceeds the {limit} cap ({max}){at}: remove files from it or raise the cap; nothing was committed",
        at = path.as_ref().map(|p| format!(" at `{p}`")).unwrap_or_default()
    )]
    LimitExceeded {
        limit: Limit,
        max: u64,
        path: Option<String>,
    },

    #[error(
        "`{path}` changed while it was being committed: stop the sandbox writing to the live folder before committing, then commit again"
    )]
    ChangedDuringCommit { path: String },

    #[error(
        "the live folder `{path}` cannot be used: {reason}; give a path to a real directory (not a symbolic link)"
    )]
    LiveFolder { path: String, reason: String },

    #[error("snapshot {snapshot} has no `{path}`: list the snapshot's files to see what is there")]
    PathNotInSnapshot { snapshot: String, path: String },

    #[error("`{path}` is a folder in snapshot {snapshot}, not a file: give a file path")]
    NotAFile { snapshot: String, path: String },

    #[error(
        "blob {hash} is missing from blob storage: the store is incomplete; restore it from a backup or commit the live folder again"
    )]
    BlobMissing { hash: String },

    #[error(
        "blob {hash} is corrupt (its content does not hash to its name): the store is damaged; remove the blob and commit again"
    )]
    BlobCorrupt { hash: String },

    #[error("{what} is corrupt: {detail}; the store needs repair")]
    Corrupt { what: String, detail: String },

    #[error("could not {op} `{path}`: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "this kernel has no openat2 (Linux 5.6 or newer is needed): workspaces refuse to read live folders without it"
    )]
    Unsupported,
}

impl WorkspaceError {
    pub(crate) fn io(
        op: &'static str,
        path: impl std::fmt::Display,
        source: impl Into<std::io::Error>,
    ) -> Self {
        WorkspaceError::Io {
            op,
            path: path.to_string(),
            source: source.into(),
        }
    }

    pub(crate) fn corrupt(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        WorkspaceError::Corrupt {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}
