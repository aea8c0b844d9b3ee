//! Stdio servers: a child process in its own process group, with a cleared
//! environment, speaking newline-delimited JSON-RPC on stdin/stdout.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::service::{RoleClient, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::AsyncRwTransport;
use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::McpError;

/// The variables a stdio server inherits from Bureau's environment, as in
/// the official Python and TypeScript clients. Everything else must be
/// given in the server's `env`.
pub const INHERITED_ENV_VARS: [&str; 6] = ["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"];

/// After stdin is closed, how long the server may take to exit on its own.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// After `SIGTERM`, how long the group may take before `SIGKILL`.
const TERM_GRACE: Duration = Duration::from_secs(2);
/// How long processes left in the group after the server exited get
/// between `SIGTERM` and `SIGKILL`.
const LEFTOVER_GRACE: Duration = Duration::from_millis(500);
/// Stderr lines kept to explain a failed start.
const STDERR_TAIL_LINES: usize = 20;
/// Longest stderr line kept or logged; the rest is cut.
const STDERR_MAX_LINE: usize = 2048;

/// How long a failed start waits for the child's last stderr lines.
const STDERR_SETTLE: Duration = Duration::from_millis(500);

/// The last lines a child wrote to stderr.
#[derive(Clone)]
pub(crate) struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    /// Closed when the child's stderr reached its end.
    finished: tokio::sync::watch::Receiver<()>,
}

impl StderrTail {
    fn push(&self, line: String) {
        let mut lines = self
            .lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if lines.len() == STDERR_TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// `""`, or `"; its last stderr lines: …"` to end an error message
    /// with; first gives a child that is exiting a moment to finish writing.
    pub(crate) async fn describe(&self) -> String {
        let mut finished = self.finished.clone();
        let _ = tokio::time::timeout(STDERR_SETTLE, finished.changed()).await;
        let lines = self
            .lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if lines.is_empty() {
            return String::new();
        }
        let joined: Vec<&str> = lines.iter().map(String::as_str).collect();
        format!("; its last stderr lines: {}", joined.join(" | "))
    }
}

/// What to start.
pub(crate) struct Launch<'a> {
    pub server: &'a str,
    pub command: &'a str,
    pub args: &'a [String],
    pub env: &'a BTreeMap<String, String>,
    pub cwd: Option<&'a Path>,
    pub inherited_env: &'a BTreeMap<String, String>,
}

/// Starts the child and returns the transport over its stdio.
pub(crate) fn spawn(launch: &Launch<'_>) -> Result<(ChildTransport, StderrTail), McpError> {
    let spawn_error = |message: String| McpError::Spawn {
        server: launch.server.to_owned(),
        message,
    };
    if let Some(cwd) = launch.cwd
        && !cwd.is_dir()
    {
        return Err(spawn_error(format!(
            "its working directory `{}` does not exist: create it or fix `cwd`",
            cwd.display()
        )));
    }
    let mut command = Command::new(launch.command);
    command
        .args(launch.args)
        .env_clear()
        .envs(launch.inherited_env)
        .envs(launch.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so that ending it also ends whatever it started
        // (an `npx` or shell wrapper's child).
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = launch.cwd {
        command.current_dir(cwd);
    }
    let mut child = command.spawn().map_err(|error| {
        spawn_error(match error.kind() {
            std::io::ErrorKind::NotFound => format!(
                "`{}` was not found: install it, or give its full path in `command` ({error})",
                launch.command
            ),
            std::io::ErrorKind::PermissionDenied => format!(
                "`{}` is not executable: check its permissions ({error})",
                launch.command
            ),
            _ => format!("`{}` could not be started: {error}", launch.command),
        })
    })?;
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw);
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(spawn_error(
            "its stdin, stdout or stderr could not be opened".to_owned(),
        ));
    };
    let (finished_tx, finished) = tokio::sync::watch::channel(());
    let tail = StderrTail {
        lines: Arc::default(),
        finished,
    };
    let forwarding = forward_stderr(launch.server.to_owned(), stderr, tail.clone());
    tokio::spawn(async move {
        forwarding.await;
        drop(finished_tx);
    });
    tracing::debug!(server = launch.server, pid = ?child.id(), "started MCP server");
    let transport = ChildTransport {
        io: AsyncRwTransport::new(stdout, stdin),
        group: ProcessGroup {
            child: Some(child),
            pgid,
        },
    };
    Ok((transport, tail))
}

/// Logs the child's stderr line by line (at debug level: servers log every
/// request there) and keeps the last lines for error messages.
async fn forward_stderr(server: String, stderr: impl AsyncRead + Unpin, tail: StderrTail) {
    let mut reader = BufReader::new(stderr);
    let mut line: Vec<u8> = Vec::new();
    loop {
        let (consumed, done_line) = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(buf) => match buf.iter().position(|b| *b == b'\n') {
                Some(end) => {
                    take_capped(&mut line, &buf[..end]);
                    (end + 1, true)
                }
                None => {
                    take_capped(&mut line, buf);
                    (buf.len(), false)
                }
            },
        };
        reader.consume(consumed);
        if done_line {
            emit(&server, &tail, &mut line);
        }
    }
    if !line.is_empty() {
        emit(&server, &tail, &mut line);
    }
}

fn take_capped(line: &mut Vec<u8>, bytes: &[u8]) {
    let room = STDERR_MAX_LINE.saturating_sub(line.len());
    line.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

fn emit(server: &str, tail: &StderrTail, line: &mut Vec<u8>) {
    let text = String::from_utf8_lossy(line).trim_end().to_owned();
    line.clear();
    if !text.is_empty() {
        tracing::debug!(target: "bureau_mcp_client::stderr", server, "{text}");
        tail.push(text);
    }
}

/// The child's transport: JSON lines over its stdin/stdout, plus the process
/// group, which is ended on close and, failing that, on drop.
pub(crate) struct ChildTransport {
    io: AsyncRwTransport<RoleClient, ChildStdout, ChildStdin>,
    group: ProcessGroup,
}

impl Transport<RoleClient> for ChildTransport {
    type Error = std::io::Error;

    fn name() -> std::borrow::Cow<'static, str> {
        "stdio".into()
    }

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.io.send(item)
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        self.io.receive()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // The MCP stdio shutdown: close stdin, wait, SIGTERM, wait, SIGKILL.
        let closed = self.io.close().await;
        self.group.terminate().await;
        closed
    }
}

/// The child (the group's leader) and its process group id.
struct ProcessGroup {
    child: Option<Child>,
    pgid: Option<Pid>,
}

impl ProcessGroup {
    async fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let exited = tokio::time::timeout(EXIT_GRACE, child.wait()).await.is_ok();
        if !exited {
            self.signal(Signal::TERM);
            if tokio::time::timeout(TERM_GRACE, child.wait())
                .await
                .is_err()
            {
                self.signal(Signal::KILL);
                let _ = child.kill().await;
            }
        }
        // The server is gone; anything it started and left behind in its
        // group goes too.
        if let Some(pgid) = self.pgid
            && test_kill_process_group(pgid).is_ok()
        {
            self.signal(Signal::TERM);
            let deadline = tokio::time::Instant::now() + LEFTOVER_GRACE;
            while test_kill_process_group(pgid).is_ok() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        self.signal(Signal::KILL);
        self.pgid = None;
    }

    fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            // ESRCH (the group is already empty) is the expected outcome.
            let _ = kill_process_group(pgid, signal);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // Not closed in an orderly way, or closing was itself cut short (the
        // connection was dropped, the runtime is shutting down): end the
        // whole group now. After a completed `terminate` this does nothing.
        self.signal(Signal::KILL);
    }
}
