#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the pinned test peers, then
# format check, clippy (warnings are errors) and every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is missing: install Rust from https://rustup.rs first" >&2; exit 1; }
./scripts/setup-test-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  # Doc tests first: nextest's summary line closes the output.
  cargo test --workspace --locked --doc --quiet
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
