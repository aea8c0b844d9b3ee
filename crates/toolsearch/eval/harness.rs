//! The retrieval evaluation, shared by `tests/eval.rs` (which asserts
//! floors) and `examples/eval.rs` (which prints the report and, on request,
//! the development split's misses for tuning). Held-out misses are never
//! printed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use bureau_protocol::ToolSpec;
use bureau_toolsearch::{
    IndexOptions, OfferFindTools, TokenCounter, ToolSelection, find_tools_spec,
};
use serde::Deserialize;

pub const KS: [usize; 4] = [1, 3, 5, 10];

#[derive(Debug, Deserialize)]
pub struct Query {
    pub query: String,
    pub tool: String,
    pub split: String,
}

pub fn eval_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("eval")
}

/// Every `eval/catalog/*.json`, files in name order.
pub fn catalog() -> Result<Vec<ToolSpec>, Box<dyn std::error::Error>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(eval_dir().join("catalog"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut tools = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        let mut batch: Vec<ToolSpec> = serde_json::from_str(&text)?;
        tools.append(&mut batch);
    }
    Ok(tools)
}

pub fn queries() -> Result<Vec<Query>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(eval_dir().join("queries.jsonl"))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        out.push(serde_json::from_str(line)?);
    }
    Ok(out)
}

/// Recall@k per `KS` for one split.
#[derive(Debug, Clone)]
pub struct SplitReport {
    pub split: String,
    pub queries: usize,
    pub recall: [f64; KS.len()],
    /// Dev-split misses at k = 5: (query, wanted, top 5). Empty for held-out.
    pub misses: Vec<(String, String, Vec<String>)>,
}

pub fn recall(selection: &ToolSelection, queries: &[Query], split: &str) -> SplitReport {
    let mut hits = [0usize; KS.len()];
    let mut misses = Vec::new();
    let selected: Vec<&Query> = queries.iter().filter(|q| q.split == split).collect();
    for q in &selected {
        let ranked: Vec<String> = selection
            .search(&q.query, 10)
            .into_iter()
            .map(|h| h.tool.name.clone())
            .collect();
        let rank = ranked.iter().position(|n| *n == q.tool);
        for (i, k) in KS.iter().enumerate() {
            if rank.is_some_and(|r| r < *k) {
                hits[i] += 1;
            }
        }
        if split == "dev" && rank.is_none_or(|r| r >= 5) {
            misses.push((
                q.query.clone(),
                q.tool.clone(),
                ranked.into_iter().take(5).collect(),
            ));
        }
    }
    let n = selected.len().max(1) as f64;
    SplitReport {
        split: split.to_owned(),
        queries: selected.len(),
        recall: hits.map(|h| h as f64 / n),
        misses,
    }
}

/// Mean tool-schema tokens per call.
#[derive(Debug, Clone)]
pub struct TokenReport {
    pub counter: String,
    pub catalog_tools: usize,
    pub whole_catalog: usize,
    /// `(k, mean tokens of top-k + find_tools)`.
    pub selected: Vec<(usize, f64)>,
}

pub fn tokens(
    tools: &[ToolSpec],
    options: IndexOptions,
    queries: &[Query],
    counter: &TokenCounter,
) -> TokenReport {
    let whole_catalog = counter.count_tools(tools);
    let mut selected = Vec::new();
    for k in [3, 5, 10] {
        let selection =
            ToolSelection::with_options(tools, options, Vec::new(), k, OfferFindTools::Yes);
        let total: usize = queries
            .iter()
            .map(|q| counter.count_tools(&selection.select(&q.query)))
            .sum();
        selected.push((k, total as f64 / queries.len().max(1) as f64));
    }
    TokenReport {
        counter: counter.label(),
        catalog_tools: tools.len(),
        whole_catalog,
        selected,
    }
}

/// Mean microseconds per `search(query, 10)` over all queries (several passes).
pub fn latency_us(selection: &ToolSelection, queries: &[Query]) -> f64 {
    let passes = 20;
    let start = Instant::now();
    let mut found = 0usize;
    for _ in 0..passes {
        for q in queries {
            found += selection.search(&q.query, 10).len();
        }
    }
    let elapsed = start.elapsed().as_secs_f64() * 1e6;
    std::hint::black_box(found);
    elapsed / (passes * queries.len().max(1)) as f64
}

pub fn render(splits: &[SplitReport], tokens: &TokenReport, latency: f64) -> String {
    let mut out = String::new();
    out.push_str("| split | queries | recall@1 | recall@3 | recall@5 | recall@10 |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for s in splits {
        out.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
            s.split, s.queries, s.recall[0], s.recall[1], s.recall[2], s.recall[3]
        ));
    }
    out.push_str(&format!(
        "\ntool-schema tokens per call ({}, OpenAI wire JSON), catalog of {} tools:\n",
        tokens.counter, tokens.catalog_tools
    ));
    out.push_str("| offered | mean tokens | saved vs whole catalog |\n|---|---|---|\n");
    out.push_str(&format!(
        "| whole catalog | {} | — |\n",
        tokens.whole_catalog
    ));
    for (k, mean) in &tokens.selected {
        out.push_str(&format!(
            "| top-{k} + {} | {:.0} | {:.1} % |\n",
            find_tools_spec().name,
            mean,
            saving(tokens.whole_catalog, *mean) * 100.0
        ));
    }
    out.push_str(&format!(
        "\nmean search latency: {latency:.1} µs per query\n"
    ));
    out
}

pub fn saving(whole: usize, mean: f64) -> f64 {
    1.0 - mean / whole.max(1) as f64
}
