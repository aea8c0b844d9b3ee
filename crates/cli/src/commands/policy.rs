//! `bureau policy check`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bureau_protocol::Decision;
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Explain the decision the policies in DIR make for one request.
    Check {
        /// A folder of `*.cedar` policy files (their examples are checked as they load).
        #[arg(long, value_name = "DIR")]
        policy: PathBuf,
        /// The request as JSON text, or @FILE to read it from a file.
        #[arg(long, value_name = "JSON")]
        request: String,
        #[arg(long)]
        json: bool,
    },
}

/// Exit codes: 0 allow, 3 deny or approval required (printed either way).
pub fn execute(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Check {
            policy,
            request,
            json,
        } => {
            let policies = bureau_policy::load(&policy)?;
            let text = match request.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read the request file {file}"))?,
                None => request,
            };
            let explanation = bureau_policy::explain_json(&policies, &text)?;
            if json {
                println!(
                    "{}",
                    json!({
                        "decision": explanation.decision,
                        "principal": explanation.principal,
                        "action": explanation.action,
                        "resource": explanation.resource,
                        "steps": explanation.steps,
                    })
                );
            } else {
                println!("{explanation}");
            }
            Ok(match explanation.decision {
                Decision::Allow => ExitCode::SUCCESS,
                Decision::Deny { .. } | Decision::RequireApproval { .. } => {
                    ExitCode::from(crate::EXIT_RUN_NOT_COMPLETED)
                }
            })
        }
    }
}
