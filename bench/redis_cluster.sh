#!/usr/bin/env bash
# The "Redis Cluster" figures of BENCHMARKS.md: hot-store writes per second
# and Redis memory per job (bench/src/bin/redis_writes.rs), on one redis-server
# and on a cluster of three masters, all started here on this machine (ports
# BASE_PORT..BASE_PORT+13, default 7100) and removed at the end. Every
# measurement holds /tmp/jp-cpu.lock, so nothing else heavy runs meanwhile.
#
#   bench/redis_cluster.sh                       # 64 jobs, 20 s, 10,000 jobs for memory
#   bench/redis_cluster.sh --jobs 16 --secs 5    # any redis_writes flag
set -euo pipefail
cd "$(dirname "$0")/.."

base=${BASE_PORT:-7100}
dir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

start() { # start PORT [redis-server options...]
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$dir" "${@:2}" >/dev/null 2>&1 &
  pids+=($!)
}
wait_for() { # wait_for DESCRIPTION COMMAND...
  local what=$1; shift
  for _ in $(seq 1 100); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "$what did not happen" >&2; exit 1
}

start "$base"
nodes=()
for i in 1 2 3; do
  port=$((base + i))
  start "$port" --cluster-enabled yes --cluster-port $((base + 10 + i)) \
    --cluster-config-file "$dir/nodes-$port.conf"
  nodes+=("127.0.0.1:$port")
done
for port in "$base" $((base + 1)) $((base + 2)) $((base + 3)); do
  wait_for "redis on $port" sh -c "redis-cli -p $port ping | grep -q PONG"
done
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
for i in 1 2 3; do
  wait_for "cluster_state:ok on $((base + i))" \
    sh -c "redis-cli -p $((base + i)) cluster info | grep -q cluster_state:ok"
done

flock /tmp/jp-cpu.lock cargo build --release --manifest-path bench/Cargo.toml --target-dir bench/target --bin redis_writes
bin=bench/target/release/redis_writes
echo "# one redis-server"
flock /tmp/jp-cpu.lock "$bin" --redis-url "redis://127.0.0.1:$base" "$@"
echo "# a cluster of three masters"
flock /tmp/jp-cpu.lock "$bin" --redis-url "redis://127.0.0.1:$((base + 1))" --redis-cluster "$@"
