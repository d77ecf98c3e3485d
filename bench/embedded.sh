#!/usr/bin/env bash
# The embedded stores against Redis + PostgreSQL: the same measurements on
# the same data, side by side. See BENCHMARKS.md, "Embedded stores".
#
#   bench/embedded.sh            full run (about 7 minutes after the builds)
#   bench/embedded.sh --smoke    every measurement, a few seconds each (about 1.5 minutes)
#   options: --mode embedded     one mode only (embedded or redis-pg)
#            --no-build          use the binaries already built
#
# The modes:
#   embedded   no REDIS_URL, no DATABASE_URL: live progress in the server's
#              memory, checkpoints in SQLite in DATA_DIR (a temporary folder)
#   redis-pg   a redis-server of its own (on a free port, pinned with the
#              load, as bench/run.sh does) and a database of its own on the
#              PostgreSQL server, dropped at exit
# Each mode, on fresh stores, seeded over HTTP with a write token:
#   1. one job; cached reads (CACHE_TTL_MS default) against the ceiling server
#   then a new server with CACHE_TTL_MS=0 and 10,000 jobs, declared one by one
#   (PUT) and given counts in batches of 1,000 (POST /api/v1/progress):
#   2. single reads, round robin over the 10,000 jobs, 64 connections
#   3. active-list pages, ?limit=100 and ?limit=1000, 1 connection
#   4. progress reports over HTTP (bench/wrk/ingest.lua), 64 connections,
#      and the checkpoint rows the archive wrote meanwhile; then the same
#      in batches of 100 (bench/wrk/ingest_batch.lua), 16 connections
#   5. every job completed over HTTP, the server stopped with SIGTERM, the
#      archive's size on disk
# The server runs on one core, wrk and the other clients on the other.
#
# Environment (all optional):
#   JP_SERVER_TARGET_DIR  where `cargo build --release` of the root package
#                         puts its output (default: <repo>/target)
#   BENCH_API_PORT        port of the API (default: the first free one from
#                         18180; the ceiling server takes the next)
#   BENCH_REDIS_PORT      port of the Redis it starts (default: the first free
#                         one from 6499)
#   BENCH_PG_URL          PostgreSQL server, without a database name
#                         (default postgres://postgres@127.0.0.1:5432)
#   BENCH_SERVER_CPU, BENCH_LOAD_CPU   cores to pin to (default 0 and 1)
#   BENCH_LOG_FORMAT, BENCH_RUST_LOG   the server's LOG_FORMAT and RUST_LOG
#                         (default json and info, as in production)
#
# Results go to bench/target/runs/<time>-embedded-<smoke|full>/: table.tsv
# and results.md (both modes side by side), and a folder per mode with the
# wrk outputs and the server's log.
set -euo pipefail

MODE=full
MODES="embedded redis-pg"
BUILD=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) sed -n '2,45p' "$0"; exit 0 ;;
    --smoke) MODE=smoke ;;
    --no-build) BUILD=0 ;;
    --mode)
      case "${2:-}" in embedded|redis-pg) MODES=$2 ;; *) echo "--mode: embedded or redis-pg" >&2; exit 2 ;; esac
      shift ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

# the programs' paths, the cores; say, track, row, verdict, get, load,
# start_server, vs_ceiling...
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# free_port FROM WIDTH: the first port from FROM on such that it and the
# WIDTH - 1 after it have no listener
free_port() {
  local p=$1 i
  while :; do
    for ((i = 0; i < $2; i++)); do
      [[ -z $(ss -Htln "sport = :$((p + i))") ]] || break
    done
    [[ $i -eq $2 ]] && { echo "$p"; return; }
    p=$((p + 1))
  done
}
API_PORT=${BENCH_API_PORT:-$(free_port 18180 2)}
CEIL_PORT=$((API_PORT + 1))
REDIS_PORT=${BENCH_REDIS_PORT:-$(free_port 6499 1)}
PG_BASE=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
DB=jpbench_embedded_$$
PREFIX=bench:
API=http://127.0.0.1:$API_PORT
# No rate limit: all the load comes from one address.
BENCH_RATE_LIMIT=0

