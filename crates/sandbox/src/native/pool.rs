//! A pool of pre-started, single-use Python sandboxes.
//!
//! Each warm sandbox is a launcher whose sandbox is fully set up (namespaces,
//! root, cgroup, Landlock, seccomp) and whose `python3` has already imported
//! the configured modules and waits for code. [`WarmPool::run_python`] takes
//! one, mounts the call's workspace into it (it propagates into the running
//! sandbox), sends the code and returns the usual outcome; a background
//! thread starts a replacement. A warm sandbox is never reused.
//!
//! Launchers die with the thread that spawned them (`PR_SET_PDEATHSIG`), so
//! one long-lived spawner thread per pool starts them all.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use super::spec::{self, LaunchSettings, LaunchSpec, NativeOutcome, WarmRequest, WarmSpec};
use super::{NativeSandbox, check_read_only_path};
use crate::{Grant, SandboxError};

/// What the pool keeps ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarmPoolConfig {
    /// Sandboxes kept started.
    pub size: usize,
    /// Modules imported before code arrives, e.g. `["pandas"]`.
    pub imports: Vec<String>,
    /// Limits and read-only paths of every sandbox of the pool.
    pub grant: Grant,
    /// Extra environment of every sandbox of the pool.
    pub env: Vec<(String, String)>,
    /// How long a call waits for a sandbox to become ready (imports included).
    pub ready_timeout: Duration,
}

impl Default for WarmPoolConfig {
    fn default() -> Self {
        Self {
            size: 2,
            imports: Vec::new(),
            grant: Grant::default(),
            env: Vec::new(),
            ready_timeout: Duration::from_secs(60),
        }
    }
}

struct Warm {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Warm {
    /// Closing stdin tells the launcher no request is coming: it kills its
    /// sandbox, removes the cgroup and exits (a SIGKILL would leave the
    /// cgroup behind).
    fn close(self) {
        let Warm {
            mut child,
            stdin,
            stdout,
        } = self;
        drop(stdin);
        drop(stdout);
        let _ = child.wait();
    }
}

#[derive(Default)]
struct State {
    ready: VecDeque<Warm>,
    /// The last start failure, handed to a waiting caller.
    failure: Option<String>,
    closed: bool,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

/// Pre-started single-use Python sandboxes.
pub struct WarmPool {
    shared: Shared,
    refill: Option<mpsc::Sender<()>>,
    spawner: Option<thread::JoinHandle<()>>,
    ready_timeout: Duration,
}

impl std::fmt::Debug for WarmPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmPool")
            .field("ready", &self.ready())
            .finish()
    }
}

fn start_warm(sandbox: &NativeSandbox, spec_line: &[u8]) -> Result<Warm, String> {
    let config = sandbox.config();
    let mut child = Command::new(&config.launcher)
        .args(&config.launcher_args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn launcher: {e}"))?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err("launcher pipes missing".into());
    };
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    let started = stdin
        .write_all(spec_line)
        .and_then(|()| stdin.flush())
        .and_then(|()| stdout.read_line(&mut line));
    if started.is_ok() && line == "ready\n" {
        return Ok(Warm {
            child,
            stdin,
            stdout,
        });
    }
    let mut rest = Vec::new();
    let _ = stdout.read_to_end(&mut rest);
    let _ = child.kill();
    let _ = child.wait();
    let mut reply = line.into_bytes();
    reply.extend_from_slice(&rest);
    Err(match spec::read_reply(&reply) {
        Ok(Err((step, message))) => format!("{step}: {message}"),
        _ => format!("warm launcher did not start: {:?}", started.err()),
    })
}

