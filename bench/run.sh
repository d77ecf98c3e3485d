#!/usr/bin/env bash
# The benchmark suite of job-progress. See BENCHMARKS.md.
#
#   bench/run.sh                 full run (about 16 minutes after the builds)
#   bench/run.sh --smoke         every scenario, tiny and quick (about 4 minutes)
#   options: --only 1,3,5        run only these scenarios (1-6, 13, 14 polling,
#                                7-10, 12 streams)
#            --no-build          use the binaries already built
#            --s8-streams N      scenario 8 holds N idle streams (default
#                                10,000; 2,000 with --smoke); e.g. 100000,
#                                which needs an open-file hard limit above
#                                N on this shell (the script raises it when
#                                it may: root with CAP_SYS_RESOURCE)
#            --check             compare the figures (the ratios against the
#                                ceiling...) with bench/figures.tsv and name
#                                any that fell by more than 10 % (exit 1)
#            --save-figures      write this run's figures to bench/figures.tsv
#
# Environment (all optional):
#   JP_SERVER_TARGET_DIR  where `cargo build --release` of the root package
#                         puts its output (default: <repo>/target)
#   BENCH_REDIS_PORT      port of the Redis the suite starts (default 6399)
#   BENCH_API_PORT        port of the API under test (default 18080)
#   BENCH_DB              name of the PostgreSQL database the suite makes (default
#                         jpbench): two runs at once need their own
#   BENCH_PG_URL          PostgreSQL server, without a database name
#                         (default postgres://postgres@127.0.0.1:5432)
#   BENCH_SERVER_CPU, BENCH_LOAD_CPU   cores to pin to (default 0 and 1)
#   BENCH_LOG_FORMAT, BENCH_RUST_LOG   the server's LOG_FORMAT and RUST_LOG
#                         (default json and info, as in production)
#   BENCH_RATE_LIMIT      the server's RATE_LIMIT_PER_SECOND (default
#                         10000000: every request is checked, none refused,
#                         since all the load comes from one address)
#
# The suite starts its own redis-server (so it can stop and kill it, and so
# INFO commandstats counts only its traffic) and uses its own database
# `jpbench` on the PostgreSQL server; both are removed at exit. Results go
# to bench/target/runs/<time>-<mode>/ (results.tsv, results.md, logs).
set -euo pipefail

MODE=full
ONLY=1,2,3,4,5,6,7,8,9,10,12,13,14
BUILD=1
S8_ASKED=
CHECK=0
SAVE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --smoke) MODE=smoke ;;
    --only) ONLY="$2"; shift ;;
    --no-build) BUILD=0 ;;
    --s8-streams) S8_ASKED="$2"; shift ;;
    --check) CHECK=1 ;;
    --save-figures) SAVE=1 ;;
    -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

# the programs' paths, the cores; say, track, row, verdict, get, load,
# start_server, vs_ceiling...
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REDIS_PORT=${BENCH_REDIS_PORT:-6399}
API_PORT=${BENCH_API_PORT:-18080}
CEIL_PORT=$((API_PORT + 1))
PG_BASE=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_DB:-jpbench}
DB_URL=$PG_BASE/$DB
PREFIX=bench:
REDIS_URL=redis://127.0.0.1:$REDIS_PORT

# ---------------------------------------------------------------- sizes
# The ratios against the ceiling (scenarios 1, 13, 14): RUNS rounds of
# S_SECS each of the API and the ceiling, after S_WARM of each.
RUNS=3
if [[ $MODE == smoke ]]; then
  S_SECS=2; S_WARM=1
  S1_SECS=3;  S1_WARM=1
  S2_SECS=3
  S3_OTHER_KEYS=1000000; S3_JOBS=10000; S3_SECS=3
  S4_OUTAGE=3; S4_RECOVERY=3
  S5_JOBS=1000; S5_SECS=10; S5_WARM=3
  S6_CONNS=10000; S6_HOLD=7
  S7_STREAMS=1000; S7_JOBS=100; S7_SECS=5; S7_DIAG_SECS=5
  S8_STREAMS=2000; S8_HOLD=3
  S9_STREAMS=2000; S9_ROUNDS=3
  S10_WATCHERS=500; S10_SECS=5
  S12_JOBS=1000; S12_DASHBOARDS=10; S12_SECS=5
else
  S_SECS=10; S_WARM=3
  S1_SECS=30; S1_WARM=3
  S2_SECS=30
  S3_OTHER_KEYS=1000000; S3_JOBS=10000; S3_SECS=20
  S4_OUTAGE=10; S4_RECOVERY=5
  S5_JOBS=10000; S5_SECS=60; S5_WARM=5
  S6_CONNS=10000; S6_HOLD=30
  S7_STREAMS=1000; S7_JOBS=100; S7_SECS=30; S7_DIAG_SECS=10
  S8_STREAMS=10000; S8_HOLD=20
  S9_STREAMS=10000; S9_ROUNDS=5
  S10_WATCHERS=5000; S10_SECS=30
  S12_JOBS=10000; S12_DASHBOARDS=100; S12_SECS=20
fi
S8_STREAMS=${S8_ASKED:-$S8_STREAMS}

RUN_DIR=$BENCH/target/runs/$(date +%Y%m%d-%H%M%S)-$MODE
mkdir -p "$RUN_DIR"
RESULTS=$RUN_DIR/results.tsv
PIDS=$RUN_DIR/pids
: > "$RESULTS"; : > "$PIDS"; : > "$RUN_DIR/figures.tsv"
LOG=$RUN_DIR/run.log