# ---------------------------------------------------------------- sizes
JOBS=10000        # jobs of 2-5
TOTAL=1000000     # each job's total: room for every count a run reaches
SEEDED=1000       # each job's successes after seeding
if [[ $MODE == smoke ]]; then
  S1_SECS=4; S1_WARM=1; SECS=3; WARM=1; S4_SECS=5
else
  S1_SECS=30; S1_WARM=3; SECS=20; WARM=2; S4_SECS=60
fi

TOP=$BENCH/target/runs/$(date +%Y%m%d-%H%M%S)-embedded-$MODE
RUN_DIR=$TOP
mkdir -p "$TOP"
PIDS=$TOP/pids
LOG=$TOP/run.log
RESULTS=$TOP/results.tsv
: > "$PIDS"
# DATA_DIRs, the tokens file and the request files that hold the token
DATA=$(mktemp -d -t jp-embedded.XXXXXX)

# ---------------------------------------------------------------- cleanup
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  RUN_DIR=$TOP/redis-pg stop_all "$DB"   # (its Redis's files are there)
  rm -rf "$DATA"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need_tools redis-server redis-cli psql sqlite3 taskset curl awk ss
record_machine "embedded-$MODE" "API server (and the ceiling) on cpu $SERVER_CPU; wrk, curl, Redis on cpu $LOAD_CPU; PostgreSQL not pinned"
if [[ $BUILD == 1 ]]; then build_release; fi
need_built "$SERVER_BIN" "$BENCH_BIN/ceiling"

# A write token for the seeding and the reports; reads need none.
"$SERVER_BIN" token new --scope write --name bench 2>/dev/null > "$DATA/token"
TOKEN=$(sed -n 1p "$DATA/token")
sed -n 2p "$DATA/token" > "$DATA/tokens"

# ---------------------------------------------------------------- modes
# use_mode MODE: the mode's folder and results file
use_mode() {
  CUR=$1
  RUN_DIR=$TOP/$1
  RESULTS=$RUN_DIR/results.tsv
  mkdir -p "$RUN_DIR"
  : > "$RESULTS"
}
# fresh_stores NAME: empty stores for the next server (embedded: a new
# DATA_DIR; redis-pg: Redis emptied, the database made anew) and the
# server settings that name them
fresh_stores() {
  if [[ $CUR == embedded ]]; then
    DATA_DIR=$DATA/$1
    mkdir -p "$DATA_DIR"
    SERVER_ENV=(-u REDIS_URL -u DATABASE_URL -u BUS_URL DATA_DIR="$DATA_DIR" TOKENS_FILE="$DATA/tokens")
  else
    rcli flushall >/dev/null
    psql "$PG_BASE/postgres" -qAt -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>>"$LOG"
    psql "$PG_BASE/postgres" -qAt -c "CREATE DATABASE $DB" >/dev/null
    SERVER_ENV=(-u BUS_URL REDIS_URL="redis://127.0.0.1:$REDIS_PORT" DATABASE_URL="$PG_BASE/$DB"
      KEY_PREFIX=$PREFIX TOKENS_FILE="$DATA/tokens")
  fi
}
archive_sql() { # SQL...: runs SQL on the mode's archive, prints the answer
  if [[ $CUR == embedded ]]; then
    sqlite3 -cmd '.timeout 10000' "$DATA_DIR/job-progress.db" "$@"
  else
    psql "$PG_BASE/$DB" -qAt -v ON_ERROR_STOP=1 -c "$*"
  fi
}

