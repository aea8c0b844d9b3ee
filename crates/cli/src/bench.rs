//! `bureau bench`: whole-process benchmarks. `orchestrator` runs N agent
//! runs in this process, each S tool steps through the in-process gateway
//! with a scripted model, and reports wall time, CPU time and peak memory.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bureau_config::Config;
use bureau_llm::ScriptedModel;
use bureau_orchestrator::{NoEvents, Orchestrator, RunRequest};
use bureau_protocol::{RunId, RunStatus};
use clap::{Subcommand, ValueEnum};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::app;
use crate::commands::Context;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// N runs × S tool steps through the in-process gateway, scripted model.
    Orchestrator(OrchestratorBench),
    /// Sandbox start-up cost: `/usr/bin/true` and `python3 -c pass` bare, in
    /// the native sandbox, in `bwrap --unshare-all` and `runsc do` (where
    /// installed), and the warm pool's `print(1)`; medians and ratios.
    Sandbox(SandboxBench),
    /// Sequential `tools/call` round trips to `bureau mcp serve --stdio` (a
    /// child process), through its whole pipeline: decode, policy, the tool,
    /// the chained audit log.
    Gateway(GatewayBench),
}

#[derive(clap::Args, Debug)]
pub struct SandboxBench {
    #[arg(long, default_value_t = 50)]
    runs: usize,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct GatewayBench {
    #[arg(long, default_value_t = 2000)]
    calls: usize,
    /// A folder of Cedar policies for the served gateway (default: the
    /// built-in allow-list).
    #[arg(long)]
    policy: Option<std::path::PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum JournalKind {
    Sqlite,
    None,
}

#[derive(clap::Args, Debug)]
pub struct OrchestratorBench {
    #[arg(long, default_value_t = 100)]
    runs: usize,
    /// Tool steps per run (each: one model turn asking for one tool call).
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Runs in flight at once (default: all of them).
    #[arg(long)]
    concurrency: Option<usize>,
    /// The scripted model's latency per call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    #[arg(long, value_enum, default_value_t = JournalKind::Sqlite)]
    journal: JournalKind,
    #[arg(long)]
    json: bool,
}

/// Step 1 writes a note; steps 2..S read it back; then a final answer.
fn script(steps: usize) -> String {
    let mut turns = Vec::with_capacity(steps + 1);
    for i in 0..steps {
        let call = if i == 0 {
            json!({"name": "files.write", "arguments": {"path": "note.txt", "content": "benchmark note\n"}})
        } else {
            json!({"name": "files.read", "arguments": {"path": "note.txt"}})
        };
        turns.push(json!({"tool_calls": [call]}));
    }
    turns.push(json!({"text": "done"}));
    json!({ "turns": turns }).to_string()
}

fn cpu_time() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(t.tv_sec().max(0) as u64)
                    + Duration::from_micros(t.tv_usec().max(0) as u64)
            };
            tv(u.user_time()) + tv(u.system_time())
        }
        Err(_) => Duration::ZERO,
    }
}

/// `VmHWM` from /proc/self/status: the process's peak resident set.
fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

pub async fn execute(ctx: &Context, command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Orchestrator(args) => orchestrator(ctx, args).await,
        BenchCommand::Gateway(args) => gateway(ctx, args).await,
        BenchCommand::Sandbox(args) => {
            let ctx_config = ctx.config.clone();
            tokio::task::spawn_blocking(move || sandbox_bench(ctx_config, args)).await?
        }
    }
}

