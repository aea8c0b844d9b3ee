//! A snapshot's manifest: every folder and regular file of the live folder,
//! sorted by path, stored as a blob whose hash is the snapshot id.
//!
//! Encoding: JSON, `{"version":1,"entries":[...]}`, entries sorted by the
//! bytes of their path, each `{"path":"a/b","kind":"dir"}` or
//! `{"path":"a/b.txt","kind":"file","size":3,"exec":false,"hash":"<hex>"}`.
//! Folders are explicit, so empty folders survive a round trip. Of the mode
//! only the exec bit is kept (restored as 0755, else 0644; folders 0755).
//! Files are whole-file blobs: no chunking, so a one-byte change in a large
//! file stores the whole file again.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::{BlobHash, WorkspaceError};

const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    version: u32,
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    #[serde(flatten)]
    pub kind: EntryKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EntryKind {
    Dir,
    File {
        size: u64,
        exec: bool,
        hash: BlobHash,
    },
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, EntryKind::Dir)
    }

    pub fn size(&self) -> u64 {
        match self.kind {
            EntryKind::Dir => 0,
            EntryKind::File { size, .. } => size,
        }
    }

    /// The path's last component.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// The folder holding this entry, `""` for the top level.
    pub fn parent(&self) -> &str {
        self.path.rsplit_once('/').map_or("", |(p, _)| p)
    }
}

impl Manifest {
    /// Builds a manifest from entries in any order.
    pub(crate) fn new(mut entries: Vec<Entry>) -> Self {
        entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        Manifest {
            version: VERSION,
            entries,
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.path.as_bytes().cmp(path.as_bytes()))
            .ok()
            .and_then(|i| self.entries.get(i))
    }

    pub fn file_count(&self) -> u64 {
        self.entries.iter().filter(|e| !e.is_dir()).count() as u64
    }

    pub fn dir_count(&self) -> u64 {
        self.entries.iter().filter(|e| e.is_dir()).count() as u64
    }

    pub fn total_bytes(&self) -> u64 {
        self.entries.iter().map(Entry::size).sum()
    }

    pub(crate) fn hashes(&self) -> HashSet<BlobHash> {
        self.entries
            .iter()
            .filter_map(|e| match e.kind {
                EntryKind::File { hash, .. } => Some(hash),
                EntryKind::Dir => None,
            })
            .collect()
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>, WorkspaceError> {
        serde_json::to_vec(self).map_err(|e| WorkspaceError::corrupt("a manifest", e))
    }

    /// Decodes and checks a manifest: version, strict path order, valid
    /// relative paths, and every entry's parent listed as a folder.
    pub(crate) fn decode(bytes: &[u8], id: &BlobHash) -> Result<Self, WorkspaceError> {
        let what = || format!("manifest {id}");
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| WorkspaceError::corrupt(what(), e))?;
        if m.version != VERSION {
            return Err(WorkspaceError::corrupt(
                what(),
                format!("unknown version {}", m.version),
            ));
        }
        let mut dirs: HashSet<&str> = HashSet::new();
        let mut prev: Option<&str> = None;
        for e in &m.entries {
            if !valid_rel_path(&e.path) {
                return Err(WorkspaceError::corrupt(
                    what(),
                    format!("invalid path {:?}", e.path),
                ));
            }
            if prev.is_some_and(|p| p.as_bytes() >= e.path.as_bytes()) {
                return Err(WorkspaceError::corrupt(what(), "entries out of order"));
            }
            prev = Some(&e.path);
            let parent = e.parent();
            if !parent.is_empty() && !dirs.contains(parent) {
                // Sorting by bytes puts "a" before "a/x" and "a-b" between
                // them, so a parent always comes before its children.
                return Err(WorkspaceError::corrupt(
                    what(),
                    format!("{:?} has no parent folder entry", e.path),
                ));
            }
            if e.is_dir() {
                dirs.insert(&e.path);
            }
        }
        Ok(m)
    }
}

/// A relative path of non-empty components without `.`, `..`, NUL or a
/// leading, trailing or doubled `/`.
pub(crate) fn valid_rel_path(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'))
}

/// What happened to one path between two snapshots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
    pub node: NodeKind,
    /// Size before (files only; `None` for added paths and folders).
    pub old_size: Option<u64>,
    /// Size after (files only; `None` for deleted paths and folders).
    pub new_size: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    /// Content or exec bit changed.
    Modified,
    Deleted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    File,
    Dir,
}

fn node_and_size(e: &Entry) -> (NodeKind, Option<u64>) {
    match e.kind {
        EntryKind::Dir => (NodeKind::Dir, None),
        EntryKind::File { size, .. } => (NodeKind::File, Some(size)),
    }
}

