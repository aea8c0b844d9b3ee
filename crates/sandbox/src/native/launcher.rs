//! The launcher: a small single-threaded process (the `bureau-sandbox-init`
//! binary) that the caller spawns per exec, so that a multithreaded caller
//! never clones namespaces itself. It reads a [`LaunchSpec`] line on stdin,
//! stages mounts and a cgroup, clones the sandbox, feeds stdin, collects
//! output under the limits, kills the tree when a limit says so, applies
//! the workspace back and writes the reply on stdout.
//!
//! A *warm* spec (see [`super::pool`]) stops after starting: the command is
//! a Python "zygote" that imports modules and waits; the launcher prints
//! `ready`, then reads one [`WarmRequest`] line, mounts the request's
//! workspace (it propagates into the running sandbox) and hands the code over.

use std::io::{self, BufRead, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

use super::cgroup::{Cgroup, Layout};
use super::init::{self, ChildFds};
use super::spec::{LaunchSpec, Phases, ReplyHeader, WarmRequest, WorkspaceReport, write_reply};
use super::stage::{self, Stage};
use super::supervise::Supervisor;
use super::sys;
use crate::{Backend, ExecOutcome, ExitStatus, LimitKind};

/// Entry point of the launcher binary (and of a hidden `bureau` subcommand).
pub fn launcher_main() -> std::process::ExitCode {
    // If the caller's thread goes away, so do we (and PID 1 after us).
    let _ = sys::die_with_parent(libc::SIGKILL);
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut line = String::new();
    if let Err(e) = input.read_line(&mut line) {
        return reply_failed("read spec", &e.to_string());
    }
    let spec: LaunchSpec = match serde_json::from_str(&line) {
        Ok(s) => s,
        Err(e) => return reply_failed("parse spec", &e.to_string()),
    };
    let result = if spec.warm.is_some() {
        run_warm(&spec, &mut input)
    } else {
        start(&spec, Workspace::Now).and_then(|sb| finish(&spec, sb, &spec.stdin))
    };
    match result {
        Ok(done) => {
            let header = ReplyHeader::Done {
                outcome: Box::new(done.outcome),
                stdout_len: done.stdout.len(),
                stderr_len: done.stderr.len(),
                workspace: done.workspace,
                landlock: done.landlock,
                phases: done.phases,
            };
            match write_reply(
                &mut io::stdout().lock(),
                &header,
                &done.stdout,
                &done.stderr,
            ) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(_) => std::process::ExitCode::FAILURE,
            }
        }
        Err(f) => reply_failed(f.step, &f.message),
    }
}

fn reply_failed(step: &str, message: &str) -> std::process::ExitCode {
    let header = ReplyHeader::Failed {
        step: step.to_owned(),
        message: message.to_owned(),
    };
    let _ = write_reply(&mut io::stdout().lock(), &header, &[], &[]);
    std::process::ExitCode::FAILURE
}

struct Failure {
    step: &'static str,
    message: String,
}

fn at<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> Failure {
    move |e| Failure {
        step,
        message: e.to_string(),
    }
}

struct Done {
    outcome: ExecOutcome,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    workspace: WorkspaceReport,
    landlock: String,
    phases: Phases,
}

/// When the workspace is mounted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Workspace {
    /// Before the sandbox starts.
    Now,
    /// Later, onto a shared mount point that propagates into the sandbox.
    Later,
}

/// A started sandbox and the launcher's ends of its pipes.
struct Running {
    cgroup: Cgroup,
    stage: Stage,
    pid1: libc::pid_t,
    stdin: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
    status: OwnedFd,
    ready: Option<OwnedFd>,
    t0: Instant,
    phases: Phases,
}

fn write_maps(pid: libc::pid_t, uid: u32) -> io::Result<()> {
    std::fs::write(format!("/proc/{pid}/uid_map"), format!("0 {uid} 65536"))?;
    std::fs::write(format!("/proc/{pid}/gid_map"), format!("0 {uid} 65536"))?;
    Ok(())
}

fn mount_workspace(spec: &LaunchSpec, stage: &mut Stage) -> Result<(), Failure> {
    let limits = &spec.limits;
    let uid = spec.settings.uid_base;
    match &spec.workspace {
        Some(host) => stage
            .mount_overlay(host, limits.workspace_bytes, uid)
            .map_err(at("mount workspace overlay")),
        None => stage
            .mount_scratch(limits.workspace_bytes, uid)
            .map_err(at("mount scratch workspace")),
    }
}

