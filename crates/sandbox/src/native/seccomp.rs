//! The seccomp filter, kept as reviewed data: every rule says which call it
//! stops and why. The policy is "allow by default, deny what widens the
//! kernel attack surface or escapes the namespaces"; the namespaces,
//! Landlock and the dropped capabilities are the other layers.
//!
//! Two filters are installed: one answering `clone3` with `ENOSYS` (glibc
//! then falls back to `clone`, whose flags a filter *can* inspect; `EPERM`
//! would break `pthread_create`), and the deny list below answering `EPERM`.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// When a rule applies to a call.
#[derive(Clone, Copy, Debug)]
pub enum Match {
    /// Always.
    Always,
    /// When `args[index] & mask != 0`.
    AnyBitSet { index: u8, mask: u64 },
    /// When `args[index]` equals one of the values (32-bit compare).
    OneOf { index: u8, values: &'static [u64] },
    /// When `args[index] & mask == value` (32-bit compare).
    MaskedEq { index: u8, mask: u64, value: u64 },
    /// When `args[index]` is none of the values (32-bit compare).
    NoneOf { index: u8, values: &'static [u64] },
}

/// One reviewed rule of the deny list.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub name: &'static str,
    pub nr: i64,
    pub when: Match,
    pub reason: &'static str,
}

const CLONE_NS_FLAGS: u64 = (libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWTIME) as u64;

const SOCK_TYPE_MASK: u64 = 0xf;

macro_rules! rule {
    ($name:ident, $when:expr, $reason:expr) => {
        Rule {
            name: stringify!($name),
            nr: libc::$name as i64,
            when: $when,
            reason: $reason,
        }
    };
}

/// Rules for calls that exist only on x86-64.
#[cfg(target_arch = "x86_64")]
pub const DENY_ARCH: &[Rule] = &[
    rule!(SYS_iopl, Match::Always, "raw I/O port access"),
    rule!(SYS_ioperm, Match::Always, "raw I/O port access"),
    rule!(
        SYS_modify_ldt,
        Match::Always,
        "16-bit segments: legacy, with a history of kernel bugs"
    ),
];

/// Rules for calls that exist only on x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub const DENY_ARCH: &[Rule] = &[];

/// The deny list (answered with `EPERM`). Syscall names are the `SYS_*`
/// constants of the target.
pub const DENY: &[Rule] = &[
    rule!(
        SYS_ptrace,
        Match::Always,
        "no debugging of other processes: reads and rewrites their memory"
    ),
    rule!(
        SYS_process_vm_readv,
        Match::Always,
        "cross-process memory read, a ptrace equivalent"
    ),
    rule!(
        SYS_process_vm_writev,
        Match::Always,
        "cross-process memory write, a ptrace equivalent"
    ),
    rule!(
        SYS_pidfd_getfd,
        Match::Always,
        "steals descriptors from another process"
    ),
    rule!(
        SYS_kcmp,
        Match::Always,
        "compares kernel objects across processes, an info leak"
    ),
    rule!(
        SYS_mount,
        Match::Always,
        "the filesystem view is fixed before the command starts"
    ),
    rule!(
        SYS_umount2,
        Match::Always,
        "unmounting could reveal what a mount hides"
    ),
    rule!(
        SYS_pivot_root,
        Match::Always,
        "the root is fixed before the command starts"
    ),
    rule!(
        SYS_chroot,
        Match::Always,
        "no changing roots; the classic chroot escape needs it"
    ),
    rule!(
        SYS_fsopen,
        Match::Always,
        "new mount API: creates filesystems"
    ),
    rule!(
        SYS_fsconfig,
        Match::Always,
        "new mount API: configures filesystems"
    ),
    rule!(SYS_fsmount, Match::Always, "new mount API: creates mounts"),
    rule!(
        SYS_fspick,
        Match::Always,
        "new mount API: reconfigures existing mounts"
    ),
    rule!(SYS_move_mount, Match::Always, "new mount API: moves mounts"),
    rule!(
        SYS_open_tree,
        Match::Always,
        "new mount API: clones mount trees"
    ),
    rule!(
        SYS_mount_setattr,
        Match::Always,
        "new mount API: changes mount flags (read-only)"
    ),
    rule!(
        SYS_unshare,
        Match::Always,
        "new namespaces re-grant capabilities inside them"
    ),
    rule!(SYS_setns, Match::Always, "joining other namespaces"),
    rule!(
        SYS_clone,
        Match::AnyBitSet {
            index: 0,
            mask: CLONE_NS_FLAGS
        },
        "clone with namespace flags is unshare in disguise; plain clone (threads, fork) stays"
    ),
    rule!(
        SYS_keyctl,
        Match::Always,
        "the kernel keyring is not namespaced and has a long CVE history"
    ),
    rule!(SYS_add_key, Match::Always, "kernel keyring"),
    rule!(SYS_request_key, Match::Always, "kernel keyring"),
    rule!(
        SYS_bpf,
        Match::Always,
        "eBPF is a large kernel attack surface"
    ),
    rule!(
        SYS_userfaultfd,
        Match::Always,
        "used to widen kernel race windows in exploits"
    ),
    rule!(
        SYS_perf_event_open,
        Match::Always,
        "performance counters leak and have a CVE history"
    ),
    rule!(
        SYS_io_uring_setup,
        Match::Always,
        "io_uring bypasses seccomp for the calls it submits"
    ),
    rule!(SYS_io_uring_enter, Match::Always, "io_uring"),
    rule!(SYS_io_uring_register, Match::Always, "io_uring"),
    rule!(SYS_init_module, Match::Always, "loading kernel modules"),
    rule!(SYS_finit_module, Match::Always, "loading kernel modules"),
    rule!(SYS_delete_module, Match::Always, "unloading kernel modules"),
    rule!(SYS_kexec_load, Match::Always, "replacing the kernel"),
    rule!(SYS_kexec_file_load, Match::Always, "replacing the kernel"),
    rule!(
        SYS_reboot,
        Match::Always,
        "reboot (in a pid namespace it kills init; deny anyway)"
    ),
    rule!(SYS_swapon, Match::Always, "host swap configuration"),
    rule!(SYS_swapoff, Match::Always, "host swap configuration"),
    rule!(SYS_acct, Match::Always, "process accounting to a file"),
    rule!(SYS_quotactl, Match::Always, "filesystem quotas"),
    rule!(SYS_syslog, Match::Always, "kernel log: leaks addresses"),
    rule!(
        SYS_open_by_handle_at,
        Match::Always,
        "opens files by handle, bypassing the mount view (shocker escape)"
    ),
    rule!(
        SYS_name_to_handle_at,
        Match::Always,
        "pairs with open_by_handle_at"
    ),
    rule!(
        SYS_lookup_dcookie,
        Match::Always,
        "obsolete profiling interface"
    ),
    rule!(SYS_vhangup, Match::Always, "terminal hang-up"),
    rule!(
        SYS_fanotify_init,
        Match::Always,
        "filesystem-wide event monitoring"
    ),
    rule!(
        SYS_personality,
        Match::NoneOf {
            index: 0,
            values: &[0, 0x0008, 0xffff_ffff]
        },
        "only PER_LINUX, PER_LINUX32 and the query; other personalities disable ASLR or change syscall ABI"
    ),
    rule!(
        SYS_socket,
        Match::OneOf {
            index: 0,
            values: &[
                libc::AF_VSOCK as u64,
                libc::AF_PACKET as u64,
                libc::AF_NETLINK as u64,
            ],
        },
        "AF_VSOCK reaches the hypervisor even from an empty netns; AF_PACKET is raw; AF_NETLINK exposes nf_tables and other LPE surface"
    ),
    rule!(
        SYS_socket,
        Match::MaskedEq {
            index: 1,
            mask: SOCK_TYPE_MASK,
            value: libc::SOCK_RAW as u64
        },
        "SOCK_RAW (raw IP, ICMP) must be stopped by type, not only by family"
    ),
    rule!(
        SYS_socketpair,
        Match::OneOf {
            index: 0,
            values: &[
                libc::AF_VSOCK as u64,
                libc::AF_PACKET as u64,
                libc::AF_NETLINK as u64,
            ],
        },
        "same families as socket"
    ),
];

fn condition(index: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, String> {
    SeccompCondition::new(index, SeccompCmpArgLen::Dword, op, value).map_err(|e| e.to_string())
}

/// The seccompiler rules for one [`Match`]: any of them matching denies.
fn rules_for(when: Match) -> Result<Vec<SeccompRule>, String> {
    let rule = |conds: Vec<SeccompCondition>| SeccompRule::new(conds).map_err(|e| e.to_string());
    match when {
        Match::Always => Ok(Vec::new()),
        Match::AnyBitSet { index, mask } => {
            // args & mask != 0 <=> not (args & mask == 0).
            let mut out = Vec::new();
            // Namespace flags live in the low 32 bits of clone's flags.
            let mut bit = 1u64;
            while bit != 0 && bit <= u64::from(u32::MAX) {
                if mask & bit != 0 {
                    out.push(rule(vec![condition(
                        index,
                        SeccompCmpOp::MaskedEq(bit),
                        bit,
                    )?])?);
                }
                bit <<= 1;
            }
            Ok(out)
        }
        Match::OneOf { index, values } => values
            .iter()
            .map(|&v| rule(vec![condition(index, SeccompCmpOp::Eq, v)?]))
            .collect(),
        Match::MaskedEq { index, mask, value } => Ok(vec![rule(vec![condition(
            index,
            SeccompCmpOp::MaskedEq(mask),
            value,
        )?])?]),
        Match::NoneOf { index, values } => {
            let conds = values
                .iter()
                .map(|&v| condition(index, SeccompCmpOp::Ne, v))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(vec![rule(conds)?])
        }
    }
}

fn target_arch() -> Result<TargetArch, String> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| e.to_string())
}

