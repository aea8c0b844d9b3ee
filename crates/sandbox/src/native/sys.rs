//! Thin wrappers over the Linux calls the launcher needs and that neither
//! `std` nor `rustix` (as configured) offers. Every `unsafe` block of the
//! native backend lives here, each with its `// SAFETY:` reason; the rest of
//! the backend is safe code.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub(crate) fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn cstr_of(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte"))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn check_long(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `mount(2)`.
pub(crate) fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(cstring).transpose()?;
    let target = cstring(target)?;
    let fstype = fstype.map(cstr_of).transpose()?;
    let data = data.map(cstr_of).transpose()?;
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is either null or a NUL-terminated string that
    // outlives the call; mount(2) only reads them.
    let ret = unsafe {
        libc::mount(
            ptr(&source),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    };
    check(ret).map(drop)
}

/// Whether [`set_mount_attrs`] applies to the whole tree under a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Depth {
    ThisMount,
    Recursive,
}

/// `mount_setattr(2)`: set `attr_set` (`MOUNT_ATTR_*`) on the mount at `path`.
/// Unlike a bind remount it leaves other (possibly locked) flags alone.
pub(crate) fn set_mount_attrs(path: &Path, attr_set: u64, depth: Depth) -> io::Result<()> {
    let path = cstring(path)?;
    let attr = libc::mount_attr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = match depth {
        Depth::ThisMount => 0,
        Depth::Recursive => libc::AT_RECURSIVE,
    };
    // SAFETY: `path` is NUL-terminated and `attr` is a valid `mount_attr`
    // whose exact size is passed; the kernel only reads both.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    check_long(ret).map(drop)
}

/// Binds `source` at `target` through an idmapped mount that maps file
/// owners with the user namespace `userns`, with extra `MOUNT_ATTR_*` flags.
pub(crate) fn idmapped_bind(
    source: &Path,
    target: &Path,
    userns: &OwnedFd,
    attr_set: u64,
) -> io::Result<()> {
    let source = cstring(source)?;
    let target = cstring(target)?;
    let empty = c"";
    // SAFETY: `source` is NUL-terminated; open_tree returns a new fd or -1.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            source.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC as libc::c_uint,
        )
    };
    let tree = check_long(tree)?;
    let tree_fd = RawFd::try_from(tree)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "open_tree fd out of range"))?;
    // SAFETY: open_tree just returned this fd and nothing else owns it.
    let tree = unsafe { OwnedFd::from_raw_fd(tree_fd) };
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_IDMAP | attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: u64::try_from(userns.as_raw_fd()).unwrap_or_default(),
    };
    // SAFETY: `tree` is a detached mount fd we own, `empty` is a valid empty
    // C string (AT_EMPTY_PATH), `attr` is a valid `mount_attr` of the size given.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    check_long(ret)?;
    // SAFETY: `tree` is a valid mount fd, both paths are NUL-terminated.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    check_long(ret).map(drop)
}

/// `pivot_root(".", ".")` from inside the new root, then detach the old one.
pub(crate) fn pivot_into_cwd() -> io::Result<()> {
    let dot = c".";
    // SAFETY: both arguments are the NUL-terminated string ".".
    let ret = unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) };
    check_long(ret)?;
    // SAFETY: "." is NUL-terminated; MNT_DETACH lazily unmounts the old root
    // stacked on the new one.
    let ret = unsafe { libc::umount2(dot.as_ptr(), libc::MNT_DETACH) };
    check(ret).map(drop)
}

/// `unshare(2)`.
pub(crate) fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare takes only flags. Callers are single-threaded.
    check(unsafe { libc::unshare(flags) }).map(drop)
}

/// Who returned from [`fork_with_flags`].
pub(crate) enum Forked {
    Parent { child: libc::pid_t },
    Child,
}

