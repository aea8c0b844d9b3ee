//! The guest agent: runs inside the microVM, accepts one connection per
//! command (AF_VSOCK in a real guest; any `Read + Write` stream in tests),
//! and runs the command it is sent under the wall clock and output cap.
//!
//! It trusts the host (the host chose the command) but not the command: the
//! command runs in its own process group, which is killed on a limit and
//! when the command ends, so nothing it started outlives the session.

use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use bureau_sandbox::{ExitStatus, LimitKind};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::error::MicrovmError;
use crate::protocol::{self, Bytes, CHUNK, ExecFrame, ExitFrame, Frame, VERSIONS};

/// How long output may still trickle in after the command exited (from
/// processes that left its group); past it the session ends anyway.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
pub struct AgentConfig {
    /// Cap on frames read and written.
    pub max_frame: u32,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            max_frame: protocol::DEFAULT_MAX_FRAME,
        }
    }
}

/// Serves one session on `stream`: handshake, one `Exec`, output, `Exit`.
/// A protocol error is answered with an `Error` frame (best effort) and
/// returned; a peer that closes before `Hello` is `Ok`.
pub fn serve<S: Read + Write>(stream: &mut S, config: &AgentConfig) -> Result<(), MicrovmError> {
    let result = session(stream, config);
    if let Err(e) = &result {
        let _ = protocol::write_frame(
            stream,
            &Frame::Error {
                message: e.to_string(),
            },
            config.max_frame,
        );
    }
    result
}

fn session<S: Read + Write>(stream: &mut S, config: &AgentConfig) -> Result<(), MicrovmError> {
    let max = config.max_frame;
    let versions = match protocol::read_frame(stream, max)? {
        None => return Ok(()),
        Some(Frame::Hello { versions }) => versions,
        Some(other) => return Err(unexpected("hello", &other)),
    };
    let version =
        protocol::negotiate(VERSIONS, &versions).ok_or_else(|| MicrovmError::Version {
            ours: VERSIONS.to_vec(),
            theirs: versions.clone(),
        })?;
    protocol::write_frame(stream, &Frame::Welcome { version }, max)?;
    let exec = match protocol::read_frame(stream, max)? {
        Some(Frame::Exec(exec)) => exec,
        Some(other) => return Err(unexpected("exec", &other)),
        None => return Err(MicrovmError::Frame("host closed before exec".into())),
    };
    let exit = run(&exec, &mut |frame| {
        protocol::write_frame(stream, &frame, max)
    })?;
    protocol::write_frame(stream, &Frame::Exit(exit), max)
}

fn unexpected(expected: &'static str, got: &Frame) -> MicrovmError {
    MicrovmError::Unexpected {
        expected,
        got: got.kind().into(),
    }
}

enum Event {
    Out { stderr: bool, data: Vec<u8> },
    Closed,
    Exited(io::Result<std::process::ExitStatus>),
}

