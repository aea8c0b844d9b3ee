//! The last steps before the user's command runs, in the process that will
//! become it: stdio, a clean environment, rlimits, Landlock, no
//! capabilities, `no_new_privs`, seccomp, then `execve`. Any failure here is
//! reported on the status pipe (close-on-exec, so a successful exec closes it).

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, path_beneath_rules,
};

use super::init::report;
use super::spec::LaunchSpec;
use super::sys;

/// `PATH` inside the sandbox.
pub const SANDBOX_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

#[derive(Clone, Copy, Debug)]
pub struct CommandFds {
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    pub status: RawFd,
    pub ready: Option<RawFd>,
}

/// CPU seconds a warm zygote may spend on its imports; it lowers its own
/// `RLIMIT_CPU` to what it used plus `cpu_time` when the code arrives.
const WARM_IMPORT_CPU_SECS: u64 = 120;

/// The warm zygote: imports, says ready on fd 3, reads the code from stdin
/// until EOF, moves to the (now mounted) workspace and runs the code.
const ZYGOTE: &str = r#"import os, sys, resource, ctypes
_m = None
for _m in sys.argv[2:]:
    __import__(_m)
_limit = int(sys.argv[1])

class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64)]

class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

_libc = ctypes.CDLL(None, use_errno=True)

def _landlock():
    # Second Landlock layer: writes only beneath the workspace mounted for
    # this request, /tmp, /dev/shm and the null-like devices.
    abi = _libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        return
    trunc = 16384 if abi >= 3 else 0
    write = 2 | 16 | 32 | 64 | 128 | 256 | 512 | 1024 | 2048 | 4096 | trunc
    attr = _RulesetAttr(write)
    rs = _libc.syscall(444, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0))
    if rs < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    rules = [("/workspace", write), ("/tmp", write), ("/dev/shm", write)]
    rules += [(d, 2 | trunc) for d in ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")]
    for path, rights in rules:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        rule = _PathBeneath(rights, fd)
        if _libc.syscall(445, rs, 1, ctypes.byref(rule), 0) < 0:
            raise OSError(ctypes.get_errno(), "landlock_add_rule " + path)
        os.close(fd)
    if _libc.syscall(446, rs, 0) < 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    os.close(rs)

os.write(3, b"R")
os.close(3)
_code = sys.stdin.buffer.read()
_u = resource.getrusage(resource.RUSAGE_SELF)
_used = int(_u.ru_utime + _u.ru_stime) + 1
resource.setrlimit(resource.RLIMIT_CPU, (_used + _limit, _used + _limit + 1))
os.chdir("/workspace")
try:
    _landlock()
except OSError as e:
    os.write(2, ("bureau-sandbox: warm landlock layer failed: %s\n" % e).encode())
    os._exit(125)
sys.stdin = open(os.devnull)
sys.argv = ["-c"]
_g = {"__name__": "__main__", "__builtins__": __builtins__}
del _m, _limit, _u, _used, _landlock, _RulesetAttr, _PathBeneath, _libc
_status = 0
try:
    exec(compile(_code, "<sandbox>", "exec"), _g)
except SystemExit as e:
    if e.code is None:
        _status = 0
    elif isinstance(e.code, int):
        _status = e.code
    else:
        print(e.code, file=sys.stderr)
        _status = 1
except BaseException:
    sys.excepthook(*sys.exc_info())
    _status = 1
# What a normal interpreter exit does that matters, without the slow
# module teardown: join threads, run atexit handlers, flush.
if "threading" in sys.modules:
    sys.modules["threading"]._shutdown()
import atexit
atexit._run_exitfuncs()
for _f in (sys.stdout, sys.stderr):
    try:
        _f.flush()
    except Exception:
        pass
os._exit(_status & 0xFF)
"#;

fn cpu_secs(d: std::time::Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// The argv to execute: the request's, or the zygote for a warm sandbox.
fn argv_of(spec: &LaunchSpec) -> Vec<String> {
    match &spec.warm {
        Some(warm) => {
            let mut argv = vec![
                "python3".to_owned(),
                "-c".to_owned(),
                ZYGOTE.to_owned(),
                cpu_secs(spec.limits.cpu_time).to_string(),
            ];
            argv.extend(warm.imports.iter().cloned());
            argv
        }
        None => spec.argv.clone(),
    }
}

/// The environment the command sees: the fixed base, the Python packages
/// settings when configured, then the request's own variables (which win).
pub fn environment(spec: &LaunchSpec) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), SANDBOX_PATH.into()),
        ("HOME".into(), "/workspace".into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("TMPDIR".into(), "/tmp".into()),
    ];
    if let Some(pkgs) = &spec.settings.python_packages {
        env.push(("PYTHONPATH".into(), pkgs.display().to_string()));
        // matplotlib and fontconfig would otherwise write caches into /workspace.
        env.push(("MPLCONFIGDIR".into(), "/tmp/matplotlib".into()));
        env.push(("XDG_CACHE_HOME".into(), "/tmp/.cache".into()));
    }
    for (k, v) in &spec.env {
        env.retain(|(ek, _)| ek != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

fn fail(fds: CommandFds, step: &str, err: impl std::fmt::Display) -> ! {
    report(fds.status, &format!("E {step}\t{err}"));
    sys::exit_now(125)
}

/// Finds `argv[0]` on the sandbox `PATH` (or as given when it has a slash).
fn resolve(program: &str) -> Option<PathBuf> {
    let is_exec = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_exec(&p).then_some(p);
    }
    SANDBOX_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| is_exec(p))
}