async fn gateway(ctx: &Context, args: GatewayBench) -> anyhow::Result<ExitCode> {
    let base = match &ctx.data_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("bureau-bench-{}", RunId::new())),
    };
    std::fs::create_dir_all(&base)?;
    let exe = std::env::current_exe().context("cannot find the bureau binary to serve")?;
    let mut serve_args = vec!["--data-dir".to_owned(), base.display().to_string()];
    if let Some(dir) = &args.policy {
        let config = base.join("bench-gateway.toml");
        std::fs::write(
            &config,
            format!("[policy]\ndir = {:?}\n", dir.display().to_string()),
        )?;
        serve_args.extend(["--config".to_owned(), config.display().to_string()]);
    }
    serve_args.extend(["mcp", "serve", "--stdio"].map(str::to_owned));
    let server = bureau_protocol::McpServer {
        name: "gw".into(),
        spec: bureau_protocol::McpServerSpec::Stdio {
            command: exe.display().to_string(),
            args: serve_args,
            env: Default::default(),
            cwd: None,
        },
        call_timeout_ms: 30_000,
        connect_timeout_ms: 30_000,
    };
    let mut hub = bureau_mcp_client::McpHub::new(&app::env_var);
    hub.connect(&server).await?;
    let call = |name: &str, arguments| bureau_protocol::ToolCall {
        id: bureau_protocol::ToolCallId::new("b"),
        name: format!("gw.{name}"),
        arguments,
    };
    let meta = serde_json::Map::new();
    let write = call(
        "files.write",
        json!({"path": "note.txt", "content": "hello world\n".repeat(10)}),
    );
    let r = hub.call_tool(&write, &meta).await?;
    anyhow::ensure!(!r.is_error, "files.write failed: {}", r.to_model_text());
    let read = call("files.read", json!({"path": "note.txt"}));
    for _ in 0..50 {
        hub.call_tool(&read, &meta).await?;
    }
    let mut samples = Vec::with_capacity(args.calls);
    let cpu0 = cpu_time();
    for _ in 0..args.calls {
        let t = Instant::now();
        let r = hub.call_tool(&read, &meta).await?;
        samples.push(t.elapsed());
        anyhow::ensure!(!r.is_error, "files.read failed: {}", r.to_model_text());
    }
    let client_cpu = cpu_time().saturating_sub(cpu0);
    hub.shutdown().await;
    samples.sort_unstable();
    let pct = |p: f64| {
        let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
        samples.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let report = json!({
        "calls": args.calls,
        "policy": if args.policy.is_some() { "cedar" } else { "allow-list" },
        "audit": "chained (control.db)",
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "client_cpu_us_per_call": client_cpu.as_secs_f64() * 1e6 / args.calls.max(1) as f64,
    });
    if args.json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    if ctx.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&base);
    }
    Ok(ExitCode::SUCCESS)
}