# ---------------------------------------------------------------- HTTP seeding
# each_job OUT METHOD SUFFIX BODY PREFIX COUNT: one request a job, to
# /api/v1/jobs/<PREFIX><n><SUFFIX> for n = 0..COUNT-1, with the write token,
# 16 at once over keep-alive connections (curl); OUT gets each status
each_job() {
  local out=$1 method=$2 suffix=$3 body=$4 prefix=$5 count=$6
  awk -v n="$count" -v api="$API" -v m="$method" -v s="$suffix" -v b="$body" -v p="$prefix" -v t="$TOKEN" 'BEGIN {
    gsub(/"/, "\\\"", b)
    for (i = 0; i < n; i++) {
      if (i > 0) print "next"
      printf "url = \"%s/api/v1/jobs/%s%d%s\"\nrequest = \"%s\"\n", api, p, i, s, m
      printf "header = \"Authorization: Bearer %s\"\nheader = \"Content-Type: application/json\"\n", t
      printf "data = \"%s\"\noutput = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\n", b
    }
  }' > "$DATA/requests.curl"
  taskset -c "$LOAD_CPU" curl -s --parallel --parallel-max 16 -K "$DATA/requests.curl" > "$out" 2>>"$LOG"
}
# all_answered FILE STATUS: every status in FILE is STATUS (else says which)
all_answered() {
  local other; other=$(grep -cvx "$2" "$1" || true)
  [[ $other -eq 0 ]] || { echo "$other answers other than $2 in $1: $(sort "$1" | uniq -c | tr '\n' ' ')" >&2; return 1; }
}
# report_counts PREFIX COUNT SUCCESSES: every job's counts, 1,000 jobs a
# batch (POST /api/v1/progress); prints how many items were taken
report_counts() {
  local from
  for ((from = 0; from < $2; from += 1000)); do
    awk -v p="$1" -v from="$from" -v to="$(( from + 1000 < $2 ? from + 1000 : $2 ))" -v c="$3" 'BEGIN {
      printf "{\"updates\":["
      for (i = from; i < to; i++)
        printf "%s{\"jobId\":\"%s%d\",\"successCount\":%d,\"failureCount\":0}", (i > from ? "," : ""), p, i, c
      print "]}" }' > "$DATA/batch.json"
    taskset -c "$LOAD_CPU" curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      --data-binary @"$DATA/batch.json" "$API/api/v1/progress" | grep -o '"jobId":"[^"]*","statusCode":200' | wc -l
  done | awk '{ s += $1 } END { print s + 0 }'
}
# header_of URL NAME: one header of URL's answer
header_of() {
  curl -s -D - -o /dev/null "$1" | tr -d '\r' | awk -F': ' -v h="$2" 'tolower($1) == tolower(h) { print $2 }'
}

# ---------------------------------------------------------------- measuring
# measure OUT SECS CONNS URL [wrk args...]: load (wrk), and the CPU Redis
# spent meanwhile per request (redis-pg; the embedded stores' work is in
# the server's own figure)
measure() {
  local r0 r1
  if [[ $CUR == redis-pg ]]; then r0=$(cpu_ticks "$REDIS_PID"); fi
  load "$@"
  if [[ $CUR == redis-pg ]]; then
    r1=$(cpu_ticks "$REDIS_PID")
    printf 'WRK\tredis_cpu_us_per_req\t%s\n' "$(calc "($r1 - $r0) * 10000 / ($(get "$1" requests) + 1)" 1)" >> "$1"
  fi
}
# cpu_figures FILE: "server us per request (core busy %); Redis us per request"
cpu_figures() {
  echo "$(get "$1" server_cpu_us_per_req) ($(get "$1" server_cpu_pct)); $(get "$1" redis_cpu_us_per_req | grep . || echo -)"
}
# wrk_rows N LABEL FILE: rate, latency, CPU and errors of a wrk run
wrk_rows() {
  local n=$1 f=$3
  row "$n" "$2: requests/s" "$(get "$f" rps)" "" ""
  row "$n" "  p50 / p99 ms" "$(get "$f" p50_ms) / $(get "$f" p99_ms)" "" ""
  row "$n" "  CPU us per request: server (core busy %); Redis" "$(cpu_figures "$f")" "" ""
  local errs=$(( $(get "$f" err_connect) + $(get "$f" err_read) + $(get "$f" err_write) + $(get "$f" err_timeout) + $(get "$f" err_status) ))
  row "$n" "  errors (socket + non-2xx)" "$errs" "0" "$(verdict "$errs" '==' 0)"
}
# stores_row: what /readyz says the server uses, checked against the mode
stores_row() {
  local stores want
  stores=$(curl -s "$API/readyz" | grep -o '"store":"[^"]*"' | cut -d'"' -f4 | paste -sd+ | sed 's/+/ + /')
  if [[ $CUR == embedded ]]; then want="in-process + sqlite"; else want="redis + postgres"; fi
  row 0 "stores (/readyz: hot + archive)" "$stores" "" ""
  [[ $stores == "$want" ]] || { echo "/readyz names '$stores', not '$want'" >&2; return 1; }
}

