//! Applies the overlay's upper layer (what the sandbox changed) back onto
//! the host workspace folder, after the sandbox is gone.
//!
//! Both trees are walked through descriptors, never through long paths.
//! Host-side, every step is opened with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)` relative
//! to the workspace folder, files are created under a temporary name with
//! `O_EXCL | O_NOFOLLOW` and renamed into place, and only regular files and
//! directories are applied: a symlink, device, fifo or socket the sandbox
//! planted is skipped and reported, never followed. Overlay whiteouts become
//! deletions, opaque directories drop the host entries they hide. A file
//! whose size and mtime match the host's is left untouched; holes stay holes
//! (the host stores no more than the bounded upper layer did). Directories
//! deeper than [`MAX_DEPTH`] are skipped and reported.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, SeekFrom, Stat, Timespec};

use super::spec::{Skipped, WorkspaceReport};

/// How deep a directory tree the sandbox may hand back.
pub const MAX_DEPTH: usize = 128;

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::RDONLY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

fn open_dir_beneath(parent: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat2(
        parent,
        name,
        DIR_FLAGS,
        Mode::empty(),
        RESOLVE,
    )?)
}

/// Who owns what the sandbox adds: the workspace folder's owner.
#[derive(Clone, Copy, Debug)]
struct Owner {
    uid: u32,
    gid: u32,
}

impl Owner {
    fn of(st: &Stat) -> Self {
        Owner {
            uid: st.st_uid,
            gid: st.st_gid,
        }
    }

    fn ids(self) -> (Option<rustix::fs::Uid>, Option<rustix::fs::Gid>) {
        (
            Some(rustix::fs::Uid::from_raw(self.uid)),
            Some(rustix::fs::Gid::from_raw(self.gid)),
        )
    }
}

/// Host bytes one directory is counted as.
const DIR_COST: u64 = 4096;

/// What the walk carries along.
struct State {
    report: WorkspaceReport,
    /// Bytes the host may still receive: the upper layer was bounded by
    /// `workspace_bytes`, and so is what lands on the host (hard links and
    /// directories would otherwise cost the host more than the tmpfs).
    budget: u64,
    /// Upper inodes with several names, already applied: (dir, name) on the host.
    linked: HashMap<(u64, u64), (OwnedFd, OsString)>,
}

impl State {
    fn spend(&mut self, cost: u64, rel: &Path) -> bool {
        if cost > self.budget {
            self.report.skipped.push(Skipped {
                path: rel.to_owned(),
                reason: "not applied: the workspace size limit is used up".into(),
            });
            return false;
        }
        self.budget -= cost;
        true
    }
}

/// Applies `upper` onto the host folder `host`, adding at most `budget` bytes.
pub fn apply(upper: &Path, host: &Path, budget: u64) -> io::Result<WorkspaceReport> {
    let host_root = rustix::fs::open(host, DIR_FLAGS, Mode::empty())?;
    let upper_root = rustix::fs::open(upper, DIR_FLAGS, Mode::empty())?;
    let owner = Owner::of(&rustix::fs::fstat(&host_root)?);
    let mut state = State {
        report: WorkspaceReport::default(),
        budget,
        linked: HashMap::new(),
    };
    let walk = Walk {
        rel: PathBuf::new(),
        depth: 0,
        owner,
    };
    apply_dir(upper_root.as_fd(), host_root.as_fd(), &walk, &mut state)?;
    Ok(state.report)
}

struct Walk {
    rel: PathBuf,
    depth: usize,
    owner: Owner,
}

fn names_in(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes()).to_owned();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn stat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn kind(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

fn perm(st: &Stat) -> Mode {
    Mode::from_raw_mode(st.st_mode & 0o777)
}

fn is_opaque(dir: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 8];
    matches!(rustix::fs::fgetxattr(dir, OPAQUE_XATTR, &mut buf[..]), Ok(1) if buf[0] == b'y')
}