fn set_rlimits(spec: &LaunchSpec) -> std::io::Result<()> {
    let l = &spec.limits;
    let mut cpu = cpu_secs(l.cpu_time);
    if spec.warm.is_some() {
        cpu += WARM_IMPORT_CPU_SECS;
    }
    // SIGXCPU at the soft limit, SIGKILL a second later.
    sys::setrlimit(libc::RLIMIT_CPU, cpu, cpu + 1)?;
    sys::setrlimit(libc::RLIMIT_NOFILE, l.open_files, l.open_files)?;
    sys::setrlimit(libc::RLIMIT_FSIZE, l.file_size_bytes, l.file_size_bytes)?;
    sys::setrlimit(libc::RLIMIT_CORE, 0, 0)?;
    Ok(())
}

/// Landlock: read and execute everywhere, write only in `/workspace`,
/// `/tmp`, `/dev/shm` and the null-like devices. Best effort: on a kernel
/// without Landlock the other layers still hold. Returns what was enforced.
///
/// A warm sandbox's workspace is mounted after this layer exists, and a
/// Landlock rule binds to the inode it was made on, so for warm sandboxes
/// this layer leaves writes to the read-only mounts and the zygote adds a
/// second layer (same rules for writes) once its workspace is in place.
fn landlock(warm: bool) -> Result<String, String> {
    let abi = ABI::V5;
    let all = AccessFs::from_all(abi);
    let read = if warm { all } else { AccessFs::from_read(abi) };
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules(["/"], read)))
        .and_then(|r| r.add_rules(path_beneath_rules(["/workspace", "/tmp", "/dev/shm"], all)))
        .and_then(|r| {
            r.add_rules(path_beneath_rules(
                [
                    "/dev/null",
                    "/dev/zero",
                    "/dev/full",
                    "/dev/random",
                    "/dev/urandom",
                ],
                AccessFs::from_file(abi),
            ))
        })
        .and_then(|r| r.restrict_self())
        .map_err(|e| e.to_string())?;
    let kernel_abi = sys::landlock_abi().map_or("none".to_owned(), |v| v.to_string());
    let how = match status.ruleset {
        RulesetStatus::FullyEnforced => "fully enforced",
        RulesetStatus::PartiallyEnforced => "partially enforced",
        RulesetStatus::NotEnforced => "not enforced",
    };
    let warm = if warm {
        " (warm: writes confined by the zygote's second layer)"
    } else {
        ""
    };
    Ok(format!(
        "kernel abi {kernel_abi}, ruleset abi 5, {how}{warm}"
    ))
}

fn drop_capabilities() -> Result<(), String> {
    use caps::CapSet;
    // Bounding first: dropping it needs CAP_SETPCAP, which goes last.
    for set in [
        CapSet::Bounding,
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(|e| format!("{set:?}: {e}"))?;
    }
    Ok(())
}

/// Becomes the user's command. Never returns.
pub fn exec(spec: &LaunchSpec, fds: CommandFds, seccomp: &[seccompiler::BpfProgram]) -> ! {
    sys::setsid();
    for (fd, target) in [(fds.stdin, 0), (fds.stdout, 1), (fds.stderr, 2)] {
        if let Err(e) = sys::dup_raw(fd, target) {
            fail(fds, "stdio", e);
        }
    }
    // Every inherited descriptor but 0/1/2 goes away at exec (the status
    // pipe stays usable until then).
    if let Err(e) = sys::cloexec_from(3) {
        fail(fds, "close inherited descriptors", e);
    }
    if let Some(ready) = fds.ready
        && let Err(e) = sys::keep_as_fd3(ready)
    {
        fail(fds, "ready pipe", e);
    }
    if let Err(e) = std::env::set_current_dir("/workspace") {
        fail(fds, "chdir /workspace", e);
    }
    // Rust's runtime ignores SIGPIPE; the command gets the defaults back.
    // SIGXFSZ stays ignored so that the file-size limit shows as EFBIG.
    if let Err(e) = sys::reset_signals(&[libc::SIGXFSZ]) {
        fail(fds, "signals", e);
    }
    if let Err(e) = set_rlimits(spec) {
        fail(fds, "rlimits", e);
    }
    let env: Vec<CString> = environment(spec)
        .into_iter()
        .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok())
        .collect();
    let argv_strings = argv_of(spec);
    let argv: Vec<CString> = argv_strings
        .iter()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let program = argv_strings.first().map(String::as_str).unwrap_or_default();
    let path = resolve(program);
    match landlock(spec.warm.is_some()) {
        Ok(how) => report(fds.status, &format!("L {how}")),
        Err(e) => report(fds.status, &format!("L failed: {e}")),
    }
    if let Err(e) = drop_capabilities() {
        fail(fds, "drop capabilities", e);
    }
    if let Err(e) = sys::set_no_new_privs() {
        fail(fds, "no_new_privs", e);
    }
    let Some(path) = path else {
        let _ = sys::write_all_raw(
            2,
            format!("bureau-sandbox: {program}: command not found\n").as_bytes(),
        );
        sys::exit_now(127);
    };
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        sys::exit_now(127);
    };
    if let Err(e) = super::seccomp::install(seccomp) {
        fail(fds, "seccomp", e);
    }
    let err = sys::execve(&c_path, &argv, &env);
    let _ = sys::write_all_raw(2, format!("bureau-sandbox: {program}: {err}\n").as_bytes());
    sys::exit_now(if err.raw_os_error() == Some(libc::ENOENT) {
        127
    } else {
        126
    })
}
