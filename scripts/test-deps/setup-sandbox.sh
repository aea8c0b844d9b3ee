#!/usr/bin/env bash
# Installs the Python packages the native sandbox tests import (numpy,
# pandas, matplotlib) into DEPS_DIR/sandbox-python, a folder the sandbox
# binds read-only and puts on PYTHONPATH. The sandbox's interpreter is
# Debian's /usr/bin/python3 (3.11); the wheels are fetched with any Python
# 3.11 that has pip (the pyenv one here) for the cp311 ABI.
# Idempotent: does nothing when the three packages already import.
# Usage: setup-sandbox.sh [DEPS_DIR]  (default <repo>/.bureau-test/deps)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
deps=${1:-$repo/.bureau-test/deps}
target="$deps/sandbox-python"
if [ ! -x /usr/bin/python3 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq python3 >/dev/null
fi
if PYTHONPATH="$target" /usr/bin/python3 -c 'import numpy, pandas, matplotlib' >/dev/null 2>&1; then
  echo "setup-sandbox: numpy, pandas, matplotlib present in $target"
  exit 0
fi
# A Python 3.11 with pip: prefer one on PATH, else Debian's with python3-pip.
pip_python=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 \
    && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null \
    && "$candidate" -m pip --version >/dev/null 2>&1; then
    pip_python=$(command -v "$candidate")
    break
  fi
done
if [ -z "$pip_python" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq python3-pip >/dev/null
  pip_python=/usr/bin/python3
fi
arch=$(uname -m)
mkdir -p "$target"
"$pip_python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
  --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
  --platform "manylinux2014_$arch" --platform "manylinux_2_17_$arch" --platform "manylinux_2_28_$arch" \
  --upgrade --target "$target" numpy pandas matplotlib
PYTHONPATH="$target" /usr/bin/python3 -c 'import numpy, pandas, matplotlib; print("setup-sandbox: numpy", numpy.__version__, "pandas", pandas.__version__, "matplotlib", matplotlib.__version__)'
