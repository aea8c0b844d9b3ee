#!/usr/bin/env bash
# Installs the real peers the test suite talks to (pinned): a Python venv with
# fakellm and the official MCP Python SDK, and the official npm MCP reference
# servers. Idempotent: a stamp of the pin files skips work already done.
#
# Location: $BUREAU_TEST_DEPS, default <repo>/.bureau-test/deps. Tests find
# the same place through the same variable or default.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
deps=${BUREAU_TEST_DEPS:-$repo/.bureau-test/deps}
pins="$repo/scripts/test-deps"
mkdir -p "$deps"
stamp=$(cat "$pins/requirements.txt" "$pins/package.json" "$pins"/setup-*.sh 2>/dev/null | sha256sum | cut -c1-16)
if [ -f "$deps/stamp" ] && [ "$(cat "$deps/stamp")" = "$stamp" ]; then
  echo "test deps: up to date in $deps"
  exit 0
fi
echo "test deps: installing into $deps"
python3 -m venv "$deps/venv"
"$deps/venv/bin/pip" install --quiet --disable-pip-version-check -r "$pins/requirements.txt"
mkdir -p "$deps/node"
cp "$pins/package.json" "$deps/node/package.json"
(cd "$deps/node" && npm install --silent --no-audit --no-fund --loglevel=error >/dev/null)
# Per-subsystem setup (system packages, interpreters): each script takes
# the deps folder and must be idempotent.
for step in "$pins"/setup-*.sh; do
  [ -e "$step" ] || continue
  echo "test deps: $(basename "$step")"
  bash "$step" "$deps"
done
echo "$stamp" > "$deps/stamp"
echo "test deps: installed"
