//! `bureau workspace log|diff|restore|cat`: a run's workspace history, one
//! content-addressed snapshot per step that changed it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bureau_workspace::{ChangeKind, WorkspaceId, WorkspaceStore};
use clap::Subcommand;

use super::Context;
use crate::app;

#[derive(Subcommand, Debug)]
pub enum WorkspaceCommand {
    /// The snapshots of a workspace (a run id, or `default`), oldest first.
    Log {
        workspace: String,
        #[arg(long)]
        json: bool,
    },
    /// What changed between two snapshots (default: the one before `TO`).
    Diff {
        workspace: String,
        /// A snapshot id (or a prefix of 4+ characters), or `latest`.
        to: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Make a folder exactly a snapshot (default: the run's own workspace folder).
    Restore {
        workspace: String,
        snapshot: String,
        #[arg(long)]
        into: Option<PathBuf>,
    },
    /// Print one file as it was in a snapshot.
    Cat {
        workspace: String,
        snapshot: String,
        path: String,
    },
}

pub fn execute(ctx: &Context, command: WorkspaceCommand) -> anyhow::Result<ExitCode> {
    let data_dir = app::data_dir(ctx.data_dir.as_deref())?;
    let store = WorkspaceStore::open(data_dir.join("snapshots"))?;
    let id =
        |w: &str| WorkspaceId::new(w).context("a workspace is named by its run id, or `default`");
    match command {
        WorkspaceCommand::Log { workspace, json } => {
            let log = store.log(&id(&workspace)?)?;
            if json {
                println!("{}", serde_json::to_string(&log)?);
            } else if log.is_empty() {
                println!("no snapshots of {workspace} yet");
            } else {
                for s in &log {
                    println!(
                        "{:>4}  {}  step {:<5}  {:>6} files  {:>10} bytes  {}",
                        s.seq,
                        short(&s.id.to_string()),
                        s.label
                            .step
                            .map(|n| n.to_string())
                            .unwrap_or_else(|| "-".into()),
                        s.stats.files,
                        s.stats.bytes,
                        s.label.message.as_deref().unwrap_or("")
                    );
                }
            }
        }
        WorkspaceCommand::Diff {
            workspace,
            to,
            from,
            json,
        } => {
            let ws = id(&workspace)?;
            let to = store.resolve(&ws, &to)?;
            let from = match from {
                Some(f) => Some(store.resolve(&ws, &f)?),
                None => store
                    .log(&ws)?
                    .iter()
                    .find(|s| s.id == to)
                    .and_then(|s| s.parent),
            };
            let changes = store.diff(&ws, from.as_ref(), &to)?;
            if json {
                println!("{}", serde_json::to_string(&changes)?);
            } else if changes.is_empty() {
                println!("no changes");
            } else {
                for c in &changes {
                    let mark = match c.kind {
                        ChangeKind::Added => "+",
                        ChangeKind::Modified => "~",
                        ChangeKind::Deleted => "-",
                    };
                    println!("{mark} {}", c.path);
                }
            }
        }
        WorkspaceCommand::Restore {
            workspace,
            snapshot,
            into,
        } => {
            let ws = id(&workspace)?;
            let snap = store.resolve(&ws, &snapshot)?;
            let live = into.unwrap_or_else(|| data_dir.join("workspaces").join(&workspace));
            std::fs::create_dir_all(&live)?;
            let restored = store.restore(&ws, &snap, &live)?;
            println!(
                "restored {} into {}: {} files written, {} kept, {} removed",
                short(&snap.to_string()),
                live.display(),
                restored.stats.files_written,
                restored.stats.files_kept,
                restored.stats.removed.len()
            );
        }
        WorkspaceCommand::Cat {
            workspace,
            snapshot,
            path,
        } => {
            let ws = id(&workspace)?;
            let snap = store.resolve(&ws, &snapshot)?;
            let bytes = store.read_file(&ws, &snap, &path)?;
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