/// Changes from `from` (or an empty folder) to `to`, in path order. A path
/// that turned from a file into a folder (or back) is reported as deleted,
/// then added.
pub fn diff(from: Option<&Manifest>, to: &Manifest) -> Vec<Change> {
    let empty: &[Entry] = &[];
    let old = from.map_or(empty, |m| &m.entries[..]);
    let new = &to.entries[..];
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    let deleted = |e: &Entry| {
        let (node, size) = node_and_size(e);
        Change {
            path: e.path.clone(),
            kind: ChangeKind::Deleted,
            node,
            old_size: size,
            new_size: None,
        }
    };
    let added = |e: &Entry| {
        let (node, size) = node_and_size(e);
        Change {
            path: e.path.clone(),
            kind: ChangeKind::Added,
            node,
            old_size: None,
            new_size: size,
        }
    };
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) => match a.path.as_bytes().cmp(b.path.as_bytes()) {
                std::cmp::Ordering::Less => {
                    out.push(deleted(a));
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    out.push(added(b));
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    match (a.kind, b.kind) {
                        (EntryKind::Dir, EntryKind::Dir) => {}
                        (
                            EntryKind::File {
                                size: s1,
                                exec: x1,
                                hash: h1,
                            },
                            EntryKind::File {
                                size: s2,
                                exec: x2,
                                hash: h2,
                            },
                        ) => {
                            if h1 != h2 || x1 != x2 {
                                out.push(Change {
                                    path: b.path.clone(),
                                    kind: ChangeKind::Modified,
                                    node: NodeKind::File,
                                    old_size: Some(s1),
                                    new_size: Some(s2),
                                });
                            }
                        }
                        (EntryKind::Dir, EntryKind::File { .. })
                        | (EntryKind::File { .. }, EntryKind::Dir) => {
                            out.push(deleted(a));
                            out.push(added(b));
                        }
                    }
                    i += 1;
                    j += 1;
                }
            },
            (Some(a), None) => {
                out.push(deleted(a));
                i += 1;
            }
            (None, Some(b)) => {
                out.push(added(b));
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &[u8], exec: bool) -> Entry {
        Entry {
            path: path.to_owned(),
            kind: EntryKind::File {
                size: content.len() as u64,
                exec,
                hash: BlobHash::of(content),
            },
        }
    }

    fn dir(path: &str) -> Entry {
        Entry {
            path: path.to_owned(),
            kind: EntryKind::Dir,
        }
    }

    #[test]
    fn encoding_is_sorted_and_round_trips() {
        let m = Manifest::new(vec![
            file("b", b"x", false),
            dir("a"),
            file("a/c", b"", true),
        ]);
        let bytes = m.encode().unwrap();
        let id = BlobHash::of(&bytes);
        let back = Manifest::decode(&bytes, &id).unwrap();
        assert_eq!(back, m);
        let paths: Vec<_> = back.entries().iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["a", "a/c", "b"]);
        // Same entries in another order: same bytes, same snapshot id.
        let again = Manifest::new(vec![
            file("a/c", b"", true),
            file("b", b"x", false),
            dir("a"),
        ]);
        assert_eq!(again.encode().unwrap(), bytes);
    }

    #[test]
    fn decode_rejects_bad_paths_and_orphans() {
        let id = BlobHash::of(b"");
        for bad in [
            r#"{"version":1,"entries":[{"path":"../x","kind":"dir"}]}"#,
            r#"{"version":1,"entries":[{"path":"/x","kind":"dir"}]}"#,
            r#"{"version":1,"entries":[{"path":"a/b","kind":"dir"}]}"#,
            r#"{"version":1,"entries":[{"path":"b","kind":"dir"},{"path":"a","kind":"dir"}]}"#,
            r#"{"version":2,"entries":[]}"#,
        ] {
            assert!(Manifest::decode(bad.as_bytes(), &id).is_err(), "{bad}");
        }
    }

    #[test]
    fn diff_reports_adds_modifications_deletes_and_type_changes() {
        let old = Manifest::new(vec![
            file("keep", b"same", false),
            file("mod", b"one", false),
            file("chmod", b"x", false),
            file("gone", b"bye", false),
            file("flip", b"f", false),
        ]);
        let new = Manifest::new(vec![
            file("keep", b"same", false),
            file("mod", b"two!", false),
            file("chmod", b"x", true),
            file("new", b"hello", false),
            dir("flip"),
        ]);
        let d = diff(Some(&old), &new);
        let summary: Vec<_> = d
            .iter()
            .map(|c| (c.path.as_str(), c.kind, c.old_size, c.new_size))
            .collect();
        assert_eq!(
            summary,
            [
                ("chmod", ChangeKind::Modified, Some(1), Some(1)),
                ("flip", ChangeKind::Deleted, Some(1), None),
                ("flip", ChangeKind::Added, None, None),
                ("gone", ChangeKind::Deleted, Some(3), None),
                ("mod", ChangeKind::Modified, Some(3), Some(4)),
                ("new", ChangeKind::Added, None, Some(5)),
            ]
        );
        assert_eq!(diff(Some(&new), &new), []);
        assert_eq!(diff(None, &new).len(), new.entries().len());
    }
}
