# Family: writes outside the workspace. A write that lands only in the
# sandbox's private root is BLOCKED here; the test then checks the host.


def _create_in(d):
    path = os.path.join(d, MARK)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, b"written by a sandbox probe\n")
        os.close(fd)
    except OSError as e:
        return "%s: %s" % (d, ename(e.errno))
    if same_inode_as_host(d):
        exposed("created %s in the host's own %s" % (path, d))
    return "%s: created privately" % d


def p_write_root():
    blocked("; ".join([_create_in("/")]) + " (host checked)")


def p_write_usr():
    notes = [_create_in("/usr"), _create_in("/usr/bin"), _create_in("/usr/lib")]
    blocked("; ".join(notes) + " (host checked)")


def p_write_etc():
    notes = [_create_in("/etc")]
    for target in ("/etc/passwd", "/etc/hostname", "/etc/resolv.conf"):
        try:
            fd = os.open(target, os.O_WRONLY | os.O_APPEND)
            os.close(fd)
        except OSError as e:
            notes.append("%s: %s" % (target, ename(e.errno)))
            continue
        if same_inode_as_host(target):
            exposed("opened the host's %s for writing" % target)
        notes.append("%s: writable but private" % target)
    blocked("; ".join(notes))


def p_write_proc_sys():
    notes = []
    for target in ("/proc/sys/vm/swappiness", "/proc/sys/kernel/sysrq",
                   "/proc/sys/kernel/core_pattern", "/proc/sys/net/ipv4/ip_forward"):
        try:
            old = read(target)
        except OSError as e:
            notes.append("%s unreadable: %s" % (target, ename(e.errno)))
            continue
        try:
            fd = os.open(target, os.O_WRONLY)
        except OSError as e:
            notes.append("%s: %s" % (target, ename(e.errno)))
            continue
        try:
            # Writes the current value back: no change even when it succeeds.
            os.write(fd, old)
        except OSError as e:
            notes.append("%s write: %s" % (target, ename(e.errno)))
            os.close(fd)
            continue
        os.close(fd)
        if target.startswith("/proc/sys/net/"):
            notes.append("%s: writable (per-netns)" % target)
            continue
        exposed("wrote the global sysctl %s" % target)
    blocked("; ".join(notes))


def p_write_sysrq_trigger():
    try:
        fd = os.open("/proc/sysrq-trigger", os.O_WRONLY)
    except OSError as e:
        blocked("/proc/sysrq-trigger: %s" % ename(e.errno))
    os.close(fd)
    exposed("opened /proc/sysrq-trigger for writing (nothing written)")


def p_write_sys():
    notes = []
    for d in ("/sys/fs/cgroup", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory",
              "/sys/fs/cgroup/unified"):
        path = os.path.join(d, MARK)
        try:
            os.mkdir(path)
        except OSError as e:
            notes.append("mkdir %s: %s" % (d, ename(e.errno)))
            continue
        try:
            os.rmdir(path)
        except OSError:
            pass
        exposed("created a cgroup under %s" % d)
    for target in ("/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/uevent_helper",
                   "/sys/power/state"):
        try:
            fd = os.open(target, os.O_WRONLY)
        except OSError as e:
            notes.append("%s: %s" % (target, ename(e.errno)))
            continue
        os.close(fd)
        exposed("opened %s for writing (nothing written)" % target)
    blocked("; ".join(notes))
