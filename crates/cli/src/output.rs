//! What the CLI prints: run events as they happen, summaries, errors.

use std::io::Write;

use bureau_protocol::{RunEvent, RunSummary, ToolOutcome};

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// An error chain as one line: `outer: inner: cause`.
pub fn error_sentence(e: &anyhow::Error) -> String {
    let parts: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    let mut out: Vec<String> = Vec::new();
    for p in parts {
        if !out.iter().any(|o| o.contains(&p)) {
            out.push(p);
        }
    }
    out.join(": ")
}

fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        let cut: String = flat.chars().take(max).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

/// Prints a run's events for a person, one or two lines each, to stdout.
pub fn print_event(event: &RunEvent) {
    let mut out = std::io::stdout().lock();
    let _ = match event {
        RunEvent::RunStarted {
            run_id,
            agent,
            model,
            task,
        } => writeln!(
            out,
            "▶ run {run_id}\n  agent {agent} · model {model}{}\n  task: {}",
            if model.starts_with("scripted:") {
                " (scripted, offline)"
            } else {
                ""
            },
            one_line(task, 200)
        ),
        RunEvent::ModelCalled {
            turn,
            usage,
            text,
            tool_calls,
            final_answer_call,
        } => {
            let mut line = format!(
                "● turn {turn}: model{} ({} in / {} out tokens)",
                if *final_answer_call {
                    " asked for a final answer"
                } else {
                    ""
                },
                usage.input_tokens,
                usage.output_tokens
            );
            if let Some(t) = text.as_deref().filter(|t| !t.trim().is_empty()) {
                line.push_str(&format!("\n  says: {}", one_line(t, 300)));
            }
            for c in tool_calls {
                line.push_str(&format!(
                    "\n  → {}({})",
                    c.name,
                    one_line(&c.arguments.to_string(), 160)
                ));
            }
            writeln!(out, "{line}")
        }
        RunEvent::ToolRetrying {
            name,
            attempt,
            delay_ms,
            error,
            ..
        } => {
            writeln!(
                out,
                "  ↻ {name} attempt {attempt} failed ({}), retrying in {delay_ms} ms",
                one_line(error, 160)
            )
        }
        RunEvent::ToolFinished {
            name,
            outcome,
            preview,
            duration_ms,
            ..
        } => {
            let mark = match outcome {
                ToolOutcome::Ok => "✓",
                ToolOutcome::ToolError => "✗ tool error",
                ToolOutcome::Failed => "✗ failed",
                ToolOutcome::CircuitOpen => "⏸ circuit open",
                ToolOutcome::ApprovalRequired => "⏸ needs approval",
            };
            writeln!(
                out,
                "  {mark} {name} ({duration_ms} ms): {}",
                one_line(preview, 200)
            )
        }
        RunEvent::RunFinished {
            status,
            reason,
            answer,
            ..
        } => {
            let mut line = format!("■ {status}: {reason}");
            if let Some(a) = answer {
                line.push_str(&format!("\n  answer: {}", a.trim()));
            }
            writeln!(out, "{line}")
        }
    };
}

/// The stable `--json` shape of a run: exactly the fields of [`RunSummary`].
pub fn print_summary_json(summary: &RunSummary) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(summary)?);
    Ok(())
}
