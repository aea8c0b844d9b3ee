# Family: signals aimed at host processes.


def p_sig_kill_all():
    # Said first: kill(-1) may take this sandbox down with it. The test
    # checks that its canary `sleep` on the host is still alive.
    sys.stdout.write("RESULT: BLOCKED kill(-1, SIGKILL) sent; the host checks its canary\n")
    sys.stdout.flush()
    r = sysc(62, -1, 9)
    os._exit(0)


def _ours(pid):
    data, _ = try_read("/proc/%d/environ" % pid)
    return data is not None and TOKEN.encode() in data


def p_sig_kill_host_pids():
    notes = []
    for label, pid in (("canary sleep", int(E("PROBE_SLEEP_PID"))),
                       ("test process", int(E("PROBE_TEST_PID")))):
        r = sysc(62, pid, 0)
        if r[1] is None and not _ours(pid):
            exposed("can signal the host's %s (pid %d)" % (label, pid))
        notes.append("kill(%d, 0) %s" % (pid, r[1] or "hit a sandbox process"))
    r = sysc(62, int(E("PROBE_SLEEP_PID")), 9)
    notes.append("kill(canary, SIGKILL) %s" % r[1])
    blocked("; ".join(notes) + " (host checks its canary)")
