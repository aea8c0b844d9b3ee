//! Output collection and limit enforcement while the sandbox runs: feeds
//! stdin, reads stdout and stderr up to `output_bytes`, reads the status
//! pipe, and kills PID 1 (so the whole namespace) on the wall-clock, CPU
//! or output limit.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::cgroup::Cgroup;
use super::sys;
use crate::{ExitStatus, LimitKind, Limits};

#[derive(Default)]
pub(super) struct Capture {
    pub(super) data: Vec<u8>,
    pub(super) truncated: bool,
    pub(super) open: bool,
}

pub(super) struct Supervisor<'a> {
    pub(super) input: &'a [u8],
    pub(super) limits: &'a Limits,
    /// CPU the cgroup had used before the command's clock started (warm sandboxes).
    pub(super) cpu_base: Duration,
    pub(super) pid1: libc::pid_t,
    pub(super) start: Instant,
    pub(super) killed: bool,
    pub(super) limits_hit: Vec<LimitKind>,
    pub(super) stdout: Capture,
    pub(super) stderr: Capture,
    pub(super) status_buf: Vec<u8>,
    pub(super) exit: Option<ExitStatus>,
    pub(super) setup_error: Option<String>,
    pub(super) landlock: Option<String>,
    pub(super) t0: Instant,
    pub(super) exec_at: Option<Duration>,
    pub(super) exited_at: Option<Duration>,
}

impl<'a> Supervisor<'a> {
    pub(super) fn new(
        input: &'a [u8],
        limits: &'a Limits,
        pid1: libc::pid_t,
        start: Instant,
        t0: Instant,
    ) -> Self {
        Supervisor {
            input,
            limits,
            cpu_base: Duration::ZERO,
            pid1,
            start,
            killed: false,
            limits_hit: Vec::new(),
            stdout: Capture {
                open: true,
                ..Capture::default()
            },
            stderr: Capture {
                open: true,
                ..Capture::default()
            },
            status_buf: Vec::new(),
            exit: None,
            setup_error: None,
            landlock: None,
            t0,
            exec_at: None,
            exited_at: None,
        }
    }

    fn kill(&mut self, why: LimitKind) {
        if !self.limits_hit.contains(&why) {
            self.limits_hit.push(why);
        }
        if !self.killed {
            self.killed = true;
            // PID 1 of the namespace: the kernel kills the rest with it.
            sys::kill(self.pid1, libc::SIGKILL);
        }
    }

    /// Moves bytes until the sandbox's ends of all pipes are closed.
    pub(super) fn pump(
        &mut self,
        cgroup: &Cgroup,
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
        status: OwnedFd,
    ) -> io::Result<()> {
        for fd in [&stdin, &stdout, &stderr, &status] {
            sys::set_nonblocking(fd)?;
        }
        let mut stdin = Some(stdin);
        let mut written = 0usize;
        if self.input.is_empty() {
            stdin = None;
        }
        let mut status_open = true;
        let cap = usize::try_from(self.limits.output_bytes).unwrap_or(usize::MAX);
        let wall = self.limits.wall_time;
        let mut buf = vec![0u8; 1 << 16];
        while self.stdout.open || self.stderr.open || status_open {
            let elapsed = self.start.elapsed();
            if elapsed >= wall {
                self.kill(LimitKind::WallTime);
            }
            if !self.killed
                && cgroup
                    .cpu()
                    .is_some_and(|c| c.saturating_sub(self.cpu_base) >= self.limits.cpu_time)
            {
                self.kill(LimitKind::CpuTime);
            }
            let timeout = if self.killed {
                100
            } else {
                wall.saturating_sub(elapsed)
                    .min(Duration::from_millis(100))
                    .as_millis()
            };
            let mut fds = Vec::new();
            if self.stdout.open {
                fds.push((stdout.as_raw_fd(), libc::POLLIN));
            }
            if self.stderr.open {
                fds.push((stderr.as_raw_fd(), libc::POLLIN));
            }
            if status_open {
                fds.push((status.as_raw_fd(), libc::POLLIN));
            }
            if let Some(w) = &stdin {
                fds.push((w.as_raw_fd(), libc::POLLOUT));
            }
            let revents = sys::poll(&fds, i32::try_from(timeout).unwrap_or(100).max(1))?;
            for (&(fd, _), &rev) in fds.iter().zip(&revents) {
                if rev == 0 {
                    continue;
                }
                if fd == stdout.as_raw_fd() {
                    if Self::drain(fd, &mut self.stdout, cap, &mut buf)? {
                        self.kill(LimitKind::Output);
                    }
                } else if fd == stderr.as_raw_fd() {
                    if Self::drain(fd, &mut self.stderr, cap, &mut buf)? {
                        self.kill(LimitKind::Output);
                    }
                } else if fd == status.as_raw_fd() {
                    match sys::read_raw(fd, &mut buf) {
                        Ok(0) => status_open = false,
                        Ok(n) => {
                            let chunk = buf.get(..n).unwrap_or_default();
                            if chunk.starts_with(b"L ") || chunk.windows(2).any(|w| w == b"\nL") {
                                self.exec_at.get_or_insert(self.t0.elapsed());
                            }
                            if chunk.starts_with(b"X ") || chunk.windows(2).any(|w| w == b"\nX") {
                                self.exited_at.get_or_insert(self.t0.elapsed());
                            }
                            self.status_buf.extend_from_slice(chunk);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                } else if stdin.as_ref().is_some_and(|w| w.as_raw_fd() == fd) {
                    let rest = self.input.get(written..).unwrap_or_default();
                    let n = if rev & libc::POLLOUT != 0 {
                        sys::write_raw(fd, rest)
                    } else {
                        Err(io::Error::from(io::ErrorKind::BrokenPipe))
                    };
                    match n {
                        Ok(n) => written += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => written = self.input.len(),
                    }
                    if written >= self.input.len() {
                        stdin = None;
                    }
                }
            }
        }
        self.parse_status();
        Ok(())
    }

    /// Reads what is available; true when the cap was exceeded.
    fn drain(fd: i32, cap_to: &mut Capture, cap: usize, buf: &mut [u8]) -> io::Result<bool> {
        match sys::read_raw(fd, buf) {
            Ok(0) => {
                cap_to.open = false;
                Ok(false)
            }
            Ok(n) => {
                let room = cap.saturating_sub(cap_to.data.len());
                let chunk = buf.get(..n).unwrap_or_default();
                if chunk.len() > room {
                    cap_to
                        .data
                        .extend_from_slice(chunk.get(..room).unwrap_or_default());
                    cap_to.truncated = true;
                    Ok(true)
                } else {
                    cap_to.data.extend_from_slice(chunk);
                    Ok(false)
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn parse_status(&mut self) {
        let text = String::from_utf8_lossy(&self.status_buf).into_owned();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("X ") {
                if let Ok(raw) = rest.trim().parse::<i32>() {
                    self.exit = Some(sys::decode_status(raw));
                }
            } else if let Some(rest) = line.strip_prefix("E ") {
                let msg = rest.replacen('\t', ": ", 1);
                self.setup_error.get_or_insert(msg);
            } else if let Some(rest) = line.strip_prefix("L ") {
                self.landlock = Some(rest.to_owned());
            }
        }
    }
}
