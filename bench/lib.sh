# Shell functions the benchmark scripts share (bench/run.sh,
# bench/embedded.sh): sourced, never run. See BENCHMARKS.md.
#
# Sourcing sets where the programs are (ROOT, BENCH, SERVER_TARGET,
# SERVER_BIN, BENCH_BIN) and the cores (SERVER_CPU, LOAD_CPU). The caller
# sets, before using the functions:
#   RUN_DIR, LOG, PIDS             the run's folder, its log, the pids it started
#   RESULTS                        where row() appends (may change between modes)
#   API_PORT, CEIL_PORT, REDIS_PORT, PG_BASE
#   SERVER_ENV                     an array of `env` arguments start_server puts
#                                  before the server's other settings (its stores)
# Everything a script starts is tracked (track PID) so that stop_tracked
# can end it, and only it, on the way out.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
SERVER_TARGET=${JP_SERVER_TARGET_DIR:-$ROOT/target}
SERVER_BIN=$SERVER_TARGET/release/job-progress
BENCH_BIN=$BENCH/target/release
# the bench helpers the scripts start (bench/src/bin; bench/src/lib.rs lists them)
BENCH_PROGRAMS=("$BENCH_BIN"/{ceiling,jp-seed,jp-keys-listing,jp-probe,jp-writer-load,jp-conns,jp-latency,jp-streams,jp-watchers,jp-dashboards})
# the server on one core, the load (wrk, clients, Redis) on the other
SERVER_CPU=${BENCH_SERVER_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
if [[ $(nproc) -lt 2 ]]; then LOAD_CPU=$SERVER_CPU; fi

say() { echo "[$(date +%T)] $*" | tee -a "$LOG" >&2; }
track() { echo "$1" >> "$PIDS"; }
# fg_tracked CMD...: runs CMD as a tracked child and waits for it (so a
# signal to the script interrupts the wait and the cleanup can stop CMD)
fg_tracked() { "$@" & local p=$!; track "$p"; wait "$p"; }
now_ms() { date +%s%3N; }
# ours PID: the process still runs one of the suite's programs (never kill a recycled pid)
ours() {
  local exe; exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  local bin
  for bin in "$SERVER_BIN" "${BENCH_PROGRAMS[@]}" "$(command -v wrk)" "$(command -v redis-server)"; do
    [[ $exe == "$(readlink -f "$bin")" ]] && return 0
  done
  return 1
}
# stop_tracked: TERM, then KILL, everything the script started, newest first
# (only pids that still run one of its programs)
stop_tracked() {
  local pid
  for pid in $(tac "$PIDS" 2>/dev/null); do
    ours "$pid" && { kill -CONT "$pid"; kill -TERM "$pid"; } 2>/dev/null
  done
  sleep 1
  for pid in $(tac "$PIDS" 2>/dev/null); do ours "$pid" && kill -KILL "$pid" 2>/dev/null; done
}

# stop_all DATABASE: on the way out, all the run started: the step still
# running, the tracked processes, its Redis, its database
stop_all() {
  say "cleaning up"
  # a step still running (our own unreaped child: its pid is still ours)
  [[ -n ${SCEN_PID:-} ]] && kill -TERM "$SCEN_PID" 2>/dev/null
  stop_tracked
  stop_redis
  psql "$PG_BASE/postgres" -qAt -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1 \
    && say "dropped database $1"
}

# A row of the results table: scenario, metric, value, target, verdict.
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:--}" "${5:--}" >> "$RESULTS"; }
# verdict VALUE OP LIMIT -> PASS or MISS (numeric comparison)
verdict() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
  ok = (op == "<=") ? (v + 0 <= l + 0) : (op == ">=") ? (v + 0 >= l + 0) : (op == "==") ? (v + 0 == l + 0) : 0
  print (v == "" ? "n/a" : (ok ? "PASS" : "MISS")) }'; }
