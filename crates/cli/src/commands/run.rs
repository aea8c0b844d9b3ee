//! `bureau run` and `bureau demo`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use bureau_config::Config;
use bureau_orchestrator::{EventSink, NoEvents, Orchestrator, RunRequest};
use bureau_protocol::{RunEvent, RunId, RunStatus, RunSummary};
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::{EXIT_RUN_NOT_COMPLETED, app, output};

/// The demo's script, embedded: the scripted model's turns.
const DEMO_SCRIPT: &str = include_str!("../../assets/demo-script.json");
const DEMO_TASK: &str =
    "Record this week's sales in sales.csv, then read the file back and report the total.";

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The task for the agent.
    pub task: String,
    /// Which agent from the config (default: `default`).
    #[arg(long, default_value = "default")]
    pub agent: String,
    /// The model: a `[models]` key, or provider:model — openai:gpt-4o-mini, anthropic:claude-sonnet-4-5, scripted:PATH.
    #[arg(long)]
    pub model: Option<String>,
    /// Print one JSON object (the run summary) instead of the steps.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ResumeArgs {
    /// The run to continue (`bureau runs list` shows ids and statuses).
    pub id: String,
    /// Continue with another model than the run's own (provider:model or a `[models]` key).
    #[arg(long)]
    pub model: Option<String>,
    /// Grant this many more turns (for a run paused at max_turns).
    #[arg(long, default_value_t = 0)]
    pub add_turns: u32,
    /// Grant this many more tokens (for a run paused at its token budget).
    #[arg(long, default_value_t = 0)]
    pub add_tokens: u64,
    /// Grant this many more US dollars (for a run paused at its cost budget).
    #[arg(long, default_value_t = 0.0)]
    pub add_cost: f64,
    /// Print one JSON object (the run summary) instead of the steps.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Print one JSON object (the run summary) instead of the steps.
    #[arg(long)]
    pub json: bool,
}

pub async fn demo(ctx: &Context, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let data_dir = app::data_dir(ctx.data_dir.as_deref())?;
    let script = data_dir.join("demo-script.json");
    std::fs::write(&script, DEMO_SCRIPT)
        .with_context(|| format!("cannot write {}", script.display()))?;
    let (config, _) = app::load_config(ctx.config.as_deref())?;
    let model = format!("scripted:{}", script.display());
    execute(&data_dir, &config, "default", &model, DEMO_TASK, args.json).await
}

pub async fn run(ctx: &Context, args: RunArgs) -> anyhow::Result<ExitCode> {
    let data_dir = app::data_dir(ctx.data_dir.as_deref())?;
    let (config, origin) = app::load_config(ctx.config.as_deref())?;
    let Some(agent) = config.agents.get(&args.agent) else {
        let known: Vec<&str> = config.agents.keys().map(String::as_str).collect();
        bail!(
            "there is no agent `{}`: use one of [{}] or define it in bureau.toml",
            args.agent,
            known.join(", ")
        );
    };
    let model = match args.model.or_else(|| agent.model.clone()) {
        Some(m) => m,
        None => bail!(
            "no model for agent `{}`: pass --model (e.g. openai:gpt-4o-mini, or scripted:PATH for an offline script) or set agents.{}.model in {}",
            args.agent,
            args.agent,
            origin
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "bureau.toml".into())
        ),
    };
    execute(
        &data_dir,
        &config,
        &args.agent,
        &model,
        &args.task,
        args.json,
    )
    .await
}

