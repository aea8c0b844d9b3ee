//! `bureau mcp serve|tools`.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::app;

#[derive(Subcommand, Debug)]
pub enum McpCommand {
    /// Serve Bureau's gateway (its built-in tools, behind its policy) as an MCP server.
    Serve {
        /// Speak MCP over stdin/stdout (for Claude Desktop, Cursor, the Inspector).
        #[arg(long, conflicts_with = "http")]
        stdio: bool,
        /// Speak Streamable HTTP at http://ADDR/mcp (e.g. 127.0.0.1:8765).
        #[arg(long, value_name = "ADDR")]
        http: Option<SocketAddr>,
    },
    /// The aggregated tool catalog: the gateway's tools and every configured server's.
    Tools {
        #[arg(long)]
        json: bool,
    },
}

pub async fn execute(ctx: &Context, command: McpCommand) -> anyhow::Result<ExitCode> {
    let data_dir = app::data_dir(ctx.data_dir.as_deref())?;
    let (config, _) = app::load_config(ctx.config.as_deref())?;
    match command {
        McpCommand::Serve { stdio, http } => {
            let gateway = app::gateway(&data_dir, &config).await?;
            match (stdio, http) {
                (true, _) => gateway.serve_stdio().await?,
                (false, Some(addr)) => {
                    let stop = CancellationToken::new();
                    let (bound, handle) = gateway.serve_http(addr, stop.clone()).await?;
                    eprintln!("bureau gateway: serving MCP at http://{bound}/mcp (Ctrl-C stops)");
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => stop.cancel(),
                        _ = handle => {}
                    }
                }
                (false, None) => bail!("say how to serve: --stdio, or --http 127.0.0.1:PORT"),
            }
        }
        McpCommand::Tools { json } => {
            let gateway = app::gateway(&data_dir, &config).await?;
            let hub = app::tool_hub(&gateway).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&json!({ "tools": hub.tools() }))?
                );
            } else {
                for t in hub.tools() {
                    let first = t.description.lines().next().unwrap_or("");
                    println!("{:<32} {}", t.name, first);
                }
            }
            hub.shutdown().await;
        }
    }
    Ok(ExitCode::SUCCESS)
}