fn apply_dir(
    upper: BorrowedFd<'_>,
    host: BorrowedFd<'_>,
    walk: &Walk,
    state: &mut State,
) -> io::Result<()> {
    for name in names_in(upper)? {
        let rel = walk.rel.join(&name);
        let Some(st) = stat_at(upper, &name)? else {
            continue;
        };
        match kind(&st) {
            FileType::CharacterDevice if st.st_rdev == 0 => {
                // Whiteout: the sandbox deleted this entry.
                if stat_at(host, &name)?.is_some() {
                    remove_tree(host, &name)?;
                    state.report.entries_deleted += 1;
                }
            }
            FileType::Directory if walk.depth >= MAX_DEPTH => state.report.skipped.push(Skipped {
                path: rel,
                reason: format!("directory deeper than {MAX_DEPTH} levels not applied"),
            }),
            FileType::Directory => {
                let upper_dir =
                    rustix::fs::openat(upper, name.as_os_str(), DIR_FLAGS, Mode::empty())?;
                let existing = stat_at(host, &name)?;
                let is_dir = existing
                    .as_ref()
                    .is_some_and(|h| kind(h) == FileType::Directory);
                if !is_dir {
                    if !state.spend(DIR_COST, &rel) {
                        continue;
                    }
                    if existing.is_some() {
                        remove_tree(host, &name)?;
                    }
                    rustix::fs::mkdirat(host, name.as_os_str(), perm(&st))?;
                }
                let host_dir = open_dir_beneath(host, &name)?;
                if !is_dir {
                    let (uid, gid) = walk.owner.ids();
                    rustix::fs::fchown(&host_dir, uid, gid)?;
                }
                if is_opaque(upper_dir.as_fd()) {
                    remove_hidden(upper_dir.as_fd(), host_dir.as_fd(), &mut state.report)?;
                }
                let inner = Walk {
                    rel,
                    depth: walk.depth + 1,
                    owner: walk.owner,
                };
                apply_dir(upper_dir.as_fd(), host_dir.as_fd(), &inner, state)?;
            }
            FileType::RegularFile => {
                apply_file(upper, &name, &st, host, &rel, walk.owner, state)?;
            }
            other => {
                let what = match other {
                    FileType::Symlink => "symlink",
                    FileType::Fifo => "fifo",
                    FileType::Socket => "socket",
                    _ => "device node",
                };
                state.report.skipped.push(Skipped {
                    path: rel,
                    reason: format!(
                        "{what} not applied: only regular files and directories leave the sandbox"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// In an opaque directory the host entries absent from the upper one were deleted.
fn remove_hidden(
    upper: BorrowedFd<'_>,
    host: BorrowedFd<'_>,
    report: &mut WorkspaceReport,
) -> io::Result<()> {
    for name in names_in(host)? {
        if stat_at(upper, &name)?.is_none() {
            remove_tree(host, &name)?;
            report.entries_deleted += 1;
        }
    }
    Ok(())
}

/// Copies the data regions of `src` into `dst` at the same offsets and sets
/// the length, so holes stay holes.
fn copy_sparse(src: &std::fs::File, dst: &std::fs::File, size: u64) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 16];
    let mut offset = 0u64;
    while offset < size {
        let data = match rustix::fs::seek(src, SeekFrom::Data(offset)) {
            Ok(d) => d,
            Err(rustix::io::Errno::NXIO) => break,
            Err(e) => return Err(e.into()),
        };
        let hole = rustix::fs::seek(src, SeekFrom::Hole(data))?.min(size);
        let mut at = data;
        while at < hole {
            let want = usize::try_from((hole - at).min(buf.len() as u64)).unwrap_or(buf.len());
            let chunk = buf.get_mut(..want).unwrap_or_default();
            let n = src.read_at(chunk, at)?;
            if n == 0 {
                break;
            }
            dst.write_all_at(chunk.get(..n).unwrap_or_default(), at)?;
            at += n as u64;
        }
        offset = hole.max(data + 1);
    }
    dst.set_len(size)
}

fn apply_file(
    upper: BorrowedFd<'_>,
    name: &OsStr,
    st: &Stat,
    host: BorrowedFd<'_>,
    rel: &Path,
    owner: Owner,
    state: &mut State,
) -> io::Result<()> {
    // A changed file keeps its owner; a new one belongs to the folder's owner.
    let mut owner = owner;
    match stat_at(host, name)? {
        Some(h) if kind(&h) == FileType::RegularFile => {
            if h.st_size == st.st_size
                && h.st_mtime == st.st_mtime
                && h.st_mtime_nsec == st.st_mtime_nsec
            {
                return Ok(());
            }
            owner = Owner::of(&h);
        }
        Some(h) if kind(&h) == FileType::Directory => remove_tree(host, name)?,
        // A host symlink or special file is replaced by the rename below,
        // which never follows it.
        Some(_) | None => {}
    }
    let tmp_name = PathBuf::from(format!(
        ".bureau-apply-{}-{}",
        std::process::id(),
        state.report.files_written
    ));
    let key = (st.st_dev, st.st_ino);
    if st.st_nlink > 1
        && let Some((dir, first)) = state.linked.get(&key)
    {
        // Another name of a file already applied: a hard link, not a copy.
        rustix::fs::linkat(dir, first.as_os_str(), host, &tmp_name, AtFlags::empty())?;
        if let Err(e) = rustix::fs::renameat(host, &tmp_name, host, name) {
            let _ = rustix::fs::unlinkat(host, &tmp_name, AtFlags::empty());
            return Err(e.into());
        }
        state.report.files_written += 1;
        return Ok(());
    }
    let cost = u64::try_from(st.st_blocks)
        .unwrap_or(0)
        .saturating_mul(512)
        .div_ceil(4096)
        * 4096;
    if !state.spend(cost.max(4096), rel) {
        return Ok(());
    }
    let src = std::fs::File::from(rustix::fs::openat(
        upper,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?);
    let fd = rustix::fs::openat2(
        host,
        &tmp_name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        perm(st),
        RESOLVE,
    )?;
    let dst = std::fs::File::from(fd);
    let copied = (|| -> io::Result<()> {
        copy_sparse(&src, &dst, u64::try_from(st.st_size).unwrap_or(0))?;
        let (uid, gid) = owner.ids();
        rustix::fs::fchown(&dst, uid, gid)?;
        // No setuid/setgid/sticky bits come out of the sandbox (chown
        // clears them anyway, so the mode is set after it).
        rustix::fs::fchmod(&dst, perm(st))?;
        let times = rustix::fs::Timestamps {
            last_access: Timespec {
                tv_sec: st.st_atime,
                tv_nsec: st.st_atime_nsec as _,
            },
            last_modification: Timespec {
                tv_sec: st.st_mtime,
                tv_nsec: st.st_mtime_nsec as _,
            },
        };
        rustix::fs::futimens(&dst, &times)?;
        rustix::fs::renameat(host, &tmp_name, host, name)?;
        Ok(())
    })();
    if let Err(e) = copied {
        let _ = rustix::fs::unlinkat(host, &tmp_name, AtFlags::empty());
        return Err(io::Error::new(
            e.kind(),
            format!("applying {}: {e}", rel.display()),
        ));
    }
    // Bounded: each entry holds a descriptor; past it, extra names are copies.
    if st.st_nlink > 1 && state.linked.len() < 256 {
        let dir = rustix::io::fcntl_dupfd_cloexec(host, 0)?;
        state.linked.insert(key, (dir, name.to_owned()));
    }
    state.report.files_written += 1;
    Ok(())
}

/// Removes `name` under `dir`, recursing into directories through
/// descriptors, never following a symlink.
fn remove_tree(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let Some(st) = stat_at(dir, name)? else {
        return Ok(());
    };
    if kind(&st) != FileType::Directory {
        rustix::fs::unlinkat(dir, name, AtFlags::empty())?;
        return Ok(());
    }
    let child = open_dir_beneath(dir, name)?;
    for n in names_in(child.as_fd())? {
        remove_tree(child.as_fd(), &n)?;
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    Ok(())
}
