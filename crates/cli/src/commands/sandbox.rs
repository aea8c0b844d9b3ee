//! `bureau sandbox exec|doctor`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use bureau_config::{Config, SandboxBackend};
use bureau_sandbox::{Backend, CheckStatus, DoctorReport, ExecRequest, ExitStatus};
use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::Context;
use crate::app;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BackendArg {
    Native,
    Gvisor,
    Microvm,
}

#[derive(Subcommand, Debug)]
pub enum SandboxCommand {
    /// Run a command in a fresh sandbox; exits with the command's status.
    Exec {
        /// Default: `[sandbox] backend` (native).
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
        /// Host folder shown at /workspace (the working directory); default: a scratch folder thrown away.
        #[arg(long)]
        workspace: Option<PathBuf>,
        /// Memory of the whole process tree, e.g. 512M, 1G.
        #[arg(long)]
        memory: Option<String>,
        /// Processes and threads at most.
        #[arg(long)]
        pids: Option<u64>,
        /// Wall-clock limit, e.g. 30s, 2m.
        #[arg(long)]
        timeout: Option<String>,
        /// Print one JSON object (status, limits hit, wall and CPU time, peak memory, output).
        #[arg(long)]
        json: bool,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// What each backend can use on this host.
    Doctor {
        #[arg(long)]
        json: bool,
    },
}

pub fn execute(ctx: &Context, command: SandboxCommand) -> anyhow::Result<ExitCode> {
    let (config, _) = app::load_config(ctx.config.as_deref())?;
    match command {
        SandboxCommand::Doctor { json } => doctor(&config, json),
        SandboxCommand::Exec {
            backend,
            workspace,
            memory,
            pids,
            timeout,
            json,
            command,
        } => {
            let backend = match backend {
                None => config.sandbox.backend,
                Some(BackendArg::Native) => SandboxBackend::Native,
                Some(BackendArg::Gvisor) => SandboxBackend::Gvisor,
                Some(BackendArg::Microvm) => SandboxBackend::Microvm,
            };
            exec(
                &config, backend, workspace, memory, pids, timeout, json, command,
            )
        }
    }
}

#[expect(clippy::too_many_arguments, reason = "one per command-line flag")]
fn exec(
    config: &Config,
    backend: SandboxBackend,
    workspace: Option<PathBuf>,
    memory: Option<String>,
    pids: Option<u64>,
    timeout: Option<String>,
    json: bool,
    command: Vec<String>,
) -> anyhow::Result<ExitCode> {
    let sandbox = app::sandbox(config, backend)?;
    let mut grant = app::sandbox_grant(config);
    if let Some(m) = memory {
        grant.limits.memory_bytes = parse_size(&m)?;
    }
    if let Some(p) = pids {
        grant.limits.pids = p;
    }
    if let Some(t) = timeout {
        let d = parse_duration(&t)?;
        grant.limits.wall_time = d;
        grant.limits.cpu_time = d;
    }
    let mut request = ExecRequest::new(command, grant);
    if let Some(ws) = workspace {
        let ws = std::fs::canonicalize(&ws)
            .with_context(|| format!("the workspace folder {} does not exist", ws.display()))?;
        request.workspace = Some(ws);
    }
    let outcome = sandbox.exec(&request)?;
    let code = outcome.status.code();
    if json {
        let report = json!({
            "backend": outcome.backend,
            "exit_code": match outcome.status { ExitStatus::Exited(c) => Some(c), ExitStatus::Signaled(_) => None },
            "signal": match outcome.status { ExitStatus::Signaled(s) => Some(s), ExitStatus::Exited(_) => None },
            "limits_hit": outcome.limits_hit,
            "wall_ms": outcome.wall_time.as_secs_f64() * 1e3,
            "cpu_ms": outcome.cpu_time.map(|d| d.as_secs_f64() * 1e3),
            "peak_memory_bytes": outcome.peak_memory_bytes,
            "stdout": String::from_utf8_lossy(&outcome.stdout),
            "stderr": String::from_utf8_lossy(&outcome.stderr),
            "stdout_truncated": outcome.stdout_truncated,
            "stderr_truncated": outcome.stderr_truncated,
        });
        println!("{report}");
    } else {
        use std::io::Write;
        let _ = std::io::stdout().write_all(&outcome.stdout);
        let _ = std::io::stderr().write_all(&outcome.stderr);
        if !outcome.limits_hit.is_empty() {
            let names: Vec<String> = outcome
                .limits_hit
                .iter()
                .filter_map(|l| serde_json::to_value(l).ok())
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            eprintln!("bureau sandbox: limits hit: {}", names.join(", "));
        }
    }
    Ok(ExitCode::from(
        u8::try_from(code.clamp(0, 255)).unwrap_or(255),
    ))
}

fn doctor(config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    // This binary is the native launcher (`__sandbox-launch`).
    let native = app::native_sandbox(config).ok().map(|s| s.config().clone());
    let mut report = bureau_sandbox::native::doctor_with(native);
    report.checks.extend(bureau_sandbox_gvisor::doctor());
    report.checks.extend(bureau_sandbox_microvm::doctor(None));
    if json {
        let usable: serde_json::Map<String, serde_json::Value> =
            [Backend::Native, Backend::Gvisor, Backend::Microvm]
                .into_iter()
                .map(|b| (b.as_str().to_owned(), json!(report.usable(b))))
                .collect();
        println!("{}", json!({"usable": usable, "checks": report.checks}));
        return Ok(ExitCode::SUCCESS);
    }
    print_report(&report);
    Ok(ExitCode::SUCCESS)
}

fn print_report(report: &DoctorReport) {
    for backend in [Backend::Native, Backend::Gvisor, Backend::Microvm] {
        let usable = report.usable(backend);
        println!(
            "{}: {}",
            backend.as_str(),
            if usable { "usable" } else { "NOT usable" }
        );
        for c in report.checks.iter().filter(|c| c.backend == backend) {
            let mark = match c.status {
                CheckStatus::Ok => "ok     ",
                CheckStatus::Degraded => "partial",
                CheckStatus::Missing => "MISSING",
            };
            println!("  {mark}  {:<24} {}", c.name, c.detail);
        }
    }
}

/// `--memory` and `--timeout`, read as in `bureau.toml` (`512M`, `1G`;
/// `30s`, `2m`, `1m30s`).
fn parse_size(text: &str) -> anyhow::Result<u64> {
    bureau_config::parse_size(text).map_err(|m| anyhow::anyhow!("--memory {m}"))
}

fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    bureau_config::parse_duration(text).map_err(|m| anyhow::anyhow!("--timeout {m}"))
}
