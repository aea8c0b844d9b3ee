//! The files tools' work: every open goes through [`open_beneath`].

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;

use bureau_protocol::{Content, ToolResult};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use serde::Serialize;

use super::{FilesLimits, ListArgs, ReadArgs, WriteArgs};
use crate::workspace::{Create, RelPath, kind_name, open_beneath, open_error};
use crate::{ToolError, Workspace};

/// What a listing says an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One listed entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Relative to the workspace root.
    pub path: String,
    pub name: String,
    pub kind: EntryKind,
    /// Bytes, for regular files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

#[derive(Serialize)]
struct Listing<'a> {
    path: &'a str,
    entries: Vec<Entry>,
    truncated: bool,
}

fn structured(value: serde_json::Value) -> ToolResult {
    ToolResult {
        content: vec![Content::Text {
            text: value.to_string(),
        }],
        structured: Some(value),
        is_error: false,
    }
}

pub(super) fn list(
    ws: &Workspace,
    args: &ListArgs,
    limits: &FilesLimits,
) -> Result<ToolResult, ToolError> {
    let rel = RelPath::parse(args.path.as_deref().unwrap_or("."))?;
    let dir = ws.open_dir(&rel)?;
    let prefix = if rel.is_root() {
        String::new()
    } else {
        format!("{}/", rel.as_str())
    };
    let mut walk = Walk {
        entries: Vec::new(),
        truncated: false,
        limits,
        recursive: args.recursive,
    };
    walk.dir(dir, &prefix, 0)?;
    let listing = Listing {
        path: rel.as_str(),
        entries: walk.entries,
        truncated: walk.truncated,
    };
    let value = serde_json::to_value(&listing)
        .map_err(|e| ToolError::io("list", rel.as_str(), std::io::Error::other(e)))?;
    Ok(structured(value))
}

struct Walk<'a> {
    entries: Vec<Entry>,
    truncated: bool,
    limits: &'a FilesLimits,
    recursive: bool,
}

impl Walk<'_> {
    fn dir(&mut self, fd: OwnedFd, prefix: &str, depth: usize) -> Result<(), ToolError> {
        let shown = if prefix.is_empty() {
            "."
        } else {
            prefix.trim_end_matches('/')
        };
        let dir = Dir::read_from(&fd).map_err(|e| open_error(e, "list", shown))?;
        // Read no more names than can still be shown (plus one, to know the
        // listing is cut), so a folder with a million entries costs no more
        // than one with a thousand. A cut listing shows a sorted subset.
        let budget = self
            .limits
            .max_list_entries
            .saturating_sub(self.entries.len())
            + 1;
        let mut names: Vec<CString> = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|e| open_error(e, "list", shown))?;
            let name = entry.file_name();
            if name.to_bytes() != b"." && name.to_bytes() != b".." {
                names.push(name.to_owned());
                if names.len() >= budget {
                    break;
                }
            }
        }
        names.sort();
        for name in names {
            if self.entries.len() >= self.limits.max_list_entries {
                self.truncated = true;
                return Ok(());
            }
            let stat = match rustix::fs::statat(&fd, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                // Removed while we listed.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(open_error(e, "list", shown)),
            };
            let display = name.to_string_lossy().into_owned();
            let file_type = FileType::from_raw_mode(stat.st_mode);
            let kind = match file_type {
                FileType::RegularFile => EntryKind::File,
                FileType::Directory => EntryKind::Dir,
                FileType::Symlink => EntryKind::Symlink,
                _ => EntryKind::Other,
            };
            let path = format!("{prefix}{display}");
            let size = (kind == EntryKind::File).then_some(stat.st_size as u64);
            self.entries.push(Entry {
                path: path.clone(),
                name: display,
                kind,
                size,
            });
            if self.recursive && kind == EntryKind::Dir && depth < self.limits.max_list_depth {
                let child = open_beneath(
                    fd.as_fd(),
                    name.as_c_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                );
                match child {
                    Ok(child) => self.dir(child, &format!("{path}/"), depth + 1)?,
                    Err(Errno::NOENT) => {}
                    Err(e) => return Err(open_error(e, "list", &path)),
                }
            }
        }
        Ok(())
    }
}

/// Checks that an open descriptor is a regular file with a single link.
fn regular_file(fd: &OwnedFd, path: &str) -> Result<Stat, ToolError> {
    let stat = rustix::fs::fstat(fd).map_err(|e| ToolError::io("inspect", path, e))?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => {}
        FileType::Directory => {
            return Err(ToolError::IsADirectory {
                path: path.to_owned(),
            });
        }
        other => {
            return Err(ToolError::NotAFile {
                path: path.to_owned(),
                kind: kind_name(other),
            });
        }
    }
    // A second link could be a way out of the workspace for a writer that
    // saw a file elsewhere; refuse rather than guess.
    let links = stat.st_nlink as u64;
    if links > 1 {
        return Err(ToolError::HardLinked {
            path: path.to_owned(),
            links,
        });
    }
    Ok(stat)
}