impl WarmPool {
    /// Starts `config.size` warm sandboxes in the background.
    pub fn new(sandbox: NativeSandbox, config: WarmPoolConfig) -> Result<Self, SandboxError> {
        for p in &config.grant.read_only_paths {
            check_read_only_path(p)?;
        }
        let spec = LaunchSpec {
            argv: vec!["python3".into()],
            env: config.env.clone(),
            workspace: None,
            stdin: Vec::new(),
            limits: config.grant.limits.clone(),
            read_only_paths: config.grant.read_only_paths.clone(),
            settings: LaunchSettings {
                uid_base: sandbox.config.uid_base,
                runtime_dir: sandbox.config.runtime_dir.clone(),
                python_packages: sandbox.config.python_packages.clone(),
                cgroup_parent: sandbox.config.cgroup_parent,
            },
            warm: Some(WarmSpec {
                imports: config.imports.clone(),
            }),
        };
        let mut spec_line =
            serde_json::to_vec(&spec).map_err(|e| SandboxError::Launcher(e.to_string()))?;
        spec_line.push(b'\n');
        let shared: Shared = Arc::default();
        let (tx, rx) = mpsc::channel::<()>();
        let worker_shared = Arc::clone(&shared);
        let spawner = thread::Builder::new()
            .name("bureau-warm-pool".into())
            .spawn(move || {
                // One start per message; the channel closes with the pool.
                while rx.recv().is_ok() {
                    let started = start_warm(&sandbox, &spec_line);
                    let (lock, cvar) = &*worker_shared;
                    let Ok(mut state) = lock.lock() else { return };
                    match started {
                        Ok(warm) if state.closed => warm.close(),
                        Ok(warm) => state.ready.push_back(warm),
                        Err(e) => state.failure = Some(e),
                    }
                    cvar.notify_all();
                }
            })
            .map_err(|source| SandboxError::Setup {
                step: "start warm pool thread",
                source,
            })?;
        for _ in 0..config.size.max(1) {
            let _ = tx.send(());
        }
        Ok(Self {
            shared,
            refill: Some(tx),
            spawner: Some(spawner),
            ready_timeout: config.ready_timeout,
        })
    }

    /// Sandboxes started and waiting.
    pub fn ready(&self) -> usize {
        self.shared.0.lock().map(|s| s.ready.len()).unwrap_or(0)
    }

    fn take(&self) -> Result<Warm, SandboxError> {
        let (lock, cvar) = &*self.shared;
        let poisoned = |_| SandboxError::Launcher("warm pool lock poisoned".into());
        let mut state = lock.lock().map_err(poisoned)?;
        loop {
            if let Some(warm) = state.ready.pop_front() {
                return Ok(warm);
            }
            if let Some(failure) = state.failure.take() {
                // Try again next time.
                if let Some(tx) = &self.refill {
                    let _ = tx.send(());
                }
                return Err(SandboxError::Launcher(format!("warm sandbox: {failure}")));
            }
            let (next, timeout) = cvar
                .wait_timeout(state, self.ready_timeout)
                .map_err(|_| SandboxError::Launcher("warm pool lock poisoned".into()))?;
            state = next;
            if timeout.timed_out() && state.ready.is_empty() {
                return Err(SandboxError::Launcher(
                    "no warm sandbox became ready in time; check `bureau sandbox doctor`".into(),
                ));
            }
        }
    }

    /// Runs Python `code` in a warm sandbox with `workspace` at `/workspace`.
    /// The code gets no stdin.
    pub fn run_python(
        &self,
        code: &str,
        workspace: Option<PathBuf>,
    ) -> Result<NativeOutcome, SandboxError> {
        if let Some(ws) = &workspace
            && (!ws.is_absolute() || !ws.is_dir())
        {
            return Err(SandboxError::Workspace {
                path: ws.clone(),
                message: "must be an existing directory given by absolute path".into(),
            });
        }
        let mut warm = self.take()?;
        // Refill once this call is done, so the replacement's start-up
        // (a whole Python start) does not compete with this call for CPU.
        let _refill = Refill(self.refill.as_ref());
        let request = WarmRequest {
            code: code.to_owned(),
            workspace,
        };
        let mut line =
            serde_json::to_vec(&request).map_err(|e| SandboxError::Launcher(e.to_string()))?;
        line.push(b'\n');
        let sent = warm
            .stdin
            .write_all(&line)
            .and_then(|()| warm.stdin.flush());
        let mut reply = Vec::new();
        let read = warm.stdout.read_to_end(&mut reply);
        let _ = warm.child.wait();
        sent.and(read.map(drop))
            .map_err(|source| SandboxError::Setup {
                step: "talk to warm launcher",
                source,
            })?;
        match spec::read_reply(&reply) {
            Ok(Ok(done)) => Ok(done),
            Ok(Err((step, message))) => Err(SandboxError::Launcher(format!("{step}: {message}"))),
            Err(e) => Err(SandboxError::Launcher(e)),
        }
    }
}

struct Refill<'a>(Option<&'a mpsc::Sender<()>>);

impl Drop for Refill<'_> {
    fn drop(&mut self) {
        if let Some(tx) = self.0 {
            let _ = tx.send(());
        }
    }
}

impl Drop for WarmPool {
    fn drop(&mut self) {
        let (lock, _) = &*self.shared;
        if let Ok(mut state) = lock.lock() {
            state.closed = true;
            for warm in state.ready.drain(..) {
                warm.close();
            }
        }
        // Closing the channel ends the spawner after its current start.
        self.refill = None;
        if let Some(handle) = self.spawner.take() {
            let _ = handle.join();
        }
    }
}
