//! Supervising one `runsc run`: stdin in, capped stdout and stderr out, the
//! wall clock, and killing the container when a limit says so.

use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus as ProcessStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bureau_sandbox::{LimitKind, SandboxError};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How often a kill is re-sent while the container has not stopped (the
/// first `runsc kill` can land before the container exists).
const KILL_RETRY: Duration = Duration::from_millis(200);
/// How long `runsc kill` gets before the `runsc run` process itself is
/// killed, and how long that then gets before we give up.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// How often the sandbox's CPU time is read. This runsc does not enforce
/// `RLIMIT_CPU`, so the CPU limit is enforced from outside, on the whole
/// sandbox (gVisor's own kernel included, so it errs towards stopping early).
const CPU_POLL: Duration = Duration::from_millis(100);

enum Event {
    Exited(io::Result<ProcessStatus>),
    Overflow,
}

/// One captured stream.
#[derive(Debug, Default)]
pub(crate) struct Capture {
    pub bytes: Vec<u8>,
    pub truncated: bool,
}

/// How the `runsc run` process ended, with what we did to it.
#[derive(Debug)]
pub(crate) struct Finished {
    pub status: ProcessStatus,
    /// The limit we killed the container for, if any.
    pub killed_for: Option<LimitKind>,
    pub wall_time: Duration,
    pub streams: Streams,
}

/// What the supervisor needs to run and stop one container.
pub(crate) struct Supervise<'a> {
    /// `runsc <global flags> run --bundle … <id>`.
    pub run: Command,
    /// Sends SIGKILL to every process of the container (`runsc kill --all`).
    pub kill: &'a dyn Fn() -> io::Result<()>,
    pub stdin: Vec<u8>,
    pub wall_time: Duration,
    pub output_bytes: u64,
    /// CPU time the whole sandbox has used so far, when the host can tell.
    pub cpu_used: &'a dyn Fn() -> Option<Duration>,
    /// Past this, the container is killed for [`LimitKind::CpuTime`].
    pub cpu_time: Duration,
}

pub(crate) fn supervise(mut s: Supervise<'_>) -> Result<Finished, SandboxError> {
    let started = Instant::now();
    s.run
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = s.run.spawn().map_err(|source| SandboxError::Setup {
        step: "start runsc",
        source,
    })?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    let stdin = child.stdin.take().map(|pipe| feed(pipe, s.stdin));
    let stdout = child
        .stdout
        .take()
        .map(|p| capture(p, s.output_bytes, tx.clone()));
    let stderr = child
        .stderr
        .take()
        .map(|p| capture(p, s.output_bytes, tx.clone()));
    let waiter = wait_for(child, tx);

    let deadline = started + s.wall_time;
    let mut killed_for = None;
    let mut kill_started = None;
    let mut forced = false;
    let status = loop {
        let timeout = match kill_started {
            None => deadline
                .saturating_duration_since(Instant::now())
                .min(CPU_POLL),
            Some(_) => KILL_RETRY,
        };
        match rx.recv_timeout(timeout) {
            Ok(Event::Exited(status)) => break status,
            Ok(Event::Overflow) => {
                if killed_for.is_none() {
                    killed_for = Some(LimitKind::Output);
                    kill_started = Some(Instant::now());
                    let _ = (s.kill)();
                }
            }
            Err(RecvTimeoutError::Timeout) => match kill_started {
                None if Instant::now() < deadline => {
                    if (s.cpu_used)().is_some_and(|used| used > s.cpu_time) {
                        killed_for = Some(LimitKind::CpuTime);
                        kill_started = Some(Instant::now());
                        let _ = (s.kill)();
                    }
                }
                None => {
                    killed_for = Some(LimitKind::WallTime);
                    kill_started = Some(Instant::now());
                    let _ = (s.kill)();
                }
                Some(at) if at.elapsed() < KILL_GRACE => {
                    let _ = (s.kill)();
                }
                Some(at) if !forced => {
                    // runsc did not stop the container: stop runsc; the
                    // caller's `runsc delete --force` then ends the sandbox.
                    forced = true;
                    kill_started = Some(at + KILL_GRACE);
                    if let Ok(pid) = i32::try_from(pid) {
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                }
                Some(_) => {
                    return Err(SandboxError::Launcher(
                        "runsc did not exit after being killed; check `runsc list` for a stuck \
                         sandbox"
                            .into(),
                    ));
                }
            },
            Err(RecvTimeoutError::Disconnected) => {
                return Err(SandboxError::Launcher(
                    "lost track of the runsc process".into(),
                ));
            }
        }
    };
    let wall_time = started.elapsed();
    let _ = waiter.join();
    let status = status.map_err(|source| SandboxError::Setup {
        step: "wait for runsc",
        source,
    })?;
    Ok(Finished {
        status,
        killed_for,
        wall_time,
        streams: Streams {
            stdin,
            stdout,
            stderr,
        },
    })
}

/// The stream threads. They end once no process holds the pipes any more:
/// join them only after the sandbox is deleted.
#[derive(Debug)]
pub(crate) struct Streams {
    stdin: Option<JoinHandle<()>>,
    stdout: Option<JoinHandle<Capture>>,
    stderr: Option<JoinHandle<Capture>>,
}

impl Streams {
    /// `(stdout, stderr)`.
    pub(crate) fn join(self) -> (Capture, Capture) {
        if let Some(h) = self.stdin {
            let _ = h.join();
        }
        (join_capture(self.stdout), join_capture(self.stderr))
    }
}

fn join_capture(handle: Option<JoinHandle<Capture>>) -> Capture {
    handle.and_then(|h| h.join().ok()).unwrap_or_default()
}

fn wait_for(mut child: Child, tx: Sender<Event>) -> JoinHandle<()> {
    thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send(Event::Exited(status));
    })
}

/// Writes the request's stdin, then closes it. A command that does not read
/// it makes the write fail once the sandbox is gone; that is not an error.
fn feed(mut pipe: ChildStdin, bytes: Vec<u8>) -> JoinHandle<()> {
    thread::spawn(move || {
        let _ = pipe.write_all(&bytes);
    })
}

/// Keeps the first `cap` bytes; past it, reports the overflow once and
/// drains the rest so the writer is not blocked before it is killed.
fn capture(
    mut pipe: impl Read + Send + 'static,
    cap: u64,
    tx: Sender<Event>,
) -> JoinHandle<Capture> {
    thread::spawn(move || {
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        let mut out = Capture::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let room = cap.saturating_sub(out.bytes.len());
            out.bytes.extend_from_slice(&buf[..n.min(room)]);
            if n > room && !out.truncated {
                out.truncated = true;
                let _ = tx.send(Event::Overflow);
            }
        }
        out
    })
}
