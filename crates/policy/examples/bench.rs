//! Decision latency: p50/p99 of `evaluate` over 100,000 decisions against
//! the read-only analyst policies plus approval and provenance holds.
//!
//! `cargo run -p bureau-policy --example bench --release [-- DECISIONS]`

use std::time::Instant;

use bureau_policy::{Decision, Policies, Request, evaluate, load};

const HOLDS: &str = r#"
@id("writer-writes")
permit (principal == Agent::"writer", action == Action::"sql.execute", resource == Database::"analytics");

@id("writes-need-approval") @approval @reason("writes need a human's approval")
forbid (principal, action == Action::"sql.execute", resource) unless { context.approved };

@id("untrusted-needs-approval") @approval @reason("an argument came from tool output")
forbid (principal, action, resource) when { context.args_from_tool_output } unless { context.approved };
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/readonly-analyst/policies"
    );
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "cedar") {
            sources.push((
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                std::fs::read_to_string(&path)?,
            ));
        }
    }
    sources.push(("holds.cedar".to_owned(), HOLDS.to_owned()));
    let t = Instant::now();
    let policies = Policies::from_sources(sources)?;
    println!("load (parse, validate, examples): {:?}", t.elapsed());
    let _ = load(dir.as_ref())?;

    let requests: Vec<(&str, Request)> = [
        ("allow", r#"{"agent": "analyst", "user": "alice", "tool": "sql.query", "resource": {"database": "analytics"}, "args": {"statement_class": "read"}, "now": "2026-11-01T12:00:00Z"}"#),
        ("deny (forbid)", r#"{"agent": "analyst", "tool": "sql.query", "resource": {"database": "analytics"}, "args": {"statement_class": "write"}}"#),
        ("deny (default)", r#"{"agent": "analyst", "tool": "github.create_issue"}"#),
        ("approval (re-check)", r#"{"agent": "writer", "tool": "sql.execute", "resource": {"database": "analytics"}, "args": {"statement_class": "write"}}"#),
        ("approval (provenance)", r#"{"agent": "analyst", "tool": "sql.query", "resource": {"database": "analytics"}, "args": {"statement_class": "read"}, "untrusted_args": ["sql"]}"#),
    ]
    .into_iter()
    .map(|(name, json)| Request::from_json(json).map(|r| (name, r)))
    .collect::<Result<_, _>>()?;

    println!("{n} decisions per kind, one at a time:");
    for (name, request) in &requests {
        let mut samples = Vec::with_capacity(n);
        let mut last = Decision::Allow;
        for _ in 0..n {
            let t = Instant::now();
            last = std::hint::black_box(evaluate(&policies, std::hint::black_box(request)));
            samples.push(t.elapsed().as_nanos());
        }
        samples.sort_unstable();
        let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
        let outcome = match last {
            Decision::Allow => "allow",
            Decision::Deny { .. } => "deny",
            Decision::RequireApproval { .. } => "require_approval",
        };
        println!(
            "  {name:<24} -> {outcome:<16} p50 {:>6.1} µs  p99 {:>6.1} µs  max {:>7.1} µs",
            pct(0.50),
            pct(0.99),
            pct(1.0)
        );
    }
    Ok(())
}
