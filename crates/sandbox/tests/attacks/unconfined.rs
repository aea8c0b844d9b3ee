//! A "sandbox" that confines nothing: the probe runs as a plain child
//! process in the workspace folder. Only for proving that probes notice
//! when they are not confined; never a backend.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bureau_sandbox::{
    Backend, ExecOutcome, ExecRequest, ExitStatus, LimitKind, Sandbox, SandboxError,
};

pub struct Unconfined;

fn drain(mut from: impl Read + Send + 'static, cap: u64) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = (cap as usize).saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        kept
    })
}

impl Sandbox for Unconfined {
    fn backend(&self) -> Backend {
        Backend::Native
    }

    fn exec(&self, req: &ExecRequest) -> Result<ExecOutcome, SandboxError> {
        let ws = req
            .workspace
            .clone()
            .ok_or_else(|| SandboxError::InvalidRequest("needs a workspace".into()))?;
        let (prog, args) = req
            .argv
            .split_first()
            .ok_or_else(|| SandboxError::InvalidRequest("empty argv".into()))?;
        let limits = &req.grant.limits;
        let mut child = Command::new(prog)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &ws)
            .env("LANG", "C.UTF-8")
            .env("TMPDIR", "/tmp")
            .envs(req.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&ws)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SandboxError::Setup {
                step: "spawn",
                source: e,
            })?;
        let pgid = child.id();
        // Keeps one byte past the limit so the suite sees the overflow.
        let cap = limits.output_bytes + 1;
        let out = child.stdout.take().map(|s| drain(s, cap));
        let err = child.stderr.take().map(|s| drain(s, cap));
        let started = Instant::now();
        let mut limits_hit = Vec::new();
        let status = loop {
            if let Some(st) = child.try_wait().map_err(|e| SandboxError::Setup {
                step: "wait",
                source: e,
            })? {
                break st;
            }
            if started.elapsed() > limits.wall_time && limits_hit.is_empty() {
                limits_hit.push(LimitKind::WallTime);
                crate::attacks::kill_group(pgid);
            }
            thread::sleep(Duration::from_millis(20));
        };
        crate::attacks::kill_group(pgid);
        let stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
        let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
        Ok(ExecOutcome {
            backend: Backend::Native,
            status: match (status.code(), status.signal()) {
                (Some(c), _) => ExitStatus::Exited(c),
                (None, Some(s)) => ExitStatus::Signaled(s),
                (None, None) => ExitStatus::Exited(-1),
            },
            stdout,
            stderr,
            stdout_truncated: false,
            stderr_truncated: false,
            limits_hit,
            wall_time: started.elapsed(),
            cpu_time: None,
            peak_memory_bytes: None,
        })
    }
}
