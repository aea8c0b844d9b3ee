//! `bureau config schema|check`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::Context;
use crate::app;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the JSON schema of bureau.toml.
    Schema,
    /// Validate a config file (default: --config, ./bureau.toml, or the embedded defaults) and explain it.
    Check { file: Option<PathBuf> },
}

pub fn execute(ctx: &Context, command: ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&bureau_config::json_schema())?
            );
        }
        ConfigCommand::Check { file } => {
            let path = file.or_else(|| ctx.config.clone());
            let (config, origin) = app::load_config(path.as_deref())?;
            match origin {
                Some(p) => println!("{}: ok", p.display()),
                None => println!("no bureau.toml here: the embedded defaults apply"),
            }
            println!("{}", config.explain());
        }
    }
    Ok(ExitCode::SUCCESS)
}
