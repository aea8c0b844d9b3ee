#!/usr/bin/env bash
# Makes sure the PostgreSQL 15 server binaries (initdb, pg_ctl, postgres,
# psql) are installed for the SQL tools' tests, which start their own
# throwaway cluster (crates/test-support/src/postgres.rs). Never starts a
# server: Debian's package would create and start a "main" cluster, so that
# is switched off before installing. Idempotent.
# Usage: setup-sql.sh [DEPS_DIR]  (unused; kept for the common interface)
set -euo pipefail
bin=/usr/lib/postgresql/15/bin
if [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && [ -x "$bin/postgres" ] && [ -x "$bin/psql" ]; then
  echo "setup-sql: PostgreSQL 15 binaries present in $bin"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
mkdir -p /etc/postgresql-common
if [ ! -f /etc/postgresql-common/createcluster.conf ]; then
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
fi
apt-get update -qq
apt-get install -y -qq postgresql-15 postgresql-client-15 >/dev/null
id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
echo "setup-sql: installed PostgreSQL 15 into $bin"
