//! The probe table: every probe, the family it belongs to, the promise it
//! tests, how it runs and how its ending is judged.

use std::time::Duration;

use bureau_sandbox::{LimitKind, Limits};

/// A group of probes run (and reported) together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    HostFiles,
    Writes,
    Collection,
    Network,
    Syscalls,
    Privilege,
    Signals,
    Bombs,
    Leaks,
}

impl Family {
    pub const ALL: [Family; 9] = [
        Family::HostFiles,
        Family::Writes,
        Family::Collection,
        Family::Network,
        Family::Syscalls,
        Family::Privilege,
        Family::Signals,
        Family::Bombs,
        Family::Leaks,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Family::HostFiles => "host_files",
            Family::Writes => "writes",
            Family::Collection => "collection",
            Family::Network => "network",
            Family::Syscalls => "syscalls",
            Family::Privilege => "privilege",
            Family::Signals => "signals",
            Family::Bombs => "bombs",
            Family::Leaks => "leaks",
        }
    }

    /// The Python source holding this family's `p_<name>` functions.
    pub fn python(self) -> &'static str {
        match self {
            Family::HostFiles => include_str!("probes/host_files.py"),
            Family::Writes => include_str!("probes/writes.py"),
            Family::Collection => include_str!("probes/collection.py"),
            Family::Network => include_str!("probes/network.py"),
            Family::Syscalls => include_str!("probes/syscalls.py"),
            Family::Privilege => include_str!("probes/privilege.py"),
            Family::Signals => include_str!("probes/signals.py"),
            Family::Bombs => include_str!("probes/bombs.py"),
            Family::Leaks => include_str!("probes/leaks.py"),
        }
    }
}

pub const PRELUDE: &str = include_str!("probes/prelude.py");