# ---------------------------------------------------------------- 1
step_cached() {
  start_server
  stores_row
  each_job "$RUN_DIR/s1-declare.txt" PUT "" "{\"total\":$TOTAL}" bench-single- 1
  all_answered "$RUN_DIR/s1-declare.txt" 201
  each_job "$RUN_DIR/s1-report.txt" POST /progress "{\"successCount\":$SEEDED,\"failureCount\":0}" bench-single- 1
  all_answered "$RUN_DIR/s1-report.txt" 200
  vs_ceiling 1 "$RUN_DIR" "$API/api/v1/jobs/bench-single-0/progress" "$S1_WARM" "$S1_SECS"
}

# ---------------------------------------------------------------- 2-5: 10,000 jobs, no cache
step_seed() {
  start_server CACHE_TTL_MS=0
  local t0 t1 t2 taken
  t0=$(now_ms)
  each_job "$RUN_DIR/seed-declare.txt" PUT "" "{\"total\":$TOTAL}" bench-job- "$JOBS"
  t1=$(now_ms)
  all_answered "$RUN_DIR/seed-declare.txt" 201
  taken=$(report_counts bench-job- "$JOBS" "$SEEDED")
  t2=$(now_ms)
  [[ $taken -eq $JOBS ]] || { echo "the batches took $taken of $JOBS reports" >&2; return 1; }
  row 0 "seeding: declarations/s (PUT, 16 at once); batch items/s (1,000 a request)" \
    "$(calc "$JOBS * 1000 / ($t1 - $t0)" 0); $(calc "$JOBS * 1000 / ($t2 - $t1)" 0)" "" ""
}

step_reads() {
  # the cache is off: every read reaches the hot store
  local src; src=$(source_of "$API/api/v1/jobs/bench-job-0/progress")
  [[ $src == redis ]] || { echo "an uncached read came from '$src', not the hot store" >&2; return 1; }
  load "$RUN_DIR/s2-warm.txt" "$WARM" 64 "$API/" -- bench-job- "$JOBS"
  measure "$RUN_DIR/s2.txt" "$SECS" 64 "$API/" -- bench-job- "$JOBS"
  wrk_rows 2 "single reads, uncached, 10,000 jobs round robin, 64 conns" "$RUN_DIR/s2.txt"
}

step_lists() {
  local total limit
  total=$(header_of "$API/api/v1/jobs/active?limit=1" X-Total-Count)
  [[ $total == "$JOBS" ]] || { echo "X-Total-Count is '$total', expected $JOBS" >&2; return 1; }
  row 3 "server RSS holding 10,000 active jobs, MiB" \
    "$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER_PID/status")" "" ""
  for limit in 100 1000; do
    load "$RUN_DIR/s3-$limit-warm.txt" "$WARM" 1 "$API/api/v1/jobs/active?limit=$limit"
    measure "$RUN_DIR/s3-$limit.txt" "$SECS" 1 "$API/api/v1/jobs/active?limit=$limit"
    wrk_rows 3 "active list ?limit=$limit of 10,000, uncached, 1 conn" "$RUN_DIR/s3-$limit.txt"
  done
}

