//! Prints the retrieval evaluation: `cargo run -p bureau-toolsearch
//! --example eval --release`. `-- --misses` also lists the development
//! split's misses at k = 5 (never the held-out split's), for tuning.
//! `-- --no-stem` evaluates without stemming, `-- --no-expand` without
//! query expansion. `-- --grid` scores a grid of options on the
//! development split only.

#[path = "../eval/harness.rs"]
mod harness;

use bureau_toolsearch::{
    Encoding, IndexOptions, OfferFindTools, Stemming, TokenCounter, ToolSelection,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mut options = IndexOptions::default();
    if args.iter().any(|a| a == "--no-stem") {
        options.stemming = Stemming::None;
    }
    if args.iter().any(|a| a == "--no-expand") {
        options.expansion_weight = 0.0;
    }
    let tools = harness::catalog()?;
    let queries = harness::queries()?;
    if args.iter().any(|a| a == "--grid") {
        grid(&tools, &queries, options);
        return Ok(());
    }
    let selection =
        ToolSelection::with_options(&tools, options, Vec::new(), 5, OfferFindTools::Yes);
    let splits = [
        harness::recall(&selection, &queries, "dev"),
        harness::recall(&selection, &queries, "heldout"),
    ];
    let counter = TokenCounter::openai(Encoding::O200kBase)?;
    let tokens = harness::tokens(&tools, options, &queries, &counter);
    let latency = harness::latency_us(&selection, &queries);
    println!("options: {options:?}\n");
    print!("{}", harness::render(&splits, &tokens, latency));
    if args.iter().any(|a| a == "--misses") {
        println!("\ndev misses at k = 5:");
        for (query, wanted, top) in &splits[0].misses {
            println!("- {query:?}\n  wanted {wanted}, got {top:?}");
        }
    }
    Ok(())
}

/// Development-split recall@5 (and @1) over a grid of ranking options.
fn grid(tools: &[bureau_protocol::ToolSpec], queries: &[harness::Query], base: IndexOptions) {
    let mut rows = Vec::new();
    for k1 in [0.9, 1.2, 1.6] {
        for b in [0.3, 0.5, 0.75] {
            for name_weight in [1.0, 2.0, 3.0, 4.0] {
                for params_weight in [0.25, 0.5, 1.0] {
                    for expansion_weight in [0.2, 0.3, 0.4, 0.6] {
                        let options = IndexOptions {
                            k1,
                            b,
                            name_weight,
                            params_weight,
                            expansion_weight,
                            ..base
                        };
                        let selection = ToolSelection::with_options(
                            tools,
                            options,
                            Vec::new(),
                            5,
                            OfferFindTools::No,
                        );
                        let dev = harness::recall(&selection, queries, "dev");
                        rows.push((dev.recall[2], dev.recall[0], format!("{options:?}")));
                    }
                }
            }
        }
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1)));
    for (r5, r1, options) in rows.iter().take(15) {
        println!("dev r@5 {r5:.3} r@1 {r1:.3} {options}");
    }
}
