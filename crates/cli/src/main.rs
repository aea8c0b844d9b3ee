//! `bureau`: the one binary, and the composition root. The only crate that
//! reads environment variables, flags and files; everything else gets its
//! configuration as arguments.

mod app;
mod bench;
mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes: 0 done (a run `completed`); 1 an error; 2 a bad command line;
/// 3 a run that ended in any status but `completed` (its summary is printed).
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_RUN_NOT_COMPLETED: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "bureau",
    version,
    about = "Give LLM agents hands without giving them the keys."
)]
pub struct Cli {
    /// Where runs, journals and workspaces live (default: $XDG_DATA_HOME/bureau or ~/.local/share/bureau).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A bureau.toml (default: ./bureau.toml when it exists, else the embedded defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the offline demo: a scripted agent writes a CSV, then reads it back in a later step.
    Demo(commands::run::DemoArgs),
    /// Run an agent on a task.
    Run(commands::run::RunArgs),
    /// Continue a run that stopped before it ended (its process died, or it paused awaiting approval).
    Resume(commands::run::ResumeArgs),
    /// Inspect runs in the journal.
    Runs {
        #[command(subcommand)]
        command: commands::runs::RunsCommand,
    },
    /// Bureau as an MCP server, and the tools Bureau's agents can reach.
    Mcp {
        #[command(subcommand)]
        command: commands::mcp::McpCommand,
    },
    /// Explain what the Cedar policies in a folder decide for a tool call.
    Policy {
        #[command(subcommand)]
        command: commands::policy::PolicyCommand,
    },
    /// Calls held for a human: list them, approve or deny.
    Approvals {
        #[command(subcommand)]
        command: commands::approvals::ApprovalsCommand,
    },
    /// The tamper-evident log of every tool-call decision; `audit verify` checks its chain.
    Audit(commands::audit::AuditArgs),
    /// Run a command in a sandbox, or see what each sandbox backend can use here.
    Sandbox {
        #[command(subcommand)]
        command: commands::sandbox::SandboxCommand,
    },
    /// A run's workspace history: one snapshot per step that changed it.
    Workspace {
        #[command(subcommand)]
        command: commands::workspace::WorkspaceCommand,
    },
    /// Check a configuration, or print its JSON schema.
    Config {
        #[command(subcommand)]
        command: commands::config::ConfigCommand,
    },
    /// A run's trace from the local trace store: `show` as a tree, `export` as OTLP JSON.
    Trace(commands::trace::TraceArgs),
    /// Whole-process benchmarks.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

fn main() -> ExitCode {
    // `bureau` is also the native sandbox's launcher: a fresh,
    // single-threaded process per exec (no runtime, no logging).
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == app::SANDBOX_LAUNCHER_ARG)
    {
        return bureau_sandbox::native::launcher_main();
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let telemetry = {
        let _in_runtime = runtime.enter();
        commands::trace::init_telemetry(&cli)
    };
    let outcome = runtime.block_on(commands::dispatch(cli));
    // Spans are flushed before the runtime (the gRPC exporter's) goes.
    drop(telemetry);
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", output::error_sentence(&e));
            ExitCode::from(EXIT_ERROR)
        }
    }
}
