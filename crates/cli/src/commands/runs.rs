//! `bureau runs list|show`.

use std::process::ExitCode;

use anyhow::Context as _;
use bureau_config::Config;
use bureau_protocol::{JournalEntry, RunId};
use bureau_store::RunView;
use clap::Subcommand;
use serde_json::{Value, json};

use super::Context;
use crate::app;

#[derive(Subcommand, Debug)]
pub enum RunsCommand {
    /// The newest runs first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// One run and every step of its journal.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn execute(ctx: &Context, command: RunsCommand) -> anyhow::Result<ExitCode> {
    let data_dir = app::data_dir(ctx.data_dir.as_deref())?;
    let (config, _) = app::load_config(ctx.config.as_deref()).unwrap_or((Config::default(), None));
    let journal = app::open_journal(&data_dir, &config).await?;
    match command {
        RunsCommand::List { limit, json } => {
            let runs = journal.list_runs(limit).await?;
            if json {
                let items: Vec<_> = runs.iter().map(view_json).collect();
                println!("{}", serde_json::to_string(&items)?);
            } else if runs.is_empty() {
                println!("no runs yet: try `bureau demo`");
            } else {
                println!(
                    "{:<36}  {:<17}  {:>5}  {:<24}  task",
                    "run_id", "status", "turns", "model"
                );
                for r in &runs {
                    println!(
                        "{:<36}  {:<17}  {:>5}  {:<24}  {}",
                        r.run.run_id,
                        r.status.as_str(),
                        r.summary.as_ref().map(|s| s.turns).unwrap_or(0),
                        truncate(&r.run.model, 24),
                        truncate(&r.run.task, 60)
                    );
                }
            }
        }
        RunsCommand::Show { id, json } => {
            let run_id: RunId = id.parse()?;
            let run = journal.get_run(run_id).await?.with_context(|| {
                format!(
                    "there is no run {run_id} in this data dir: `bureau runs list` shows the runs"
                )
            })?;
            let steps = journal.steps(run_id).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&json!({"run": view_json(&run), "steps": steps}))?
                );
            } else {
                println!("run {}  {}", run.run.run_id, run.status);
                println!("  agent {} · model {}", run.run.agent, run.run.model);
                println!("  task: {}", run.run.task);
                if let Some(s) = &run.summary {
                    println!("  reason: {}", s.reason);
                    println!(
                        "  turns {} · tokens {} in / {} out · ${:.4}",
                        s.turns, s.usage.input_tokens, s.usage.output_tokens, s.cost_usd
                    );
                    if let Some(a) = &s.answer {
                        println!("  answer: {a}");
                    }
                }
                println!("steps:");
                for st in &steps {
                    println!("  #{:<3} {}", st.seq, describe(&st.entry));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A run as one flat JSON object: the record's fields, `status`, `updated_at_ms`, `summary`.
fn view_json(view: &RunView) -> Value {
    let mut obj = serde_json::to_value(&view.run).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut obj {
        map.insert("status".into(), json!(view.status));
        map.insert("updated_at_ms".into(), json!(view.updated_at_ms));
        map.insert("summary".into(), json!(view.summary));
    }
    obj
}

fn truncate(s: &str, n: usize) -> String {
    let flat = s.replace('\n', " ");
    if flat.chars().count() > n {
        format!("{}…", flat.chars().take(n - 1).collect::<String>())
    } else {
        flat
    }
}

fn describe(entry: &JournalEntry) -> String {
    match entry {
        JournalEntry::ModelCall { turn, response } => {
            let calls: Vec<&str> = response
                .turn
                .tool_calls
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            format!(
                "turn {turn} model ({} in / {} out){}{}",
                response.usage.input_tokens,
                response.usage.output_tokens,
                if calls.is_empty() {
                    String::new()
                } else {
                    format!(" → {}", calls.join(", "))
                },
                response
                    .turn
                    .text
                    .as_deref()
                    .map(|t| format!(": {}", truncate(t, 80)))
                    .unwrap_or_default()
            )
        }
        JournalEntry::ToolCallStarted { turn, call } => {
            format!(
                "turn {turn} call {} {}",
                call.name,
                truncate(&call.arguments.to_string(), 80)
            )
        }
        JournalEntry::ToolCallFinished {
            turn,
            name,
            outcome,
            result,
            duration_ms,
            ..
        } => format!(
            "turn {turn} done {name} {outcome:?} in {duration_ms} ms: {}",
            truncate(&result.to_model_text(), 80)
        ),
    }
}
