# Family: syscalls the sandbox must deny. Arguments are chosen so that a
# call which gets past the permission check fails harmlessly with a
# different errno (EINVAL, ENOENT, ENODEV): EPERM/ENOSYS/EACCES mean BLOCKED,
# anything else means the call reached the kernel code behind the check.
# SIGSYS: a call made in a child was killed by the filter.

DENIED = ("EPERM", "ENOSYS", "EACCES", "SIGSYS")
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x20000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID = 0x08000000, 0x10000000, 0x20000000
CLONE_NEWNET, CLONE_NEWTIME, SIGCHLD = 0x40000000, 0x80, 17
cstr = ctypes.c_char_p


def _judge(calls):
    """calls: [(label, (ret, err))]; blocked only when every call was denied."""
    notes, reached = [], []
    for label, (ret, err) in calls:
        if err not in DENIED:
            reached.append("%s: %s" % (label, err or "succeeded (ret %d)" % ret))
        notes.append("%s %s" % (label, err))
    if reached:
        exposed("reached the kernel: %s" % "; ".join(reached))
    blocked("; ".join(notes))


def _sleeper():
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    time.sleep(0.05)
    return pid


def _reap(pid):
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except OSError:
        pass


def p_sys_ptrace_pid1():
    r = sysc(101, 16, 1, 0, 0)  # PTRACE_ATTACH 1
    if r[1] is None:
        sysc(101, 17, 1, 0, 0)
    _judge([("ptrace(ATTACH, 1)", r)])


def p_sys_ptrace_child():
    pid = _sleeper()
    try:
        r1 = sysc(101, 16, pid, 0, 0)
        r2 = sysc(101, 0x4206, pid, 0, 0)  # PTRACE_SEIZE
    finally:
        _reap(pid)
    code = in_child(lambda: 0 if sysc(101, 0, 0, 0, 0)[1] is None else 1)  # TRACEME
    r3 = (0, None) if code == 0 else (-1, "EPERM")
    _judge([("ptrace(ATTACH, child)", r1), ("ptrace(SEIZE, child)", r2),
            ("ptrace(TRACEME)", r3)])


class IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def p_sys_process_vm_readv():
    secret = ctypes.create_string_buffer(b"remote-memory-canary", 32)
    pid = _sleeper()
    try:
        local = ctypes.create_string_buffer(32)
        liov = IOVec(ctypes.cast(local, ctypes.c_void_p), 32)
        riov = IOVec(ctypes.cast(secret, ctypes.c_void_p), 32)
        r = sysc(310, pid, ctypes.byref(liov), 1, ctypes.byref(riov), 1, 0)
        w = sysc(311, pid, ctypes.byref(liov), 1, ctypes.byref(riov), 1, 0)
    finally:
        _reap(pid)
    _judge([("process_vm_readv(child)", r), ("process_vm_writev(child)", w)])


def p_sys_mount_umount():
    d = "/tmp/" + MARK
    os.makedirs(d, exist_ok=True)
    m = sysc(165, cstr(b"none"), cstr(d.encode()), cstr(b"bureau_no_such_fs"), 0, None)
    u = sysc(166, cstr(d.encode()), 0)
    u2 = sysc(166, cstr(b"/workspace"), 2)  # MNT_DETACH
    _judge([("mount", m), ("umount2(dir)", u), ("umount2(/workspace)", u2)])


def p_sys_pivot_root():
    p = sysc(155, cstr(b"/bureau-nonexistent"), cstr(b"/bureau-nonexistent"))
    _judge([("pivot_root", p)])


def p_sys_new_mount_api():
    calls = []
    r = sysc(428, -100, cstr(b"/tmp"), 1 | 0x80000)  # open_tree(OPEN_TREE_CLONE)
    if r[1] is None:
        os.close(r[0])
    calls.append(("open_tree(CLONE)", r))
    r = sysc(430, cstr(b"bureau_no_such_fs"), 0)  # fsopen
    calls.append(("fsopen", r))
    calls.append(("move_mount", sysc(429, -1, cstr(b""), -1, cstr(b""), 0xFFFFFFF0)))
    calls.append(("fspick", sysc(433, -100, cstr(b"/"), 0xFFFFFFF0)))
    calls.append(("fsmount", sysc(432, -1, 0xFFFFFFF0, 0)))
    _judge(calls)


