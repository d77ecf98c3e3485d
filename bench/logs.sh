#!/usr/bin/env bash
# Log lines per second one instance accepts: wrk POSTs batches of 100
# lines (each about 80 bytes of message) to /api/v1/jobs/<id>/logs, round
# robin over 100 declared jobs, on the embedded stores and on Redis +
# PostgreSQL. Prints a table: lines/s taken (2xx answers x 100), requests
# answered otherwise, the server's CPU. See BENCHMARKS.md, "Logs".
#
#   bench/logs.sh [seconds]      (default 20 s per store)
#
# Needs wrk and a built server (JP_BIN, default target/release/job-progress;
# `cargo build --release` first). Uses its own database `jplogs` on
# BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432), removed at
# exit, and the Redis at REDIS_URL (default the local one) under its own
# key prefix.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-20}
BIN=${JP_BIN:-target/release/job-progress}
PORT=${LOGS_PORT:-18091}
PG=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
REDIS=${REDIS_URL:-redis://127.0.0.1:6379}
DB=jplogs
JOBS=100
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
"$BIN" token new --scope write --name bench 2>/dev/null > "$WORK/token"
TOKEN=$(sed -n 1p "$WORK/token")
sed -n 2p "$WORK/token" > "$WORK/tokens"

cat > "$WORK/logs.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
local headers, body
local k = 0
function init(args)
  headers = { ["Authorization"] = "Bearer " .. args[1], ["Content-Type"] = "application/json" }
  local lines = {}
  for i = 1, 100 do
    lines[i] = '{"level":"info","message":"chunk ' .. i .. ' sent: 500 targets, 3 failed, 1.2 s, rate limit 80% used"}'
  end
  body = '{"lines":[' .. table.concat(lines, ',') .. ']}'
  ok, other = 0, 0
end
function request()
  k = k + 1
  return wrk.format("POST", "/api/v1/jobs/logs-" .. (k % 100) .. "/logs", headers, body)
end
function response(status)
  if status >= 200 and status < 300 then ok = ok + 1 else other = other + 1 end
end
function done(summary)
  local taken, refused = 0, 0
  for _, thread in ipairs(threads) do
    taken = taken + thread:get("ok"); refused = refused + thread:get("other")
  end
  io.write("taken ", taken, "\nother ", refused, "\n")
end
LUA

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

printf '| stores | log lines/s taken | other answers | server CPU (cores) |\n|---|---|---|---|\n'
for stores in embedded redis-pg; do
  if [[ $stores == embedded ]]; then
    env -u REDIS_URL -u DATABASE_URL DATA_DIR="$WORK/data" TOKENS_FILE="$WORK/tokens" \
      RATE_LIMIT_PER_SECOND=0 LISTEN_ADDR="127.0.0.1:$PORT" RUST_LOG=warn \
      "$BIN" serve >"$WORK/server-$stores.log" 2>&1 &
  else
    REDIS_URL=$REDIS DATABASE_URL="$PG/$DB" KEY_PREFIX="logs-$$:" TOKENS_FILE="$WORK/tokens" \
      RATE_LIMIT_PER_SECOND=0 LISTEN_ADDR="127.0.0.1:$PORT" RUST_LOG=warn \
      "$BIN" serve >"$WORK/server-$stores.log" 2>&1 &
  fi
  SERVER=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  for j in $(seq 0 $((JOBS - 1))); do
    curl -fsS -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      -d '{"total":1000}' "http://127.0.0.1:$PORT/api/v1/jobs/logs-$j" >/dev/null
  done
  before=$(ticks "$SERVER")
  wrk -t1 -c32 -d"${SECS}s" -s "$WORK/logs.lua" "http://127.0.0.1:$PORT" -- "$TOKEN" >"$WORK/wrk-$stores.txt"
  after=$(ticks "$SERVER")
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
  taken=$(awk '/^taken/ {print $2}' "$WORK/wrk-$stores.txt")
  other=$(awk '/^other/ {print $2}' "$WORK/wrk-$stores.txt")
  hz=$(getconf CLK_TCK)
  printf '| %s | %s | %s | %s |\n' "$stores" "$(( taken * 100 / SECS ))" "$other" \
    "$(awk -v t=$((after - before)) -v hz="$hz" -v s="$SECS" 'BEGIN { printf "%.2f", t / hz / s }')"
done
