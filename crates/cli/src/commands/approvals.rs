//! `bureau approvals list|show|approve|deny`: the human in the loop.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use bureau_protocol::ApprovalId;
use bureau_store::{Approval, ApprovalState};
use clap::Subcommand;

use super::Context;
use crate::app;

#[derive(Subcommand, Debug)]
pub enum ApprovalsCommand {
    /// Calls waiting for a human (`--all`: every approval, decided ones too).
    List {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// One approval: the call it holds, its arguments and why.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Sign a grant that lets exactly this call run once; resume the run
    /// afterwards (`bureau resume RUN`).
    Approve {
        id: String,
        /// How long the grant stays valid, e.g. `15m`, `1h`, `30s`.
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        expires_in: Duration,
        /// Who approves (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Refuse the call; `--reason` is shown to the model.
    Deny {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        by: Option<String>,
    },
}

pub fn execute(ctx: &Context, command: ApprovalsCommand) -> anyhow::Result<ExitCode> {
    let data_dir = app::data_dir(ctx.data_dir.as_deref())?;
    let approvals = app::control_store(&data_dir)?.approvals();
    let parse = |id: &str| -> anyhow::Result<ApprovalId> {
        id.parse().with_context(|| {
            format!("`{id}` is not an approval id: `bureau approvals list` shows them")
        })
    };
    let who = |by: Option<String>| {
        by.or_else(|| app::env_var("USER"))
            .unwrap_or_else(|| "operator".to_owned())
    };
    match command {
        ApprovalsCommand::List { all, json } => {
            let state = (!all).then_some(ApprovalState::Pending);
            let list = approvals.list(state)?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else if list.is_empty() {
                println!("no approvals {}", if all { "yet" } else { "pending" });
            } else {
                println!(
                    "{:<36}  {:<8}  {:<14}  {:<16}  reason",
                    "approval_id", "state", "agent", "tool"
                );
                for a in &list {
                    println!(
                        "{:<36}  {:<8}  {:<14}  {:<16}  {}",
                        a.request.id,
                        a.state.as_str(),
                        a.request.binding.agent,
                        a.request.binding.tool,
                        a.request.reason
                    );
                }
            }
        }
        ApprovalsCommand::Show { id, json } => {
            let id = parse(&id)?;
            let a = approvals.get(id)?.with_context(|| {
                format!("there is no approval {id}: `bureau approvals list --all` shows them")
            })?;
            if json {
                println!("{}", serde_json::to_string(&a)?);
            } else {
                print_one(&a);
            }
        }
        ApprovalsCommand::Approve { id, expires_in, by } => {
            let id = parse(&id)?;
            let now = app::now_ms();
            let ttl = i64::try_from(expires_in.as_millis()).unwrap_or(i64::MAX);
            let a = approvals.approve(id, &who(by), now, now.saturating_add(ttl))?;
            println!(
                "approved {id}: `{}` may run once, until the grant expires in {}s",
                a.request.binding.tool,
                expires_in.as_secs()
            );
            if let Some(run) = a.request.binding.run_id {
                println!("resume the run: bureau resume {run}");
            }
        }
        ApprovalsCommand::Deny { id, reason, by } => {
            let id = parse(&id)?;
            let a = approvals.deny(id, &who(by), reason.as_deref(), app::now_ms())?;
            println!("denied {id}: `{}` will not run", a.request.binding.tool);
            if let Some(run) = a.request.binding.run_id {
                println!("resume the run so the agent learns it: bureau resume {run}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_one(a: &Approval) {
    let b = &a.request.binding;
    println!("approval {}  {}", a.request.id, a.state.as_str());
    println!(
        "  run {} · agent {} · tool {}",
        b.run_id
            .map(|r| r.to_string())
            .unwrap_or_else(|| "-".into()),
        b.agent,
        b.tool
    );
    println!("  reason: {}", a.request.reason);
    if !a.request.policy_ids.is_empty() {
        println!("  policies: {}", a.request.policy_ids.join(", "));
    }
    println!(
        "  arguments: {}",
        serde_json::to_string_pretty(&a.request.arguments).unwrap_or_default()
    );
    if let Some(by) = &a.decided_by {
        println!("  decided by {by}");
    }
    if let Some(note) = &a.note {
        println!("  note: {note}");
    }
}

/// `90s`, `15m`, `2h`, `1d` (as durations in `bureau.toml`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = bureau_config::parse_duration(s).map_err(|m| format!("`{s}` {m}"))?;
    if d.is_zero() {
        return Err("a grant must live longer than 0 s".into());
    }
    Ok(d)
}