def _unshare_in_child(flags):
    code = in_child(lambda: 0 if sysc(272, flags)[1] is None else 1)
    return (0, None) if code == 0 else (-1, "EPERM")


def p_sys_unshare_user():
    _judge([("unshare(CLONE_NEWUSER)", _unshare_in_child(CLONE_NEWUSER)),
            ("unshare(NEWUSER|NEWNS)", _unshare_in_child(CLONE_NEWUSER | CLONE_NEWNS))])


def p_sys_unshare_other_ns():
    calls = []
    for name, flag in (("NEWNS", CLONE_NEWNS), ("NEWNET", CLONE_NEWNET), ("NEWPID", CLONE_NEWPID),
                       ("NEWUTS", CLONE_NEWUTS), ("NEWIPC", CLONE_NEWIPC),
                       ("NEWCGROUP", CLONE_NEWCGROUP), ("NEWTIME", CLONE_NEWTIME)):
        calls.append(("unshare(%s)" % name, _unshare_in_child(flag)))
    _judge(calls)


def p_sys_clone_ns_flags():
    calls = []
    for name, flags in (("clone(NEWUSER)", CLONE_NEWUSER), ("clone(NEWNS|NEWNET)",
                                                            CLONE_NEWNS | CLONE_NEWNET)):
        r = sysc(56, flags | SIGCHLD, 0, 0, 0, 0)
        if r[0] == 0:
            os._exit(0)
        if r[0] > 0:
            os.waitpid(r[0], 0)
        calls.append((name, r))
    _judge(calls)


def p_sys_setns_proc1():
    calls = []
    mine = {}
    for ns in ("mnt", "net", "pid", "user", "uts", "ipc", "cgroup"):
        try:
            mine[ns] = os.readlink("/proc/self/ns/" + ns)
        except OSError:
            pass
    for ns in ("mnt", "net", "pid", "user", "uts", "ipc", "cgroup"):
        try:
            fd = os.open("/proc/1/ns/" + ns, os.O_RDONLY)
        except OSError as e:
            calls.append(("open /proc/1/ns/%s" % ns, (-1, ename(e.errno))))
            continue
        code = in_child(lambda fd=fd: 0 if sysc(308, fd, 0)[1] is None else 1)
        os.close(fd)
        calls.append(("setns(/proc/1/ns/%s)" % ns, (0, None) if code == 0 else (-1, "EPERM")))
    foreign = set()
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        for ns, link in mine.items():
            try:
                if os.readlink("/proc/%s/ns/%s" % (pid, ns)) != link:
                    foreign.add("%s:%s" % (pid, ns))
            except OSError:
                pass
    if foreign:
        exposed("processes in other namespaces are visible: %s" % ",".join(sorted(foreign)[:5]))
    _judge(calls)


def p_sys_keyctl():
    calls = [("keyctl(GET_KEYRING_ID, session)", sysc(250, 0, -3, 1)),
             ("add_key(user)", sysc(248, cstr(b"user"), cstr(MARK.encode()), cstr(b"x"), 1, -2)),
             ("request_key", sysc(249, cstr(b"user"), cstr(b"bureau-none"), None, -2))]
    # request_key of a missing key says ENOKEY when reachable.
    _judge(calls)


def p_sys_bpf():
    attr = ctypes.create_string_buffer(struct.pack("=IIII", 2, 4, 4, 1), 128)
    r = sysc(321, 0, attr, 72)  # BPF_MAP_CREATE array
    if r[1] is None:
        os.close(r[0])
    p = sysc(321, 5, ctypes.create_string_buffer(128), 72)  # BPF_PROG_LOAD, empty
    _judge([("bpf(MAP_CREATE)", r), ("bpf(PROG_LOAD, empty)", p)])


