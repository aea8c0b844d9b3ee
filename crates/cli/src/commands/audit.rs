//! `bureau audit [--run ID] [--json]` and `bureau audit verify`.

use std::process::ExitCode;

use bureau_protocol::RunId;
use clap::{Args, Subcommand};

use super::Context;
use crate::{EXIT_ERROR, app};

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// Only this run's decisions.
    #[arg(long)]
    pub run: Option<String>,
    /// At most this many (the newest).
    #[arg(long, default_value_t = 200)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain of the whole log; exit 1 if it is broken.
    Verify {
        #[arg(long)]
        json: bool,
    },
}

pub fn execute(ctx: &Context, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let data_dir = app::data_dir(ctx.data_dir.as_deref())?;
    let log = app::control_store(&data_dir)?.audit();
    if let Some(AuditCommand::Verify { json }) = args.command {
        let report = log.verify()?;
        if json {
            println!("{}", serde_json::to_string(&report)?);
        } else if let Some(b) = &report.first_break {
            println!(
                "BROKEN at entry {} of {}: {}",
                b.seq, report.entries, b.problem
            );
        } else {
            println!(
                "ok: {} entries, chain intact; head {}",
                report.entries, report.head
            );
        }
        return Ok(if report.first_break.is_some() {
            ExitCode::from(EXIT_ERROR)
        } else {
            ExitCode::SUCCESS
        });
    }
    let run = match &args.run {
        Some(r) => Some(r.parse::<RunId>()?),
        None => None,
    };
    let entries = log.list(run, args.limit)?;
    if args.json {
        println!("{}", serde_json::to_string(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        println!("no audited calls yet");
    }
    for e in &entries {
        let r = &e.record;
        let why = r
            .reason
            .as_deref()
            .map(|s| format!(" — {s}"))
            .unwrap_or_default();
        println!(
            "{:>6}  {}  {:<12}  {:<16}  {:<17}  {:<9}{}",
            e.seq,
            r.run_id
                .map(|r| r.to_string())
                .unwrap_or_else(|| "-".repeat(36)),
            r.agent,
            r.tool,
            r.decision,
            r.outcome,
            why
        );
    }
    Ok(ExitCode::SUCCESS)
}
