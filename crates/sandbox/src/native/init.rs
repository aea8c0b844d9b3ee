//! The sandbox side: the cloned child becomes PID 1 of the new pid
//! namespace, builds the root (a tmpfs with read-only binds of `/usr` and
//! friends, a generated `/etc`, a minimal `/dev`, a fresh `/proc`, the
//! staged `/tmp` and `/workspace`), pivots into it, forks the command, reaps
//! every zombie and reports the command's wait status on the status pipe.
//! When PID 1 exits the kernel kills whatever is left in the namespace.

use std::fs;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};

use super::command::{self, CommandFds};
use super::spec::LaunchSpec;
use super::stage::Stage;
use super::sys::{self, Depth};

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

/// Descriptors the child gets from the launcher (raw: the child is a copy
/// of the launcher and must not run the launcher's destructors).
#[derive(Clone, Copy, Debug)]
pub struct ChildFds {
    pub go: RawFd,
    pub status: RawFd,
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    /// Warm sandboxes: the zygote's "imports done" pipe.
    pub ready: Option<RawFd>,
}

/// Writes one status line; errors are ignored (the launcher notices EOF).
pub fn report(status: RawFd, line: &str) {
    let _ = sys::write_all_raw(status, format!("{line}\n").as_bytes());
}

/// Runs as the cloned child. Never returns.
pub fn pid1(
    spec: &LaunchSpec,
    stage: &Stage,
    fds: ChildFds,
    seccomp: &[seccompiler::BpfProgram],
) -> ! {
    let _ = sys::die_with_parent(libc::SIGKILL);
    // Wait for the launcher: uid maps, cgroup and workspace are ready.
    let mut byte = [0u8; 1];
    if !matches!(sys::read_raw(fds.go, &mut byte), Ok(1)) {
        sys::exit_now(1);
    }
    if let Err((step, e)) = setup(spec, stage) {
        report(fds.status, &format!("E {step}\t{e}"));
        sys::exit_now(1);
    }
    let command_fds = CommandFds {
        stdin: fds.stdin,
        stdout: fds.stdout,
        stderr: fds.stderr,
        status: fds.status,
        ready: fds.ready,
    };
    let child = match sys::fork_with_flags(0) {
        Ok(sys::Forked::Child) => command::exec(spec, command_fds, seccomp),
        Ok(sys::Forked::Parent { child }) => child,
        Err(e) => {
            report(fds.status, &format!("E fork command\t{e}"));
            sys::exit_now(1);
        }
    };
    // The command cannot open PID 1's /proc files (mem, fds) once it is
    // not dumpable; it could not ptrace it anyway (seccomp, capabilities).
    let _ = sys::set_not_dumpable();
    // Keep only the status pipe so the command's pipes see EOF with it.
    let _ = sys::close_all_except(&[fds.status]);
    loop {
        match sys::wait_pid(-1) {
            Ok((pid, status)) if pid == child => {
                report(fds.status, &format!("X {status}"));
                sys::exit_now(0);
            }
            Ok(_) => continue,
            Err(_) => sys::exit_now(1),
        }
    }
}