def p_sys_userfaultfd():
    calls = []
    for flags in (0x80000 | 1, 0x80000):  # UFFD_USER_MODE_ONLY
        r = sysc(323, flags)
        if r[1] is None:
            os.close(r[0])
        calls.append(("userfaultfd(0x%x)" % flags, r))
    try:
        fd = os.open("/dev/userfaultfd", os.O_RDWR)
        os.close(fd)
        exposed("opened /dev/userfaultfd")
    except OSError:
        pass
    _judge(calls)


def p_sys_perf_event_open():
    # type SOFTWARE, size 64, config CPU_CLOCK, flags disabled|exclude_kernel|exclude_hv
    attr = ctypes.create_string_buffer(struct.pack("=IIQQQQQ", 1, 64, 0, 0, 0, 0, 1 | 32 | 64), 128)
    r = sysc(298, attr, 0, -1, -1, 0)
    if r[1] is None:
        os.close(r[0])
    _judge([("perf_event_open(self, sw clock)", r)])


def p_sys_io_uring():
    params = ctypes.create_string_buffer(120)
    r = sysc(425, 4, params)
    if r[1] is None:
        os.close(r[0])
    _judge([("io_uring_setup", r)])


def p_sys_kernel_modules():
    calls = [("init_module(garbage)", sysc(175, cstr(b"garbage"), 7, cstr(b""))),
             ("delete_module(missing)", sysc(176, cstr(b"bureau_no_such_module"), 0o4000))]
    fd = os.open("/dev/null", os.O_RDONLY)
    calls.append(("finit_module(/dev/null)", sysc(313, fd, cstr(b""), 0)))
    os.close(fd)
    _judge(calls)


def p_sys_kexec():
    _judge([("kexec_load(bad flags)", sysc(246, 0, 0, None, 0x100)),
            ("kexec_file_load(bad flags)", sysc(320, -1, -1, 0, cstr(b""), 0x1000))])


def p_sys_reboot_swap_acct():
    _judge([("reboot(bad magic)", sysc(169, 0xfee1dead, 0x12345, 0, None)),
            ("swapon(missing)", sysc(167, cstr(b"/bureau-nonexistent"), 0)),
            ("acct(missing)", sysc(163, cstr(b"/bureau-nonexistent")))])


def p_sys_syslog_kmsg():
    buf = ctypes.create_string_buffer(4096)
    r = sysc(103, 3, buf, 4096)  # SYSLOG_ACTION_READ_ALL
    if r[1] is None and r[0] > 0:
        exposed("read %d bytes of the kernel log via syslog(2)" % r[0])
    notes = ["syslog(READ_ALL) %s" % (r[1] or "returned %d" % r[0])]
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        try:
            data = os.read(fd, 4096)
        except OSError as e:
            data = b""
            notes.append("read /dev/kmsg %s" % ename(e.errno))
        os.close(fd)
        if data:
            exposed("read the kernel log from /dev/kmsg")
    except OSError as e:
        notes.append("/dev/kmsg %s" % ename(e.errno))
    blocked("; ".join(notes))


def p_sys_clone3_threads():
    import threading
    # struct clone_args (88 bytes): flags, pidfd, child_tid, parent_tid, exit_signal, ...
    args = ctypes.create_string_buffer(struct.pack("=QQQQQ", 0, 0, 0, 0, SIGCHLD), 88)
    r = sysc(435, args, 88)
    if r[0] == 0:
        os._exit(0)
    if r[0] > 0:
        os.waitpid(r[0], 0)
        exposed("clone3 is reachable (namespace flags in memory cannot be filtered)")
    if r[1] == "EPERM":
        broken("clone3 returns EPERM: glibc will not fall back to clone (threads break)")
    if r[1] != "ENOSYS":
        exposed("clone3 reached the kernel: %s" % r[1])
    out = []
    lock = threading.Lock()

    def work(i):
        s = sum(range(10000 * (i + 1)))
        with lock:
            out.append(s)
    try:
        ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(10)
    except RuntimeError as e:
        broken("clone3 is ENOSYS but threads do not start: %s" % e)
    if len(out) != 8:
        broken("only %d of 8 threads finished" % len(out))
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as ex:
        if sum(ex.map(lambda x: x * x, range(100))) != 328350:
            broken("thread pool gave a wrong answer")
    blocked("clone3 returns ENOSYS and threading works (8 threads, pool of 4)")