pub async fn resume(ctx: &Context, args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let data_dir = app::data_dir(ctx.data_dir.as_deref())?;
    let (config, _) = app::load_config(ctx.config.as_deref())?;
    let run_id: RunId = args.id.parse()?;
    let journal = app::open_journal(&data_dir, &config).await?;
    let view = journal.get_run(run_id).await?.with_context(|| {
        format!("there is no run {run_id} in this data dir: `bureau runs list` shows the runs")
    })?;
    if !matches!(
        view.status,
        RunStatus::Running | RunStatus::AwaitingApproval
    ) {
        bail!(
            "run {run_id} already ended as {}: only runs that were interrupted (still `running`) or paused (`awaiting_approval`) can be resumed",
            view.status
        );
    }
    let mut agent = config
        .agents
        .get(&view.run.agent)
        .with_context(|| format!("the run's agent `{}` is not in the config: define it, or use the config the run started with", view.run.agent))?
        .clone();
    let turns_so_far = view.summary.as_ref().map(|s| s.turns).unwrap_or(0);
    let used = view
        .summary
        .as_ref()
        .map(|s| (s.usage.total(), s.cost_usd))
        .unwrap_or((0, 0.0));
    agent.max_turns = agent
        .max_turns
        .max(turns_so_far)
        .saturating_add(args.add_turns);
    agent.token_budget = agent
        .token_budget
        .map(|b| b.max(used.0).saturating_add(args.add_tokens));
    agent.cost_budget_usd = agent.cost_budget_usd.map(|b| b.max(used.1) + args.add_cost);
    let model = args.model.unwrap_or_else(|| view.run.model.clone());
    let choice = app::model_choice(&model, &config)?;
    let gateway = app::gateway(&data_dir, &config).await?;
    let hub = Arc::new(app::tool_hub(&gateway).await?);
    let orchestrator = Orchestrator::new(choice.client, hub.clone(), journal);
    let request = RunRequest {
        run_id,
        agent_name: view.run.agent.clone(),
        agent,
        model_label: choice.label,
        price: choice.price,
        task: view.run.task.clone(),
    };
    let summary = drive(&orchestrator, request, args.json, Mode::Resume).await?;
    drop(orchestrator);
    if let Ok(hub) = Arc::try_unwrap(hub) {
        hub.shutdown().await;
    }
    finish(&summary, args.json)
}

#[derive(Clone, Copy)]
enum Mode {
    Start,
    Resume,
}

/// Runs or resumes with Ctrl-C wired to cancellation and events printed
/// unless `--json`.
async fn drive(
    orchestrator: &Orchestrator,
    request: RunRequest,
    json: bool,
    mode: Mode,
) -> anyhow::Result<RunSummary> {
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let printer = |e: RunEvent| output::print_event(&e);
    let events: &dyn EventSink = if json { &NoEvents } else { &printer };
    Ok(match mode {
        Mode::Start => orchestrator.run(request, events, cancel).await?,
        Mode::Resume => orchestrator.resume(request, events, cancel).await?,
    })
}

async fn execute(
    data_dir: &std::path::Path,
    config: &Config,
    agent_name: &str,
    model: &str,
    task: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let agent = config
        .agents
        .get(agent_name)
        .with_context(|| format!("there is no agent `{agent_name}` in the config"))?
        .clone();
    let choice = app::model_choice(model, config)?;
    let journal = app::open_journal(data_dir, config).await?;
    let gateway = app::gateway(data_dir, config).await?;
    let hub = Arc::new(app::tool_hub(&gateway).await?);
    let orchestrator = Orchestrator::new(choice.client, hub.clone(), journal);
    let request = RunRequest {
        run_id: RunId::new(),
        agent_name: agent_name.to_owned(),
        agent,
        model_label: choice.label,
        price: choice.price,
        task: task.to_owned(),
    };
    let summary = drive(&orchestrator, request, json, Mode::Start).await?;
    drop(orchestrator);
    if let Ok(hub) = Arc::try_unwrap(hub) {
        hub.shutdown().await;
    }
    finish(&summary, json)
}

/// Prints the summary (for `--json`) and maps the status to the exit code.
pub fn finish(summary: &RunSummary, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        output::print_summary_json(summary)?;
    }
    Ok(if summary.status == RunStatus::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_RUN_NOT_COMPLETED)
    })
}