# count_checkpoints on|off: a trigger on the archive's job_progress counts
# every row inserted or updated (a checkpoint that wrote nothing, refused
# by the never-backwards rule, is not counted); off removes it
count_checkpoints() {
  case "$CUR-$1" in
    embedded-on) archive_sql "CREATE TABLE bench_checkpoints (n INTEGER NOT NULL);
      INSERT INTO bench_checkpoints VALUES (0);
      CREATE TRIGGER bench_count_insert AFTER INSERT ON job_progress
        BEGIN UPDATE bench_checkpoints SET n = n + 1; END;
      CREATE TRIGGER bench_count_update AFTER UPDATE ON job_progress
        BEGIN UPDATE bench_checkpoints SET n = n + 1; END;" ;;
    embedded-off) archive_sql "DROP TRIGGER bench_count_insert; DROP TRIGGER bench_count_update;
      DROP TABLE bench_checkpoints;" ;;
    redis-pg-on) archive_sql "CREATE SEQUENCE bench_checkpoints;
      CREATE FUNCTION bench_count_checkpoint() RETURNS trigger LANGUAGE plpgsql
        AS \$\$ BEGIN PERFORM nextval('bench_checkpoints'); RETURN NULL; END \$\$;
      CREATE TRIGGER bench_count AFTER INSERT OR UPDATE ON job_progress
        FOR EACH ROW EXECUTE FUNCTION bench_count_checkpoint();" ;;
    redis-pg-off) archive_sql "DROP TRIGGER bench_count ON job_progress;
      DROP FUNCTION bench_count_checkpoint(); DROP SEQUENCE bench_checkpoints;" ;;
  esac
}
checkpoints_written() {
  if [[ $CUR == embedded ]]; then
    archive_sql "SELECT n FROM bench_checkpoints"
  else
    archive_sql "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM bench_checkpoints"
  fi
}

