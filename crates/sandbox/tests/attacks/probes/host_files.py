# Family: reads of host files.


def p_read_etc_shadow():
    data, err = try_read("/etc/shadow")
    if data is None:
        blocked("/etc/shadow unreadable: %s" % err)
    if same_inode_as_host("/etc/shadow") or sha(data) == E("PROBE_SHADOW_SHA"):
        exposed("read the host's /etc/shadow (%d bytes)" % len(data))
    blocked("/etc/shadow readable but it is not the host's (%d bytes)" % len(data))


def p_read_planted_secret():
    path = E("PROBE_SECRET_PATH")
    for p in (path, os.path.dirname(path)):
        if os.path.lexists(p):
            data, err = try_read(path)
            if data is not None and (b"bureau-planted-" + b"secret:") in data:
                exposed("read the planted secret at its host path %s" % path)
            exposed("the host secret path %s exists here (%s)" % (p, err))
    blocked("host secret path %s does not exist here" % path)


def p_hunt_planted_secret():
    marker = ("bureau-planted-" + "secret:").encode()
    secret_name = os.path.basename(E("PROBE_SECRET_PATH"))
    secret_dir = os.path.basename(os.path.dirname(E("PROBE_SECRET_PATH")))
    roots = ["/tmp", "/var", "/root", "/home", "/run", "/mnt", "/media", "/opt",
             "/srv", "/workspace", "/etc", "/dev/shm", "/", "/usr"]
    skip = {"/proc", "/sys", "/dev"}
    seen, files, deadline = set(), 0, time.monotonic() + 3.0
    for root in roots:
        stack = [root]
        while stack:
            if time.monotonic() > deadline or files > 40000:
                blocked("secret not found in %d files (search budget used)" % files)
            d = stack.pop()
            if d in skip or d in seen:
                continue
            seen.add(d)
            try:
                entries = list(os.scandir(d))
            except OSError:
                continue
            for ent in entries:
                if ent.name in (secret_name, secret_dir):
                    exposed("found the planted secret's name at %s" % ent.path)
                try:
                    if ent.is_dir(follow_symlinks=False):
                        stack.append(ent.path)
                    elif ent.is_file(follow_symlinks=False):
                        files += 1
                        st = ent.stat(follow_symlinks=False)
                        if 0 < st.st_size <= 65536:
                            data, _ = try_read(ent.path, 65536)
                            if data and marker in data:
                                exposed("found the planted secret's content in %s" % ent.path)
                except OSError:
                    pass
    blocked("secret not found anywhere reachable (%d files searched)" % files)


def p_proc1_environ():
    hashes = set(host_env_hashes())
    data, err = try_read("/proc/1/environ")
    cmd, _ = try_read("/proc/1/cmdline")
    if cmd is not None and sha(cmd) == E("PROBE_PID1_CMDLINE_SHA"):
        exposed("/proc/1 is the host's PID 1 (%r)" % cmd[:60])
    if data is None:
        blocked("/proc/1/environ unreadable: %s" % err)
    hits = [sha(v) for v in data.split(b"\0") if v and sha(v) in hashes]
    if hits:
        exposed("/proc/1/environ holds %d host environment entries" % len(hits))
    blocked("/proc/1 is a sandbox process; its environ has no host entry")


def p_mountinfo_host_paths():
    data, err = try_read("/proc/self/mountinfo")
    if data is None:
        blocked("mountinfo unreadable: %s" % err)
    text = data.decode(errors="replace")
    needles = [E("PROBE_HOST_WORKSPACE"), E("PROBE_SECRET_DIR"), E("PROBE_HOST_CWD"),
               E("PROBE_HOST_HOME")]
    leaks = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        for path in (fields[3], fields[4]):
            for n in needles:
                if n and n != "/" and (path == n or path.startswith(n.rstrip("/") + "/")):
                    leaks.append("%s (host %s)" % (path, n))
    if leaks:
        exposed("mountinfo shows host paths: %s" % ", ".join(sorted(set(leaks))[:4]))
    blocked("no host path in %d mountinfo lines" % len(text.splitlines()))


def _host_dir(path):
    if same_inode_as_host(path):
        try:
            n = len(os.listdir(path))
        except OSError as e:
            n = ename(e.errno)
        exposed("%s here is the host's own directory (entries: %s)" % (path, n))
    try:
        names = sorted(os.listdir(path))
    except OSError as e:
        blocked("%s not listable: %s" % (path, ename(e.errno)))
    want = E("PROBE_LIST_" + path.strip("/").upper())
    if names and want and sha("\n".join(names)) == want:
        exposed("%s lists exactly the host's entries (%d)" % (path, len(names)))
    blocked("%s is not the host's (%d entries here)" % (path, len(names)))


def p_read_root_home():
    _host_dir("/root")


def p_read_home():
    _host_dir("/home")


def p_read_host_var():
    _host_dir("/var")
