# Family: information about the host.

ALLOWED_ENV = {"PATH", "HOME", "LANG", "TMPDIR", "PWD", "SHLVL", "_", "LC_CTYPE"}


def p_leak_env():
    extra = sorted(k for k in os.environ
                   if k not in ALLOWED_ENV and not k.startswith("PROBE_"))
    if extra:
        exposed("unexpected environment variables: %s" % ",".join(extra[:8]))
    hashes = set(host_env_hashes())
    if not hashes:
        result("UNDETERMINED", "the test passed no host environment to look for")
    hits = [k for k, v in os.environ.items() if sha("%s=%s" % (k, v)) in hashes]
    if hits:
        exposed("host environment entries passed in: %s" % ",".join(hits))
    if os.environ.get("HOME") != "/workspace":
        exposed("HOME is %r" % os.environ.get("HOME"))
    blocked("environment is PATH, HOME, LANG, TMPDIR and the request's own")


def p_leak_proc_environ():
    hashes = set(host_env_hashes())
    canary = E("PROBE_CANARY_SHA")
    seen = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        data, _ = try_read("/proc/%s/environ" % p)
        if data is None:
            continue
        seen += 1
        for entry in data.split(b"\0"):
            h = sha(entry)
            if h == canary:
                exposed("the host canary's environment is visible in /proc/%s" % p)
            if h in hashes:
                exposed("a host environment entry is visible in /proc/%s/environ" % p)
    blocked("no host environment in %d readable /proc/*/environ" % seen)


def p_leak_hostname():
    want = E("PROBE_HOSTNAME_SHA")
    names = {"gethostname": socket.gethostname()}
    for f in ("/proc/sys/kernel/hostname", "/etc/hostname"):
        data, _ = try_read(f)
        if data is not None:
            names[f] = data.decode(errors="replace").strip()
    for where, n in names.items():
        if n and sha(n) == want:
            exposed("the host's hostname is visible via %s" % where)
    blocked("hostname here: %s" % names.get("gethostname"))


def p_leak_pid_list():
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    sleep_pid = E("PROBE_SLEEP_PID")
    if sleep_pid and os.path.exists("/proc/%s" % sleep_pid):
        data, _ = try_read("/proc/%s/cmdline" % sleep_pid)
        if data and b"sleep" in data:
            exposed("the host's canary sleep (pid %s) is visible" % sleep_pid)
    foreign = []
    for p in pids:
        if p in (1, os.getpid()):
            continue
        data, _ = try_read("/proc/%d/environ" % p)
        if data is not None and TOKEN.encode() not in data:
            foreign.append(p)
    if foreign or len(pids) > 8:
        exposed("%d pids visible, %d not this probe's: %s" % (len(pids), len(foreign), foreign[:8]))
    blocked("/proc shows only the sandbox's %d pids: %s" % (len(pids), pids))


def p_leak_dev_nodes():
    ok = {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "fd",
          "stdin", "stdout", "stderr", "core", "mqueue"}
    try:
        names = set(os.listdir("/dev"))
    except OSError as e:
        blocked("/dev not listable: %s" % ename(e.errno))
    extra = sorted(names - ok)
    risky = []
    for n in ("mem", "kmem", "port", "kmsg", "sda", "vda", "nvme0n1", "kvm", "vsock",
              "vhost-vsock", "fuse", "net/tun", "userfaultfd", "console"):
        path = "/dev/" + n
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
            os.close(fd)
            risky.append(n)
        except OSError:
            pass
    if risky:
        exposed("host devices open here: %s" % ",".join(risky))
    if extra:
        exposed("unexpected entries in /dev: %s" % ",".join(extra[:10]))
    blocked("/dev has only %s" % ",".join(sorted(names)))


def p_leak_sys_net():
    try:
        names = os.listdir("/sys/class/net")
    except OSError as e:
        blocked("/sys/class/net not listable: %s" % ename(e.errno))
    others = [n for n in names if n != "lo"]
    if others:
        exposed("/sys/class/net shows host interfaces: %s" % ",".join(others))
    blocked("/sys/class/net shows %s" % (",".join(names) or "nothing"))


def p_leak_fds():
    extra, std = [], []
    for name in sorted(os.listdir("/proc/self/fd"), key=int):
        fd = int(name)
        try:
            target = os.readlink("/proc/self/fd/%d" % fd)
        except OSError:
            continue
        if fd <= 2:
            std.append("%d->%s" % (fd, target))
        elif target != "/dev/null" and (not target.startswith("/proc/") or "/fd" not in target):
            extra.append("%d->%s" % (fd, target))
    if extra:
        exposed("inherited file descriptors: %s" % ", ".join(extra[:6]))
    blocked("only stdio inherited: %s" % ", ".join(std))


def p_leak_kernel_addresses():
    notes = []
    data, err = try_read("/proc/kallsyms", 1 << 16)
    if data is not None:
        addrs = [l.split()[0] for l in data.decode(errors="replace").splitlines()[:200] if l]
        if any(a.strip("0") for a in addrs):
            exposed("/proc/kallsyms shows kernel addresses (KASLR bypass)")
        notes.append("kallsyms addresses zeroed")
    else:
        notes.append("kallsyms %s" % err)
    for path in ("/proc/kcore", "/dev/mem", "/sys/kernel/debug", "/proc/timer_list",
                 "/proc/sched_debug"):
        data, err = try_read(path, 4096) if not os.path.isdir(path) else (None, "dir")
        if path == "/sys/kernel/debug" and os.path.isdir(path) and os.listdir(path):
            exposed("debugfs is visible")
        if data:
            sleep_pid = E("PROBE_SLEEP_PID") or "none"
            full, _ = try_read(path)
            if path in ("/proc/timer_list", "/proc/sched_debug") and full and \
                    sleep_pid.encode() in full:
                exposed("%s shows the host's processes" % path)
            if path in ("/proc/kcore", "/dev/mem"):
                exposed("%s is readable" % path)
        notes.append("%s %s" % (path, err or "readable, no host process"))
    blocked("; ".join(notes))


def p_leak_cgroup_path():
    data, err = try_read("/proc/self/cgroup")
    if data is None:
        blocked("/proc/self/cgroup unreadable: %s" % err)
    paths = sorted({l.split(":", 2)[2] for l in data.decode().splitlines() if l.count(":") >= 2})
    host_like = [p for p in paths if p not in ("/", "")]
    if host_like:
        exposed("/proc/self/cgroup shows the host's cgroup layout: %s" % ", ".join(host_like[:3]))
    blocked("cgroup paths are all / (private cgroup namespace)")