def _child_sysc(nr, *args):
    """The syscall in a forked child, so a filter that kills cannot take
    the probe down: (0, None), (-1, errno name) or (-1, 'SIGSYS')."""
    def child():
        r = sysc(nr, *args)
        if r[1] is None:
            return 0
        return min(getattr(errno, r[1], 200), 200)
    code = in_child(child)
    if code == 0:
        return (0, None)
    if code < 0:
        return (-1, "SIGSYS" if -code == 31 else "signal %d" % -code)
    return (-1, ename(code))


def p_sys_x32_abi():
    # x32 syscalls carry the native arch tag with bit 30 set in the number:
    # a filter that does not reject them would let these through. A filter
    # that kills the caller (SIGSYS) counts as denied.
    X32 = 0x40000000
    calls = [("x32 unshare(NEWUSER)", _child_sysc(X32 | 272, CLONE_NEWUSER)),
             ("x32 keyctl", _child_sysc(X32 | 250, 0, -3, 1)),
             ("x32 bpf", _child_sysc(X32 | 321, 0, ctypes.create_string_buffer(128), 72)),
             ("x32 mount", _child_sysc(X32 | 165, cstr(b"none"), cstr(b"/tmp"),
                                       cstr(b"bureau_no_such_fs"), 0, None))]
    _judge(calls)


def _int80(nr, a1=0, a2=0, a3=0):
    """Runs an i386 syscall through `int 0x80` in a child. Returns
    (code, None) on success, (-1, errno name), or (-1, 'SIGSYS') when the
    filter killed the child."""
    import mmap

    def child():
        code = b"\x53" + b"\xb8" + struct.pack("<I", nr) + b"\xbb" + struct.pack("<I", a1 & 0xFFFFFFFF) + \
            b"\xb9" + struct.pack("<I", a2 & 0xFFFFFFFF) + b"\xba" + struct.pack("<I", a3 & 0xFFFFFFFF) + \
            b"\xcd\x80\x5b\xc3"
        try:
            m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        except OSError:
            return 250
        m.write(code)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
        r = ctypes.CFUNCTYPE(ctypes.c_int)(addr)()
        if r >= 0:
            return 0
        return min(-r, 249)
    code = in_child(child)
    if code == 0:
        return (0, None)
    if code == 250:
        return (-1, "EPERM")  # no executable memory: nothing can run
    if code < 0:
        return (-1, "SIGSYS" if -code == 31 else "signal %d" % -code)
    return (-1, ename(code))


def p_sys_int80_abi():
    # i386 numbers: unshare 310, keyctl 288, mount 21.
    calls = [("int80 unshare(NEWUSER)", _int80(310, CLONE_NEWUSER)),
             ("int80 keyctl", _int80(288, 0, -3, 1))]
    _judge(calls)


def p_sys_open_by_handle():
    handle = ctypes.create_string_buffer(struct.pack("<Ii", 120, 0), 128)
    mount_id = ctypes.c_int(0)
    r = sysc(303, -100, cstr(b"/"), handle, ctypes.byref(mount_id), 0)
    if r[1] is not None:
        _judge([("name_to_handle_at(/)", r)])
    fd = os.open("/", os.O_RDONLY)
    o = sysc(304, fd, handle, os.O_RDONLY)
    os.close(fd)
    if o[1] is None:
        os.close(o[0])
    _judge([("open_by_handle_at", o)])


def p_sys_pidfd_getfd():
    calls = []
    for target in sorted({1, os.getppid()}):
        p = sysc(434, target, 0)  # pidfd_open
        if p[1] is not None:
            calls.append(("pidfd_open(%d)" % target, p if p[1] != "ESRCH" else (-1, "EPERM")))
            continue
        stolen = []
        last = None
        for fd in range(0, 32):
            g = sysc(438, p[0], fd, 0)
            if g[1] is None:
                try:
                    stolen.append("%d->%s" % (fd, os.readlink("/proc/self/fd/%d" % g[0])))
                except OSError:
                    stolen.append("%d" % fd)
                os.close(g[0])
            else:
                last = g[1]
        os.close(p[0])
        if stolen:
            exposed("took PID %d's file descriptors: %s" % (target, ", ".join(stolen[:5])))
        calls.append(("pidfd_getfd(%d)" % target, (-1, last if last != "EBADF" else "EPERM")))
    _judge(calls)