type StepError = (&'static str, io::Error);

fn step<T>(name: &'static str, r: io::Result<T>) -> Result<T, StepError> {
    r.map_err(|e| (name, e))
}

fn setup(spec: &LaunchSpec, stage: &Stage) -> Result<(), StepError> {
    step(
        "become root of the user namespace",
        sys::become_root_in_userns(),
    )?;
    step(
        "unshare mount and cgroup namespaces",
        sys::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWCGROUP),
    )?;
    step(
        "make mounts slaves",
        // Nothing propagates back out; a warm sandbox's workspace, mounted
        // later on the launcher's shared mount point, propagates in.
        sys::mount(
            None,
            Path::new("/"),
            None,
            libc::MS_REC | libc::MS_SLAVE,
            None,
        ),
    )?;
    let root = &stage.root;
    step(
        "mount root tmpfs",
        sys::mount(
            Some(Path::new("bureau-root")),
            root,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some("size=16m,nr_inodes=16384,mode=0755"),
        ),
    )?;
    step("bind /usr", bind_ro(Path::new("/usr"), &root.join("usr")))?;
    for name in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let host = Path::new("/").join(name);
        match fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = step("read merged-usr link", fs::read_link(&host))?;
                step("make merged-usr link", symlink(target, root.join(name)))?;
            }
            Ok(m) if m.is_dir() => step("bind library dir", bind_ro(&host, &root.join(name)))?,
            _ => {}
        }
    }
    step("write /etc", write_etc(&root.join("etc")))?;
    step(
        "make /dev",
        make_dev(&root.join("dev"), spec.limits.tmp_bytes),
    )?;
    let proc_dir = root.join("proc");
    step("mkdir /proc", fs::create_dir(&proc_dir))?;
    step(
        "mount /proc",
        sys::mount(
            Some(Path::new("proc")),
            &proc_dir,
            Some("proc"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        ),
    )?;
    for (src, name) in [(&stage.tmp, "tmp"), (&stage.ws, "workspace")] {
        let dst = root.join(name);
        step("mkdir mount point", fs::create_dir(&dst))?;
        step(
            "bind /tmp and /workspace",
            sys::mount(Some(src), &dst, None, libc::MS_BIND | libc::MS_REC, None),
        )?;
    }
    let mut extra: Vec<&PathBuf> = spec
        .read_only_paths
        .iter()
        .chain(spec.settings.python_packages.iter())
        .collect();
    extra.sort_by_key(|p| p.components().count());
    for path in extra {
        step("bind read-only path", bind_extra(path, root))?;
    }
    step("enter new root", std::env::set_current_dir(root))?;
    step("pivot_root", sys::pivot_into_cwd())?;
    step("chdir /", std::env::set_current_dir("/"))?;
    step(
        "remount / read-only",
        sys::set_mount_attrs(
            Path::new("/"),
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
            Depth::ThisMount,
        ),
    )?;
    step("set hostname", sys::sethostname("sandbox"))?;
    Ok(())
}

fn bind_ro(src: &Path, dst: &Path) -> io::Result<()> {
    if fs::metadata(src)?.is_dir() {
        fs::create_dir_all(dst)?;
    } else {
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(dst, b"")?;
    }
    sys::mount(Some(src), dst, None, libc::MS_BIND | libc::MS_REC, None)?;
    sys::set_mount_attrs(
        dst,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        Depth::Recursive,
    )
}

/// A granted path at the same place inside; a missing one is skipped.
fn bind_extra(path: &Path, root: &Path) -> io::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let rel: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    bind_ro(path, &root.join(rel))
}

fn write_etc(etc: &Path) -> io::Result<()> {
    fs::create_dir(etc)?;
    fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/workspace:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    )?;
    fs::write(etc.join("group"), "root:x:0:\nnogroup:x:65534:\n")?;
    fs::write(
        etc.join("hosts"),
        "127.0.0.1 localhost sandbox\n::1 localhost ip6-localhost\n",
    )?;
    fs::write(etc.join("hostname"), "sandbox\n")?;
    fs::write(
        etc.join("nsswitch.conf"),
        "passwd: files\ngroup: files\nhosts: files\n",
    )?;
    match fs::copy("/etc/ld.so.cache", etc.join("ld.so.cache")) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn make_dev(dev: &Path, shm_bytes: u64) -> io::Result<()> {
    fs::create_dir(dev)?;
    for node in ["null", "zero", "full", "random", "urandom"] {
        let dst = dev.join(node);
        fs::write(&dst, b"")?;
        sys::mount(
            Some(&Path::new("/dev").join(node)),
            &dst,
            None,
            libc::MS_BIND,
            None,
        )?;
    }
    symlink("/proc/self/fd", dev.join("fd"))?;
    symlink("/proc/self/fd/0", dev.join("stdin"))?;
    symlink("/proc/self/fd/1", dev.join("stdout"))?;
    symlink("/proc/self/fd/2", dev.join("stderr"))?;
    let shm = dev.join("shm");
    fs::create_dir(&shm)?;
    sys::mount(
        Some(Path::new("shm")),
        &shm,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some(&format!("size={},mode=1777", shm_bytes.max(4096))),
    )
}
