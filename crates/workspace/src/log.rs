//! The per-workspace snapshot log: one JSON line per recorded snapshot in
//! `workspaces/<id>/log.jsonl`, appended under the workspace lock with one
//! `write` and `fsync`ed (with [`crate::Durability::Fsync`]). A line without
//! its final newline (a torn append) is ignored by readers and cut off by
//! the next append.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Durability, SnapshotId, WorkspaceError};

/// Who made a snapshot and when. `created_at_ms` comes from the caller: the
/// library reads no wall clock for it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotLabel {
    pub created_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl SnapshotLabel {
    pub fn new(created_at_ms: u64) -> Self {
        SnapshotLabel {
            created_at_ms,
            ..SnapshotLabel::default()
        }
    }

    /// The label of a run's step.
    pub fn step(created_at_ms: u64, run: impl Into<String>, step: u64) -> Self {
        SnapshotLabel {
            created_at_ms,
            run: Some(run.into()),
            step: Some(step),
            message: None,
        }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
}

/// Sizes of a snapshot and how it differs from its parent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotStats {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    pub added: u64,
    pub modified: u64,
    pub deleted: u64,
}

/// One entry of a workspace's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Position in the log, from 1.
    pub seq: u64,
    pub id: SnapshotId,
    /// The snapshot that was latest when this one was committed.
    pub parent: Option<SnapshotId>,
    pub label: SnapshotLabel,
    pub stats: SnapshotStats,
}

pub(crate) fn read(path: &Path) -> Result<Vec<SnapshotInfo>, WorkspaceError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(WorkspaceError::io("read snapshot log", path.display(), e)),
    };
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => &bytes[..=i],
        None => return Ok(Vec::new()),
    };
    complete
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|line| parse_line(line, path))
        .collect()
}

/// The last complete entry, reading only the end of the file, so a commit
/// costs the same on a workspace with a long history.
pub(crate) fn last(path: &Path) -> Result<Option<SnapshotInfo>, WorkspaceError> {
    let io = |op, e| WorkspaceError::io(op, path.display(), e);
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("open snapshot log", e)),
    };
    let len = file
        .metadata()
        .map_err(|e| io("stat snapshot log", e))?
        .len();
    let mut window = 64 * 1024u64;
    loop {
        let start = len.saturating_sub(window);
        let mut buf = vec![0u8; (len - start) as usize];
        file.read_exact_at(&mut buf, start)
            .map_err(|e| io("read snapshot log", e))?;
        // Only complete lines count; find the last two newlines.
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
            if start == 0 {
                return Ok(None);
            }
            window *= 4;
            continue;
        };
        match buf[..end].iter().rposition(|&b| b == b'\n') {
            Some(begin) => return parse_line(&buf[begin + 1..end], path).map(Some),
            None if start == 0 => return parse_line(&buf[..end], path).map(Some),
            None => window *= 4,
        }
    }
}

fn parse_line(line: &[u8], path: &Path) -> Result<SnapshotInfo, WorkspaceError> {
    serde_json::from_slice(line)
        .map_err(|e| WorkspaceError::corrupt(format!("snapshot log {}", path.display()), e))
}

/// Appends one entry. The caller holds the workspace lock.
pub(crate) fn append(
    path: &Path,
    info: &SnapshotInfo,
    durability: Durability,
) -> Result<(), WorkspaceError> {
    let io = |op, e| WorkspaceError::io(op, path.display(), e);
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| io("open snapshot log", e))?;
    // Cut off a torn last line so the new entry starts on its own line.
    let len = file
        .metadata()
        .map_err(|e| io("stat snapshot log", e))?
        .len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.read_exact_at(&mut last, len - 1)
            .map_err(|e| io("read snapshot log", e))?;
        if last[0] != b'\n' {
            let bytes = std::fs::read(path).map_err(|e| io("read snapshot log", e))?;
            let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            file.set_len(keep as u64)
                .map_err(|e| io("repair snapshot log", e))?;
        }
    }
    let mut line =
        serde_json::to_vec(info).map_err(|e| WorkspaceError::corrupt("a snapshot log entry", e))?;
    line.push(b'\n');
    file.write_all(&line)
        .map_err(|e| io("append to snapshot log", e))?;
    if durability == Durability::Fsync {
        file.sync_data().map_err(|e| io("fsync snapshot log", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BlobHash;

    fn info(seq: u64) -> SnapshotInfo {
        SnapshotInfo {
            seq,
            id: BlobHash::of(&seq.to_le_bytes()),
            parent: None,
            label: SnapshotLabel::new(seq).with_message("x".repeat(300)),
            stats: SnapshotStats::default(),
        }
    }

    #[test]
    fn last_reads_the_tail_and_torn_lines_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        assert_eq!(last(&path).unwrap(), None);
        append(&path, &info(1), Durability::None).unwrap();
        assert_eq!(last(&path).unwrap(), Some(info(1)));
        // Enough entries that the last one is beyond the first 64 KiB window.
        for seq in 2..=500 {
            append(&path, &info(seq), Durability::None).unwrap();
        }
        assert_eq!(last(&path).unwrap(), Some(info(500)));
        // A torn append: ignored by readers, cut by the next append.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"seq\":501,\"id").unwrap();
        assert_eq!(last(&path).unwrap(), Some(info(500)));
        assert_eq!(read(&path).unwrap().len(), 500);
        append(&path, &info(501), Durability::None).unwrap();
        let all = read(&path).unwrap();
        assert_eq!(all.len(), 501);
        assert_eq!(all[500], info(501));
    }
}
