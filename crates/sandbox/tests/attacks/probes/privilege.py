# Family: privilege inside the sandbox.


def p_priv_setuid_binaries():
    import stat
    import subprocess
    nnp = status_field("NoNewPrivs")
    found, live = [], []
    for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/lib/dbus-1.0",
              "/usr/lib/openssh", "/usr/libexec", "/usr/local/bin"):
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for ent in entries:
            try:
                st = ent.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                found.append(ent.path)
                nosuid = os.statvfs(ent.path).f_flag & os.ST_NOSUID
                if not nosuid and nnp != "1":
                    live.append(ent.path)
    if live:
        exposed("setuid/setgid binaries usable (no nosuid, no no_new_privs): %s" %
                ",".join(live[:5]))
    tried = []
    mnt = os.path.join("/tmp", MARK + "-mnt")
    os.makedirs(mnt, exist_ok=True)
    for argv in (["mount", "-t", "tmpfs", "none", mnt], ["su", "-c", "true", "root"]):
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=5)
        except (OSError, subprocess.TimeoutExpired) as e:
            tried.append("%s: %s" % (argv[0], type(e).__name__))
            continue
        if r.returncode == 0 and os.getuid() != 0:
            exposed("%s succeeded as uid %d" % (" ".join(argv), os.getuid()))
        if argv[0] == "mount" and r.returncode == 0:
            subprocess.run(["umount", mnt], capture_output=True, timeout=5)
            exposed("mount -t tmpfs succeeded")
        tried.append("%s: exit %d" % (argv[0], r.returncode))
    blocked("%d setuid/setgid files, none usable (NoNewPrivs %s); %s" %
            (len(found), nnp, "; ".join(tried)))


def p_priv_setuid_copy():
    import shutil
    import subprocess
    src = shutil.which("id") or "/usr/bin/id"
    for d in ("/tmp", WS):
        dst = os.path.join(d, MARK + "-id")
        try:
            shutil.copy(src, dst)
        except OSError:
            continue
        break
    else:
        blocked("no writable place to copy a binary")
    other = 65534 if os.getuid() == 0 else 0
    notes = []
    try:
        os.chown(dst, other, other)
        notes.append("chown to %d worked" % other)
    except OSError as e:
        notes.append("chown to %d: %s" % (other, ename(e.errno)))
    try:
        os.chmod(dst, 0o6755)
    except OSError as e:
        notes.append("chmod u+s: %s" % ename(e.errno))
    r = subprocess.run([dst], capture_output=True, timeout=5)
    out = r.stdout.decode(errors="replace")
    if "euid=" in out or "egid=" in out:
        exposed("the setuid copy ran with a different euid/egid: %s" % out.strip())
    blocked("; ".join(notes) + "; copy ran as: %s" % out.strip()[:60])


