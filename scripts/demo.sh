#!/usr/bin/env bash
# Builds bureau and runs the offline demo on the embedded defaults: a scripted
# agent writes sales.csv in one step and reads it back in a later one, every
# tool call going through MCP into Bureau's gateway. No network, no API key.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is missing: install Rust from https://rustup.rs first" >&2; exit 1; }
cargo build --quiet --locked -p bureau-cli
exec ./target/debug/bureau demo "$@"
