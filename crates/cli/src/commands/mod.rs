//! One module per command group.

pub mod approvals;
pub mod audit;
pub mod config;
pub mod mcp;
pub mod policy;
pub mod run;
pub mod runs;
pub mod sandbox;
pub mod trace;
pub mod workspace;

use std::process::ExitCode;

use crate::{Cli, Command};

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let Cli {
        data_dir,
        config,
        command,
    } = cli;
    let ctx = Context { data_dir, config };
    match command {
        Command::Demo(args) => run::demo(&ctx, args).await,
        Command::Run(args) => run::run(&ctx, args).await,
        Command::Resume(args) => run::resume(&ctx, args).await,
        Command::Runs { command } => runs::execute(&ctx, command).await,
        Command::Mcp { command } => mcp::execute(&ctx, command).await,
        Command::Config { command } => config::execute(&ctx, command),
        Command::Policy { command } => policy::execute(command),
        Command::Approvals { command } => approvals::execute(&ctx, command),
        Command::Audit(args) => audit::execute(&ctx, args),
        Command::Sandbox { command } => sandbox::execute(&ctx, command),
        Command::Workspace { command } => workspace::execute(&ctx, command),
        Command::Trace(args) => trace::execute(&ctx, args),
        Command::Bench { command } => crate::bench::execute(&ctx, command).await,
    }
}

/// The global flags every command sees.
pub struct Context {
    pub data_dir: Option<std::path::PathBuf>,
    pub config: Option<std::path::PathBuf>,
}
