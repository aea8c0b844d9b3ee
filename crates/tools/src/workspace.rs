//! A workspace folder and the only way the tools open anything in it:
//! `openat2` relative to the folder's descriptor with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`, so the
//! kernel (not string checks) keeps every path inside the folder and refuses
//! symbolic links anywhere on the way, including links planted inside it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::ToolError;

/// Longest path a call may name, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest single path component, in bytes (the Linux `NAME_MAX`).
const MAX_COMPONENT_BYTES: usize = 255;

fn resolve() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS
}

/// Whether a missing folder is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Create {
    IfMissing,
    Never,
}

/// A folder the tools work in, held open: every later open is relative to
/// this descriptor, so renaming or replacing the folder's path afterwards
/// cannot redirect the tools.
#[derive(Debug)]
pub struct Workspace {
    dir: OwnedFd,
    path: PathBuf,
}

impl Workspace {
    /// Opens an existing folder. `path` comes from trusted configuration.
    pub fn open(path: &Path) -> Result<Self, ToolError> {
        let dir = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ToolError::Workspace {
            path: path.display().to_string(),
            source: e.into(),
        })?;
        Ok(Self {
            dir,
            path: path.to_owned(),
        })
    }

    /// Creates the folder (and its parents) if needed, then opens it.
    pub fn create(path: &Path) -> Result<Self, ToolError> {
        std::fs::create_dir_all(path).map_err(|source| ToolError::Workspace {
            path: path.display().to_string(),
            source,
        })?;
        Self::open(path)
    }

    /// Opens the folder `name` beneath this one (creating it if asked), with
    /// the same rules as every tool path: no `..`, no absolute paths, no
    /// symbolic links. Used to give each run its own folder.
    pub fn subdir(&self, name: &str, create: Create) -> Result<Workspace, ToolError> {
        let rel = RelPath::parse(name)?;
        let dir = match self.open_dir(&rel) {
            Err(ToolError::NotFound { .. }) if create == Create::IfMissing => {
                let parent = self.open_parent(&rel, create)?;
                match rustix::fs::mkdirat(
                    parent.as_fd(),
                    rel.file_name(),
                    Mode::from_raw_mode(0o755),
                ) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(open_error(e, "create folder", rel.as_str())),
                }
                self.open_dir(&rel)?
            }
            other => other?,
        };
        Ok(Workspace {
            dir,
            path: self.path.join(rel.as_str()),
        })
    }

    /// The folder's path, for messages and logs.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// Opens `rel` (a directory) beneath the workspace.
    pub(crate) fn open_dir(&self, rel: &RelPath<'_>) -> Result<OwnedFd, ToolError> {
        open_beneath(
            self.fd(),
            rel.as_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| open_error(e, "open folder", rel.as_str()))
    }

    /// Opens the folder that holds `rel`'s last component, creating missing
    /// folders one at a time (each `mkdirat` beneath an already-checked
    /// descriptor) when asked.
    pub(crate) fn open_parent(
        &self,
        rel: &RelPath<'_>,
        create: Create,
    ) -> Result<ParentDir<'_>, ToolError> {
        let parents = rel.parents();
        if parents.is_empty() {
            return Ok(ParentDir::Root(self.fd()));
        }
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        if create == Create::Never {
            let joined = parents.join("/");
            return open_beneath(self.fd(), &joined, dir_flags, Mode::empty())
                .map(ParentDir::Owned)
                .map_err(|e| match e {
                    Errno::NOENT => ToolError::MissingParent {
                        path: rel.as_str().to_owned(),
                    },
                    e => open_error(e, "open folder", &joined),
                });
        }
        let mut current: Option<OwnedFd> = None;
        for (i, part) in parents.iter().enumerate() {
            let so_far = || parents[..=i].join("/");
            let at = current.as_ref().map_or(self.fd(), |fd| fd.as_fd());
            let next = match open_beneath(at, *part, dir_flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    match rustix::fs::mkdirat(at, *part, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(open_error(e, "create folder", &so_far())),
                    }
                    open_beneath(at, *part, dir_flags, Mode::empty())
                        .map_err(|e| open_error(e, "open folder", &so_far()))?
                }
                Err(e) => return Err(open_error(e, "open folder", &so_far())),
            };
            current = Some(next);
        }
        Ok(current.map_or(ParentDir::Root(self.fd()), ParentDir::Owned))
    }
}

/// The folder holding a path's last component.
pub(crate) enum ParentDir<'a> {
    Root(BorrowedFd<'a>),
    Owned(OwnedFd),
}

impl AsFd for ParentDir<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            ParentDir::Root(fd) => *fd,
            ParentDir::Owned(fd) => fd.as_fd(),
        }
    }
}

