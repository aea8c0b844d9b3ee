//! `bureau trace show|export`: a run's spans from the local trace store
//! (`traces.db` in the data dir), as a tree in the terminal or as OTLP JSON.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use bureau_protocol::RunId;
use bureau_telemetry::names::{
    BUREAU_COST_USD, BUREAU_POLICY_IDS, BUREAU_POLICY_OUTCOME, GEN_AI_RESPONSE_FINISH_REASONS,
    GEN_AI_USAGE_INPUT_TOKENS, GEN_AI_USAGE_OUTPUT_TOKENS,
};
use bureau_telemetry::{AttrValue, SpanStatus, StoredSpan, TraceStore};
use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};

use super::Context;
use crate::{Cli, Command, app};

#[derive(clap::Args, Debug)]
pub struct TraceArgs {
    #[command(subcommand)]
    command: TraceCommand,
}

#[derive(Subcommand, Debug)]
enum TraceCommand {
    /// The run as a tree of spans: durations, tokens, cost, status; failed steps marked ✗.
    Show {
        run: String,
        #[arg(long)]
        json: bool,
    },
    /// Write the run's spans in an exchange format.
    Export {
        run: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::OtlpJson)]
        format: ExportFormat,
        /// A file to write (default: stdout).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum ExportFormat {
    /// The OTLP/JSON encoding of an `ExportTraceServiceRequest`.
    OtlpJson,
}

/// Sets up logs and tracing for this invocation (see
/// [`crate::output::init_telemetry`]). Commands that run agents or serve
/// tools keep spans in their data dir's trace store.
pub fn init_telemetry(cli: &Cli) -> Option<bureau_telemetry::TelemetryGuard> {
    let traced = matches!(
        cli.command,
        Command::Demo(_)
            | Command::Run(_)
            | Command::Resume(_)
            | Command::Mcp { .. }
            | Command::Bench { .. }
    );
    let data_dir = traced
        .then(|| app::data_dir(cli.data_dir.as_deref()).ok())
        .flatten();
    let config = app::load_config(cli.config.as_deref()).ok().map(|(c, _)| c);
    crate::output::init_telemetry(data_dir, config.as_ref())
}