# get FILE NAME: the value of a "WRK" or "RESULT" line
get() { awk -F'\t' -v k="$2" '($1 == "WRK" || $1 == "RESULT") && $2 == k { print $3; exit }' "$1"; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

# run_isolated N FUNCTION: runs FUNCTION in a subshell, so a failing step
# ends it and not the run, and in the background, so Ctrl-C or a TERM
# reaches the cleanup at once; a failure becomes a FAIL row of scenario N.
# A server an earlier step started (its pid file) is this step's server.
run_isolated() {
  local n=$1 rc=0
  (
    set -e
    if [[ -f $RUN_DIR/server.pid ]]; then SERVER_PID=$(cat "$RUN_DIR/server.pid"); fi
    "$2"
  ) &
  SCEN_PID=$!
  wait "$SCEN_PID" || rc=$?
  SCEN_PID=
  if [[ $rc -ne 0 ]]; then
    row "$n" "scenario failed (exit $rc; see $RUN_DIR)" "-" "-" "FAIL"
    say "scenario $n FAILED (exit $rc)"
  fi
  return "$rc"
}

# ---------------------------------------------------------------- tools, machine
need() { command -v "$1" >/dev/null 2>&1; }
# need_tools TOOL...: wrk (installed when missing) and the others named
need_tools() {
  if ! need wrk; then
    say "installing wrk (Debian package)"
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  fi
  local tool
  for tool in "$@"; do
    need "$tool" || { echo "missing: $tool (scripts/services.sh installs Redis and PostgreSQL)" >&2; return 1; }
  done
}
# build_release: the server (SERVER_TARGET) and the bench helpers
# (bench/target), release builds; then checks the programs named exist
build_release() {
  say "building the server: cargo build --release (in $ROOT)"
  (cd "$ROOT" && CARGO_TARGET_DIR=$SERVER_TARGET cargo build --release) 2>&1 | tail -n 3 | tee -a "$LOG" >&2
  say "building the bench helpers (in bench/target)"
  cargo build --release --manifest-path "$BENCH/Cargo.toml" --target-dir "$BENCH/target" 2>&1 | tail -n 3 | tee -a "$LOG" >&2
}
# need_built PROGRAM...: each exists and may be run
need_built() {
  local bin
  for bin in "$@"; do
    [[ -x $bin ]] || { echo "not built: $bin" >&2; return 1; }
  done
}
# record_machine MODE PINNING: machine.txt (and on stderr)
record_machine() {
  {
    echo "mode: $1"
    echo "date: $(date -u +%FT%TZ)"
    echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$( [[ -n $(git -C "$ROOT" --no-optional-locks status --porcelain -- src Cargo.toml Cargo.lock migrations 2>/dev/null) ]] && echo ' (+ uncommitted changes)')"
    echo "cpus: $(nproc) x $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "kernel: $(uname -r)"
    echo "redis: $(redis-server --version | awk '{ print $3 }'), postgres: $(psql --version | awk '{ print $3 }'), wrk: $(wrk --version 2>&1 | awk 'NR == 1 { print $2 }')"
    echo "pinning: $2"
  } > "$RUN_DIR/machine.txt"
  cat "$RUN_DIR/machine.txt" >&2
}

# ---------------------------------------------------------------- Redis
start_redis() {
  if rcli ping >/dev/null 2>&1; then
    echo "something already answers on port $REDIS_PORT; set BENCH_REDIS_PORT" >&2; return 1
  fi
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$RUN_DIR/redis.pid" --dir "$RUN_DIR" --dbfilename bench.rdb \
    --logfile "$RUN_DIR/redis.log" --enable-debug-command local >/dev/null
  for _ in $(seq 100); do rcli ping >/dev/null 2>&1 && break; sleep 0.05; done
  rcli ping >/dev/null
  REDIS_PID=$(cat "$RUN_DIR/redis.pid")
  track "$REDIS_PID"
  taskset -pc "$LOAD_CPU" "$REDIS_PID" >/dev/null
}
stop_redis() {
  [[ -f $RUN_DIR/redis.pid ]] || return 0
  local pid; pid=$(cat "$RUN_DIR/redis.pid")
  rm -f "$RUN_DIR/redis.pid"
  ours "$pid" || return 0
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- the server
# start_server [VAR=value ...]: the API on cpu SERVER_CPU, one HTTP worker,
# its stores from SERVER_ENV, then the arguments (which override the rest).
start_server() {
  if curl -s -o /dev/null "http://127.0.0.1:$API_PORT/healthz"; then
    echo "something already answers on port $API_PORT; set BENCH_API_PORT" >&2; return 1
  fi
  env "${SERVER_ENV[@]}" LISTEN_ADDR=127.0.0.1:$API_PORT \
    HTTP_WORKERS=1 SHUTDOWN_TIMEOUT_SECS=2 LOG_FORMAT="${BENCH_LOG_FORMAT:-json}" \
    RUST_LOG="${BENCH_RUST_LOG:-info}" RATE_LIMIT_PER_SECOND="${BENCH_RATE_LIMIT:-10000000}" "$@" \
    taskset -c "$SERVER_CPU" "$SERVER_BIN" serve >> "$RUN_DIR/server.log" 2>&1 &
  SERVER_PID=$!
  track "$SERVER_PID"
  echo "$SERVER_PID" > "$RUN_DIR/server.pid"
  for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$API_PORT/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "the server exited; see $RUN_DIR/server.log" >&2; return 1; }
    sleep 0.1
  done
  echo "the server did not answer /healthz" >&2; return 1
}
stop_server() { # (scenarios run in subshells: the pid is in a file)
  [[ -f $RUN_DIR/server.pid ]] || return 0
  local pid; pid=$(cat "$RUN_DIR/server.pid")
  rm -f "$RUN_DIR/server.pid"
  ours "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 20); do curl -s -o /dev/null "http://127.0.0.1:$API_PORT/healthz" || break; sleep 0.1; done
}
# CPU time (ticks of 10 ms) of a process
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# load OUT SECS CONNS URL [wrk args...]: wrk on cpu LOAD_CPU; server CPU% -> OUT
# (bench/wrk/bench.lua unless WRK_SCRIPT names another; every request with
# the header WRK_HEADER when it is set, e.g. a bearer token)
load() {
  local out=$1 secs=$2 conns=$3 url=$4; shift 4
  local header=()
  [[ -n ${WRK_HEADER:-} ]] && header=(-H "$WRK_HEADER")
  local t0; t0=$(cpu_ticks "$SERVER_PID")
  fg_tracked taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${secs}s" --latency --timeout 2s \
    -s "${WRK_SCRIPT:-$BENCH/wrk/bench.lua}" "${header[@]}" "$url" "$@" > "$out" 2>&1
  local t1; t1=$(cpu_ticks "$SERVER_PID")
  local reqs; reqs=$(get "$out" requests)
  printf 'WRK\tserver_cpu_pct\t%s\n' "$(calc "($t1 - $t0) / $secs" 0)" >> "$out"
  printf 'WRK\tserver_cpu_us_per_req\t%s\n' "$(calc "($t1 - $t0) * 10000 / (${reqs:-0} + 1)" 1)" >> "$out"
}

# source_of URL [BODY_FILE]: where the answer's data came from
# (X-Progress-Source); the body goes to BODY_FILE
source_of() {
  local header=()
  [[ -n ${WRK_HEADER:-} ]] && header=(-H "$WRK_HEADER")
  curl -s "${header[@]}" -D - -o "${2:-/dev/null}" "$1" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-progress-source" { print $2 }'
}

# ---------------------------------------------------------------- figures
# figure NAME VALUE OP GOAL: one of the figures `--check` compares with
# bench/figures.tsv (OP >=: higher is better, <=: lower is better)
figure() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$RUN_DIR/figures.tsv"; }
# median V...: the middle value (the lower middle of an even count)
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# against_ceiling N NAME GOAL LABEL URL BODY_FILE [wrk script args...]: the
# API at URL against the ceiling server answering BODY_FILE's bytes for
# any job, the same load on both (64 connections; the script args pick
# the ids), RUNS rounds of S_SECS each of the API then the ceiling after a
# warm-up of each; rows of scenario N for each round, and the median
# ratio as figure NAME (goal: at least GOAL). Leaves the medians in
# API_US and CEIL_US (CPU us per request).
against_ceiling() {
  local n=$1 name=$2 goal=$3 label=$4 url=$5 body=$6; shift 6
  taskset -c "$SERVER_CPU" "$BENCH_BIN/ceiling" "127.0.0.1:$CEIL_PORT" "$body" 1 >> "$RUN_DIR/ceiling.log" 2>&1 &
  local ceil_pid=$!; track "$ceil_pid"
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$CEIL_PORT/api/v1/jobs/x/progress" >/dev/null && break; sleep 0.05; done
  local ceil_url=http://127.0.0.1:$CEIL_PORT/${url#http://*/}
  local s=$RUN_DIR/s$n-$name save=$SERVER_PID round
  load "$s-warm.txt" "$S_WARM" 64 "$url" "$@"
  SERVER_PID=$ceil_pid load "$s-warm-ceil.txt" "$S_WARM" 64 "$ceil_url" "$@"
  local ratios=() api_us=() ceil_us=() api_rps=() ceil_rps=() p99=() errs=0 f
  for round in $(seq "$RUNS"); do
    SERVER_PID=$save load "$s-api-$round.txt" "$S_SECS" 64 "$url" "$@"
    SERVER_PID=$ceil_pid load "$s-ceil-$round.txt" "$S_SECS" 64 "$ceil_url" "$@"
    f=$s-api-$round.txt
    api_rps+=("$(get "$f" rps)"); ceil_rps+=("$(get "$s-ceil-$round.txt" rps)")
    ratios+=("$(calc "$(get "$f" rps) / $(get "$s-ceil-$round.txt" rps)" 2)")
    api_us+=("$(get "$f" server_cpu_us_per_req)"); ceil_us+=("$(get "$s-ceil-$round.txt" server_cpu_us_per_req)")
    p99+=("$(get "$f" p99_ms)")
    errs=$((errs + $(get "$f" err_connect) + $(get "$f" err_read) + $(get "$f" err_write) + $(get "$f" err_timeout)))
  done
  SERVER_PID=$save
  kill "$ceil_pid"; wait "$ceil_pid" 2>/dev/null || true
  local ratio; ratio=$(median "${ratios[@]}")
  API_US=$(median "${api_us[@]}"); CEIL_US=$(median "${ceil_us[@]}")
  row "$n" "$label: API / ceiling, median of $RUNS (each)" "$ratio (${ratios[*]})" ">= $goal" "$(verdict "$ratio" '>=' "$goal")"
  row "$n" "  requests/s: API / ceiling, medians" "$(median "${api_rps[@]}") / $(median "${ceil_rps[@]}")" "" ""
  row "$n" "  server CPU us per request: API / ceiling, medians" "$API_US / $CEIL_US" "" ""
  row "$n" "  API p99 ms, median; socket errors" "$(median "${p99[@]}"); $errs" "" ""
  figure "$name" "$ratio" ">=" "$goal"
}

# ---------------------------------------------------------------- against the ceiling
# vs_ceiling N DIR URL WARM SECS: cached reads of one job (URL) beside the
# ceiling server answering the very bytes URL answers, 64 connections each:
# after a warm-up of each, API and ceiling alternately twice (A, C, A, C),
# SECS in all for each; the rows of scenario N. Files: DIR/sN-*. Leaves
# CEIL_US (the ceiling's CPU us per request) for the caller's diagnoses.
vs_ceiling() {
  local n=$1 dir=$2 url=$3 warm=$4 secs=$5
  local src; src=$(source_of "$url" "$dir/body.json")
  [[ $src == redis ]] || { echo "first read came from '$src', not the hot store" >&2; return 1; }
  taskset -c "$SERVER_CPU" "$BENCH_BIN/ceiling" "127.0.0.1:$CEIL_PORT" "$dir/body.json" 1 >> "$RUN_DIR/ceiling.log" 2>&1 &
  local ceil_pid=$!; track "$ceil_pid"
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$CEIL_PORT/api/v1/jobs/x/progress" >/dev/null && break; sleep 0.05; done
  cmp -s "$dir/body.json" <(curl -s "http://127.0.0.1:$CEIL_PORT/api/v1/jobs/x/progress")
  local ceil_url=http://127.0.0.1:$CEIL_PORT/${url#http://*/}

  local s=$dir/s$n
  load "$s-warm.txt" "$warm" 64 "$url"
  local save=$SERVER_PID
  SERVER_PID=$ceil_pid load "$s-warm-ceil.txt" "$warm" 64 "$ceil_url"
  local half=$(( (secs + 1) / 2 )) round
  for round in a b; do
    SERVER_PID=$save load "$s-api-$round.txt" "$half" 64 "$url"
    SERVER_PID=$ceil_pid load "$s-ceil-$round.txt" "$half" 64 "$ceil_url"
  done
  SERVER_PID=$save
  kill "$ceil_pid"; wait "$ceil_pid" 2>/dev/null || true

  mean() { awk -F'\t' -v k="$1" -v d="$2" '$2 == k { s += $3; n++ } END { printf("%." d "f", s / n) }' "${@:3}"; }
  maxof() { awk -F'\t' -v k="$1" '$2 == k && $3 > m { m = $3 } END { printf "%.3f", m }' "${@:2}"; }
  local api=("$s"-api-?.txt) ceil=("$s"-ceil-?.txt)
  local api_rps ceil_rps api_us f errs=0
  api_rps=$(mean rps 0 "${api[@]}"); ceil_rps=$(mean rps 0 "${ceil[@]}")
  api_us=$(mean server_cpu_us_per_req 1 "${api[@]}"); CEIL_US=$(mean server_cpu_us_per_req 1 "${ceil[@]}")
  for f in "${api[@]}"; do
    errs=$((errs + $(get "$f" err_connect) + $(get "$f" err_read) + $(get "$f" err_write) + $(get "$f" err_status) + $(get "$f" err_timeout)))
  done
  local ratio api_p99; ratio=$(calc "$api_rps / $ceil_rps" 2); api_p99=$(maxof p99_ms "${api[@]}")
  row "$n" "API requests/s (64 conns, cached job)" "$api_rps" "" ""
  row "$n" "ceiling requests/s (bare actix-web, same bytes)" "$ceil_rps" "" ""
  row "$n" "API / ceiling" "$ratio" ">= 0.80" "$(verdict "$ratio" '>=' 0.8)"
  row "$n" "API p50 / p99 ms" "$(maxof p50_ms "${api[@]}") / $api_p99" "p99 <= 2" "$(verdict "$api_p99" '<=' 2)"
  row "$n" "ceiling p50 / p99 ms" "$(maxof p50_ms "${ceil[@]}") / $(maxof p99_ms "${ceil[@]}")" "" ""
  row "$n" "server core busy: API / ceiling %" "$(mean server_cpu_pct 0 "${api[@]}") / $(mean server_cpu_pct 0 "${ceil[@]}")" "" ""
  row "$n" "server CPU us per request: API / ceiling (ratio)" "$api_us / $CEIL_US ($(calc "$CEIL_US / $api_us" 2))" "" ""
  row "$n" "API errors (socket + non-2xx)" "$errs" "0" "$(verdict "$errs" '==' 0)"
  row "$n" "response body bytes" "$(wc -c < "$dir/body.json")" "" ""
}