async fn orchestrator(ctx: &Context, args: OrchestratorBench) -> anyhow::Result<ExitCode> {
    let base = match &ctx.data_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("bureau-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&base).with_context(|| format!("cannot create {}", base.display()))?;
    let config = Config::default();
    let mut agent = config
        .agents
        .get("default")
        .cloned()
        .context("the embedded config has no default agent")?;
    agent.max_turns = u32::try_from(args.steps + 5).unwrap_or(u32::MAX);
    agent.loop_limit = u32::MAX;
    let model = ScriptedModel::from_json(&script(args.steps), "bench")?
        .with_latency(Duration::from_millis(args.latency_ms));
    let journal = match args.journal {
        JournalKind::Sqlite => app::open_journal(&base, &config).await?,
        JournalKind::None => app::null_journal(),
    };
    let gateway = app::gateway(&base, &config).await?;
    let hub = Arc::new(app::tool_hub(&gateway).await?);
    let orchestrator = Orchestrator::new(Arc::new(model), hub.clone(), journal);
    let permits = Arc::new(tokio::sync::Semaphore::new(
        args.concurrency.unwrap_or(args.runs).max(1),
    ));

    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.runs {
        let orchestrator = orchestrator.clone();
        let agent = agent.clone();
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let request = RunRequest {
                run_id: RunId::new(),
                agent_name: "bench".into(),
                agent,
                model_label: "scripted:bench".into(),
                price: None,
                task: "benchmark".into(),
            };
            orchestrator
                .run(request, &NoEvents, CancellationToken::new())
                .await
        });
    }
    let mut completed = 0usize;
    let mut other = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let summary = joined.context("a benchmark run panicked")??;
        if summary.status == RunStatus::Completed {
            completed += 1;
        } else {
            other.push(format!("{}: {}", summary.status, summary.reason));
        }
    }
    let wall = t0.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    let steps = args.runs * args.steps;
    let report = json!({
        "runs": args.runs,
        "steps": steps,
        "completed": completed,
        "concurrency": args.concurrency.unwrap_or(args.runs),
        "latency_ms": args.latency_ms,
        "journal": format!("{:?}", args.journal).to_lowercase(),
        "wall_s": wall.as_secs_f64(),
        "cpu_s": cpu.as_secs_f64(),
        "cpu_us_per_step": if steps > 0 { cpu.as_secs_f64() * 1e6 / steps as f64 } else { 0.0 },
        "peak_rss_bytes": peak_rss_bytes(),
    });
    if args.json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    if ctx.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&base);
    }
    if !other.is_empty() {
        anyhow::bail!(
            "{} of {} runs did not complete, first: {}",
            other.len(),
            args.runs,
            other[0]
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort_unstable();
    samples
        .get(samples.len() / 2)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// Runs `f` `runs` times (after 3 warm-ups) and returns the median in ms,
/// or `None` if any run failed.
fn time_runs(runs: usize, mut f: impl FnMut() -> bool) -> Option<f64> {
    for _ in 0..3 {
        if !f() {
            return None;
        }
    }
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        if !f() {
            return None;
        }
        samples.push(t.elapsed());
    }
    Some(median_ms(samples))
}

fn command_ok(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn sandbox_bench(
    config: Option<std::path::PathBuf>,
    args: SandboxBench,
) -> anyhow::Result<ExitCode> {
    use bureau_sandbox::ExecRequest;
    let (config, _) = app::load_config(config.as_deref())?;
    let native = app::sandbox(&config, bureau_config::SandboxBackend::Native)?;
    let grant = app::sandbox_grant(&config);
    let exec = |argv: &[&str]| {
        let request = ExecRequest::new(
            argv.iter().map(|a| (*a).to_owned()).collect(),
            grant.clone(),
        );
        native
            .exec(&request)
            .is_ok_and(|o| o.status == bureau_sandbox::ExitStatus::Exited(0))
    };
    let n = args.runs;
    let bare_true = time_runs(n, || command_ok("/usr/bin/true", &[]));
    let native_true = time_runs(n, || exec(&["/usr/bin/true"]));
    let bwrap_args = [
        "--unshare-all",
        "--die-with-parent",
        "--clearenv",
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--symlink",
        "usr/bin",
        "/bin",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--",
        "/usr/bin/true",
    ];
    let bwrap_true = time_runs(n, || command_ok("bwrap", &bwrap_args));
    let runsc_true = time_runs(n.min(20), || {
        command_ok(
            "runsc",
            &["--network=none", "--platform=ptrace", "do", "/usr/bin/true"],
        )
    });
    let bare_py = time_runs(n, || command_ok("/usr/bin/python3", &["-c", "pass"]));
    let native_py = time_runs(n, || exec(&["python3", "-c", "pass"]));
    let warm = {
        let pool = bureau_sandbox::native::WarmPool::new(
            app::native_sandbox(&config)?,
            bureau_sandbox::native::WarmPoolConfig {
                size: 2,
                grant: grant.clone(),
                ..Default::default()
            },
        )?;
        // Each call is timed once a warm sandbox is ready, as between the
        // steps of an agent (a model call takes far longer than a refill).
        let mut samples = Vec::with_capacity(n);
        for i in 0..n + 3 {
            let wait = Instant::now();
            while pool.ready() == 0 && wait.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(2));
            }
            let t = Instant::now();
            let ok = pool
                .run_python("print(1)", None)
                .is_ok_and(|o| o.outcome.status == bureau_sandbox::ExitStatus::Exited(0));
            anyhow::ensure!(ok, "the warm pool failed to run print(1)");
            if i >= 3 {
                samples.push(t.elapsed());
            }
        }
        Some(median_ms(samples))
    };
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let report = json!({
        "runs": n,
        "true_ms": {"bare": bare_true, "native": native_true, "bwrap": bwrap_true, "runsc": runsc_true},
        "true_ratio_vs_bare": {"native": ratio(native_true, bare_true), "bwrap": ratio(bwrap_true, bare_true), "runsc": ratio(runsc_true, bare_true)},
        "python_pass_ms": {"bare": bare_py, "native": native_py},
        "python_pass_ratio": ratio(native_py, bare_py),
        "warm_print1_p50_ms": warm,
    });
    if args.json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}