pub fn execute(ctx: &Context, args: TraceArgs) -> anyhow::Result<ExitCode> {
    let data_dir = app::data_dir(ctx.data_dir.as_deref())?;
    let (run, show_json, export) = match args.command {
        TraceCommand::Show { run, json } => (run, json, None),
        TraceCommand::Export {
            run,
            format,
            output,
        } => (run, false, Some((format, output))),
    };
    let run_id: RunId = run.parse()?;
    let path = data_dir.join(bureau_telemetry::store::TRACES_DB);
    if !path.exists() {
        bail!(
            "there is no trace store in {}: spans are kept there by `bureau run`/`resume` (unless BUREAU_TRACES=off)",
            data_dir.display()
        );
    }
    let store = TraceStore::open(&path)?;
    let spans = store.spans_of_run(&run_id.to_string())?;
    if spans.is_empty() {
        bail!(
            "no spans for run {run_id} in {}: `bureau runs list` shows the runs",
            path.display()
        );
    }
    let mut out = std::io::stdout().lock();
    match export {
        Some((ExportFormat::OtlpJson, output)) => {
            let doc = bureau_telemetry::otlp_json::encode("bureau", &spans);
            let text = serde_json::to_string_pretty(&doc)?;
            match output {
                Some(file) => std::fs::write(&file, text + "\n")
                    .with_context(|| format!("cannot write {}", file.display()))?,
                None => writeln!(out, "{text}")?,
            }
        }
        None if show_json => {
            let traces: Vec<&str> = dedup(spans.iter().map(|s| s.trace_id.as_str()));
            let doc = json!({
                "run_id": run_id.to_string(),
                "trace_ids": traces,
                "spans": spans.len(),
                "roots": forest(&spans).iter().map(|n| node_json(&spans, n)).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        None => {
            for trace in dedup(spans.iter().map(|s| s.trace_id.as_str())) {
                writeln!(out, "trace {trace} · run {run_id}")?;
            }
            for root in forest(&spans) {
                print_node(&mut out, &spans, &root, "", "")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn dedup<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    items.filter(|i| seen.insert(*i)).collect()
}

/// A span and its children, by index into the span list.
struct Node {
    index: usize,
    children: Vec<Node>,
}

/// Roots are spans whose parent is not stored (a remote caller, or the
/// run's virtual parent); children keep start-time order.
fn forest(spans: &[StoredSpan]) -> Vec<Node> {
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut by_parent: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (i, s) in spans.iter().enumerate() {
        let parent = s.parent_span_id.as_deref().filter(|p| ids.contains(p));
        by_parent.entry(parent).or_default().push(i);
    }
    fn build(
        i: usize,
        spans: &[StoredSpan],
        by_parent: &BTreeMap<Option<&str>, Vec<usize>>,
        depth: usize,
    ) -> Node {
        let children = if depth > 64 {
            Vec::new()
        } else {
            by_parent
                .get(&Some(spans[i].span_id.as_str()))
                .map(|c| {
                    c.iter()
                        .map(|&j| build(j, spans, by_parent, depth + 1))
                        .collect()
                })
                .unwrap_or_default()
        };
        Node { index: i, children }
    }
    by_parent
        .get(&None)
        .map(|roots| {
            roots
                .iter()
                .map(|&i| build(i, spans, &by_parent, 0))
                .collect()
        })
        .unwrap_or_default()
}

fn attr_json(v: &AttrValue) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn node_json(spans: &[StoredSpan], node: &Node) -> Value {
    let s = &spans[node.index];
    json!({
        "name": s.name,
        "trace_id": s.trace_id,
        "span_id": s.span_id,
        "parent_span_id": s.parent_span_id,
        "kind": s.kind,
        "start_unix_nano": s.start_unix_nano,
        "duration_ms": s.duration_ns() as f64 / 1e6,
        "status": s.status,
        "status_message": s.status_message,
        "attributes": s.attributes.iter().map(|(k, v)| (k.clone(), attr_json(v))).collect::<serde_json::Map<_, _>>(),
        "events": s.events.iter().map(|e| json!({"name": e.name, "attributes": e.attributes.iter().map(|(k, v)| (k.clone(), attr_json(v))).collect::<serde_json::Map<_, _>>()})).collect::<Vec<_>>(),
        "children": node.children.iter().map(|c| node_json(spans, c)).collect::<Vec<_>>(),
    })
}

/// One line per span: name, duration, then what matters for it.
fn describe(s: &StoredSpan) -> String {
    let mut parts = vec![s.name.clone(), format_duration(s.duration_ns())];
    let tokens = (
        s.attr(GEN_AI_USAGE_INPUT_TOKENS)
            .and_then(AttrValue::as_i64),
        s.attr(GEN_AI_USAGE_OUTPUT_TOKENS)
            .and_then(AttrValue::as_i64),
    );
    if let (Some(i), Some(o)) = tokens {
        parts.push(format!("{i} in / {o} out tokens"));
    }
    if let Some(AttrValue::Double(c)) = s.attr(BUREAU_COST_USD) {
        parts.push(format!("${c:.4}"));
    }
    if let Some(AttrValue::Array(r)) = s.attr(GEN_AI_RESPONSE_FINISH_REASONS) {
        let r: Vec<&str> = r.iter().filter_map(AttrValue::as_str).collect();
        parts.push(format!("finish {}", r.join(",")));
    }
    if let Some(outcome) = s.attr(BUREAU_POLICY_OUTCOME).and_then(AttrValue::as_str) {
        let ids = match s.attr(BUREAU_POLICY_IDS) {
            Some(AttrValue::Array(ids)) if !ids.is_empty() => {
                let ids: Vec<&str> = ids.iter().filter_map(AttrValue::as_str).collect();
                format!(" ({})", ids.join(", "))
            }
            _ => String::new(),
        };
        parts.push(format!("{outcome}{ids}"));
    }
    for key in [
        "bureau.approval.outcome",
        "bureau.run.status",
        "bureau.tool.outcome",
    ] {
        if let Some(v) = s.attr(key).and_then(AttrValue::as_str) {
            parts.push(v.to_owned());
        }
    }
    match s.status {
        SpanStatus::Error => parts.push(format!(
            "✗ ERROR{}",
            s.status_message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        )),
        SpanStatus::Ok | SpanStatus::Unset => {}
    }
    parts.join("  ")
}

fn format_duration(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.2} ms")
    }
}

fn print_node(
    out: &mut impl Write,
    spans: &[StoredSpan],
    node: &Node,
    lead: &str,
    branch: &str,
) -> std::io::Result<()> {
    writeln!(out, "{lead}{branch}{}", describe(&spans[node.index]))?;
    let next_lead = match branch {
        "├─ " => format!("{lead}│  "),
        "└─ " => format!("{lead}   "),
        _ => lead.to_owned(),
    };
    for (i, child) in node.children.iter().enumerate() {
        let last = i + 1 == node.children.len();
        print_node(
            out,
            spans,
            child,
            &next_lead,
            if last { "└─ " } else { "├─ " },
        )?;
    }
    Ok(())
}