SERVER_ENV=(REDIS_URL="$REDIS_URL" DATABASE_URL="$DB_URL" KEY_PREFIX=$PREFIX)
# slowlog_entries: one line "MICROSECONDS COMMAND" per SLOWLOG entry
slowlog_entries() {
  rcli --no-raw slowlog get 128 | awk '
    /^ *[0-9]+\) +1\) \(integer\)/ { st = 1; next }
    st && /^ +3\) \(integer\)/ { d = $NF; next }
    st && /^ +4\) +1\) / { c = $3; gsub(/"/, "", c); print d, toupper(c); st = 0 }'
}

# ---------------------------------------------------------------- cleanup
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  stop_all "$DB"
  rm -f "$RUN_DIR"/*.rdb
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
need_tools redis-server redis-cli psql taskset curl awk
# 10,000 connections on each side of scenarios 6, 8 and 9, and scenario 8's
# streams: the client and the server are processes of their own, each
# under this limit, so each needs its streams and a margin. Above the hard
# limit only CAP_SYS_RESOURCE may raise it (fs.nr_open caps it in turn);
# scenario 8 says so, and opens only what the limit allows.
FDS_NEEDED=$(( S8_STREAMS + 4096 > 65536 ? S8_STREAMS + 4096 : 65536 ))
if [[ $(ulimit -Hn) != unlimited ]] && (( $(ulimit -Hn) < FDS_NEEDED )); then
  ulimit -Hn "$FDS_NEEDED" 2>/dev/null || true
fi
ulimit -n "$FDS_NEEDED" 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# ---------------------------------------------------------------- machine
record_machine "$MODE" "API server (and the ceiling) on cpu $SERVER_CPU; wrk, clients, Redis on cpu $LOAD_CPU"

# ---------------------------------------------------------------- builds
if [[ $BUILD == 1 ]]; then build_release; fi
need_built "$SERVER_BIN" "${BENCH_PROGRAMS[@]}"

# ---------------------------------------------------------------- services
create_db() {
  psql "$PG_BASE/postgres" -qAt -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
  psql "$PG_BASE/postgres" -qAt -c "CREATE DATABASE $DB" >/dev/null
  # the writers seed before any server has started (serve migrates too)
  DATABASE_URL=$DB_URL LOG_FORMAT=json "$SERVER_BIN" migrate >> "$LOG" 2>&1
}

# helper PROGRAM ARGS...: a bench helper (bench/src/bin) on the load core,
# with both stores; sse_helper: the same with Redis only (the stream helpers
# write straight to it)
helper() { fg_tracked taskset -c "$LOAD_CPU" env REDIS_URL="$REDIS_URL" DATABASE_URL="$DB_URL" KEY_PREFIX=$PREFIX \
  RUST_LOG=warn "$BENCH_BIN/$1" "${@:2}"; }
sse_helper() { fg_tracked taskset -c "$LOAD_CPU" env REDIS_URL="$REDIS_URL" KEY_PREFIX=$PREFIX \
  RUST_LOG=warn "$BENCH_BIN/$1" "${@:2}"; }
seed() { helper jp-seed --jobs "$1" --id-prefix "$2" >> "$LOG" 2>&1; }

# cmdstats FILE: INFO commandstats now; calls_in FILE [COMMAND]: calls of
# COMMAND, or of every command but INFO
cmdstats() { rcli info commandstats | tr -d '\r' > "$1"; }
# Calls of command $2 (all commands without it), leaving out this script's
# own INFO and the server's bus health check (one PING every 2 s on its
# subscription, whatever the load: not a read of any job).
calls_in() {
  awk -F'[:,=]' -v c="${2:-}" '/^cmdstat_/ && $1 != "cmdstat_info" && $1 != "cmdstat_ping" && (c == "" || $1 == "cmdstat_" c) { n += $3 }
    END { print n + 0 }' "$1"
}

API=http://127.0.0.1:$API_PORT
run_scenario() {
  local n=$1
  [[ ",$ONLY," == *",$n,"* ]] || return 0
  say "scenario $n"
  run_isolated "$n" "scenario_$n" || true
  stop_server
}

# The ratio scenarios run as deployed: reads need a token (REQUIRE_READ_TOKEN,
# one `read` token presented by every request), the rate limit checks every
# request (BENCH_RATE_LIMIT, which the load never reaches), metrics count
# every answer, logs at info.
BENCH_TOKEN=bench-read-token-$(date +%s%N | sha256sum | cut -c1-24)
AUTH_ENV=(TOKENS_FILE="$RUN_DIR/tokens" REQUIRE_READ_TOKEN=true)
printf 'read %s bench\n' "$(printf '%s' "$BENCH_TOKEN" | sha256sum | cut -d' ' -f1)" > "$RUN_DIR/tokens"
# with_token: this scenario's requests (wrk, curl) present the token
# (scenarios run in subshells: it stays in the scenario)
with_token() { export WRK_HEADER="Authorization: Bearer $BENCH_TOKEN"; }

# ---------------------------------------------------------------- 1
scenario_1() {
  with_token
  rcli flushall >/dev/null
  seed 1 bench-single-
  start_server "${AUTH_ENV[@]}"
  local url=$API/api/v1/jobs/bench-single-0/progress src
  src=$(source_of "$url" "$RUN_DIR/body.json")
  [[ $src == redis ]] || { echo "first read came from '$src', not the hot store" >&2; return 1; }
  against_ceiling 1 cached_read 0.9 "one job, cached" "$url" "$RUN_DIR/body.json"
  row 1 "  response body bytes" "$(wc -c < "$RUN_DIR/body.json")" "" ""

  # Diagnosis: the same API with its logs at warn (no debug or info
  # line can cost anything), to show what the log level costs.
  stop_server
  start_server "${AUTH_ENV[@]}" RUST_LOG=warn
  load "$RUN_DIR/s1-warm-warn.txt" "$S1_WARM" 64 "$url"
  load "$RUN_DIR/s1-api-warn.txt" "$S_SECS" 64 "$url"
  local f=$RUN_DIR/s1-api-warn.txt
  row 1 "  diagnosis: API with RUST_LOG=warn: requests/s, CPU us per request" \
    "$(get "$f" rps), $(get "$f" server_cpu_us_per_req) ($(calc "$CEIL_US / $(get "$f" server_cpu_us_per_req)" 2) of ceiling)" "" ""
}

# ---------------------------------------------------------------- 13
# 10,000 jobs in Redis, each request for one drawn at random: about half
# the requests miss the one-second cache, so this measures the loads.
scenario_13() {
  with_token
  rcli flushall >/dev/null
  seed 10000 bench-many-
  start_server "${AUTH_ENV[@]}"
  curl -sf -H "$WRK_HEADER" -o "$RUN_DIR/body-many.json" "$API/api/v1/jobs/bench-many-0/progress"
  cmdstats "$RUN_DIR/s13.before"
  against_ceiling 13 random_ids 0.8 "10,000 jobs, random ids" "$API/api/v1/jobs/bench-many-0/progress" \
    "$RUN_DIR/body-many.json" -- bench-many- 10000 random
  cmdstats "$RUN_DIR/s13.after"
  local requests=0 f
  for f in "$RUN_DIR"/s13-random_ids-{warm,api-*}.txt; do
    requests=$((requests + $(get "$f" requests)))
  done
  local mget pipelines
  mget=$(( $(calls_in "$RUN_DIR/s13.after" mget) - $(calls_in "$RUN_DIR/s13.before" mget) ))
  pipelines=$(( $(calls_in "$RUN_DIR/s13.after" exists) - $(calls_in "$RUN_DIR/s13.before" exists) ))
  local per=-
  [[ $mget -gt 0 ]] && per=$(calc "$pipelines / $mget" 1)
  row 13 "  API requests; MGETs (jobs read per MGET)" "$requests; $mget ($per)" "" ""
}

# ---------------------------------------------------------------- 14
# Ids nobody wrote, drawn at random from a billion: every request misses
# the cache, Redis and then PostgreSQL; each 404 is cached like any answer.
xacts() { psql "$DB_URL" -qAt -c "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$DB'"; }
scenario_14() {
  with_token
  rcli flushall >/dev/null
  start_server "${AUTH_ENV[@]}"
  curl -s -H "$WRK_HEADER" -o "$RUN_DIR/body-404.json" "$API/api/v1/jobs/nobody-0/progress"
  sleep 1.5   # PostgreSQL counts a backend's transactions when it idles, at most once a second
  local t0 x0; t0=$(now_ms); x0=$(xacts)
  against_ceiling 14 unknown_ids 0.3 "unknown ids" "$API/api/v1/jobs/nobody-0/progress" \
    "$RUN_DIR/body-404.json" -- nobody- 1000000000 random
  sleep 1.5
  local t1 x1; t1=$(now_ms); x1=$(xacts)
  # The ceiling's turns touch no database: the API's share of the time.
  local secs; secs=$(calc "($S_WARM + $RUNS * $S_SECS)" 0)
  local rate; rate=$(calc "($x1 - $x0) / $secs" 0)
  row 14 "  PostgreSQL transactions/s while the API was loaded (all ${secs}s of its turns; at most one query per ms)" \
    "$rate ($((x1 - x0)) in $(calc "($t1 - $t0) / 1000" 0) s of the scenario)" "<= 1000" "$(verdict "$rate" '<=' 1000)"
  figure unknown_ids_pg_queries_per_sec "$rate" "<=" 1000
}

# ---------------------------------------------------------------- 2
scenario_2() {
  rcli flushall >/dev/null
  seed 1 bench-single-
  seed 1000 bench-many-
  start_server
  local jobs label out reads secs=$S2_SECS
  for jobs in 1 1000; do
    if [[ $jobs == 1 ]]; then label="1 job"; out=$RUN_DIR/s2-one.txt; else label="1,000 jobs"; out=$RUN_DIR/s2-many.txt; fi
    cmdstats "$out.before"
    if [[ $jobs == 1 ]]; then
      load "$out" "$secs" 1000 "$API/api/v1/jobs/bench-single-0/progress"
    else
      load "$out" "$secs" 1000 "$API/" -- bench-many- 1000
    fi
    sleep 0.5   # requests still queued when wrk stopped are answered
    cmdstats "$out.after"
    reads=$(( $(calls_in "$out.after") - $(calls_in "$out.before") ))
    row 2 "$label, 1,000 pollers: requests/s, p99 ms" "$(get "$out" rps), $(get "$out" p99_ms)" "" ""
    # one load per job per cache period: over a run of S seconds at most
    # S + 1 per job (a load at the very start and one at the very end)
    row 2 "$label: Redis commands/s (per job per s)" \
      "$(calc "$reads / $secs" 1) ($(calc "$reads / $secs / $jobs" 2))" "<= 1 per job per s" \
      "$(verdict "$reads" '<=' "$(( (secs + 1) * jobs ))")"
    row 2 "  commands in the run (get, mget, all)" \
      "$(( $(calls_in "$out.after" get) - $(calls_in "$out.before" get) )), $(( $(calls_in "$out.after" mget) - $(calls_in "$out.before" mget) )), $reads" "" ""
    row 2 "  errors (socket, non-2xx)" \
      "$(( $(get "$out" err_connect) + $(get "$out" err_read) + $(get "$out" err_write) + $(get "$out" err_timeout) )), $(get "$out" err_status)" "0" \
      "$(verdict "$(( $(get "$out" err_connect) + $(get "$out" err_read) + $(get "$out" err_write) + $(get "$out" err_timeout) + $(get "$out" err_status) ))" '==' 0)"
  done
}

# ---------------------------------------------------------------- 3
scenario_3() {
  rcli flushall >/dev/null
  say "  filling Redis with $S3_OTHER_KEYS unrelated keys and $S3_JOBS active jobs"
  rcli debug populate "$S3_OTHER_KEYS" unrelated 100 >/dev/null
  seed "$S3_JOBS" bench-active-
  local dbsize; dbsize=$(rcli dbsize)
  # every request a full read: the cache is switched off
  start_server CACHE_TTL_MS=0
  local total
  total=$(curl -s -D - -o /dev/null "$API/api/v1/jobs/active" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-total-count" { print $2 }')
  [[ $total == "$S3_JOBS" ]] || { echo "X-Total-Count is '$total', expected $S3_JOBS" >&2; return 1; }
  rcli config set slowlog-log-slower-than 2000 >/dev/null
  rcli slowlog reset >/dev/null
  load "$RUN_DIR/s3-1000.txt" "$S3_SECS" 1 "$API/api/v1/jobs/active"
  load "$RUN_DIR/s3-10000.txt" "$S3_SECS" 1 "$API/api/v1/jobs/active?limit=10000"
  local slow; slow=$(rcli slowlog len)
  local slowest
  slowest=$(slowlog_entries | sort -n | tail -n 1)
  # and with the cache on, as deployed (a load every second, shared)
  stop_server
  start_server
  load "$RUN_DIR/s3-cached.txt" "$S3_SECS" 1 "$API/api/v1/jobs/active"
  rcli slowlog get 20 > "$RUN_DIR/s3-slowlog-api.txt"
  row 3 "Redis keys in all" "$dbsize" "" ""
  row 3 "GET /jobs/active (limit 1000), uncached: p50 / p99 ms" \
    "$(get "$RUN_DIR/s3-1000.txt" p50_ms) / $(get "$RUN_DIR/s3-1000.txt" p99_ms)" "p50 <= 20" \
    "$(verdict "$(get "$RUN_DIR/s3-1000.txt" p50_ms)" '<=' 20)"
  row 3 "GET /jobs/active?limit=10000, uncached: p50 / p99 ms" \
    "$(get "$RUN_DIR/s3-10000.txt" p50_ms) / $(get "$RUN_DIR/s3-10000.txt" p99_ms)" "" ""
  row 3 "  requests/s (limit 1000 / 10000), 1 conn" \
    "$(get "$RUN_DIR/s3-1000.txt" rps) / $(get "$RUN_DIR/s3-10000.txt" rps)" "" ""
  row 3 "GET /jobs/active (limit 1000), cached 1 s: p50 / p99 ms" \
    "$(get "$RUN_DIR/s3-cached.txt" p50_ms) / $(get "$RUN_DIR/s3-cached.txt" p99_ms)" "" ""
  row 3 "Redis commands >= 2 ms during the API runs (slowest: us cmd)" "$slow (${slowest:-none})" "0" "$(verdict "$slow" '==' 0)"
  # what KEYS would cost, on the same Redis
  rcli slowlog reset >/dev/null
  helper jp-keys-listing --reps 3 > "$RUN_DIR/s3-keys.txt" 2>>"$LOG"
  rcli slowlog get 20 > "$RUN_DIR/s3-slowlog-keys.txt"
  local keys_server
  keys_server=$(slowlog_entries | awk '$2 == "KEYS" && $1 > m { m = $1 } END { print m + 0 }')
  local mget_server
  mget_server=$(slowlog_entries | awk '$2 == "MGET" && $1 > m { m = $1 } END { print m + 0 }')
  row 3 "KEYS ${PREFIX}progress:* (client ms; in Redis us)" \
    "$(get "$RUN_DIR/s3-keys.txt" keys_ms) ($keys_server)" "" ""
  row 3 "KEYS + one MGET of every key, ms (the MGET in Redis us)" "$(get "$RUN_DIR/s3-keys.txt" keys_listing_total_ms) ($mget_server)" "" ""
  row 3 "index: ZRANGE + MGET by 500, ms (what the API does)" "$(get "$RUN_DIR/s3-keys.txt" index_listing_total_ms)" "" ""
  rcli config set slowlog-log-slower-than 10000 >/dev/null
  rcli flushall >/dev/null
}

# ---------------------------------------------------------------- 4
# probe_recovery FILE FROM_MS: ms from FROM_MS to the first answer from Redis
probe_recovery() {
  awk -F'\t' -v t="$2" '$1 >= t && $3 == "redis" { print $1 - t; f = 1; exit } END { if (!f) print "never" }' "$1"
}
# probe_window FILE FROM TO: what the probe saw between two moments
probe_window() {
  awk -F'\t' -v a="$2" -v b="$3" '$1 >= a && $1 < b {
      n++; k[$2 "/" $3]++; if ($4 + 0 > m) m = $4 + 0 }
    END { s = ""; for (x in k) s = s x "=" k[x] " "; printf "%d probes: %smax %.0f ms", n, s, m }' "$1"
}
outage_load() { # PHASE: two wrk runs (one job, the active list) in the background
  local secs=$((S4_OUTAGE + 1))
  taskset -c "$LOAD_CPU" wrk -t1 -c32 -d"${secs}s" --latency --timeout 1s -s "$BENCH/wrk/bench.lua" \
    "$API/api/v1/jobs/bench-outage-0/progress" > "$RUN_DIR/s4-$1-job.txt" 2>&1 &
  WRK_JOB=$!; track "$WRK_JOB"
  taskset -c "$LOAD_CPU" wrk -t1 -c32 -d"${secs}s" --latency --timeout 1s -s "$BENCH/wrk/bench.lua" \
    "$API/api/v1/jobs/active" > "$RUN_DIR/s4-$1-active.txt" 2>&1 &
  WRK_ACTIVE=$!; track "$WRK_ACTIVE"
}
outage_rows() { # PHASE LABEL
  local f
  for what in job active; do
    f=$RUN_DIR/s4-$1-$what.txt
    local p99; p99=$(get "$f" p99_ms)
    row 4 "$2, GET $what: p50 / p99 / max ms" "$(get "$f" p50_ms) / $p99 / $(get "$f" max_ms)" "p99 <= 50" "$(verdict "$p99" '<=' 50)"
    row 4 "$2, GET $what: requests, non-2xx, timeouts (>1 s), socket errors" \
      "$(get "$f" requests), $(get "$f" err_status), $(get "$f" err_timeout), $(( $(get "$f" err_connect) + $(get "$f" err_read) + $(get "$f" err_write) ))" \
      "0 timeouts" "$(verdict "$(get "$f" err_timeout)" '==' 0)"
  done
}
scenario_4() {
  rcli flushall >/dev/null
  seed 100 bench-outage-
  seed 1 bench-probe-
  rcli save >/dev/null   # the restart after the kill loads this
  start_server
  local probe_secs=$(( 2 * (S4_OUTAGE + S4_RECOVERY + 2) + 4 ))
  # (run directly, not through helper(), so that $! is the probe itself)
  taskset -c "$LOAD_CPU" "$BENCH_BIN/jp-probe" --addr "127.0.0.1:$API_PORT" \
    --path /api/v1/jobs/bench-probe-0/progress \
    --interval-ms 50 --secs "$probe_secs" --out "$RUN_DIR/s4-probe.tsv" 2>>"$LOG" &
  local probe_pid=$!; track "$probe_pid"
  sleep 2

  # A: Redis hangs (SIGSTOP), then resumes (SIGCONT)
  outage_load stop
  sleep 0.5
  local t_stop; t_stop=$(now_ms); kill -STOP "$REDIS_PID"
  sleep "$S4_OUTAGE"
  local t_cont; t_cont=$(now_ms); kill -CONT "$REDIS_PID"
  wait "$WRK_JOB" "$WRK_ACTIVE" || true
  sleep "$S4_RECOVERY"

  # B: Redis dies (SIGKILL), then is restarted with its data
  outage_load kill
  sleep 0.5
  local t_kill; t_kill=$(now_ms); kill -KILL "$REDIS_PID"
  sleep "$S4_OUTAGE"
  local t_restart; t_restart=$(now_ms); start_redis
  local t_up; t_up=$(now_ms)
  wait "$WRK_JOB" "$WRK_ACTIVE" || true
  sleep "$S4_RECOVERY"
  kill "$probe_pid" 2>/dev/null || true; wait "$probe_pid" 2>/dev/null || true

  local probe=$RUN_DIR/s4-probe.tsv
  outage_rows stop "Redis stopped (SIGSTOP ${S4_OUTAGE}s)"
  row 4 "  probe during SIGSTOP" "$(probe_window "$probe" "$t_stop" "$t_cont")" "" ""
  local rec; rec=$(probe_recovery "$probe" "$t_cont")
  row 4 "  reads from Redis again after SIGCONT, ms" "$rec" "<= 2000" "$(verdict "$rec" '<=' 2000)"
  outage_rows kill "Redis killed (SIGKILL ${S4_OUTAGE}s)"
  row 4 "  probe while killed" "$(probe_window "$probe" "$t_kill" "$t_restart")" "" ""
  rec=$(probe_recovery "$probe" "$t_restart")
  row 4 "  reads from Redis again after restart, ms (Redis up after $((t_up - t_restart)) ms)" "$rec" "<= 2000" "$(verdict "$rec" '<=' 2000)"
}

# ---------------------------------------------------------------- 5
scenario_5() {
  rcli flushall >/dev/null
  fg_tracked taskset -c "$SERVER_CPU" env REDIS_URL="$REDIS_URL" DATABASE_URL="$DB_URL" KEY_PREFIX=$PREFIX RUST_LOG=warn \
    "$BENCH_BIN/jp-writer-load" --jobs "$S5_JOBS" --secs "$S5_SECS" --warmup-secs "$S5_WARM" \
    > "$RUN_DIR/s5.txt" 2>>"$LOG"
  local f=$RUN_DIR/s5.txt rt mem
  rt=$(get "$f" redis_round_trips_per_update); mem=$(get "$f" memory_usage_value_key)
  row 5 "jobs x window (writer on cpu $SERVER_CPU)" "$(get "$f" jobs) x $(get "$f" window_secs) s" "" ""
  row 5 "updates/s; Redis writes (EVALSHA)/s" "$(get "$f" updates_per_sec); $(get "$f" redis_scripts_per_sec)" "" ""
  row 5 "Redis round trips per update" "$rt" "<= 1" "$(verdict "$rt" '<=' 1)"
  row 5 "  commands in the window" "$(get "$f" redis_commands_breakdown)" "" ""
  row 5 "CPU per update, us (writer process; share of a core)" "$(get "$f" cpu_us_per_update) ($(get "$f" cpu_core_share))" "" ""
  row 5 "PostgreSQL checkpoints/s (in the window)" "$(get "$f" pg_checkpoints_per_sec) ($(get "$f" pg_checkpoints))" "" ""
  row 5 "Redis memory per job: MEMORY USAGE of the value key, bytes" "$mem" "<= 512" "$(verdict "$mem" '<=' 512)"
  row 5 "  + its share of the active index = per job in all" \
    "$(get "$f" memory_usage_index_per_job) = $(get "$f" memory_per_job)" "" ""
  row 5 "  JSON value bytes; used_memory growth per job" "$(get "$f" value_bytes); $(get "$f" used_memory_delta_per_job)" "" ""
  row 5 "refused updates" "$(get "$f" refused_updates)" "0" "$(verdict "$(get "$f" refused_updates)" '==' 0)"
  rcli flushall >/dev/null
}

# ---------------------------------------------------------------- 6
scenario_6() {
  rcli flushall >/dev/null
  seed 1 bench-conn-
  start_server
  curl -sf "$API/api/v1/jobs/bench-conn-0/progress" >/dev/null
  sleep 1
  helper jp-conns --addr "127.0.0.1:$API_PORT" --path /api/v1/jobs/bench-conn-0/progress \
    --conns "$S6_CONNS" --interval-secs 3 --hold-secs "$S6_HOLD" --server-pid "$SERVER_PID" \
    > "$RUN_DIR/s6.txt" 2>>"$LOG"
  local f=$RUN_DIR/s6.txt
  local kib=1024
  row 6 "connections opened / open at end (asked)" "$(get "$f" conns_opened) / $(get "$f" conns_open_at_end) ($(get "$f" conns_requested))" "all" \
    "$(verdict "$(get "$f" conns_open_at_end)" '>=' "$(get "$f" conns_requested)")"
  row 6 "connect / request errors, non-200" "$(get "$f" connect_errors) / $(get "$f" request_errors), $(get "$f" non_200)" "" ""
  row 6 "API RSS before / during / after, MiB" \
    "$(calc "$(get "$f" rss_before_kib) / $kib" 1) / $(calc "$(get "$f" rss_during_kib) / $kib" 1) / $(calc "$(get "$f" rss_after_kib) / $kib" 1)" "" ""
  row 6 "RSS per connection, bytes" "$(get "$f" rss_per_conn_bytes)" "" ""
  row 6 "polls (every 3 s): count, p50 / p99 ms" "$(get "$f" polls), $(get "$f" poll_p50_ms) / $(get "$f" poll_p99_ms)" "" ""
}

# ---------------------------------------------------------------- 7-10: live push
# Streams need SSE_MAX_STREAMS above what they open (the default is 10,000),
# and, since every stream comes from this one address, no cap per client
# (SSE_MAX_STREAMS_PER_CLIENT, 256 by default).
start_sse_server() { start_server SSE_MAX_STREAMS=20000 SSE_MAX_STREAMS_PER_CLIENT=0 "$@"; }

scenario_7() {
  rcli flushall >/dev/null
  start_sse_server
  sse_helper jp-latency --addr "127.0.0.1:$API_PORT" --streams "$S7_STREAMS" --jobs "$S7_JOBS" \
    --job-interval-ms 1000 --secs "$S7_SECS" --active-streams 10 > "$RUN_DIR/s7.txt" 2>>"$LOG"
  local f=$RUN_DIR/s7.txt p99
  p99=$(get "$f" latency_p99_ms)
  row 7 "streams open at end / asked (over $(get "$f" jobs) jobs)" "$(get "$f" streams_open_at_end) / $(get "$f" streams_requested)" "all" \
    "$(verdict "$(get "$f" streams_open_at_end)" '>=' "$(get "$f" streams_requested)")"
  row 7 "writes/s (each job once a second); events received / expected" \
    "$(get "$f" writes_per_sec); $(get "$f" events_received) / $(get "$f" events_expected)" "" ""
  row 7 "write to client event: p50 / p99 / max ms" \
    "$(get "$f" latency_p50_ms) / $p99 / $(get "$f" latency_max_ms)" "p99 <= 50" "$(verdict "$p99" '<=' 50)"
  row 7 "  p90 / p99.9 ms" "$(get "$f" latency_p90_ms) / $(get "$f" latency_p999_ms)" "" ""
  row 7 "  10 streams of the active list (every job): p50 / p99 / max ms; events received / expected" \
    "$(get "$f" active_latency_p50_ms) / $(get "$f" active_latency_p99_ms) / $(get "$f" active_latency_max_ms); $(get "$f" active_events_received) / $(get "$f" active_events_expected)" "" ""
  # Diagnosis: the same with clients that ACK at once (TCP_QUICKACK), which
  # takes the delayed ACK out of the interplay with the server's Nagle.
  sse_helper jp-latency --addr "127.0.0.1:$API_PORT" --streams "$S7_STREAMS" --jobs "$S7_JOBS" \
    --job-interval-ms 1000 --secs "$S7_DIAG_SECS" --active-streams 10 --quickack --id-prefix bench-sse-qa- \
    > "$RUN_DIR/s7-quickack.txt" 2>>"$LOG"
  local q=$RUN_DIR/s7-quickack.txt
  row 7 "  diagnosis, clients ACK at once: job streams p50 / p99 / max; active list p50 / p99 / max ms" \
    "$(get "$q" latency_p50_ms) / $(get "$q" latency_p99_ms) / $(get "$q" latency_max_ms); $(get "$q" active_latency_p50_ms) / $(get "$q" active_latency_p99_ms) / $(get "$q" active_latency_max_ms)" "" ""
  row 7 "  of which the write itself (RedisStore::write round trip): p50 / p99 ms" \
    "$(get "$f" write_rtt_p50_ms) / $(get "$f" write_rtt_p99_ms)" "" ""
}

# streams_rows N FILE: the rows both 8 and 9 report about the open streams
streams_rows() {
  local n=$1 f=$2
  row "$n" "streams opened / open at end (asked, jobs)" \
    "$(get "$f" streams_opened) / $(get "$f" streams_open_at_end) ($(get "$f" streams_requested), $(get "$f" jobs))" "all" \
    "$(verdict "$(get "$f" streams_open_at_end)" '>=' "$(get "$f" streams_requested)")"
}

# Past 20,000 streams jp-streams spreads its connections over loopback
# source addresses (127.0.0.2, ...): one address has about 28,000 ephemeral
# ports to the server's port. No cap per client, so they do not matter to
# the server.
scenario_8() {
  rcli flushall >/dev/null
  local limit streams=$S8_STREAMS
  limit=$(ulimit -n)
  if (( limit < S8_STREAMS + 1024 )); then streams=$(( limit - 1024 )); fi
  row 8 "open-file limit of each side; streams asked / it allows" \
    "$limit; $S8_STREAMS / $streams" ">= asked" "$(verdict "$streams" '>=' "$S8_STREAMS")"
  start_sse_server SSE_MAX_STREAMS=$(( streams + 1000 ))
  sse_helper jp-streams --addr "127.0.0.1:$API_PORT" --streams "$streams" --jobs 100 \
    --hold-secs "$S8_HOLD" --server-pid "$SERVER_PID" --redis-port "$REDIS_PORT" \
    > "$RUN_DIR/s8.txt" 2>>"$LOG"
  local f=$RUN_DIR/s8.txt kib=1024 per before during
  streams_rows 8 "$f"
  row 8 "  client source addresses" "$(get "$f" source_addrs)" "" ""
  row 8 "API RSS before / during / after, MiB" \
    "$(calc "$(get "$f" rss_before_kib) / $kib" 1) / $(calc "$(get "$f" rss_during_kib) / $kib" 1) / $(calc "$(get "$f" rss_after_kib) / $kib" 1)" "" ""
  per=$(get "$f" rss_per_stream_bytes)
  row 8 "RSS per stream, bytes" "$per" "<= 10240" "$(verdict "$per" '<=' 10240)"
  before=$(get "$f" redis_conns_before); during=$(get "$f" redis_conns_during)
  row 8 "server's Redis connections before / with the streams / after (CLIENT LIST)" \
    "$before / $during / $(get "$f" redis_conns_after)" "constant" "$(verdict "$during" '==' "$before")"
  row 8 "  their last commands, with the streams" "$(get "$f" redis_conns_during_cmds)" "" ""
  row 8 "  server CPU while they idle %; streams opened in s" \
    "$(get "$f" hold_server_cpu_pct); $(get "$f" connect_secs)" "" ""
}

scenario_9() {
  rcli flushall >/dev/null
  start_sse_server
  sse_helper jp-streams --addr "127.0.0.1:$API_PORT" --streams "$S9_STREAMS" --jobs 1 \
    --hold-secs 2 --updates "$S9_ROUNDS" --server-pid "$SERVER_PID" --redis-port "$REDIS_PORT" \
    > "$RUN_DIR/s9.txt" 2>>"$LOG"
  local f=$RUN_DIR/s9.txt
  streams_rows 9 "$f"
  row 9 "one update, $(get "$f" fanout_watchers) streams: first / last has it, ms (median of $S9_ROUNDS)" \
    "$(get "$f" fanout_first_median_ms) / $(get "$f" fanout_last_median_ms)" "" ""
  row 9 "  per update: first ms" "$(get "$f" fanout_first_ms)" "" ""
  row 9 "  per update: p50 ms" "$(get "$f" fanout_p50_ms)" "" ""
  row 9 "  per update: p99 ms" "$(get "$f" fanout_p99_ms)" "" ""
  row 9 "  per update: last ms" "$(get "$f" fanout_last_ms)" "" ""
  row 9 "  streams that got each update (fewest)" "$(get "$f" fanout_min_received) of $(get "$f" fanout_watchers)" "all" \
    "$(verdict "$(get "$f" fanout_min_received)" '>=' "$(get "$f" fanout_watchers)")"
  row 9 "  server CPU per update, ms (us per stream)" \
    "$(get "$f" fanout_server_cpu_ms_median) ($(get "$f" fanout_server_cpu_us_per_stream))" "" ""
}

scenario_10() {
  rcli flushall >/dev/null
  start_sse_server
  sse_helper jp-watchers --addr "127.0.0.1:$API_PORT" --watchers "$S10_WATCHERS" --secs "$S10_SECS" \
    --poll-secs 3 --server-pid "$SERVER_PID" > "$RUN_DIR/s10.txt" 2>>"$LOG"
  local f=$RUN_DIR/s10.txt
  row 10 "watchers of one job, per mode; window s" "$(get "$f" watchers); $(get "$f" window_secs)" "" ""
  row 10 "poll every 3 s, job still: requests/s (200 / 304 in window), us per request" \
    "$(get "$f" poll_requests_per_sec) ($(get "$f" poll_requests_200) / $(get "$f" poll_requests_304)), $(get "$f" poll_us_per_request)" "" ""
  row 10 "poll every 3 s, job moving 1/s: requests/s (200 / 304), us per request" \
    "$(get "$f" poll_moving_requests_per_sec) ($(get "$f" poll_moving_requests_200) / $(get "$f" poll_moving_requests_304)), $(get "$f" poll_moving_us_per_request)" "" ""
  row 10 "SSE, job moving 1/s: events/s, us per event" \
    "$(get "$f" sse_events_per_sec), $(get "$f" sse_us_per_event)" "" ""
  row 10 "server CPU us per watcher per minute: poll 304s / poll moving / SSE" \
    "$(get "$f" poll_us_per_watcher_min) / $(get "$f" poll_moving_us_per_watcher_min) / $(get "$f" sse_us_per_watcher_min)" "" ""
  row 10 "  the same less the idle server's CPU" \
    "$(get "$f" poll_net_us_per_watcher_min) / $(get "$f" poll_moving_net_us_per_watcher_min) / $(get "$f" sse_net_us_per_watcher_min)" "" ""
  row 10 "  server core busy %: poll 304s / poll moving / SSE (idle: $(get "$f" idle_server_cpu_ms_per_min) ms per min)" \
    "$(get "$f" poll_server_cpu_pct) / $(get "$f" poll_moving_server_cpu_pct) / $(get "$f" sse_server_cpu_pct)" "" ""
  row 10 "  failures: pollers / streams (streams open at end of $(get "$f" sse_opened))" \
    "$(get "$f" poll_failed) + $(get "$f" poll_moving_failed) / $(get "$f" sse_failed) ($(get "$f" sse_open_at_end))" "0" \
    "$(verdict "$(( $(get "$f" poll_failed) + $(get "$f" poll_moving_failed) + $(get "$f" sse_failed) ))" '==' 0)"
}

# ---------------------------------------------------------------- 12
# What an open dashboard costs: 10,000 active jobs each written once a
# second, and N streams of the active list's first page of 50, as the
# dashboard opens it; the server's CPU with none and with N. Then, the N
# still open, the real page in a headless Chromium (on the load core, as
# the helper is): the CPU of its renderer and of the whole browser.
scenario_12() {
  rcli flushall >/dev/null
  start_sse_server
  sse_helper jp-dashboards --addr "127.0.0.1:$API_PORT" --jobs "$S12_JOBS" --dashboards "$S12_DASHBOARDS" \
    --limit 50 --secs "$S12_SECS" --server-pid "$SERVER_PID" --page > "$RUN_DIR/s12.txt" 2>>"$LOG"
  local f=$RUN_DIR/s12.txt per page
  per=$(get "$f" api_cores_per_dashboard)
  row 12 "dashboards open at end / asked; jobs written/s" \
    "$(get "$f" dashboards_open_at_end) / $(get "$f" dashboards_requested); $(get "$f" writes_per_sec_n)" "all" \
    "$(verdict "$(get "$f" dashboards_open_at_end)" '>=' "$(get "$f" dashboards_requested)")"
  row 12 "API cores busy, 0 / $(get "$f" dashboards_opened) dashboards" \
    "$(get "$f" server_cores_0) / $(get "$f" server_cores_n)" "" ""
  row 12 "API CPU per dashboard, cores" "$per" "<= 0.01" "$(verdict "$per" '<=' 0.01)"
  figure api_cores_per_dashboard "$per" "<=" 0.01
  row 12 "  events per dashboard per s" "$(get "$f" events_per_dashboard_per_sec)" "" ""
  page=$(get "$f" page_renderer_cores)
  row 12 "page CPU (Chromium renderer), cores" "$page" "<= 0.05" "$(verdict "$page" '<=' 0.05)"
  # (no figure when the page could not be measured: no Chromium)
  if [[ -n $page ]]; then figure page_cores_per_dashboard "$page" "<=" 0.05; fi
  row 12 "  browser total, cores ($(get "$f" page_browser_processes) processes)" "$(get "$f" page_browser_cores)" "" ""
  row 12 "  DevTools: main-thread tasks / script / style + layout, cores" \
    "$(get "$f" page_task_cores) / $(get "$f" page_script_cores) / $(get "$f" page_style_layout_cores)" "" ""
  row 12 "  events shown per s (rows' Processed); indicator at end" \
    "$(get "$f" page_events_per_sec); $(get "$f" page_state_at_end)" "" ""
  rcli flushall >/dev/null
}

# ---------------------------------------------------------------- run
started=$(date +%s)
create_db
start_redis
for n in 1 2 3 4 5 6 7 8 9 10 12 13 14; do run_scenario "$n"; done
elapsed=$(( $(date +%s) - started ))

{
  printf 'scenario\tmetric\tvalue\ttarget\tverdict\n'
  cat "$RESULTS"
} > "$RUN_DIR/table.tsv"
{
  echo "| # | metric | value | target | verdict |"
  echo "|---|---|---|---|---|"
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$RESULTS"
} > "$RUN_DIR/results.md"
echo
cat "$RUN_DIR/machine.txt"
echo
column -t -s $'\t' "$RUN_DIR/table.tsv"
echo
echo "($MODE run: ${elapsed}s after the builds; files in $RUN_DIR)"

# ---------------------------------------------------------------- figures
FIGURES=$BENCH/figures.tsv
if [[ -s $RUN_DIR/figures.tsv ]]; then
  echo
  echo "figures (medians of $RUNS runs; bench/figures.tsv holds the last committed ones)"
  {
    printf 'figure\tnow\tgoal\tverdict\tcommitted\n'
    while IFS=$'\t' read -r name value op goal; do
      old=$(awk -F'\t' -v k="$name" '$1 == k { print $2 }' "$FIGURES" 2>/dev/null || true)
      printf '%s\t%s\t%s %s\t%s\t%s\n' "$name" "$value" "$op" "$goal" "$(verdict "$value" "$op" "$goal")" "${old:--}"
    done < "$RUN_DIR/figures.tsv"
  } | column -t -s $'\t'
fi
if [[ $SAVE == 1 ]]; then
  {
    echo "# figure	value	op	goal  (bench/run.sh --save-figures; $(date -u +%F), commit $(git -C "$ROOT" rev-parse --short HEAD))"
    cat "$RUN_DIR/figures.tsv"
  } > "$FIGURES"
  echo "saved to $FIGURES"
fi
if [[ $CHECK == 1 ]]; then
  [[ -s $FIGURES ]] || { echo "no $FIGURES to check against" >&2; exit 1; }
  # A figure fell when it moved the wrong way by more than 10 %.
  fell=$(awk -F'\t' 'NR == FNR { if ($1 !~ /^#/) old[$1] = $2; next }
    ($1 in old) && (($3 == ">=" && $2 < old[$1] * 0.9) || ($3 == "<=" && $2 > old[$1] * 1.1)) {
      printf "  %s: %s, was %s\n", $1, $2, old[$1] }' "$FIGURES" "$RUN_DIR/figures.tsv")
  if [[ -n $fell ]]; then
    echo; echo "fell by more than 10 % against bench/figures.tsv:"; echo "$fell"; exit 1
  fi
  echo; echo "no figure fell by more than 10 % against bench/figures.tsv"
fi
