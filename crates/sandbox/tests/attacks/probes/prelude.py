# Shared helpers for every Python probe. A probe is one function `probe()`
# that ends by calling blocked(), limited() or exposed(); falling off the end
# or raising prints UNDETERMINED, which the suite counts as a failure.
import ctypes
import errno
import hashlib
import os
import socket
import struct
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

E = os.environ.get


def result(kind, detail):
    sys.stdout.write("RESULT: %s %s\n" % (kind, " ".join(str(detail).split())))
    sys.stdout.flush()
    os._exit(0)


def blocked(detail):
    result("BLOCKED", detail)


def limited(detail):
    result("LIMITED", detail)


def exposed(detail):
    result("EXPOSED", detail)


def broken(detail):
    result("BROKEN", detail)


def ename(e):
    return errno.errorcode.get(e, str(e))


def sysc(nr, *args):
    """Raw syscall with x86_64 numbers; returns (ret, errno name or None)."""
    conv = []
    for a in args:
        if isinstance(a, int):
            conv.append(ctypes.c_long(a))
        else:
            conv.append(a)
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *conv)
    if r == -1:
        return r, ename(ctypes.get_errno())
    return r, None


def sha(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def read(path, limit=1 << 20):
    with open(path, "rb") as f:
        return f.read(limit)


def try_read(path, limit=1 << 20):
    """(bytes, None) or (None, errno name)."""
    try:
        return read(path, limit), None
    except OSError as e:
        return None, ename(e.errno) if e.errno else type(e).__name__


def host_inodes():
    """Host (dev, ino) of paths, as the test saw them: {path: (dev, ino)}."""
    out = {}
    for item in (E("PROBE_INODES") or "").split(";"):
        if not item:
            continue
        path, dev, ino = item.rsplit(":", 2)
        out[path] = (int(dev), int(ino))
    return out


def same_inode_as_host(path):
    """True when `path` here is the very inode the host has at `path`."""
    want = host_inodes().get(path)
    if want is None:
        return False
    try:
        st = os.stat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == want


def host_env_hashes():
    return [h for h in (E("PROBE_ENV_HASHES") or "").split(",") if h]


def in_child(fn):
    """Runs fn() in a forked child; returns its exit code (or -signal)."""
    pid = os.fork()
    if pid == 0:
        try:
            code = fn()
        except BaseException:
            code = 99
        os._exit(code if isinstance(code, int) else 0)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return -os.WTERMSIG(status)


def status_field(name):
    for line in read("/proc/self/status").decode().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


TOKEN = E("PROBE_TOKEN") or "notoken"
MARK = "bureau-probe-" + TOKEN

# The workspace: /workspace inside a sandbox (it is the working directory).
WS = os.getcwd()
