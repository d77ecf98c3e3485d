#!/usr/bin/env bash
# The test command: makes sure Redis and PostgreSQL are there (starting or
# installing them), then runs the whole test suite against them.
#
#   scripts/test.sh            # everything
#   scripts/test.sh cache      # only tests whose name contains "cache"
set -euo pipefail
cd "$(dirname "$0")/.."

export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
# #[sqlx::test] creates a fresh database per test through this server.
export DATABASE_URL="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"

scripts/services.sh
cargo test --all-features "$@"
# The Python and Node client packages, with Celery and BullMQ, against the server.
scripts/test-clients.sh
scripts/check-image-context.sh
# The live API against its OpenAPI document.
scripts/schemathesis.sh
