//! ARCHITECTURE.md's code map is a claim about the dependency graph; this
//! test checks the claim against `cargo metadata`, so data keeps flowing
//! one way (e.g. the orchestrator never depends on the gateway or tools).

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use bureau_test_support::deps::repo_root;
use serde_json::Value;

/// `crate → Bureau crates it may depend on`, from the table in ARCHITECTURE.md.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(repo_root().join("ARCHITECTURE.md")).unwrap();
    let all: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(name, _)| name.to_owned()))
        .collect();
    let mut map = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let name = cells[0].trim_matches('`').to_owned();
        let deps_cell = cells.last().copied().unwrap_or("");
        let deps: BTreeSet<String> = if deps_cell == "all" {
            all.iter()
                .filter(|c| *c != &name && *c != "test-support")
                .cloned()
                .collect()
        } else {
            deps_cell
                .split(',')
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty() && d != "—")
                .collect()
        };
        map.insert(name, deps);
    }
    map
}

/// `crate → Bureau crates it depends on` (normal dependencies), from cargo.
fn actual() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut map = BTreeMap::new();
    for pkg in meta["packages"].as_array().unwrap() {
        let name = pkg["name"]
            .as_str()
            .unwrap()
            .trim_start_matches("bureau-")
            .to_owned();
        let deps: BTreeSet<String> = pkg["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str())
            .filter_map(|n| n.strip_prefix("bureau-"))
            .map(str::to_owned)
            .collect();
        map.insert(name, deps);
    }
    map
}

#[test]
fn the_code_map_matches_the_dependency_graph() {
    let documented = documented();
    let actual = actual();
    assert_eq!(
        documented.keys().collect::<Vec<_>>(),
        actual.keys().collect::<Vec<_>>(),
        "every crate is in ARCHITECTURE.md's code map and vice versa"
    );
    for (name, deps) in &actual {
        assert_eq!(
            &documented[name], deps,
            "ARCHITECTURE.md's dependencies of `{name}`"
        );
    }
}

#[test]
fn the_orchestrator_reaches_tools_only_through_mcp() {
    let deps = &actual()["orchestrator"];
    for forbidden in ["gateway", "tools", "policy", "sandbox"] {
        assert!(
            !deps.contains(forbidden),
            "orchestrator must not depend on {forbidden}"
        );
    }
}
