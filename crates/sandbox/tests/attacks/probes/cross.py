# Two sandboxes at once: the owner leaves traces in every place two
# sandboxes could share; the seeker, started while the owner waits, looks
# for each. CLOCK_MONOTONIC stamps let the test check the runs overlapped.

CROSS = E("PROBE_CROSS") or "none"
KEY = int(sha(CROSS)[:7], 16)
PORT = int(E("PROBE_CROSS_PORT") or "0")
NAME = "bureau-probe-cross_owner-" + CROSS  # the owner's MARK: the test cleans it up
libc.shmget.restype = ctypes.c_int
libc.msgget.restype = ctypes.c_int


def stamp(what):
    sys.stdout.write("%s %.6f\n" % (what, time.clock_gettime(time.CLOCK_MONOTONIC)))
    sys.stdout.flush()


def p_cross_owner():
    made, keep = [], []
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("\0" + NAME)
    s.listen(4)
    keep.append(s)
    made.append("abstract socket")
    for d in ("/tmp", "/dev/shm", WS):
        try:
            with open(os.path.join(d, NAME), "w") as f:
                f.write("owner\n")
            made.append(d)
        except OSError:
            pass
    shm = libc.shmget(KEY, 4096, 0o1000 | 0o666)
    if shm >= 0:
        made.append("sysv shm")
    msq = libc.msgget(KEY, 0o1000 | 0o666)
    if msq >= 0:
        made.append("sysv msg")
    try:
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", PORT))
        t.listen(4)
        keep.append(t)
        made.append("tcp 127.0.0.1:%d" % PORT)
    except OSError:
        pass
    stamp("READY")
    time.sleep(6)
    stamp("DONE")
    if shm >= 0:
        libc.shmctl(shm, 0, None)  # IPC_RMID
    if msq >= 0:
        libc.msgctl(msq, 0, None)
    blocked("owner left traces: %s" % ", ".join(made))


def p_cross_sandbox():
    stamp("CHECK")
    seen = []
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect("\0" + NAME)
        seen.append("the owner's abstract socket")
    except OSError:
        pass
    s.close()
    for d in ("/tmp", "/dev/shm", WS):
        if os.path.exists(os.path.join(d, NAME)):
            seen.append("the owner's file in %s" % d)
    if libc.shmget(KEY, 0, 0) >= 0:
        seen.append("the owner's SysV shared memory")
    if libc.msgget(KEY, 0) >= 0:
        seen.append("the owner's SysV message queue")
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.settimeout(2)
    try:
        t.connect(("127.0.0.1", PORT))
        seen.append("the owner's TCP listener")
    except OSError:
        pass
    t.close()
    for p in os.listdir("/proc"):
        cmd, _ = try_read("/proc/%s/cmdline" % p) if p.isdigit() else (None, None)
        if cmd and b"python3" in cmd:
            data, _ = try_read("/proc/%s/environ" % p)
            if data and ("PROBE_TOKEN=cross_owner").encode() in data:
                seen.append("the owner's process %s" % p)
    stamp("CHECKED")
    if seen:
        exposed("one sandbox sees another: %s" % ", ".join(seen))
    blocked("nothing of the concurrent sandbox is visible")