/// Runs the command, handing output frames to `send` as they come.
fn run(
    exec: &ExecFrame,
    send: &mut dyn FnMut(Frame) -> Result<(), MicrovmError>,
) -> Result<ExitFrame, MicrovmError> {
    let started = Instant::now();
    let Some((program, args)) = exec.argv.split_first() else {
        return Err(MicrovmError::InvalidRequest("argv is empty".into()));
    };
    if !std::path::Path::new(&exec.cwd).is_dir() {
        return Err(MicrovmError::InvalidRequest(format!(
            "working directory {:?} does not exist in the guest; fix the guest image",
            exec.cwd
        )));
    }
    let spawned = Command::new(program)
        .args(args)
        .env_clear()
        .envs(exec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&exec.cwd)
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let code = if e.kind() == io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            let message = format!("bureau-guest-agent: cannot run {program:?}: {e}\n");
            send(Frame::Stderr {
                data: Bytes(message.into_bytes()),
            })?;
            return Ok(ExitFrame {
                status: ExitStatus::Exited(code),
                limits_hit: Vec::new(),
                stdout_truncated: false,
                stderr_truncated: false,
                wall_time_ms: millis(started.elapsed()),
            });
        }
    };
    let group = i32::try_from(child.id()).ok().map(Pid::from_raw);
    let kill_group = || {
        if let Some(g) = group {
            let _ = killpg(g, Signal::SIGKILL);
        }
    };
    let (tx, rx) = mpsc::channel();
    if let Some(mut stdin) = child.stdin.take() {
        let bytes = exec.stdin.0.clone();
        thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    let mut open = 0;
    if let Some(out) = child.stdout.take() {
        pump(out, false, tx.clone());
        open += 1;
    }
    if let Some(err) = child.stderr.take() {
        pump(err, true, tx.clone());
        open += 1;
    }
    thread::spawn(move || {
        let _ = tx.send(Event::Exited(child.wait()));
    });

    let cap = usize::try_from(exec.limits.output_bytes).unwrap_or(usize::MAX);
    let deadline = started + exec.limits.wall_time;
    let mut sent = [0usize; 2];
    let mut truncated = [false; 2];
    let mut limits_hit = Vec::new();
    let mut status = None;
    let mut drain_until = None;
    while status.is_none() || open > 0 {
        let until = drain_until.unwrap_or(deadline);
        let event = match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(e) => e,
            Err(RecvTimeoutError::Timeout) if drain_until.is_some() => break,
            Err(RecvTimeoutError::Timeout) => {
                if !limits_hit.contains(&LimitKind::WallTime) {
                    limits_hit.push(LimitKind::WallTime);
                }
                kill_group();
                // Wait for the exit the kill causes, then stop draining.
                drain_until = Some(Instant::now() + DRAIN_AFTER_EXIT);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match event {
            Event::Out { stderr, data } => {
                let i = usize::from(stderr);
                let room = cap.saturating_sub(sent[i]);
                let keep = data.len().min(room);
                if keep > 0 {
                    sent[i] += keep;
                    let data = Bytes(data[..keep].to_vec());
                    send(if stderr {
                        Frame::Stderr { data }
                    } else {
                        Frame::Stdout { data }
                    })?;
                }
                if keep < data.len() && !truncated[i] {
                    truncated[i] = true;
                    if !limits_hit.contains(&LimitKind::Output) {
                        limits_hit.push(LimitKind::Output);
                    }
                    kill_group();
                }
            }
            Event::Closed => open -= 1,
            Event::Exited(result) => {
                let s = result.map_err(MicrovmError::io("wait for the command"))?;
                status = Some(match s.signal() {
                    Some(sig) => ExitStatus::Signaled(sig),
                    None => ExitStatus::Exited(s.code().unwrap_or(-1)),
                });
                // Nothing the command started outlives it.
                kill_group();
                drain_until.get_or_insert(Instant::now() + DRAIN_AFTER_EXIT);
            }
        }
    }
    let Some(status) = status else {
        return Err(MicrovmError::Remote(
            "the command could not be reaped".into(),
        ));
    };
    Ok(ExitFrame {
        status,
        limits_hit,
        stdout_truncated: truncated[0],
        stderr_truncated: truncated[1],
        wall_time_ms: millis(started.elapsed()),
    })
}

fn pump(mut pipe: impl Read + Send + 'static, stderr: bool, tx: Sender<Event>) {
    thread::spawn(move || {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let data = buf[..n].to_vec();
                    if tx.send(Event::Out { stderr, data }).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(Event::Closed);
    });
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// An AF_VSOCK listener, for the agent inside a guest.
#[derive(Debug)]
pub struct VsockListener {
    fd: std::os::fd::OwnedFd,
}

impl VsockListener {
    /// Listens on `port` for any CID (the host reaches it through
    /// Firecracker's `CONNECT <port>`).
    pub fn bind(port: u32) -> io::Result<Self> {
        use nix::sys::socket::{
            AddressFamily, Backlog, SockFlag, SockType, VsockAddr, bind, listen, socket,
        };
        use std::os::fd::AsRawFd;
        let fd = socket(
            AddressFamily::Vsock,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        bind(fd.as_raw_fd(), &VsockAddr::new(libc::VMADDR_CID_ANY, port))?;
        listen(&fd, Backlog::new(16)?)?;
        Ok(Self { fd })
    }

    /// The next connection, as a `Read + Write` file.
    pub fn accept(&self) -> io::Result<std::fs::File> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        let raw = nix::sys::socket::accept4(
            self.fd.as_raw_fd(),
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )?;
        #[expect(unsafe_code, reason = "nix's accept4 returns a raw descriptor")]
        // SAFETY: accept4 just returned `raw` as a new, open descriptor that
        // nothing else owns; OwnedFd takes sole ownership and closes it once.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(std::fs::File::from(owned))
    }
}
