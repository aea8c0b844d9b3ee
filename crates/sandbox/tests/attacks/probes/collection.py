# Family: links and special files planted in /workspace for whoever collects
# it on the host. The probe only plants; the test checks the host afterwards
# (host files unchanged, no outside content, no device node, no hang).


def _plant(notes, fn, what):
    try:
        fn()
        notes.append("%s: planted" % what)
    except OSError as e:
        notes.append("%s: %s" % (what, ename(e.errno)))


def p_ws_symlink_passwd():
    notes = []
    _plant(notes, lambda: os.symlink("/etc/passwd", os.path.join(WS, "passwd")), "passwd link")
    _plant(notes, lambda: os.symlink("/etc/passwd", os.path.join(WS, "result.json")), "result.json link")
    _plant(notes, lambda: os.symlink("/etc/shadow", os.path.join(WS, "out.txt")), "out.txt link")
    blocked("; ".join(notes) + " (host checked)")


def p_ws_symlink_dotdot():
    notes = []
    _plant(notes, lambda: os.symlink("..", os.path.join(WS, "up")), "link ..")
    _plant(notes, lambda: os.symlink("../../../../../../", os.path.join(WS, "upup")), "link ../..")
    os.makedirs(os.path.join(WS, "nested/deeper"), exist_ok=True)
    _plant(notes, lambda: os.symlink("../../..", os.path.join(WS, "nested/deeper/escape")), "nested ..")
    blocked("; ".join(notes) + " (host checked)")


def p_ws_symlink_host_abs():
    notes = []
    secret = E("PROBE_SECRET_PATH")
    _plant(notes, lambda: os.symlink(secret, os.path.join(WS, "secret")), "link to host secret")
    _plant(notes, lambda: os.symlink(os.path.dirname(secret), os.path.join(WS, "secretdir")),
           "link to host secret dir")
    _plant(notes, lambda: os.symlink(E("PROBE_HOST_WORKSPACE") + "/../",
                                     os.path.join(WS, "hostparent")), "link to host workspace parent")
    blocked("; ".join(notes) + " (host checked)")


def p_ws_hardlink_outside():
    notes = []
    for src, name in (("/etc/passwd", "hl_passwd"), (E("PROBE_SECRET_PATH"), "hl_secret"),
                      ("/usr/bin/python3", "hl_python"), ("/etc/hostname", "hl_hostname")):
        dst = os.path.join(WS, "") + name
        try:
            os.link(src, dst)
        except OSError as e:
            notes.append("%s: %s" % (name, ename(e.errno)))
            continue
        if same_inode_as_host(src):
            exposed("hardlinked the host's %s into the workspace" % src)
        notes.append("%s: linked a sandbox-private file" % name)
    blocked("; ".join(notes) + " (host checked)")


def p_ws_fifo():
    notes = []
    for name in ("pipe", "result.json", "output.csv"):
        _plant(notes, lambda n=name: os.mkfifo(os.path.join(WS, "") + n), "fifo " + name)
    blocked("; ".join(notes) + " (host checked: exec returned, nothing blocked)")


def p_ws_device_node():
    import stat
    notes = []
    for name, major, minor, kind in (("null", 1, 3, stat.S_IFCHR), ("mem", 1, 1, stat.S_IFCHR),
                                      ("kmsg", 1, 11, stat.S_IFCHR), ("sda", 8, 0, stat.S_IFBLK)):
        path = os.path.join(WS, "dev_") + name
        try:
            os.mknod(path, kind | 0o666, os.makedev(major, minor))
        except OSError as e:
            notes.append("mknod %s: %s" % (name, ename(e.errno)))
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
            os.close(fd)
            exposed("created and opened device node %d:%d in the workspace" % (major, minor))
        except OSError as e:
            notes.append("mknod %s: created, open %s" % (name, ename(e.errno)))
    blocked("; ".join(notes) + " (host checked)")


def p_ws_dir_swap():
    notes = []
    os.makedirs(os.path.join(WS, "data"), exist_ok=True)
    with open(os.path.join(WS, "data/ok.txt"), "w") as f:
        f.write("fine\n")
    os.rename(os.path.join(WS, "data"), os.path.join(WS, "data.old"))
    _plant(notes, lambda: os.symlink("/etc", os.path.join(WS, "data")), "dir swapped for link to /etc")
    _plant(notes, lambda: os.symlink("/", os.path.join(WS, "rootlink")), "link to /")
    _plant(notes, lambda: os.symlink("/proc/self/root", os.path.join(WS, "procroot")),
           "link to /proc/self/root")
    blocked("; ".join(notes) + " (host checked)")


def p_ws_setuid_file():
    import shutil
    notes = []
    dst = os.path.join(WS, "suid-id")
    shutil.copy("/usr/bin/id", dst)
    for mode in (0o4755, 0o2755, 0o6755):
        try:
            os.chmod(dst, mode)
            notes.append("chmod %o ok" % mode)
        except OSError as e:
            notes.append("chmod %o %s" % (mode, ename(e.errno)))
    capfile = os.path.join(WS, "caps-id")
    shutil.copy("/usr/bin/id", capfile)
    # VFS_CAP_REVISION_2 | effective, every permitted bit.
    caps = struct.pack("<IIIII", 0x02000001, 0xFFFFFFFF, 0, 0x1FF, 0)
    try:
        os.setxattr(capfile, "security.capability", caps)
        notes.append("security.capability set")
    except OSError as e:
        notes.append("security.capability %s" % ename(e.errno))
    blocked("; ".join(notes) + " (host checks no setuid/setgid/capability file reaches it)")