fn start(spec: &LaunchSpec, when: Workspace) -> Result<Running, Failure> {
    let t0 = Instant::now();
    let mut phases = Phases::default();
    if sys::geteuid() != 0 {
        return Err(Failure {
            step: "check privileges",
            message: "the native sandbox launcher must run as root (it creates cgroups, uid maps \
                      and idmapped mounts); run bureau as root or use the gvisor backend"
                .into(),
        });
    }
    if spec.argv.is_empty() {
        return Err(Failure {
            step: "check request",
            message: "argv is empty".into(),
        });
    }
    let uid = spec.settings.uid_base;
    let limits = &spec.limits;
    let layout = Layout::detect().map_err(at("find cgroups"))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    const PREFIX: &str = "bureau-sandbox-";
    Cgroup::sweep_stale(&layout, spec.settings.cgroup_parent, PREFIX);
    let name = format!("{PREFIX}{}-{nanos}", std::process::id());
    let cgroup = Cgroup::create(
        &layout,
        spec.settings.cgroup_parent,
        &name,
        limits.memory_bytes,
        limits.pids,
    )
    .map_err(at("create cgroup"))?;
    let mut stage = Stage::enter(&spec.settings.runtime_dir, limits.tmp_bytes, uid)
        .map_err(at("stage mounts"))?;
    if when == Workspace::Later {
        stage
            .share_workspace_point()
            .map_err(at("share workspace mount point"))?;
    }
    let seccomp = super::seccomp::compile().map_err(at("compile seccomp filter"))?;
    let (go_r, go_w) = sys::pipe().map_err(at("pipes"))?;
    let (status_r, status_w) = sys::pipe().map_err(at("pipes"))?;
    let (stdin_r, stdin_w) = sys::pipe().map_err(at("pipes"))?;
    let (stdout_r, stdout_w) = sys::pipe().map_err(at("pipes"))?;
    let (stderr_r, stderr_w) = sys::pipe().map_err(at("pipes"))?;
    let (ready_r, ready_w) = match when {
        Workspace::Later => {
            let (r, w) = sys::pipe().map_err(at("pipes"))?;
            (Some(r), Some(w))
        }
        Workspace::Now => (None, None),
    };
    let child_fds = ChildFds {
        go: go_r.as_raw_fd(),
        status: status_w.as_raw_fd(),
        stdin: stdin_r.as_raw_fd(),
        stdout: stdout_w.as_raw_fd(),
        stderr: stderr_w.as_raw_fd(),
        ready: ready_w.as_ref().map(AsRawFd::as_raw_fd),
    };
    let flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS;
    let pid1 = match sys::fork_with_flags(flags).map_err(at("clone namespaces"))? {
        sys::Forked::Child => init::pid1(spec, &stage, child_fds, &seccomp),
        sys::Forked::Parent { child } => child,
    };
    phases.cloned = t0.elapsed();
    drop((go_r, status_w, stdin_r, stdout_w, stderr_w, ready_w));
    let prepared = (|| -> Result<(), Failure> {
        write_maps(pid1, uid).map_err(at("write uid and gid maps"))?;
        cgroup.add(pid1).map_err(at("join cgroup"))?;
        if when == Workspace::Now {
            mount_workspace(spec, &mut stage)?;
        }
        let mut go = std::fs::File::from(go_w);
        go.write_all(b"g").map_err(at("start sandbox"))?;
        Ok(())
    })();
    if let Err(f) = prepared {
        sys::kill(pid1, libc::SIGKILL);
        let _ = sys::wait_pid(pid1);
        return Err(f);
    }
    phases.started = t0.elapsed();
    Ok(Running {
        cgroup,
        stage,
        pid1,
        stdin: stdin_w,
        stdout: stdout_r,
        stderr: stderr_r,
        status: status_r,
        ready: ready_r,
        t0,
        phases,
    })
}

/// Starts a zygote, reports `ready`, waits for one request and runs it.
fn run_warm(spec: &LaunchSpec, input: &mut impl BufRead) -> Result<Done, Failure> {
    let mut sb = start(spec, Workspace::Later)?;
    let abort = |sb: &Running, f: Failure| {
        sys::kill(sb.pid1, libc::SIGKILL);
        let _ = sys::wait_pid(sb.pid1);
        f
    };
    // The zygote writes one byte on its ready pipe once its imports are done.
    let mut byte = [0u8; 1];
    let ready = sb
        .ready
        .take()
        .map(|fd| sys::read_raw(fd.as_raw_fd(), &mut byte));
    if !matches!(ready, Some(Ok(1))) {
        // The zygote died: finish collects why (its stderr, its status).
        let done = finish(spec, sb, &[])?;
        return Err(Failure {
            step: "warm python start",
            message: format!(
                "the zygote ended before it was ready ({:?}): {}",
                done.outcome.status,
                String::from_utf8_lossy(&done.stderr).trim()
            ),
        });
    }
    {
        let mut out = io::stdout().lock();
        let written = out.write_all(b"ready\n").and_then(|()| out.flush());
        if let Err(e) = written {
            return Err(abort(&sb, at("report ready")(e)));
        }
    }
    let mut line = String::new();
    let request: WarmRequest = match input
        .read_line(&mut line)
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_str(&line).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(e) => return Err(abort(&sb, at("read warm request")(e))),
    };
    let mut spec = spec.clone();
    spec.workspace = request.workspace;
    if let Err(f) = mount_workspace(&spec, &mut sb.stage) {
        return Err(abort(&sb, f));
    }
    finish(&spec, sb, request.code.as_bytes())
}

