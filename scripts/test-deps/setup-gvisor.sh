#!/usr/bin/env bash
# Installs gVisor's `runsc` for the bureau-sandbox-gvisor tests (Debian's
# package). Idempotent: does nothing when runsc is already on the PATH.
# Usage: setup-gvisor.sh [DEPS_DIR]  (DEPS_DIR is unused; runsc is a system package)
set -euo pipefail
if command -v runsc >/dev/null 2>&1 || [ -x /usr/bin/runsc ] || [ -x /usr/sbin/runsc ]; then
  echo "setup-gvisor: runsc present"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq runsc >/dev/null
echo "setup-gvisor: installed $(runsc --version 2>/dev/null | head -n1)"