/// `openat2` beneath `dir`, refusing symbolic and magic links anywhere.
pub(crate) fn open_beneath<P: rustix::path::Arg + Copy>(
    dir: BorrowedFd<'_>,
    path: P,
    flags: OFlags,
    mode: Mode,
) -> Result<OwnedFd, Errno> {
    loop {
        match rustix::fs::openat2(dir, path, flags, mode, resolve()) {
            // openat2 may ask for a retry when a rename raced the lookup.
            Err(Errno::AGAIN) | Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}

/// Maps an errno from a path operation to the error the model should see.
pub(crate) fn open_error(errno: Errno, op: &'static str, path: &str) -> ToolError {
    let path_s = path.to_owned();
    match errno {
        Errno::NOENT => ToolError::NotFound { path: path_s },
        Errno::LOOP => ToolError::Symlink { path: path_s },
        Errno::XDEV => ToolError::OutsideWorkspace { path: path_s },
        Errno::NOTDIR => ToolError::NotADirectory { path: path_s },
        Errno::ISDIR => ToolError::IsADirectory { path: path_s },
        // A FIFO with no reader or a socket, opened for writing.
        Errno::NXIO | Errno::OPNOTSUPP => ToolError::NotAFile {
            path: path_s,
            kind: "special file",
        },
        Errno::NAMETOOLONG => ToolError::InvalidPath {
            path: path_s,
            reason: "it is longer than the system allows",
        },
        Errno::NOSYS => ToolError::Unsupported,
        e => ToolError::io(op, path, e),
    }
}

/// A human word for a file type, as used in messages and listings.
pub(crate) fn kind_name(file_type: FileType) -> &'static str {
    match file_type {
        FileType::RegularFile => "file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "named pipe (FIFO)",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "special file",
    }
}

/// A path a call named, checked before it reaches the kernel: relative, no
/// `..`, no NUL bytes, bounded length. `.` and empty components are dropped.
/// The kernel's `RESOLVE_BENEATH` is the boundary; this check exists to give
/// a clear message and to keep `..` out even where it would stay inside.
#[derive(Debug, Clone)]
pub(crate) struct RelPath<'a> {
    parts: Vec<&'a str>,
    joined: String,
}

impl<'a> RelPath<'a> {
    pub(crate) fn parse(raw: &'a str) -> Result<Self, ToolError> {
        if raw.len() > MAX_PATH_BYTES {
            return Err(ToolError::InvalidPath {
                path: format!("{}…", truncate_chars(raw, 64)),
                reason: "it is longer than 1024 bytes",
            });
        }
        if raw.contains('\0') {
            return Err(ToolError::InvalidPath {
                path: raw.replace('\0', "\\0"),
                reason: "it contains a NUL byte",
            });
        }
        if raw.starts_with('/') {
            return Err(ToolError::AbsolutePath {
                path: raw.to_owned(),
            });
        }
        let mut parts = Vec::new();
        for part in raw.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    return Err(ToolError::ParentComponent {
                        path: raw.to_owned(),
                    });
                }
                p if p.len() > MAX_COMPONENT_BYTES => {
                    return Err(ToolError::InvalidPath {
                        path: raw.to_owned(),
                        reason: "one of its names is longer than 255 bytes",
                    });
                }
                p => parts.push(p),
            }
        }
        let joined = if parts.is_empty() {
            ".".to_owned()
        } else {
            parts.join("/")
        };
        Ok(Self { parts, joined })
    }

    /// The workspace root itself (`.`, `""`).
    pub(crate) fn is_root(&self) -> bool {
        self.parts.is_empty()
    }

    /// The normalised path: components joined by `/`, or `.` for the root.
    pub(crate) fn as_str(&self) -> &str {
        &self.joined
    }

    /// The last component (`.` for the root).
    pub(crate) fn file_name(&self) -> &str {
        self.parts.last().copied().unwrap_or(".")
    }

    /// Every component but the last.
    pub(crate) fn parents(&self) -> &[&'a str] {
        match self.parts.split_last() {
            Some((_, parents)) => parents,
            None => &[],
        }
    }
}

fn truncate_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_normalised() {
        assert_eq!(RelPath::parse("a/./b//c").unwrap().as_str(), "a/b/c");
        assert_eq!(RelPath::parse("").unwrap().as_str(), ".");
        assert!(RelPath::parse("./").unwrap().is_root());
        let p = RelPath::parse("a/b/c.txt").unwrap();
        assert_eq!(p.parents(), &["a", "b"]);
        assert_eq!(p.file_name(), "c.txt");
    }

    #[test]
    fn escaping_paths_are_refused_before_the_kernel() {
        assert!(matches!(
            RelPath::parse("../x"),
            Err(ToolError::ParentComponent { .. })
        ));
        assert!(matches!(
            RelPath::parse("a/../../x"),
            Err(ToolError::ParentComponent { .. })
        ));
        assert!(matches!(
            RelPath::parse("/etc/passwd"),
            Err(ToolError::AbsolutePath { .. })
        ));
        assert!(matches!(
            RelPath::parse("a\0b"),
            Err(ToolError::InvalidPath { .. })
        ));
        let long = "a".repeat(MAX_PATH_BYTES + 1);
        assert!(matches!(
            RelPath::parse(&long),
            Err(ToolError::InvalidPath { .. })
        ));
        let long_name = "b".repeat(256);
        assert!(matches!(
            RelPath::parse(&long_name),
            Err(ToolError::InvalidPath { .. })
        ));
    }

    #[test]
    fn the_kernel_refuses_escapes_the_parser_would_miss() {
        // Bypass RelPath to show RESOLVE_BENEATH is the real boundary.
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        for path in [
            "../x",
            "/etc/passwd",
            "a/../../x",
            "/proc/self/root/etc/passwd",
        ] {
            let err = open_beneath(
                ws.fd(),
                path,
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .unwrap_err();
            assert_eq!(err, Errno::XDEV, "{path}");
        }
    }

    #[test]
    fn subdir_is_created_beneath_and_refuses_links() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        let sub = ws.subdir("run-1", Create::IfMissing).unwrap();
        assert!(dir.path().join("run-1").is_dir());
        assert_eq!(sub.path(), dir.path().join("run-1"));
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("evil")).unwrap();
        assert!(matches!(
            ws.subdir("evil", Create::IfMissing),
            Err(ToolError::Symlink { .. })
        ));
        assert!(matches!(
            ws.subdir("../x", Create::IfMissing),
            Err(ToolError::ParentComponent { .. })
        ));
        assert!(matches!(
            ws.subdir("missing", Create::Never),
            Err(ToolError::NotFound { .. })
        ));
    }
}