fn finish(spec: &LaunchSpec, sb: Running, input: &[u8]) -> Result<Done, Failure> {
    let Running {
        cgroup,
        stage,
        pid1,
        stdin,
        stdout,
        stderr,
        status,
        ready: _,
        t0,
        mut phases,
    } = sb;
    let limits = &spec.limits;
    let start = Instant::now();
    // A warm sandbox's imports are not the request's CPU time.
    let cpu_base = match spec.warm {
        Some(_) => cgroup.cpu().unwrap_or_default(),
        None => std::time::Duration::ZERO,
    };
    let mut sup = Supervisor::new(input, limits, pid1, start, t0);
    sup.cpu_base = cpu_base;
    let io_result = sup.pump(&cgroup, stdin, stdout, stderr, status);
    let waited = sys::wait_pid(pid1);
    phases.reaped = t0.elapsed();
    phases.exec = sup.exec_at;
    phases.exited = sup.exited_at;
    let wall_time = start.elapsed();
    io_result.map_err(at("collect output"))?;
    waited.map_err(at("wait for sandbox"))?;
    let stats = cgroup.stats();
    let leftover = !cgroup.is_empty();
    cgroup.remove().map_err(at("remove cgroup"))?;
    if leftover {
        return Err(Failure {
            step: "teardown",
            message: "processes were left in the sandbox cgroup".into(),
        });
    }
    if let Some(err) = sup.setup_error.take() {
        return Err(Failure {
            step: "sandbox setup",
            message: err,
        });
    }
    let cpu = stats.cpu.map(|c| c.saturating_sub(cpu_base));
    let mut limits_hit = std::mem::take(&mut sup.limits_hit);
    let mut note = |k: LimitKind| {
        if !limits_hit.contains(&k) {
            limits_hit.push(k);
        }
    };
    if stats.oom_killed {
        note(LimitKind::Memory);
    }
    if stats.pids_limit_hit {
        note(LimitKind::Pids);
    }
    let status = sup.exit.unwrap_or(ExitStatus::Signaled(libc::SIGKILL));
    if status == ExitStatus::Signaled(libc::SIGXCPU)
        || (status == ExitStatus::Signaled(libc::SIGKILL)
            && cpu.is_some_and(|c| c >= limits.cpu_time))
    {
        note(LimitKind::CpuTime);
    }
    let ws_files = stage.upper.clone().unwrap_or_else(|| stage.ws_fs.clone());
    if stage::has_file_at_least(&ws_files, limits.file_size_bytes)
        || stage::has_file_at_least(&stage.tmp, limits.file_size_bytes)
    {
        note(LimitKind::FileSize);
    }
    // A full tmpfs has (next to) no free blocks left.
    const FULL: u64 = 8192;
    if stage::free_bytes(&stage.ws_fs).is_some_and(|free| free < FULL) {
        note(LimitKind::Workspace);
    }
    if stage::free_bytes(&stage.tmp).is_some_and(|free| free < FULL) {
        note(LimitKind::Tmp);
    }
    let workspace = match (&spec.workspace, &stage.upper) {
        (Some(host), Some(upper)) => super::applyback::apply(upper, host, limits.workspace_bytes)
            .map_err(at("apply workspace"))?,
        _ => WorkspaceReport::default(),
    };
    phases.finished = t0.elapsed();
    let outcome = ExecOutcome {
        backend: Backend::Native,
        status,
        stdout: Vec::new(),
        stderr: Vec::new(),
        stdout_truncated: sup.stdout.truncated,
        stderr_truncated: sup.stderr.truncated,
        limits_hit,
        wall_time,
        cpu_time: cpu,
        peak_memory_bytes: stats.peak_memory,
    };
    Ok(Done {
        outcome,
        stdout: std::mem::take(&mut sup.stdout.data),
        stderr: std::mem::take(&mut sup.stderr.data),
        workspace,
        landlock: sup.landlock.take().unwrap_or_else(|| "not reported".into()),
        phases,
    })
}