step_ingest() {
  count_checkpoints on
  # each round of the warm-up moves every job's count up by one; the run
  # goes on from above where it stopped
  local from=$((SEEDED + 1))
  WRK_SCRIPT=$BENCH/wrk/ingest.lua load "$RUN_DIR/s4-warm.txt" "$WARM" 64 "$API/" -- bench-job- "$JOBS" "$TOKEN" "$from"
  from=$(( from + $(get "$RUN_DIR/s4-warm.txt" requests) / JOBS + 1 ))
  local c0 c1 prev
  c0=$(checkpoints_written)
  WRK_SCRIPT=$BENCH/wrk/ingest.lua measure "$RUN_DIR/s4.txt" "$S4_SECS" 64 "$API/" -- bench-job- "$JOBS" "$TOKEN" "$from"
  # checkpoints leave in the background: count once the count stands still
  c1=$(checkpoints_written)
  while prev=$c1; sleep 0.5; c1=$(checkpoints_written); [[ $c1 != "$prev" ]]; do :; done
  count_checkpoints off
  local f=$RUN_DIR/s4.txt secs
  secs=$(get "$f" secs)
  row 4 "progress reports, 10,000 jobs round robin, 64 conns: updates/s (2xx)" "$(get "$f" updates_per_sec)" "" ""
  row 4 "  answers: 2xx / 409 / other; socket errors" \
    "$(get "$f" status_2xx) / $(get "$f" status_409) / $(get "$f" status_other); $(get "$f" err_socket)" "no other, no socket errors" \
    "$(verdict "$(( $(get "$f" status_other) + $(get "$f" err_socket) ))" '==' 0)"
  row 4 "  p50 / p99 / max ms" "$(get "$f" p50_ms) / $(get "$f" p99_ms) / $(get "$f" max_ms)" "" ""
  row 4 "  CPU us per report: server (core busy %); Redis" "$(cpu_figures "$f")" "" ""
  row 4 "  checkpoint rows written in the run (per s)" "$((c1 - c0)) ($(calc "($c1 - $c0) / $secs" 1))" "" ""

  # The same reports in batches of 100 (POST /api/v1/progress), as a
  # worker with many jobs, or a relay of many workers, sends them.
  from=$(( from + $(get "$f" requests) / JOBS + 1 ))
  local b=$RUN_DIR/s4-batch.txt goal=50000
  [[ $CUR == redis-pg ]] && goal=30000
  WRK_SCRIPT=$BENCH/wrk/ingest_batch.lua load "$RUN_DIR/s4-batch-warm.txt" "$WARM" 16 "$API/" -- bench-job- "$JOBS" "$TOKEN" "$from" 100
  from=$(( from + $(get "$RUN_DIR/s4-batch-warm.txt" requests) * 100 / JOBS + 1 ))
  WRK_SCRIPT=$BENCH/wrk/ingest_batch.lua measure "$b" "$S4_SECS" 16 "$API/" -- bench-job- "$JOBS" "$TOKEN" "$from" 100
  local rate; rate=$(get "$b" updates_per_sec)
  row 4 "progress reports in batches of 100, 16 conns: updates/s (items answered 200)" "$rate" ">= $goal" "$(verdict "$rate" '>=' "$goal")"
  row 4 "  items: 200 / 409 / other; socket errors" \
    "$(get "$b" status_2xx) / $(get "$b" status_409) / $(get "$b" status_other); $(get "$b" err_socket)" "no other, no socket errors" \
    "$(verdict "$(( $(get "$b" status_other) + $(get "$b" err_socket) ))" '==' 0)"
  row 4 "  batch p50 / p99 ms; CPU us per batch: server (core busy %); Redis" \
    "$(get "$b" p50_ms) / $(get "$b" p99_ms); $(cpu_figures "$b")" "" ""
}

# size_of FILE: bytes, 0 when missing
size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }
completed_in_archive() { archive_sql "SELECT count(*) FROM job_progress WHERE status = 'completed'"; }
step_finish() {
  each_job "$RUN_DIR/s5-complete.txt" POST /complete '{}' bench-job- "$JOBS"
  all_answered "$RUN_DIR/s5-complete.txt" 200
  # A completion's checkpoint leaves in the background. Wait for all of
  # them before the SIGTERM: a stop sooner loses the ones still queued (see
  # BENCHMARKS.md, "Embedded stores").
  local t0 stored=0; t0=$(now_ms)
  for _ in $(seq 600); do
    stored=$(completed_in_archive)
    [[ $stored -ge $JOBS ]] && break
    sleep 0.1
  done
  row 5 "completed over HTTP (10,000, 16 at once): all checkpoints in the archive after, ms" \
    "$(( $(now_ms) - t0 )) ($stored stored)" "" ""
  # stop as an operator would: SIGTERM
  local pid; pid=$(cat "$RUN_DIR/server.pid"); t0=$(now_ms)
  ours "$pid" || { echo "the server ($pid) is gone before SIGTERM" >&2; return 1; }
  kill -TERM "$pid"
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && { echo "the server did not stop within 15 s of SIGTERM" >&2; return 1; }
  rm -f "$RUN_DIR/server.pid"
  row 5 "server stopped on SIGTERM, ms" "$(( $(now_ms) - t0 ))" "" ""
  local as_left parts completed compact
  if [[ $CUR == embedded ]]; then
    # the sizes first: opening the file checkpoints and removes the WAL
    local db=$DATA_DIR/job-progress.db
    local main wal; main=$(size_of "$db"); wal=$(size_of "$db-wal")
    as_left=$((main + wal)); parts="job-progress.db $main + -wal $wal"
    completed=$(completed_in_archive)
    archive_sql "VACUUM"
    compact=$(size_of "$db")
  else
    local table indexes
    table=$(archive_sql "SELECT pg_table_size('job_progress')")
    indexes=$(archive_sql "SELECT pg_indexes_size('job_progress')")
    as_left=$((table + indexes)); parts="table $table + indexes $indexes"
    completed=$(completed_in_archive)
    archive_sql "VACUUM FULL job_progress"
    compact=$(archive_sql "SELECT pg_total_relation_size('job_progress')")
  fi
  row 5 "archive after the stop: completed jobs" "$completed" "$JOBS" "$(verdict "$completed" '==' "$JOBS")"
  row 5 "archive size as left, bytes (per job)" "$as_left ($((as_left / JOBS)); $parts)" "" ""
  row 5 "  compacted (SQLite VACUUM / PostgreSQL VACUUM FULL), bytes (per job)" "$compact ($((compact / JOBS)))" "" ""
}

