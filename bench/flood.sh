#!/usr/bin/env bash
# A flood of random unknown job ids from one client: how many of its
# requests reach PostgreSQL (each unknown id misses the cache and Redis and
# is looked up in the archive), without the rate limit and with the
# default one. See BENCHMARKS.md, "Flood of unknown ids".
#
#   bench/flood.sh [seconds]      (default 10 s per run)
#
# Needs wrk and a built server (JP_BIN, default target/release/job-progress;
# `cargo build --release` first). Uses its own database `jpflood` on
# BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432), removed at exit,
# and the Redis at REDIS_URL (default the local one) under its own key prefix.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-10}
BIN=${JP_BIN:-target/release/job-progress}
PORT=${FLOOD_PORT:-18090}
PG=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
DB=jpflood
# Named, not left to the default: unset, the server keeps progress in-process.
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
WORK=$(mktemp -d)
SERVER=

cleanup() {
  [[ -n "$SERVER" ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

[[ -x "$BIN" ]] || { echo "no server at $BIN: cargo build --release first" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
PGOPTIONS="-c client_min_messages=warning" psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
psql "$PG/postgres" -qc "CREATE DATABASE $DB" >/dev/null

cat > "$WORK/flood.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init() limited = 0; math.randomseed(os.time()) end
function request()
  return wrk.format("GET", "/api/v1/jobs/flood-" .. math.random(1, 1000000000) .. "/progress")
end
function response(status) if status == 429 then limited = limited + 1 end end
function done()
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("limited") end
  io.write("limited ", total, "\n")
end
LUA

commits() {
  psql "$PG/postgres" -tAc "SELECT xact_commit FROM pg_stat_database WHERE datname = '$DB'"
}

printf '| rate limit | requests/s answered | of which 429 | PostgreSQL transactions/s |\n|---|---|---|---|\n'
for limit in 0 50; do
  RATE_LIMIT_PER_SECOND=$limit DATABASE_URL="$PG/$DB" KEY_PREFIX="flood-$$:" \
    LISTEN_ADDR="127.0.0.1:$PORT" RUST_LOG=warn LOG_FORMAT=json \
    "$BIN" serve >"$WORK/server-$limit.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  before=$(commits)
  wrk -t1 -c32 -d"${SECS}s" -s "$WORK/flood.lua" "http://127.0.0.1:$PORT" >"$WORK/wrk-$limit.txt"
  # pg_stat_database is updated by each backend at the end of a
  # transaction, up to a second late.
  sleep 1.5
  after=$(commits)
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk-$limit.txt")
  refused=$(awk '/^limited/ {print $2}' "$WORK/wrk-$limit.txt")
  name=$([[ $limit == 0 ]] && echo "off" || echo "$limit/s, burst 200 (default)")
  printf '| %s | %s | %s | %s |\n' "$name" "$rps" "${refused:-0} in ${SECS} s" \
    "$(( (after - before) / SECS ))"
done
