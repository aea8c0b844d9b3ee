//! The only ways this crate touches a live folder: single-component names
//! relative to an already-open directory descriptor, opened with `openat2`
//! and `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
//! RESOLVE_NO_XDEV` plus `O_NOFOLLOW`, and `fstatat(AT_SYMLINK_NOFOLLOW)`.
//! Nothing here follows a symbolic link, and files are opened `O_NONBLOCK`
//! so a FIFO that slips past the type check cannot block the caller.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

use crate::WorkspaceError;

/// `RESOLVE_NO_XDEV` too: a mount point inside a live folder (which no
/// sandbox can make from its own mount namespace) is never crossed, so a
/// restore cannot empty a file system mounted there.
fn resolve() -> ResolveFlags {
    ResolveFlags::BENEATH
        | ResolveFlags::NO_SYMLINKS
        | ResolveFlags::NO_MAGICLINKS
        | ResolveFlags::NO_XDEV
}

/// `openat2` of one name beneath `dir`, retrying the kernel's `EAGAIN`
/// (returned when a concurrent rename races the resolution).
pub(crate) fn open_beneath(
    dir: BorrowedFd<'_>,
    name: &[u8],
    flags: OFlags,
    mode: Mode,
) -> Result<OwnedFd, Errno> {
    let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY;
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(dir, name, flags, mode, resolve()) {
            Err(Errno::AGAIN) if tries < 16 => tries += 1,
            other => return other,
        }
    }
}

pub(crate) fn open_dir_beneath(dir: BorrowedFd<'_>, name: &[u8]) -> Result<OwnedFd, Errno> {
    open_beneath(dir, name, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
}

/// Opens an existing file beneath `dir` for reading without blocking on a
/// FIFO; the caller checks the type with `fstat`.
pub(crate) fn open_file_beneath(dir: BorrowedFd<'_>, name: &[u8]) -> Result<OwnedFd, Errno> {
    open_beneath(dir, name, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty())
}

/// `lstat` of one name in `dir`; `None` if it vanished.
pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> Result<Option<Stat>, Errno> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens the live folder itself. Its path is trusted (it comes from the
/// host), but its last component must not be a symbolic link.
pub(crate) fn open_live_root(live: &Path) -> Result<OwnedFd, WorkspaceError> {
    rustix::fs::open(
        live,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| WorkspaceError::LiveFolder {
        path: live.display().to_string(),
        reason: match e {
            Errno::NOENT => "it does not exist".to_owned(),
            Errno::LOOP => "it is a symbolic link".to_owned(),
            Errno::NOTDIR => "it is not a directory".to_owned(),
            e => std::io::Error::from(e).to_string(),
        },
    })
}

/// Lists the names in a directory (without `.` and `..`), as raw bytes,
/// sorted.
pub(crate) fn list_names(dir: BorrowedFd<'_>) -> Result<Vec<Vec<u8>>, Errno> {
    list_names_capped(dir, u64::MAX).map(|names| names.unwrap_or_default())
}

/// Like [`list_names`], but stops reading (and returns `None`) once the
/// folder has more than `cap` names, so a hostile folder with millions of
/// entries costs no more memory than the cap allows.
pub(crate) fn list_names_capped(
    dir: BorrowedFd<'_>,
    cap: u64,
) -> Result<Option<Vec<Vec<u8>>>, Errno> {
    let mut reader = rustix::fs::Dir::read_from(dir)?;
    let mut names = Vec::new();
    while let Some(entry) = reader.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            if names.len() as u64 >= cap {
                return Ok(None);
            }
            names.push(name.to_vec());
        }
    }
    names.sort();
    Ok(Some(names))
}

/// Removes `name` from `dir`: a file, link or special file is unlinked (the
/// link itself, never its target); a folder is emptied through descriptors
/// opened beneath it, then removed.
pub(crate) fn remove_at(dir: BorrowedFd<'_>, name: &[u8], depth: u32) -> Result<(), Errno> {
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(());
    };
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        if depth > 256 {
            return Err(Errno::LOOP);
        }
        let child = open_dir_beneath(dir, name)?;
        for n in list_names(child.as_fd())? {
            remove_at(child.as_fd(), &n, depth + 1)?;
        }
        drop(child);
        match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e),
        }
    } else {
        match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// What the stat cache compares: a file is taken as unchanged only if all of
/// these are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StatKey {
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub ino: u64,
    pub dev: u64,
    pub mode: u32,
}

impl StatKey {
    pub(crate) fn of(st: &Stat) -> Self {
        StatKey {
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime_ns: i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec),
            ctime_ns: i128::from(st.st_ctime) * 1_000_000_000 + i128::from(st.st_ctime_nsec),
            ino: st.st_ino,
            dev: st.st_dev,
            mode: st.st_mode,
        }
    }

    /// The later of mtime and ctime; the racy rule compares this.
    pub(crate) fn changed_ns(&self) -> i128 {
        self.mtime_ns.max(self.ctime_ns)
    }
}

pub(crate) fn is_exec(mode: u32) -> bool {
    mode & 0o111 != 0
}

pub(crate) fn errno_io(e: Errno) -> std::io::Error {
    e.into()
}