# run_mode MODE: both servers of a mode, on fresh stores each
run_mode() {
  use_mode "$1"
  say "$1: cached reads"
  fresh_stores cached
  run_isolated 1 step_cached || true
  stop_server
  say "$1: 10,000 jobs, no cache"
  fresh_stores jobs
  if run_isolated 0 step_seed; then
    local n
    for n in 2 3 4 5; do
      say "$1: scenario $n"
      run_isolated "$n" "$(case $n in 2) echo step_reads ;; 3) echo step_lists ;; 4) echo step_ingest ;; 5) echo step_finish ;; esac)" || true
    done
  fi
  stop_server
}

# ---------------------------------------------------------------- run
started=$(date +%s)
for mode in $MODES; do
  if [[ $mode == redis-pg ]]; then RUN_DIR=$TOP/redis-pg; mkdir -p "$RUN_DIR"; start_redis; fi
  run_mode "$mode"
done
elapsed=$(( $(date +%s) - started ))

# Both modes side by side: one line per (scenario, metric, how many times
# it came before), in the order the rows came; a verdict per mode where the
# row has a target.
side_by_side() {
  awk -F'\t' -v OFS='\t' '
    { m = (FILENAME ~ /\/embedded\/results\.tsv$/) ? 1 : 2
      k = $1 SUBSEP $2 SUBSEP (++nth[m, $1, $2])   # a metric may come twice (3: each page size)
      if (!(k in seen)) { seen[k] = 1; order[++n] = k; key1[n] = $1; key2[n] = $2; target[k] = $4 }
      value[m, k] = $3; verdict[m, k] = $5 }
    END { for (i = 1; i <= n; i++) { k = order[i]
      v1 = ((1, k) in value) ? value[1, k] : "-"; v2 = ((2, k) in value) ? value[2, k] : "-"
      d1 = ((1, k) in verdict) ? verdict[1, k] : "-"; d2 = ((2, k) in verdict) ? verdict[2, k] : "-"
      print key1[i], key2[i], v1, v2, target[k], (d1 == "-" && d2 == "-") ? "-" : d1 " / " d2 } }' \
    "$@"
}
side_by_side "$TOP"/*/results.tsv > "$TOP/results.tsv"
{
  printf 'scenario\tmetric\tembedded\tredis+postgres\ttarget\tverdict\n'
  cat "$TOP/results.tsv"
} > "$TOP/table.tsv"
{
  echo "| # | metric | embedded | Redis + PostgreSQL | target | verdict (embedded / Redis + PostgreSQL) |"
  echo "|---|---|---|---|---|---|"
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$TOP/results.tsv"
} > "$TOP/results.md"
echo
cat "$TOP/machine.txt"
echo
column -t -s $'\t' "$TOP/table.tsv"
echo
echo "($MODE run: ${elapsed}s after the builds; files in $TOP)"
