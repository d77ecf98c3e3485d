#!/usr/bin/env bash
# Checks the live API against openapi.yaml with schemathesis: a bounded
# number of generated requests per operation; no server errors, and every
# response (status, headers, body) as the document says. Part of
# scripts/test.sh; needs Redis and PostgreSQL (scripts/services.sh).
#
# Two runs: one with a fixed seed (the same requests every time) and one
# with a fresh random seed, printed, so a failure it finds can be replayed;
# then two shorter runs: one against a server with the default rate limit
# (the others turn it off), and one against a server requiring read
# tokens, with a write token, which also covers the write operations.
#
#   SCHEMATHESIS_EXAMPLES=200 scripts/schemathesis.sh   # a longer run
#   SCHEMATHESIS_SEED=1234 scripts/schemathesis.sh      # replay one seed (run once)
set -euo pipefail
cd "$(dirname "$0")/.."

export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
: "${DATABASE_URL:=postgres://postgres:postgres@127.0.0.1:5432/postgres}"
examples=${SCHEMATHESIS_EXAMPLES:-50}
fixed_seed=20261124
random_seed=$(python3 -c 'import random; print(random.randrange(1, 2**31))')
seeds=${SCHEMATHESIS_SEED:-"$fixed_seed $random_seed"}
version=4.32.5
venv=target/schemathesis-venv
say() { printf '[schemathesis] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! python3 -m venv --help >/dev/null 2>&1; then
  say "installing python3 and venv"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
fi
if [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $version" ]; then
  say "installing schemathesis $version into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi

cargo build -q --bin job-progress --example send_campaign

db=jp_schemathesis_$$
prefix="schemathesis-$$:"
server_url=${DATABASE_URL%/*}
tokens=$(mktemp)
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -f "$tokens"
  psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  redis-cli -u "$REDIS_URL" --scan --pattern "$prefix*" | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null || true
}
trap cleanup EXIT
psql "$DATABASE_URL" -qc "CREATE DATABASE $db" >/dev/null

# The generated requests come from one address far faster than any
# dashboard: without this they would mostly meet the rate limit (tested in
# tests/api/limits.rs) instead of the endpoints.
export DATABASE_URL="$server_url/$db" KEY_PREFIX="$prefix" RUST_LOG=error RATE_LIMIT_PER_SECOND=0
# Read tokens for end users are signed with this key; without one the
# endpoint answers 501 (a setting to change), which the checks count as a
# server error.
TOKEN_SIGNING_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export TOKEN_SIGNING_KEY
# Starts a server with the extra environment given, sets $port.
start_server() {
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  env "$@" target/debug/job-progress serve --listen-addr "127.0.0.1:$port" &
  servers+=($!)
  for _ in $(seq 1 100); do
    # python3 rather than curl: it is here already (schemathesis needs it).
    python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" \
      >/dev/null 2>&1 && break
    sleep 0.1
  done
}
start_server

# Data for the documented examples (openapi.yaml): a finished job carrying
# a schedule, so the happy paths are exercised, not only 404s.
target/debug/examples/send_campaign --job-id demo-1 --total 1000 --chunk-size 500 \
  --pause-ms 0 --work-ms 0 --schedule-id black-friday >/dev/null

# The active-list stream never ends by itself (it is tested in
# tests/api/events.rs); a job's stream ends with the job or is a 4xx.
run_once() {
  "$venv/bin/schemathesis" run openapi.yaml --url "http://127.0.0.1:$port" \
    --checks all --workers 2 --no-color --exclude-operation-id streamActiveJobs \
    --request-timeout 20 "$@"
}
# A run that found no failure but hit an error inside schemathesis itself
# (hypothesis' "Inconsistent results", "AST constructor recursion depth",
# a KeyError in its coverage phase: each seen once in a few dozen runs) is
# run again, at most twice; a failure of the API is never retried.
check() {
  local out status=0 again
  out=$(mktemp)
  run_once "$@" 2>&1 | tee "$out" || status=$?
  for again in 1 2; do
    if [ "$status" -eq 0 ] || grep -q '^=* FAILURES =*$' "$out" || ! grep -q '^=* ERRORS =*$' "$out"; then
      break
    fi
    say "schemathesis failed inside itself, not on the API; running again ($again of 2)"
    status=0
    run_once "$@" 2>&1 | tee "$out" || status=$?
  done
  # CPython 3.11.7's ast module trips on hypothesis' lambda descriptions
  # ("SystemError: AST constructor recursion depth mismatch", a bug of the
  # interpreter, not of the API); it can recur, so it is reported, not
  # counted, as long as no check failed.
  if [ "$status" -ne 0 ] && ! grep -q '^=* FAILURES =*$' "$out" \
    && grep -q 'AST constructor recursion depth mismatch' "$out"; then
    say "only the interpreter's AST error again, no failed check: passing"
    status=0
  fi
  rm -f "$out"
  return "$status"
}
for seed in $seeds; do
  say "checking http://127.0.0.1:$port against openapi.yaml ($examples examples per operation, seed $seed; replay with SCHEMATHESIS_SEED=$seed)"
  check --max-examples "$examples" --seed "$seed"
done

# Once with the default rate limit (50 a second, a burst of 200): past the
# burst most answers are 429s, which the document names for every /api/v1
# operation, while a request without the token a route needs is still a
# 401 (the token is checked before the limit). Short: the limit, not the
# number of examples, is what this run is about.
start_server -u RATE_LIMIT_PER_SECOND
say "checking http://127.0.0.1:$port with the default rate limit (seed $fixed_seed)"
check --max-examples 20 --seed "$fixed_seed"

# Once more with read tokens required, sending a write token (which reads
# too): the reads as above once the token is accepted, and the write
# operations, which refuse every request without one.
token_lines=$(target/debug/job-progress token new --scope write --name schemathesis 2>/dev/null)
sed -n 2p <<<"$token_lines" >"$tokens"
start_server REQUIRE_READ_TOKEN=true TOKENS_FILE="$tokens"
say "checking http://127.0.0.1:$port with REQUIRE_READ_TOKEN and a write token (seed $fixed_seed)"
check --max-examples 25 --seed "$fixed_seed" -H "Authorization: Bearer $(sed -n 1p <<<"$token_lines")"