def p_ws_sparse_files():
    fsize = int(E("PROBE_FILE_SIZE"))
    limit = int(E("PROBE_WORKSPACE_BYTES"))
    made, apparent = 0, 0
    for i in range(12):
        try:
            with open(os.path.join(WS, "sparse-%d" % i), "wb") as f:
                f.truncate(fsize - 4096)
            made += 1
            apparent += fsize - 4096
        except OSError as e:
            limited("sparse file %d refused: %s" % (i, ename(e.errno)))
    blocked("made %d sparse files, %d MiB apparent against a %d MiB workspace limit "
            "(host checks what it stores)" % (made, apparent >> 20, limit >> 20))


def p_ws_deep_tree():
    name = "d" * 200
    fd = os.open(WS, os.O_RDONLY)
    depth = 0
    try:
        for depth in range(1, 61):
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        leaf = os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, b"deep\n")
        os.close(leaf)
    except OSError as e:
        blocked("tree stopped at depth %d: %s" % (depth, ename(e.errno)))
    finally:
        os.close(fd)
    blocked("built a 60-deep tree (a %d-byte path); the host checks exec still returned" %
            (60 * 201))


def p_ws_odd_names():
    notes = []
    names = [b"new\nline", b"\x01ctl", b"\xff\xfe-not-utf8", b"x" * 255, b"...", b" lead",
             b"-rf", b"*", b"back\\slash"]
    made = 0
    for n in names:
        try:
            fd = os.open(os.path.join(WS.encode(), n), os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b"odd\n")
            os.close(fd)
            made += 1
        except OSError as e:
            notes.append("%r: %s" % (n[:10], ename(e.errno)))
    locked = os.path.join(WS, "locked")
    os.makedirs(os.path.join(locked, "inner"), exist_ok=True)
    with open(os.path.join(locked, "inner", "f.txt"), "w") as f:
        f.write("locked\n")
    os.chmod(os.path.join(locked, "inner"), 0)
    os.chmod(locked, 0)
    notes.insert(0, "%d odd names made, a mode-000 tree" % made)
    blocked("; ".join(notes) + " (host checks exec returned and its files are intact)")


def p_ws_lower_hardlink_write():
    keep = os.path.join(WS, "lower", "target.txt")
    notes = []
    for name, how in (("hl", os.link), ("sl", os.symlink)):
        dst = os.path.join(WS, name)
        try:
            how(keep, dst)
        except OSError as e:
            notes.append("%s: %s" % (name, ename(e.errno)))
            continue
        try:
            with open(dst, "r+b") as f:
                f.seek(0, 2)
                f.write(b"appended through a link\n")
            notes.append("%s: wrote through it" % name)
        except OSError as e:
            notes.append("%s write: %s" % (name, ename(e.errno)))
    # lower/target.txt is a host file the test put in the workspace: the
    # sandbox may change it; the change must stay inside the workspace.
    blocked("; ".join(notes) + " (host checks nothing outside the workspace changed)")


def p_ws_hardlink_amplify():
    limit = int(E("PROBE_WORKSPACE_BYTES"))
    src = os.path.join(WS, "big.bin")
    with open(src, "wb") as f:
        f.write(b"z" * (4 << 20))
    n = 0
    for i in range(20):
        try:
            os.link(src, os.path.join(WS, "link-%d.bin" % i))
            n += 1
        except OSError as e:
            blocked("hardlink %d refused: %s" % (i, ename(e.errno)))
    blocked("one 4 MiB file under %d names (%d MiB if copied apart) against a %d MiB limit "
            "(host checks what it stores)" % (n + 1, 4 * (n + 1), limit >> 20))


def p_ws_dir_flood():
    limit = int(E("PROBE_WORKSPACE_BYTES"))
    n = 0
    try:
        for i in range(4000):
            os.mkdir(os.path.join(WS, "d%05d" % i))
            n += 1
    except OSError as e:
        limited("mkdir refused after %d directories: %s" % (n, ename(e.errno)))
    blocked("made %d empty directories against a %d MiB limit (host checks what it stores)" %
            (n, limit >> 20))


def p_ws_replace_host_links():
    notes = []
    for name in ("hostlink", "hostdirlink"):
        path = os.path.join(WS, name)
        if not os.path.islink(path):
            result("UNDETERMINED", "the host's link %s is missing from the workspace" % name)
        try:
            os.unlink(path)
        except OSError as e:
            notes.append("unlink %s: %s" % (name, ename(e.errno)))
            continue
        if name == "hostlink":
            with open(path, "w") as f:
                f.write("written by the sandbox over the host's link\n")
        else:
            os.mkdir(path)
            with open(os.path.join(path, MARK), "w") as f:
                f.write("written by the sandbox\n")
        notes.append("%s replaced" % name)
    blocked("; ".join(notes) + " (host checks the link targets are untouched)")