pub(super) fn read(
    ws: &Workspace,
    args: &ReadArgs,
    limits: &FilesLimits,
) -> Result<ToolResult, ToolError> {
    let rel = RelPath::parse(&args.path)?;
    let path = rel.as_str();
    if rel.is_root() {
        return Err(ToolError::IsADirectory {
            path: path.to_owned(),
        });
    }
    // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then
    // refuses everything that is not a regular file before any read.
    let fd = open_beneath(
        ws.fd(),
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| open_error(e, "open", path))?;
    let stat = regular_file(&fd, path)?;
    let size = stat.st_size as u64;
    let offset = args.offset.unwrap_or(0);
    if offset > size {
        return Err(ToolError::OffsetPastEnd {
            path: path.to_owned(),
            offset,
            size,
        });
    }
    let want = args
        .max_bytes
        .unwrap_or(limits.max_read_bytes)
        .min(limits.max_read_bytes);
    let to_read = want.min(size - offset) as usize;
    let file = std::fs::File::from(fd);
    let mut buf = vec![0u8; to_read];
    let mut got = 0usize;
    while got < to_read {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ToolError::io("read", path, e)),
        }
    }
    buf.truncate(got);
    let more = offset + (got as u64) < size;
    if offset > 0 && buf.first().is_some_and(|b| (0x80..0xC0).contains(b)) {
        return Err(ToolError::OffsetInsideCharacter {
            path: path.to_owned(),
            offset,
        });
    }
    if let Err(e) = std::str::from_utf8(&buf) {
        if e.error_len().is_none() && more {
            // The cut fell inside a character: stop before it.
            buf.truncate(e.valid_up_to());
            if buf.is_empty() {
                return Err(ToolError::InvalidArguments {
                    tool: super::READ.to_owned(),
                    message: format!(
                        "max_bytes {want} is too small to hold the character at offset {offset}; use at least 4"
                    ),
                });
            }
        } else {
            return Err(ToolError::NotText {
                path: path.to_owned(),
                offset: offset + e.valid_up_to() as u64,
            });
        }
    }
    let end = offset + buf.len() as u64;
    let text = String::from_utf8(buf).map_err(|e| ToolError::NotText {
        path: path.to_owned(),
        offset: offset + e.utf8_error().valid_up_to() as u64,
    })?;
    let mut content = vec![Content::Text { text }];
    if end < size {
        content.push(Content::Text {
            text: format!(
                "[files.read: this is bytes {offset}..{end} of {size}; call files.read with offset {end} for the rest]"
            ),
        });
    }
    Ok(ToolResult {
        content,
        structured: None,
        is_error: false,
    })
}

pub(super) fn write(
    ws: &Workspace,
    args: &WriteArgs,
    limits: &FilesLimits,
) -> Result<ToolResult, ToolError> {
    let size = args.content.len() as u64;
    if size > limits.max_write_bytes {
        return Err(ToolError::ContentTooLarge {
            size,
            limit: limits.max_write_bytes,
        });
    }
    let rel = RelPath::parse(&args.path)?;
    let path = rel.as_str();
    if rel.is_root() {
        return Err(ToolError::IsADirectory {
            path: path.to_owned(),
        });
    }
    let create = if args.create_dirs {
        Create::IfMissing
    } else {
        Create::Never
    };
    let parent = ws.open_parent(&rel, create)?;
    let mut flags =
        OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    if args.append {
        flags |= OFlags::APPEND;
    }
    // No O_TRUNC: nothing is cut until the target is known to be a plain file.
    let fd = open_beneath(
        parent.as_fd(),
        rel.file_name(),
        flags,
        Mode::from_raw_mode(0o644),
    )
    .map_err(|e| open_error(e, "open", path))?;
    regular_file(&fd, path)?;
    let file = std::fs::File::from(fd);
    let bytes = args.content.as_bytes();
    if args.append {
        (&file)
            .write_all(bytes)
            .map_err(|e| ToolError::io("write", path, e))?;
    } else {
        // Overwrite in place, then cut what is left of the old content.
        // Truncating to zero first would make ext4 (`auto_da_alloc`) start
        // writeback on close: measured here, 150 µs a call instead of ~10.
        file.write_all_at(bytes, 0)
            .map_err(|e| ToolError::io("write", path, e))?;
        rustix::fs::ftruncate(&file, size).map_err(|e| ToolError::io("truncate", path, e))?;
    }
    Ok(structured(serde_json::json!({
        "path": path,
        "bytes_written": size,
        "appended": args.append,
    })))
}
