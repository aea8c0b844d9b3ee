//! The retrieval evaluation as a regression test: recall@k on both splits
//! of `eval/queries.jsonl` and the tool-schema tokens saved must stay at or
//! above floors set a little under what was measured. Run with
//! `--nocapture` to see the table.

#[path = "../eval/harness.rs"]
mod harness;

use std::collections::HashSet;

use bureau_toolsearch::{Encoding, IndexOptions, OfferFindTools, TokenCounter, ToolSelection};

/// Floors for recall@1/3/5/10. Measured (default options): dev
/// 0.532/0.728/0.838/0.890, held-out 0.386/0.702/0.842/0.895.
const DEV_FLOOR: [f64; 4] = [0.50, 0.70, 0.81, 0.86];
const HELDOUT_FLOOR: [f64; 4] = [0.35, 0.66, 0.80, 0.86];
/// Top-5 + find_tools saves 95.9 % of the whole catalog's schema tokens.
const TOP5_SAVING_FLOOR: f64 = 0.94;

#[test]
fn the_eval_data_is_well_formed() {
    let tools = harness::catalog().unwrap();
    let names: HashSet<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), tools.len(), "tool names must be unique");
    let reference = ["everything.", "filesystem.", "time."];
    let written = tools
        .iter()
        .filter(|t| !reference.iter().any(|p| t.name.starts_with(p)))
        .count();
    assert!(written >= 100, "{written} written tools");
    assert!(
        tools.len() - written >= 25,
        "the reference servers' tools are missing"
    );
    for t in &tools {
        assert!(t.name.contains('.'), "{} is not qualified", t.name);
        assert!(!t.description.is_empty(), "{} has no description", t.name);
        assert_eq!(t.input_schema["type"], "object", "{}", t.name);
    }
    let queries = harness::queries().unwrap();
    assert!(queries.len() >= 200, "{} queries", queries.len());
    let heldout = queries.iter().filter(|q| q.split == "heldout").count();
    assert!(heldout >= 50, "{heldout} held-out queries");
    for q in &queries {
        assert!(names.contains(q.tool.as_str()), "unknown label {}", q.tool);
        assert!(q.split == "dev" || q.split == "heldout", "{}", q.split);
    }
}

#[test]
fn recall_and_token_savings_stay_above_their_floors() {
    let tools = harness::catalog().unwrap();
    let queries = harness::queries().unwrap();
    let options = IndexOptions::default();
    let selection =
        ToolSelection::with_options(&tools, options, Vec::new(), 5, OfferFindTools::Yes);
    let dev = harness::recall(&selection, &queries, "dev");
    let heldout = harness::recall(&selection, &queries, "heldout");
    let counter = TokenCounter::openai(Encoding::O200kBase).unwrap();
    let tokens = harness::tokens(&tools, options, &queries, &counter);
    let latency = harness::latency_us(&selection, &queries);
    println!(
        "{}",
        harness::render(&[dev.clone(), heldout.clone()], &tokens, latency)
    );

    for (report, floor) in [(&dev, DEV_FLOOR), (&heldout, HELDOUT_FLOOR)] {
        for ((k, got), min) in harness::KS.iter().zip(report.recall).zip(floor) {
            assert!(
                got >= min,
                "{} recall@{k} fell to {got:.3} (floor {min})",
                report.split
            );
        }
    }
    assert!(
        heldout.misses.is_empty(),
        "held-out misses are never collected"
    );
    let (_, top5) = tokens
        .selected
        .iter()
        .find(|(k, _)| *k == 5)
        .copied()
        .unwrap();
    let saving = harness::saving(tokens.whole_catalog, top5);
    assert!(
        saving >= TOP5_SAVING_FLOOR,
        "top-5 saves only {:.1} %",
        saving * 100.0
    );
    // Debug builds are ~10× slower than release (~4 µs); the budget is sub-ms.
    assert!(latency < 1000.0, "search takes {latency:.0} µs");
}

#[test]
fn expansion_and_stemming_each_earn_their_place() {
    let tools = harness::catalog().unwrap();
    let queries = harness::queries().unwrap();
    let r5 = |options: IndexOptions| {
        let s = ToolSelection::with_options(&tools, options, Vec::new(), 5, OfferFindTools::No);
        harness::recall(&s, &queries, "dev").recall[2]
    };
    let default = IndexOptions::default();
    let plain = r5(IndexOptions {
        expansion_weight: 0.0,
        ..default
    });
    let unstemmed = r5(IndexOptions {
        stemming: bureau_toolsearch::Stemming::None,
        ..default
    });
    let full = r5(default);
    println!("dev recall@5: full {full:.3}, no expansion {plain:.3}, no stemming {unstemmed:.3}");
    assert!(full > plain, "expansion no longer helps: {full} vs {plain}");
    assert!(
        full >= unstemmed,
        "stemming now hurts: {full} vs {unstemmed}"
    );
}