def p_sys_chroot():
    code = in_child(lambda: 0 if sysc(161, cstr(WS.encode()))[1] is None else 1)
    _judge([("chroot(/workspace)", (0, None) if code == 0 else (-1, "EPERM"))])


def p_sys_settime():
    # An out-of-range timezone: EINVAL only after the CAP_SYS_TIME check.
    tz = ctypes.create_string_buffer(struct.pack("<ii", 9999, 0), 8)
    r = sysc(164, None, tz)
    ts = ctypes.create_string_buffer(struct.pack("<qq", 0, 2000000000), 16)
    c = sysc(227, 0, ts)  # clock_settime(REALTIME, invalid nsec)
    calls = [("settimeofday(tz out of range)", r)]
    if c[1] not in ("EINVAL",):
        calls.append(("clock_settime", c))
    _judge(calls)


def p_sys_realtime_sched():
    calls = []
    param = ctypes.c_int(1)
    libc.sched_setscheduler.restype = ctypes.c_int
    ctypes.set_errno(0)
    r = libc.sched_setscheduler(0, 1, ctypes.byref(param))  # SCHED_FIFO
    if r == 0:
        zero = ctypes.c_int(0)
        libc.sched_setscheduler(0, 0, ctypes.byref(zero))
        calls.append(("sched_setscheduler(FIFO)", (0, None)))
    else:
        calls.append(("sched_setscheduler(FIFO)", (-1, ename(ctypes.get_errno()))))
    before = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -20)
        os.setpriority(os.PRIO_PROCESS, 0, before)
        calls.append(("setpriority(-20)", (0, None)))
    except OSError as e:
        calls.append(("setpriority(-20)", (-1, ename(e.errno))))
    calls.append(("ioprio_set(RT)", sysc(251, 1, 0, (1 << 13) | 0)))
    _judge(calls)


def p_sys_legacy_io():
    buf = ctypes.create_string_buffer(64)
    calls = [("iopl(3)", _child_sysc(172, 3)),
             ("ioperm(0x80)", _child_sysc(173, 0x80, 1, 1)),
             ("modify_ldt(read)", sysc(154, 0, buf, 16)),
             ("uselib(missing)", sysc(134, cstr(b"/bureau-nonexistent"))),
             ("quotactl(Q_GETFMT, /)", sysc(179, 0x800004, cstr(b"/"), 0, buf)),
             ("kcmp(self, self)", sysc(312, os.getpid(), os.getpid(), 0, 0, 0))]
    _judge(calls)


def p_sys_socket_flag_variants():
    # Type flags (SOCK_CLOEXEC, SOCK_NONBLOCK) must not slip past a filter
    # that compares the type argument for equality.
    libc.socket.restype = ctypes.c_int
    calls = []
    for name, fam, typ, proto in (("AF_INET raw|CLOEXEC", 2, 3 | 0x80000, 1),
                                  ("AF_INET raw|NONBLOCK", 2, 3 | 0x800, 255),
                                  ("AF_PACKET raw|CLOEXEC", 17, 3 | 0x80000, 0x0300),
                                  ("AF_NETLINK raw|CLOEXEC", 16, 3 | 0x80000, 0),
                                  ("AF_VSOCK stream|CLOEXEC", 40, 1 | 0x80000, 0),
                                  ("AF_ALG seqpacket|CLOEXEC", 38, 5 | 0x80000, 0)):
        ctypes.set_errno(0)
        fd = libc.socket(fam, typ, proto)
        if fd >= 0:
            os.close(fd)
            calls.append((name, (fd, None)))
        else:
            err = ename(ctypes.get_errno())
            # A family the kernel lacks was never reachable.
            calls.append((name, (-1, "EPERM" if err == "EAFNOSUPPORT" else err)))
    _judge(calls)