def p_priv_capabilities():
    caps = {k: status_field(k) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
    nonzero = {k: v for k, v in caps.items() if v is None or int(v, 16) != 0}
    if nonzero:
        exposed("capabilities held: %s" % nonzero)
    blocked("all capability sets are empty")


def p_priv_no_new_privs():
    nnp = status_field("NoNewPrivs")
    libc.prctl.restype = ctypes.c_int
    via = libc.prctl(39, 0, 0, 0, 0)  # PR_GET_NO_NEW_PRIVS
    if nnp != "1" or via != 1:
        exposed("no_new_privs is not set (status %s, prctl %d)" % (nnp, via))
    blocked("no_new_privs is set")


def p_priv_seccomp_mode():
    mode = status_field("Seccomp")
    filters = status_field("Seccomp_filters")
    if mode != "2":
        exposed("no seccomp filter (Seccomp: %s)" % mode)
    blocked("seccomp filter mode, %s filter(s)" % filters)


def p_priv_uid_map():
    notes = []
    for f in ("uid_map", "gid_map"):
        data, err = try_read("/proc/self/" + f)
        if data is None:
            notes.append("%s unreadable %s" % (f, err))
            continue
        for line in data.decode().splitlines():
            inside, outside, count = (int(x) for x in line.split())
            if outside == 0:
                exposed("%s maps sandbox id %d to host root: %s" % (f, inside, line.strip()))
        notes.append("%s: %s" % (f, " | ".join(l.strip() for l in data.decode().splitlines())))
    with open(os.path.join(WS, "") + MARK + "-owned", "w") as fh:
        fh.write("owner check\n")
    blocked("; ".join(notes) + " (host checks the owner of a file made here)")


def p_priv_oom_score_adj():
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("-1000")
    except OSError as e:
        blocked("lowering oom_score_adj: %s" % ename(e.errno))
    now = read("/proc/self/oom_score_adj").decode().strip()
    if now == "-1000":
        exposed("set oom_score_adj to -1000 (the host OOM killer would spare it)")
    blocked("oom_score_adj write accepted but it reads %s" % now)


def p_priv_proc_exe_write():
    notes = []
    for label, path in (("self", "/proc/self/exe"), ("pid1", "/proc/1/exe"),
                        ("parent", "/proc/%d/exe" % os.getppid())):
        try:
            fd = os.open(path, os.O_PATH)
        except OSError as e:
            notes.append("%s: %s" % (label, ename(e.errno)))
            continue
        try:
            wfd = os.open("/proc/self/fd/%d" % fd, os.O_WRONLY)
            os.close(wfd)
            exposed("opened the binary behind %s for writing" % path)
        except OSError as e:
            notes.append("%s write: %s" % (label, ename(e.errno)))
        finally:
            os.close(fd)
    blocked("; ".join(notes))


def p_priv_tty_injection():
    import fcntl
    import termios
    notes = []
    fds = [0, 1, 2]
    try:
        fds.append(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError as e:
        notes.append("/dev/tty %s" % ename(e.errno))
    for fd in fds:
        try:
            fcntl.ioctl(fd, termios.TIOCSTI, b" ")
            exposed("TIOCSTI on fd %d pushed input into a terminal" % fd)
        except OSError as e:
            notes.append("fd %d %s" % (fd, ename(e.errno)))
    blocked("; ".join(notes))


def p_priv_mount_flags():
    data, err = try_read("/proc/self/mountinfo")
    if data is None:
        blocked("mountinfo unreadable: %s" % err)
    writable_ok = ("/workspace", "/tmp", "/dev/shm")
    bad, seen = [], []
    for line in data.decode(errors="replace").splitlines():
        left, _, right = line.partition(" - ")
        f = left.split()
        if len(f) < 6:
            continue
        point, opts = f[4], set(f[5].split(","))
        fstype = right.split()[0] if right else "?"
        seen.append(point)
        # proc guards itself; the standard char devices are single-file
        # binds that must stay writable and usable as devices.
        if fstype == "proc" or point in ("/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                         "/dev/urandom", "/dev/tty"):
            continue
        if "rw" in opts and point not in writable_ok:
            bad.append("%s is writable (%s)" % (point, fstype))
        if "rw" in opts and ("nosuid" not in opts or "nodev" not in opts):
            bad.append("%s is writable without nosuid,nodev" % point)
    if bad:
        exposed("; ".join(bad[:4]))
    blocked("only %s writable, each nosuid,nodev (%d mounts)" %
            (",".join(p for p in writable_ok if p in seen), len(seen)))


def p_priv_core_dump():
    import resource
    pattern = (try_read("/proc/sys/kernel/core_pattern")[0] or b"").decode().strip()
    dumpable = libc.prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if pattern.startswith("|") and dumpable:
        # Not crashed on purpose: the host's helper would run as host root.
        exposed("a crash here would pipe a core to the host helper %r (dumpable %d)" %
                (pattern[:40], dumpable))
    blocked("core_pattern %r, dumpable %d, RLIMIT_CORE %s/%s" % (pattern[:40], dumpable, soft, hard))


def p_priv_pid1_handles():
    notes = []
    for target in sorted({1, os.getppid()}):
        for mode, label in ((os.O_RDONLY, "read"), (os.O_RDWR, "write")):
            try:
                fd = os.open("/proc/%d/mem" % target, mode)
                os.close(fd)
                exposed("opened /proc/%d/mem for %s" % (target, label))
            except OSError as e:
                notes.append("%d/mem %s: %s" % (target, label, ename(e.errno)))
        try:
            fds = os.listdir("/proc/%d/fd" % target)
        except OSError as e:
            notes.append("%d/fd: %s" % (target, ename(e.errno)))
            continue
        for n in fds:
            try:
                fd = os.open("/proc/%d/fd/%s" % (target, n), os.O_RDONLY | os.O_NONBLOCK)
                os.close(fd)
                exposed("reopened PID %d's fd %s" % (target, n))
            except OSError:
                pass
        notes.append("%d/fd listed (%d), none reopened" % (target, len(fds)))
    blocked("; ".join(notes))
