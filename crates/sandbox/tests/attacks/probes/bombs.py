# Family: resource bombs. Each stops at a cap a few times the sandbox's limit
# and then says EXPOSED, so an unconfined run ends too; inside, the limit
# must stop it first.


def p_bomb_fork():
    limit = int(E("PROBE_PIDS"))
    n = 0
    while n < 200:
        try:
            pid = os.fork()
        except OSError as e:
            if n > limit:
                exposed("forked %d processes past the pids limit %d" % (n, limit))
            limited("fork refused (%s) after %d children; pids limit %d" % (ename(e.errno), n, limit))
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
    exposed("forked %d processes; pids limit %d not enforced" % (n, limit))


def p_bomb_threads():
    import threading
    limit = int(E("PROBE_PIDS"))
    ev = threading.Event()
    n = 0
    while n < 200:
        try:
            threading.Thread(target=ev.wait, daemon=True).start()
        except RuntimeError as e:
            ev.set()
            if n > limit:
                exposed("started %d threads past the pids limit %d" % (n, limit))
            limited("thread refused after %d threads (%s); pids limit %d" % (n, e, limit))
        n += 1
    ev.set()
    exposed("started %d threads; pids limit %d not enforced" % (n, limit))


def p_bomb_memory():
    limit = int(E("PROBE_MEMORY"))
    chunks, total = [], 0
    try:
        while total < 4 * limit:
            b = bytearray(16 << 20)
            for i in range(0, len(b), 4096):
                b[i] = 1
            chunks.append(b)
            total += len(b)
    except MemoryError:
        limited("MemoryError after %d MiB; limit %d MiB" % (total >> 20, limit >> 20))
    exposed("touched %d MiB; memory limit %d MiB not enforced" % (total >> 20, limit >> 20))


def _fill(d, chunk_files, limit, cap):
    buf = b"x" * (1 << 20)
    total, i = 0, 0
    try:
        while total < cap:
            with open(os.path.join(d, "%s-fill-%d" % (MARK, i)), "wb") as f:
                for _ in range(chunk_files):
                    f.write(buf)
                    f.flush()
                    total += len(buf)
            i += 1
    except OSError as e:
        if total > 2 * limit:
            exposed("wrote %d MiB to %s before %s; limit %d MiB" % (total >> 20, d, ename(e.errno), limit >> 20))
        limited("%s full after %d MiB (%s); limit %d MiB" % (d, total >> 20, ename(e.errno), limit >> 20))
    exposed("wrote %d MiB to %s; limit %d MiB not enforced" % (total >> 20, d, limit >> 20))


def p_bomb_disk_workspace():
    limit = int(E("PROBE_WORKSPACE_BYTES"))
    _fill(WS, 4, limit, 4 * limit)


def p_bomb_disk_tmp():
    limit = int(E("PROBE_TMP_BYTES"))
    _fill("/tmp", 2, limit, 4 * limit)


def p_bomb_file_size():
    limit = int(E("PROBE_FILE_SIZE"))
    buf = b"y" * (1 << 20)
    total = 0
    try:
        with open("/tmp/" + MARK + "-big", "wb") as f:
            while total < 4 * limit:
                f.write(buf)
                f.flush()
                total += len(buf)
    except OSError as e:
        limited("one file stopped at %d MiB (%s); limit %d MiB" % (total >> 20, ename(e.errno), limit >> 20))
    exposed("one file grew to %d MiB; file size limit %d MiB not enforced" % (total >> 20, limit >> 20))


def p_bomb_fd():
    import resource
    limit = int(E("PROBE_OPEN_FILES"))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1 << 20, 1 << 20))
    except (ValueError, OSError):
        pass
    fds = []
    try:
        while len(fds) < 20 * limit:
            fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as e:
        if len(fds) > limit:
            exposed("opened %d fds past the limit %d (%s)" % (len(fds), limit, ename(e.errno)))
        limited("%s after %d fds; limit %d (rlimit %d/%d)" % (ename(e.errno), len(fds), limit, soft, hard))
    exposed("opened %d fds; limit %d not enforced" % (len(fds), limit))


def p_bomb_cpu_spin():
    end = time.monotonic() + 30
    x = 0
    while time.monotonic() < end:
        x += 1
    exposed("spun for 30 s of CPU; cpu_time limit not enforced")


def _flood(stream, limit):
    buf = b"A" * 65536
    total = 0
    while total < 16 * limit:
        stream.write(buf)
        total += len(buf)
    stream.flush()


# The floods say nothing: the test judges them by what it captured (never
# more than the limit) and by the Output limit being reported. Whether the
# writer dies before or after its last write is a race, not a verdict.
def p_bomb_stdout():
    _flood(sys.stdout.buffer, int(E("PROBE_OUTPUT_BYTES")))
    os._exit(0)


def p_bomb_stderr():
    _flood(sys.stderr.buffer, int(E("PROBE_OUTPUT_BYTES")))
    os._exit(0)


def p_bomb_sleep_forever():
    time.sleep(120)
    exposed("slept 120 s; the wall clock limit did not stop it")


def p_bomb_orphan_daemon():
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        import signal
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        time.sleep(120)
        os._exit(0)
    os.waitpid(pid, 0)
    blocked("a detached daemon was left behind; the host checks teardown killed it")


def p_bomb_zombie_flood():
    me = os.getpid()
    if me == 1:
        exposed("the command runs as PID 1: nothing else reaps its orphans")
    mid = os.fork()
    if mid == 0:
        for _ in range(12):
            if os.fork() == 0:
                os._exit(0)
        os._exit(0)  # exits without reaping: 12 zombies reparent
    os.waitpid(mid, 0)
    left = None
    for _ in range(40):
        time.sleep(0.1)
        left = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                st = read("/proc/%s/stat" % p).decode()
            except OSError:
                continue
            fields = st.rsplit(")", 1)[1].split()
            if fields[0] == "Z":
                left.append(p)
        if not left:
            break
    if left:
        exposed("%d orphaned zombies were never reaped" % len(left))
    n = 0
    for _ in range(12):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        n += 1
    blocked("orphaned zombies reaped by the sandbox's PID 1; %d new forks fine" % n)


def p_bomb_dev_shm():
    limit = int(E("PROBE_MEMORY"))
    if not os.path.isdir("/dev/shm"):
        blocked("no /dev/shm")
    _fill("/dev/shm", 8, limit, 4 * limit)
