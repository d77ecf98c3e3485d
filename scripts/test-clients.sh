#!/usr/bin/env bash
# The client packages' tests (clients/python, clients/node) against the
# real server: installs what they need (a venv in clients/.venv with the
# Python package, pytest, Celery and standardwebhooks, the library a
# webhook receiver verifies signatures with; the Node package's dev dependencies,
# BullMQ among them), then runs both suites. Redis (REDIS_URL) is the
# queues' broker; the server runs on the embedded stores, and on Redis +
# PostgreSQL (DATABASE_URL) for the queue integrations.
#
#   scripts/test-clients.sh            # both
#   scripts/test-clients.sh python     # or node
set -euo pipefail
cd "$(dirname "$0")/.."

export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
which="${1:-all}"

say() { printf '[test-clients] %s\n' "$*" >&2; }

# The server under test: JOB_PROGRESS_BIN, else this checkout's debug build.
# The queue integrations run a server on Redis + PostgreSQL: a database of
# this run's own, so no earlier run's schema (or a migration of another
# branch) is in its way, and nothing is left behind.
admin_url="$DATABASE_URL"
db="jp_clients_$$"
psql "$admin_url" -qc "CREATE DATABASE $db" >/dev/null
trap 'psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
export DATABASE_URL="${admin_url%/*}/$db"

if [ -z "${JOB_PROGRESS_BIN:-}" ]; then
  cargo build --quiet --bin job-progress
  export JOB_PROGRESS_BIN="$PWD/target/debug/job-progress"
fi

if [ "$which" = all ] || [ "$which" = python ]; then
  if ! python3 -m venv --help >/dev/null 2>&1; then
    say "installing python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  [ -x clients/.venv/bin/python ] || python3 -m venv clients/.venv
  clients/.venv/bin/pip install --quiet --disable-pip-version-check 'pytest>=7,<9' 'celery[redis]>=5.3,<6' \
    'standardwebhooks==1.3.0'
  # Installed from its path as users do (not editable), afresh every run.
  clients/.venv/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./clients/python
  say "python: pytest"
  (cd clients/python && ../.venv/bin/python -m pytest -q -p no:cacheprovider tests)
fi

if [ "$which" = all ] || [ "$which" = node ]; then
  if ! command -v node >/dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    say "Node 20 or later is needed for clients/node"; exit 1
  fi
  (cd clients/node && npm install --silent --no-audit --no-fund)
  say "node: node --test"
  (cd clients/node && node --test --test-concurrency=2 test/*.test.js)
fi
