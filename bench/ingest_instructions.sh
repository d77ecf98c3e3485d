#!/usr/bin/env bash
# Instructions per progress report on the embedded stores, counted by
# valgrind's callgrind: the same count for the same binary and load
# whatever else the machine is doing, so small changes to the write path
# can be compared where updates/s moves less than the machine's noise.
# See BENCHMARKS.md, "Ingest: fewer copies and no parse of a job's own JSON".
#
#   bench/ingest_instructions.sh [ROUNDS]    (default 5; about 20 s a round)
#
# A server of its own (valgrind, embedded stores, one worker) on a free
# port from 18992; 2,000 jobs declared; two rounds to warm up; then ROUNDS
# rounds, each every job once in 20 batches of 100 (POST /api/v1/progress,
# 16 at once), counted. Prints the instructions per report.
#
# Environment: JP_SERVER_TARGET_DIR as for bench/embedded.sh.
set -euo pipefail
ROUNDS=${1:-5}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${JP_SERVER_TARGET_DIR:-$ROOT/target}/release/job-progress
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
[[ -x $BIN ]] || { echo "no server at $BIN: cargo build --release" >&2; exit 2; }
PORT=18992
while [[ -n $(ss -Htln "sport = :$PORT") ]]; do PORT=$((PORT + 1)); done
API=http://127.0.0.1:$PORT
D=$(mktemp -d)
SP=
trap '[[ -n $SP ]] && kill -9 "$SP" 2>/dev/null; rm -rf "$D"' EXIT
"$BIN" token new --scope write --name bench 2>/dev/null > "$D/token"
TOKEN=$(sed -n 1p "$D/token"); sed -n 2p "$D/token" > "$D/tokens"
mkdir -p "$D/data"
env -u REDIS_URL -u DATABASE_URL -u BUS_URL DATA_DIR="$D/data" TOKENS_FILE="$D/tokens" \
  LISTEN_ADDR=127.0.0.1:$PORT HTTP_WORKERS=1 LOG_FORMAT=json RUST_LOG=info RATE_LIMIT_PER_SECOND=10000000 \
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$D/callgrind.out" "$BIN" serve > "$D/server.log" 2>&1 &
SP=$!
for _ in $(seq 600); do curl -sf "$API/healthz" >/dev/null && break; sleep 0.2; done
# 2,000 jobs, declared 16 at once
awk -v api="$API" -v t="$TOKEN" 'BEGIN { for (i = 0; i < 2000; i++) { if (i) print "next"
  printf "url = \"%s/api/v1/jobs/bench-job-%d\"\nrequest = \"PUT\"\nheader = \"Authorization: Bearer %s\"\n", api, i, t
  printf "header = \"Content-Type: application/json\"\ndata = \"{\\\"total\\\":100000000}\"\noutput = \"/dev/null\"\n" } }' > "$D/declare.curl"
curl -s --no-progress-meter --parallel --parallel-max 16 -K "$D/declare.curl"
round() { # round R: every job once, counts R*10, as a curl config
  awk -v api="$API" -v t="$TOKEN" -v r="$1" -v d="$D" 'BEGIN { for (b = 0; b < 20; b++) {
    f = d "/b" r "-" b ".json"; printf "{\"updates\":[" > f
    for (i = 0; i < 100; i++) printf "%s{\"jobId\":\"bench-job-%d\",\"successCount\":%d,\"failureCount\":0}", (i ? "," : ""), b * 100 + i, r * 10 > f
    print "]}" > f; close(f); if (b) print "next"
    printf "url = \"%s/api/v1/progress\"\nrequest = \"POST\"\nheader = \"Authorization: Bearer %s\"\n", api, t
    printf "header = \"Content-Type: application/json\"\ndata-binary = \"@%s\"\noutput = \"/dev/null\"\n", f } }' > "$D/r$1.curl"
  curl -s --no-progress-meter --parallel --parallel-max 16 -K "$D/r$1.curl"
}
round 1; round 2
callgrind_control -i on "$SP" >/dev/null 2>&1
for ((r = 3; r < ROUNDS + 3; r++)); do round "$r"; done
callgrind_control -i off "$SP" >/dev/null 2>&1
kill -TERM "$SP"; wait "$SP" 2>/dev/null || true; SP=
ir=$(awk '/^totals:/ { print $2; exit }' "$D/callgrind.out")
echo "instructions per report: $((ir / (ROUNDS * 2000))) ($ir for $((ROUNDS * 2000)) reports; $BIN)"