/// A fork-like `clone(2)` with namespace flags (no new stack: the child
/// continues on a copy of ours). The caller must be single-threaded, which
/// the launcher is, so the child may keep using the allocator.
pub(crate) fn fork_with_flags(flags: libc::c_int) -> io::Result<Forked> {
    let flags = libc::c_ulong::try_from(flags | libc::SIGCHLD)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad clone flags"))?;
    // SAFETY: raw clone with a null stack behaves like fork; the launcher is
    // single-threaded, so no lock can be held by a thread missing in the
    // child. The remaining pointer arguments are null, which clone accepts.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    let ret = check_long(ret)?;
    if ret == 0 {
        Ok(Forked::Child)
    } else {
        let child = libc::pid_t::try_from(ret)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "pid out of range"))?;
        Ok(Forked::Parent { child })
    }
}

/// `pipe2(O_CLOEXEC)`: (read end, write end).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both fds are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Marks every descriptor from `first` upwards close-on-exec.
pub(crate) fn cloexec_from(first: RawFd) -> io::Result<()> {
    let first = libc::c_uint::try_from(first).unwrap_or(3);
    // SAFETY: close_range only changes descriptor flags.
    check(unsafe { libc::close_range(first, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) })
        .map(drop)
}

/// Closes every descriptor except those in `keep`. Only for a process that
/// owns all of its descriptors (a freshly cloned child).
pub(crate) fn close_all_except(keep: &[RawFd]) -> io::Result<()> {
    let mut keep: Vec<libc::c_uint> = keep
        .iter()
        .filter_map(|&fd| libc::c_uint::try_from(fd).ok())
        .collect();
    keep.sort_unstable();
    let mut from: libc::c_uint = 0;
    for fd in keep {
        if fd > from {
            // SAFETY: closes descriptors no live Rust object of this fresh
            // child uses any more (the caller's contract).
            check(unsafe { libc::close_range(from, fd - 1, 0) })?;
        }
        from = fd.saturating_add(1);
    }
    // SAFETY: as above.
    check(unsafe { libc::close_range(from, libc::c_uint::MAX, 0) }).map(drop)
}