/// How a probe runs inside the sandbox.
#[derive(Clone, Copy, Debug)]
pub enum Program {
    /// `python3 -c <prelude + family source> <name>`: calls `p_<name>()`.
    Python,
    /// `python3 -c <prelude + this source> <name>`, for probes outside the
    /// family table (the two halves of the cross-sandbox check).
    PythonSource(&'static str),
    /// `/bin/sh -c <script>`.
    Sh(&'static str),
}

/// How a probe's ending is judged.
#[derive(Clone, Copy, Debug)]
pub enum Judge {
    /// The probe prints its own `RESULT:` line.
    Says,
    /// One of these limits must stop it, unless the probe reports LIMITED
    /// itself (a refused fork, ENOSPC).
    Limit(&'static [LimitKind]),
}

/// An extra host-side check for one probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra {
    None,
    /// Report the host owner of the file the probe made in the workspace.
    ReportOwner,
    /// No file in the host workspace carries a `security.capability` xattr.
    NoFileCaps,
    /// The workspace holds host symlinks to a decoy file and a decoy folder
    /// outside it; both decoys must be untouched afterwards.
    HostLinks,
    /// Run only if the named earlier probe in the family was BLOCKED
    /// (`kill(-1)` is only safe once the pid namespace is known private).
    After(&'static str),
}

#[derive(Clone, Debug)]
pub struct Probe {
    pub name: &'static str,
    pub family: Family,
    pub promise: &'static str,
    pub program: Program,
    pub limits: Limits,
    pub judge: Judge,
    pub extra: Extra,
}

/// The tight limits every probe runs under unless it says otherwise.
pub fn base_limits() -> Limits {
    Limits {
        memory_bytes: 256 << 20,
        pids: 32,
        cpu_time: Duration::from_secs(10),
        wall_time: Duration::from_secs(10),
        open_files: 128,
        file_size_bytes: 16 << 20,
        output_bytes: 64 << 10,
        workspace_bytes: 64 << 20,
        tmp_bytes: 16 << 20,
    }
}

fn p(family: Family, name: &'static str, promise: &'static str) -> Probe {
    Probe {
        name,
        family,
        promise,
        program: Program::Python,
        limits: base_limits(),
        judge: Judge::Says,
        extra: Extra::None,
    }
}

fn sh(family: Family, name: &'static str, promise: &'static str, script: &'static str) -> Probe {
    Probe {
        program: Program::Sh(script),
        ..p(family, name, promise)
    }
}

impl Probe {
    fn limit(mut self, kinds: &'static [LimitKind], tune: impl FnOnce(&mut Limits)) -> Self {
        self.judge = Judge::Limit(kinds);
        tune(&mut self.limits);
        self
    }

    fn tune(mut self, tune: impl FnOnce(&mut Limits)) -> Self {
        tune(&mut self.limits);
        self
    }

    fn extra(mut self, extra: Extra) -> Self {
        self.extra = extra;
        self
    }
}

const SH_READ_SHADOW: &str = r#"
if ! cat /etc/shadow >/dev/null 2>&1; then echo "RESULT: BLOCKED cat /etc/shadow failed"; exit 0; fi
h=$(sha256sum /etc/shadow | cut -c1-64)
if [ "$h" = "$PROBE_SHADOW_SHA" ]; then echo "RESULT: EXPOSED cat read the host's /etc/shadow"; exit 0; fi
echo "RESULT: BLOCKED /etc/shadow readable but not the host's"
"#;

const SH_WRITE_OUTSIDE: &str = r#"
notes=""
for d in / /usr /etc /var /opt /root /home; do
  if ( : > "$d/bureau-probe-$PROBE_TOKEN" ) 2>/dev/null; then notes="$notes $d:private-write"; else notes="$notes $d:denied"; fi
done
echo "RESULT: BLOCKED$notes (host checked)"
"#;

const SH_FORK_BOMB: &str = "f() { f | f & }; f; sleep 30";
const SH_YES: &str = "yes bureau-output-flood";
const SH_SLEEP: &str = "sleep 1000 & sleep 1000 & sleep 1000; wait";

/// Every probe, in run order.
pub fn probes() -> Vec<Probe> {
    use Family::*;
    use LimitKind as L;
    vec![
        // Host file reads.
        p(
            HostFiles,
            "read_etc_shadow",
            "the host's /etc/shadow is not readable",
        ),
        sh(
            HostFiles,
            "sh_read_shadow",
            "the host's /etc/shadow is not readable (via cat)",
            SH_READ_SHADOW,
        ),
        p(
            HostFiles,
            "read_planted_secret",
            "a host file outside the workspace is not reachable at its path",
        ),
        p(
            HostFiles,
            "hunt_planted_secret",
            "a host file's content is found nowhere in the sandbox",
        ),
        p(
            HostFiles,
            "proc1_environ",
            "/proc/1 is not a host process and holds no host env",
        ),
        p(
            HostFiles,
            "mountinfo_host_paths",
            "mountinfo shows no host path (workspace, home, cwd, temp)",
        ),
        p(
            HostFiles,
            "read_root_home",
            "the host's /root is not visible",
        ),
        p(HostFiles, "read_home", "the host's /home is not visible"),
        p(HostFiles, "read_host_var", "the host's /var is not visible"),
        // Writes outside the workspace.
        p(
            Writes,
            "write_root",
            "nothing written to / reaches the host",
        ),
        p(
            Writes,
            "write_usr",
            "nothing written to /usr reaches the host",
        ),
        p(
            Writes,
            "write_etc",
            "host /etc (passwd, hostname, resolv.conf) cannot be written",
        ),
        sh(
            Writes,
            "sh_write_outside",
            "shell writes to / /usr /etc /var /opt /root /home stay private",
            SH_WRITE_OUTSIDE,
        ),
        p(
            Writes,
            "write_proc_sys",
            "global sysctls under /proc/sys cannot be written",
        ),
        p(
            Writes,
            "write_sysrq_trigger",
            "/proc/sysrq-trigger cannot be opened for writing",
        ),
        p(
            Writes,
            "write_sys",
            "/sys (cgroups, kernel knobs) cannot be written",
        ),
        // Collection of the workspace.
        p(
            Collection,
            "ws_symlink_passwd",
            "a symlink to /etc/passwd in the workspace is not followed on the host",
        ),
        p(
            Collection,
            "ws_symlink_dotdot",
            "symlinks to .. are not followed on the host",
        ),
        p(
            Collection,
            "ws_symlink_host_abs",
            "symlinks to absolute host paths are not followed on the host",
        ),
        p(
            Collection,
            "ws_hardlink_outside",
            "no hardlink to a file outside the workspace can be made",
        ),
        p(
            Collection,
            "ws_fifo",
            "a FIFO in the workspace does not block the host",
        ),
        p(
            Collection,
            "ws_device_node",
            "no device node can be created in the workspace",
        ),
        p(
            Collection,
            "ws_dir_swap",
            "a directory swapped for a link to / or /etc is not followed",
        ),
        p(
            Collection,
            "ws_setuid_file",
            "no setuid/setgid or file-capability file reaches the host folder",
        )
        .extra(Extra::NoFileCaps),
        p(
            Collection,
            "ws_sparse_files",
            "sparse files do not let the host folder grow past the workspace limit",
        ),
        p(
            Collection,
            "ws_deep_tree",
            "a tree deeper than PATH_MAX does not break collection",
        ),
        p(
            Collection,
            "ws_odd_names",
            "odd names (newline, non-UTF-8, 255 bytes) and a mode-000 tree do not break collection",
        ),
        p(
            Collection,
            "ws_lower_hardlink_write",
            "writing through links to a host file in the workspace stays in the workspace",
        ),
        p(
            Collection,
            "ws_hardlink_amplify",
            "hardlinks inside the workspace do not multiply what the host stores",
        )
        .tune(|l| l.workspace_bytes = 16 << 20),
        p(
            Collection,
            "ws_dir_flood",
            "thousands of empty directories do not let the host folder outgrow the limit",
        )
        .tune(|l| l.workspace_bytes = 8 << 20),
        p(
            Collection,
            "ws_replace_host_links",
            "replacing the host's own links in the workspace never writes through them",
        )
        .extra(Extra::HostLinks),
        // Network egress.
        p(
            Network,
            "net_tcp_loopback",
            "no TCP to a host listener on 127.0.0.1",
        ),
        p(
            Network,
            "net_tcp_host_ip",
            "no TCP to a host listener on the host's address",
        ),
        p(
            Network,
            "net_tcp6_loopback",
            "no TCP to a host listener on [::1]",
        ),
        p(
            Network,
            "net_udp_loopback",
            "no UDP to a host socket on 127.0.0.1",
        ),
        p(
            Network,
            "net_udp_host_ip",
            "no UDP to a host socket on the host's address",
        ),
        p(
            Network,
            "net_unix_abstract",
            "no connection to a host abstract unix socket",
        ),
        p(
            Network,
            "net_unix_path",
            "no connection to a host unix socket path",
        ),
        p(Network, "net_af_packet", "no AF_PACKET sockets"),
        p(
            Network,
            "net_raw_inet",
            "no SOCK_RAW sockets (IP, ICMP, ICMPv6)",
        ),
        p(Network, "net_icmp_dgram", "no ICMP ping sockets"),
        p(
            Network,
            "net_vsock",
            "no AF_VSOCK sockets (the hypervisor is not reachable)",
        ),
        p(
            Network,
            "net_netlink_route",
            "a netlink route dump shows no host interface",
        ),
        p(
            Network,
            "net_interfaces_routes",
            "no host interface or route is visible",
        ),
        p(
            Network,
            "net_dns",
            "no name resolution, no DNS server reachable",
        ),
        p(
            Network,
            "net_exotic_families",
            "no sockets of rarely used families (AF_ALG, AF_KEY, AF_TIPC…)",
        ),
        // Denied syscalls.
        p(
            Syscalls,
            "sys_ptrace_pid1",
            "ptrace(ATTACH) of PID 1 is denied",
        ),
        p(
            Syscalls,
            "sys_ptrace_child",
            "ptrace of its own child (ATTACH, SEIZE, TRACEME) is denied",
        ),
        p(
            Syscalls,
            "sys_process_vm_readv",
            "process_vm_readv/writev are denied",
        ),
        p(Syscalls, "sys_mount_umount", "mount and umount2 are denied"),
        p(Syscalls, "sys_pivot_root", "pivot_root is denied"),
        p(
            Syscalls,
            "sys_new_mount_api",
            "open_tree, fsopen, move_mount, fspick, fsmount are denied",
        ),
        p(
            Syscalls,
            "sys_unshare_user",
            "unshare(CLONE_NEWUSER) is denied",
        ),
        p(
            Syscalls,
            "sys_unshare_other_ns",
            "unshare of every other namespace is denied",
        ),
        p(
            Syscalls,
            "sys_clone_ns_flags",
            "clone() with namespace flags is denied",
        ),
        p(
            Syscalls,
            "sys_setns_proc1",
            "setns via /proc/1/ns/* is denied; no foreign namespace visible",
        ),
        p(
            Syscalls,
            "sys_keyctl",
            "keyctl, add_key, request_key are denied",
        ),
        p(Syscalls, "sys_bpf", "bpf is denied"),
        p(Syscalls, "sys_userfaultfd", "userfaultfd is denied"),
        p(Syscalls, "sys_perf_event_open", "perf_event_open is denied"),
        p(Syscalls, "sys_io_uring", "io_uring_setup is denied"),
        p(
            Syscalls,
            "sys_kernel_modules",
            "init_module, finit_module, delete_module are denied",
        ),
        p(
            Syscalls,
            "sys_kexec",
            "kexec_load and kexec_file_load are denied",
        ),
        p(
            Syscalls,
            "sys_reboot_swap_acct",
            "reboot, swapon, acct are denied",
        ),
        p(
            Syscalls,
            "sys_syslog_kmsg",
            "the kernel log is not readable (syslog, /dev/kmsg)",
        ),
        p(
            Syscalls,
            "sys_clone3_threads",
            "clone3 fails with ENOSYS and threading still works",
        ),
        p(
            Syscalls,
            "sys_x32_abi",
            "x32 syscall numbers do not bypass the filter",
        ),
        p(
            Syscalls,
            "sys_int80_abi",
            "i386 syscalls through int 0x80 do not bypass the filter",
        ),
        p(
            Syscalls,
            "sys_open_by_handle",
            "open_by_handle_at is denied (the shocker escape)",
        ),
        p(
            Syscalls,
            "sys_pidfd_getfd",
            "no file descriptor can be taken from PID 1 or the parent",
        ),
        p(Syscalls, "sys_chroot", "chroot is denied"),
        p(
            Syscalls,
            "sys_settime",
            "the clock and timezone cannot be set",
        ),
        p(
            Syscalls,
            "sys_realtime_sched",
            "no realtime scheduling, negative nice or realtime I/O priority",
        ),
        p(
            Syscalls,
            "sys_legacy_io",
            "iopl, ioperm, modify_ldt, uselib, quotactl, kcmp are denied",
        ),
        p(
            Syscalls,
            "sys_socket_flag_variants",
            "socket type flags do not slip raw, packet, netlink, vsock, alg sockets past the filter",
        ),
        // Privilege.
        p(
            Privilege,
            "priv_setuid_binaries",
            "no reachable setuid binary grants privilege",
        ),
        p(
            Privilege,
            "priv_setuid_copy",
            "a setuid copy made inside does not change the euid",
        ),
        p(
            Privilege,
            "priv_capabilities",
            "CapInh/CapPrm/CapEff/CapBnd/CapAmb are all zero",
        ),
        p(Privilege, "priv_no_new_privs", "no_new_privs is set"),
        p(
            Privilege,
            "priv_seccomp_mode",
            "a seccomp filter is installed",
        ),
        p(
            Privilege,
            "priv_uid_map",
            "no sandbox id maps to host root (uid_map, gid_map)",
        )
        .extra(Extra::ReportOwner),
        p(
            Privilege,
            "priv_oom_score_adj",
            "oom_score_adj cannot be lowered",
        ),
        p(
            Privilege,
            "priv_proc_exe_write",
            "the binaries behind /proc/{self,1,parent}/exe cannot be opened for writing",
        ),
        p(
            Privilege,
            "priv_tty_injection",
            "TIOCSTI cannot push input into a terminal",
        ),
        p(
            Privilege,
            "priv_mount_flags",
            "only /workspace, /tmp, /dev/shm are writable, each nosuid,nodev",
        ),
        p(
            Privilege,
            "priv_core_dump",
            "a crash cannot hand a core to a host helper running as root",
        ),
        p(
            Privilege,
            "priv_pid1_handles",
            "/proc/{1,parent}/mem and fds cannot be opened",
        ),
        // Signals.
        p(
            Signals,
            "sig_kill_host_pids",
            "host pids (canary, test process) are not visible or signalable",
        ),
        p(
            Signals,
            "sig_kill_all",
            "kill(-1, SIGKILL) inside does not touch the host",
        )
        .extra(Extra::After("sig_kill_host_pids")),
        // Bombs.
        p(
            Bombs,
            "bomb_fork",
            "a fork bomb is stopped by the pids limit",
        )
        .limit(&[L::Pids], |_| {}),
        sh(
            Bombs,
            "sh_fork_bomb",
            "a shell fork bomb is contained and torn down",
            SH_FORK_BOMB,
        )
        .limit(&[L::Pids, L::WallTime], |l| {
            l.wall_time = Duration::from_secs(4)
        }),
        p(
            Bombs,
            "bomb_threads",
            "a thread bomb is stopped by the pids limit",
        )
        .limit(&[L::Pids], |_| {}),
        p(
            Bombs,
            "bomb_memory",
            "a memory bomb is stopped by the memory limit",
        )
        .limit(&[L::Memory], |l| l.memory_bytes = 128 << 20),
        p(
            Bombs,
            "bomb_disk_workspace",
            "a disk bomb in /workspace is stopped by the workspace limit",
        )
        .limit(&[L::Workspace, L::FileSize], |l| {
            l.workspace_bytes = 32 << 20
        }),
        p(
            Bombs,
            "bomb_disk_tmp",
            "a disk bomb in /tmp is stopped by the tmp size",
        )
        .limit(&[L::FileSize], |_| {}),
        p(
            Bombs,
            "bomb_file_size",
            "one growing file is stopped by the file size limit",
        )
        .limit(&[L::FileSize], |l| {
            l.file_size_bytes = 8 << 20;
            l.tmp_bytes = 64 << 20;
        }),
        p(
            Bombs,
            "bomb_fd",
            "an fd bomb is stopped by the open files limit",
        )
        .limit(&[L::OpenFiles], |_| {}),
        p(
            Bombs,
            "bomb_cpu_spin",
            "a busy loop is stopped by the cpu time limit",
        )
        .limit(&[L::CpuTime], |l| l.cpu_time = Duration::from_secs(2)),
        p(
            Bombs,
            "bomb_stdout",
            "a stdout flood is cut at the output limit",
        )
        .limit(&[L::Output], |_| {}),
        sh(
            Bombs,
            "sh_yes_flood",
            "`yes` is cut at the output limit",
            SH_YES,
        )
        .limit(&[L::Output], |_| {}),
        p(
            Bombs,
            "bomb_stderr",
            "a stderr flood is cut at the output limit",
        )
        .limit(&[L::Output], |_| {}),
        p(
            Bombs,
            "bomb_sleep_forever",
            "sleeping forever is ended by the wall clock",
        )
        .limit(&[L::WallTime], |l| l.wall_time = Duration::from_secs(3)),
        sh(
            Bombs,
            "sh_sleep_tree",
            "a tree of sleepers is ended by the wall clock, all of it",
            SH_SLEEP,
        )
        .limit(&[L::WallTime], |l| l.wall_time = Duration::from_secs(3)),
        p(
            Bombs,
            "bomb_orphan_daemon",
            "a detached daemon does not outlive exec",
        ),
        p(
            Bombs,
            "bomb_zombie_flood",
            "orphaned zombies are reaped by the sandbox's PID 1",
        ),
        p(
            Bombs,
            "bomb_dev_shm",
            "filling /dev/shm is stopped by the memory limit or its size",
        )
        .limit(&[L::Memory], |l| l.memory_bytes = 128 << 20),
        // Leaks.
        p(
            Leaks,
            "leak_env",
            "the environment is only PATH, HOME, LANG, TMPDIR and the request's",
        ),
        p(
            Leaks,
            "leak_proc_environ",
            "no host env (test process, canary) in any /proc/*/environ",
        ),
        p(Leaks, "leak_hostname", "the host's hostname is not visible"),
        p(
            Leaks,
            "leak_pid_list",
            "/proc shows only the sandbox's pids",
        ),
        p(Leaks, "leak_dev_nodes", "/dev has only the harmless nodes"),
        p(
            Leaks,
            "leak_sys_net",
            "/sys/class/net shows no host interface",
        ),
        p(
            Leaks,
            "leak_fds",
            "no file descriptor besides stdio is inherited",
        ),
        p(
            Leaks,
            "leak_kernel_addresses",
            "no kernel addresses, kcore, debugfs or host scheduler lists",
        ),
        p(
            Leaks,
            "leak_cgroup_path",
            "/proc/self/cgroup shows no host cgroup path",
        ),
    ]
}
