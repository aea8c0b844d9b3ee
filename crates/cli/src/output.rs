//! What the CLI prints: run events as they happen, summaries, errors.

use std::io::Write;

use bureau_protocol::{RunEvent, RunSummary, ToolOutcome};

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings). Spans go
/// to the data dir's trace store (`traces.db`) when `data_dir` is given
/// (unless `BUREAU_TRACES=off`), and over OTLP when `[telemetry]
/// otlp_endpoint` or `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` is set
/// (`OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`, the default, or `grpc`).
/// Call inside the runtime (the gRPC exporter needs it); drop the guard
/// before the runtime.
pub fn init_telemetry(
    data_dir: Option<std::path::PathBuf>,
    config: Option<&bureau_config::Config>,
) -> Option<bureau_telemetry::TelemetryGuard> {
    use crate::app::env_var;
    let log_filter = env_var("RUST_LOG").unwrap_or_else(|| "warn".into());
    let endpoint = env_var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| env_var("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .or_else(|| config.and_then(|c| c.telemetry.otlp_endpoint.clone()));
    let protocol = env_var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| env_var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .map(|p| bureau_telemetry::OtlpProtocol::parse(&p))
        .transpose();
    let protocol = match protocol {
        Ok(p) => p.unwrap_or(bureau_telemetry::OtlpProtocol::HttpProtobuf),
        Err(e) => {
            eprintln!("warning: {e}; spans are not exported over OTLP");
            return init_logs_only(&log_filter);
        }
    };
    let data_dir = data_dir.filter(|_| env_var("BUREAU_TRACES").as_deref() != Some("off"));
    let config = bureau_telemetry::TelemetryConfig {
        service_name: "bureau".into(),
        log_filter: log_filter.clone(),
        data_dir,
        otlp: endpoint.map(|endpoint| bureau_telemetry::OtlpConfig { endpoint, protocol }),
    };
    match bureau_telemetry::init(&config) {
        Ok(guard) => Some(guard),
        Err(e) => {
            eprintln!("warning: tracing is off: {e}");
            init_logs_only(&log_filter)
        }
    }
}

fn init_logs_only(filter: &str) -> Option<bureau_telemetry::TelemetryGuard> {
    let config = bureau_telemetry::TelemetryConfig {
        service_name: "bureau".into(),
        log_filter: filter.to_owned(),
        data_dir: None,
        otlp: None,
    };
    bureau_telemetry::init(&config).ok()
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