/// `waitpid(2)`, retrying on EINTR. Returns the pid and raw status.
pub(crate) fn wait_pid(pid: libc::pid_t) -> io::Result<(libc::pid_t, libc::c_int)> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let ret = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if ret >= 0 {
            return Ok((ret, status));
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// Decodes a raw wait status into (exited code, signal).
pub(crate) fn decode_status(status: libc::c_int) -> crate::ExitStatus {
    if libc::WIFEXITED(status) {
        crate::ExitStatus::Exited(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        crate::ExitStatus::Signaled(libc::WTERMSIG(status))
    } else {
        crate::ExitStatus::Exited(status)
    }
}

/// `kill(2)`; a process that is already gone is not an error.
pub(crate) fn kill(pid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill only takes integers. Failure (ESRCH) is harmless here.
    let _ = unsafe { libc::kill(pid, signal) };
}

pub(crate) fn setrlimit(
    resource: libc::__rlimit_resource_t,
    soft: u64,
    hard: u64,
) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` is a valid rlimit.
    check(unsafe { libc::setrlimit(resource, &lim) }).map(drop)
}

/// Sets a signal's disposition (`SIG_DFL` or `SIG_IGN`) and unblocks all signals.
pub(crate) fn reset_signals(ignored: &[libc::c_int]) -> io::Result<()> {
    for sig in 1..libc::SIGRTMIN() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let disposition = if ignored.contains(&sig) {
            libc::SIG_IGN
        } else {
            libc::SIG_DFL
        };
        // SAFETY: installing SIG_DFL or SIG_IGN involves no handler code.
        unsafe { libc::signal(sig, disposition) };
    }
    // SAFETY: `set` is initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        check(libc::sigprocmask(
            libc::SIG_SETMASK,
            &set,
            std::ptr::null_mut(),
        ))?;
    }
    Ok(())
}

/// `PR_SET_PDEATHSIG`: get `signal` when the parent thread dies.
pub(crate) fn die_with_parent(signal: libc::c_int) -> io::Result<()> {
    let sig = libc::c_ulong::try_from(signal).unwrap_or(9);
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig, 0, 0, 0) }).map(drop)
}

pub(crate) fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }).map(drop)
}

pub(crate) fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes.
    check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

pub(crate) fn setsid() {
    // SAFETY: no arguments; failure (already a leader) is harmless.
    let _ = unsafe { libc::setsid() };
}

/// Leaves the process at once, without running destructors or atexit
/// handlers (which belong to the parent's copy of the state).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// `execve(2)`; returns only on failure.
pub(crate) fn execve(path: &CStr, argv: &[CString], env: &[CString]) -> io::Error {
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    // SAFETY: both arrays are null-terminated arrays of pointers to
    // NUL-terminated strings that outlive the call.
    unsafe { libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr()) };
    io::Error::last_os_error()
}

pub(crate) fn geteuid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::geteuid() }
}

/// The Landlock ABI version the kernel offers, if any.
pub(crate) fn landlock_abi() -> Option<i32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag the
    // call only returns an integer.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    i32::try_from(ret).ok().filter(|v| *v > 0)
}

/// `poll(2)` on (fd, events) pairs; returns revents in the same order.
pub(crate) fn poll(fds: &[(RawFd, i16)], timeout_ms: i32) -> io::Result<Vec<i16>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&(fd, events)| libc::pollfd {
            fd,
            events,
            revents: 0,
        })
        .collect();
    let n = libc::nfds_t::try_from(pfds.len()).unwrap_or(0);
    // SAFETY: `pfds` is a valid array of `n` pollfd structs.
    let ret = unsafe { libc::poll(pfds.as_mut_ptr(), n, timeout_ms) };
    if ret < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINTR) {
            return Ok(vec![0; pfds.len()]);
        }
        return Err(err);
    }
    Ok(pfds.iter().map(|p| p.revents).collect())
}

/// Puts a descriptor in non-blocking mode.
pub(crate) fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own, integer arguments only.
    let flags = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

/// Opens `/proc/<pid>/ns/user`.
pub(crate) fn open_userns(pid: libc::pid_t) -> io::Result<OwnedFd> {
    let file = std::fs::File::open(format!("/proc/{pid}/ns/user"))?;
    Ok(OwnedFd::from(file))
}

/// `write(2)` of all of `buf` to a raw descriptor this process does not own as a Rust object.
pub(crate) fn write_all_raw(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for `buf.len()` bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        buf = buf
            .get(usize::try_from(n).unwrap_or(0)..)
            .unwrap_or_default();
    }
    Ok(())
}

/// `read(2)` from a raw descriptor, retrying on EINTR.
pub(crate) fn read_raw(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(usize::try_from(n).unwrap_or(0));
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// `dup2(2)` between raw descriptors (stdio of a child about to exec).
pub(crate) fn dup_raw(fd: RawFd, target: RawFd) -> io::Result<()> {
    // SAFETY: dup2 only manipulates the descriptor table; the caller is a
    // fresh child that owns its table.
    check(unsafe { libc::dup2(fd, target) }).map(drop)
}

/// One `write(2)` to a raw descriptor (non-blocking pipes).
pub(crate) fn write_raw(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

/// Becomes uid/gid 0 of the (just mapped) user namespace with no
/// supplementary groups; until then the process still holds the parent's ids.
pub(crate) fn become_root_in_userns() -> io::Result<()> {
    // SAFETY: a zero-length group list with a null pointer is valid.
    check(unsafe { libc::setgroups(0, std::ptr::null()) })?;
    // SAFETY: integer arguments only.
    check(unsafe { libc::setresgid(0, 0, 0) })?;
    // SAFETY: integer arguments only.
    check(unsafe { libc::setresuid(0, 0, 0) }).map(drop)
}

/// Makes `fd` available as descriptor 3 across `execve` (not close-on-exec).
pub(crate) fn keep_as_fd3(fd: RawFd) -> io::Result<()> {
    if fd == 3 {
        // SAFETY: fcntl on a descriptor this fresh child owns.
        check(unsafe { libc::fcntl(3, libc::F_SETFD, 0) }).map(drop)
    } else {
        // SAFETY: dup2 only edits this child's descriptor table; the copy
        // on 3 is not close-on-exec.
        check(unsafe { libc::dup2(fd, 3) }).map(drop)
    }
}

/// `PR_SET_DUMPABLE 0`: `/proc/<pid>` of this process becomes owned by the
/// host's root, out of reach of the sandboxed command.
pub(crate) fn set_not_dumpable() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) }).map(drop)
}