/// Compiles both filters, in install order.
pub fn compile() -> Result<Vec<BpfProgram>, String> {
    let arch = target_arch()?;
    let mut clone3 = BTreeMap::new();
    clone3.insert(libc::SYS_clone3, Vec::new());
    let clone3 = SeccompFilter::new(
        clone3,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;

    // seccompiler: an empty rule list means "always"; conditional rules of
    // a call that also has an unconditional rule are dropped.
    let mut deny: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut always = std::collections::BTreeSet::new();
    for r in DENY.iter().chain(DENY_ARCH) {
        let rules = rules_for(r.when)?;
        if rules.is_empty() {
            always.insert(r.nr);
        }
        deny.entry(r.nr).or_default().extend(rules);
    }
    for nr in always {
        deny.insert(nr, Vec::new());
    }
    let deny = SeccompFilter::new(
        deny,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;
    let clone3: BpfProgram = clone3
        .try_into()
        .map_err(|e: seccompiler::BackendError| e.to_string())?;
    let deny: BpfProgram = deny
        .try_into()
        .map_err(|e: seccompiler::BackendError| e.to_string())?;
    Ok(vec![clone3, deny])
}

/// Installs the compiled filters on the calling thread (no_new_privs must be set).
pub fn install(programs: &[BpfProgram]) -> Result<(), String> {
    for p in programs {
        seccompiler::apply_filter(p).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_a_reason_and_compiles() {
        for r in DENY.iter().chain(DENY_ARCH) {
            assert!(!r.reason.trim().is_empty(), "{} needs a reason", r.name);
            assert!(r.name.starts_with("SYS_"));
        }
        let programs = compile().unwrap();
        assert_eq!(programs.len(), 2);
        assert!(programs.iter().all(|p| !p.is_empty()));
    }

    #[test]
    fn brief_required_calls_are_denied() {
        let names: Vec<&str> = DENY.iter().map(|r| r.name).collect();
        for required in [
            "SYS_ptrace",
            "SYS_process_vm_readv",
            "SYS_process_vm_writev",
            "SYS_mount",
            "SYS_umount2",
            "SYS_pivot_root",
            "SYS_fsopen",
            "SYS_fsconfig",
            "SYS_fsmount",
            "SYS_fspick",
            "SYS_move_mount",
            "SYS_open_tree",
            "SYS_mount_setattr",
            "SYS_unshare",
            "SYS_setns",
            "SYS_keyctl",
            "SYS_add_key",
            "SYS_request_key",
            "SYS_bpf",
            "SYS_userfaultfd",
            "SYS_perf_event_open",
            "SYS_io_uring_setup",
            "SYS_io_uring_enter",
            "SYS_io_uring_register",
            "SYS_init_module",
            "SYS_finit_module",
            "SYS_delete_module",
            "SYS_kexec_load",
            "SYS_kexec_file_load",
            "SYS_personality",
            "SYS_socket",
            "SYS_clone",
        ] {
            assert!(
                names.contains(&required),
                "{required} missing from the deny list"
            );
        }
    }
}
