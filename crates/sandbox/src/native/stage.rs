//! Launcher-side mounts, made as real root in the launcher's own private
//! mount namespace (so they vanish with the launcher, whatever happens):
//! a small tmpfs "stage" at the runtime directory holding the sandbox's
//! `/tmp` (a tmpfs of `tmp_bytes`) and its `/workspace` (an overlay whose
//! lower layer is an idmapped, read-only view of the host folder and whose
//! upper layer is a tmpfs of `workspace_bytes`, or a plain tmpfs scratch).

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::path::{Path, PathBuf};

use super::sys;

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

/// Where the sandbox's pieces are mounted before its root is built.
#[derive(Clone, Debug)]
pub struct Stage {
    /// Mount point of the sandbox's root tmpfs (mounted by the sandbox).
    pub root: PathBuf,
    /// The sandbox's `/tmp`.
    pub tmp: PathBuf,
    /// The sandbox's `/workspace`.
    pub ws: PathBuf,
    /// The overlay's upper layer, when a host folder is attached.
    pub upper: Option<PathBuf>,
    /// The tmpfs that holds the upper layer (or the scratch workspace).
    pub ws_fs: PathBuf,
}

/// Every entry counts as at least a block: the sandbox cannot make more
/// files and directories than `workspace_bytes / 4096` (at least 1024), so
/// empty entries cannot cost the host more than the limit says.
fn inodes_for(bytes: u64) -> u64 {
    (bytes / 4096).max(1024)
}

fn tmpfs_size(bytes: u64) -> u64 {
    // size=0 would mean "unlimited" to tmpfs.
    bytes.max(4096)
}

impl Stage {
    /// Enters a private mount namespace and mounts the stage tmpfs.
    pub fn enter(runtime_dir: &Path, tmp_bytes: u64, uid: u32) -> io::Result<Self> {
        sys::unshare(libc::CLONE_NEWNS)?;
        sys::mount(
            None,
            Path::new("/"),
            None,
            libc::MS_REC | libc::MS_PRIVATE,
            None,
        )?;
        fs::create_dir_all(runtime_dir)?;
        sys::mount(
            Some(Path::new("bureau-stage")),
            runtime_dir,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some("size=1m,mode=0755"),
        )?;
        let stage = Stage {
            root: runtime_dir.join("root"),
            tmp: runtime_dir.join("tmp"),
            ws: runtime_dir.join("ws"),
            upper: None,
            ws_fs: runtime_dir.join("ws-fs"),
        };
        for d in [&stage.root, &stage.tmp, &stage.ws, &stage.ws_fs] {
            fs::create_dir(d)?;
        }
        sys::mount(
            Some(Path::new("bureau-tmp")),
            &stage.tmp,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(&format!(
                "size={},mode=1777,uid={uid},gid={uid}",
                tmpfs_size(tmp_bytes)
            )),
        )?;
        Ok(stage)
    }

    /// Makes the workspace mount point a shared mount, so a workspace
    /// mounted there after the sandbox started propagates into it.
    pub fn share_workspace_point(&self) -> io::Result<()> {
        sys::mount(Some(&self.ws), &self.ws, None, libc::MS_BIND, None)?;
        sys::mount(None, &self.ws, None, libc::MS_SHARED, None)
    }

    /// A throw-away scratch workspace.
    pub fn mount_scratch(&mut self, workspace_bytes: u64, uid: u32) -> io::Result<()> {
        sys::mount(
            Some(Path::new("bureau-workspace")),
            &self.ws_fs,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(&format!(
                "size={},mode=0755,uid={uid},gid={uid}",
                tmpfs_size(workspace_bytes)
            )),
        )?;
        sys::mount(Some(&self.ws_fs), &self.ws, None, libc::MS_BIND, None)
    }

    /// The host folder through an overlay whose writes land on a bounded tmpfs.
    /// The folder's owner is the sandbox's root (an idmapped lower layer).
    pub fn mount_overlay(&mut self, host: &Path, workspace_bytes: u64, uid: u32) -> io::Result<()> {
        sys::mount(
            Some(Path::new("bureau-workspace")),
            &self.ws_fs,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(&format!(
                "size={},nr_inodes={},mode=0700",
                tmpfs_size(workspace_bytes),
                inodes_for(workspace_bytes)
            )),
        )?;
        let lower = self.ws_fs.join("lower");
        let upper = self.ws_fs.join("upper");
        let work = self.ws_fs.join("work");
        for d in [&lower, &upper, &work] {
            fs::create_dir(d)?;
        }
        let host_meta = fs::metadata(host)?;
        let host_mode = host_meta.permissions().mode() & 0o7777;
        fs::set_permissions(&upper, fs::Permissions::from_mode(host_mode))?;
        chown(&upper, Some(uid), Some(uid))?;
        // The folder's owner is the sandbox's root inside; other owners are
        // unmapped (shown as nobody).
        let userns = idmap_userns(host_meta.uid(), host_meta.gid(), uid)?;
        sys::idmapped_bind(
            host,
            &lower,
            &userns,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        )?;
        let options = format!(
            "lowerdir={},upperdir={},workdir={},redirect_dir=off,metacopy=off,index=off,xino=off",
            lower.display(),
            upper.display(),
            work.display()
        );
        sys::mount(
            Some(Path::new("overlay")),
            &self.ws,
            Some("overlay"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(&options),
        )?;
        self.upper = Some(upper);
        Ok(())
    }
}

/// A throw-away user namespace mapping host `owner`/`group` to `base`, for
/// an idmapped mount: files of the owner appear owned by the sandbox's root.
fn idmap_userns(owner: u32, group: u32, base: u32) -> io::Result<OwnedFd> {
    let (r, w) = sys::pipe()?;
    match sys::fork_with_flags(libc::CLONE_NEWUSER)? {
        sys::Forked::Child => {
            // Wait until the parent has what it needs, then leave.
            let _ = sys::close_all_except(&[r.as_raw_fd()]);
            let mut byte = [0u8; 1];
            let _ = sys::read_raw(r.as_raw_fd(), &mut byte);
            sys::exit_now(0)
        }
        sys::Forked::Parent { child } => {
            drop(r);
            let made = (|| {
                fs::write(
                    format!("/proc/{child}/uid_map"),
                    format!("{owner} {base} 1"),
                )?;
                fs::write(
                    format!("/proc/{child}/gid_map"),
                    format!("{group} {base} 1"),
                )?;
                sys::open_userns(child)
            })();
            drop(w);
            let _ = sys::wait_pid(child);
            made
        }
    }
}

/// Free bytes of the filesystem at `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(path).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Whether a regular file of at least `size` bytes exists under `dir`
/// (not following symlinks).
pub fn has_file_at_least(dir: &Path, size: u64) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries
        .flatten()
        .any(|e| match fs::symlink_metadata(e.path()) {
            Ok(m) if m.is_file() => m.len() >= size,
            Ok(m) if m.is_dir() => has_file_at_least(&e.path(), size),
            _ => false,
        })
}
