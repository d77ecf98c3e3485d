#!/usr/bin/env bash
# Makes sure Redis and PostgreSQL answer at REDIS_URL and DATABASE_URL on
# this machine (and that redis-cli is there for the Redis Cluster tests),
# NATS (the other live-push bus) at NATS_URL, and Chromium with
# chromedriver for the dashboard's browser tests: starts them when
# installed but stopped, installs them from Debian's packages when
# missing. Safe to run again and again.
set -euo pipefail

: "${REDIS_URL:=redis://127.0.0.1:6379}"
: "${DATABASE_URL:=postgres://postgres:postgres@127.0.0.1:5432/postgres}"
: "${NATS_URL:=nats://127.0.0.1:4222}"

say() { printf '[services] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=""
install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    say "cannot install $*: no apt-get here; install it yourself"; exit 1
  fi
  if [ -z "$apt_updated" ]; then
    say "apt-get update"
    as_root apt-get update -qq
    apt_updated=1
  fi
  say "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # wait_for DESCRIPTION COMMAND...
  local what=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  say "$what did not come up"; exit 1
}

# --- Redis -----------------------------------------------------------------
redis_port=$(printf '%s' "$REDIS_URL" | sed -E 's#^redis://([^@/]*@)?[^:/]*:?([0-9]*).*#\2#')
redis_port=${redis_port:-6379}
command -v redis-server >/dev/null 2>&1 || install redis-server
# The Redis Cluster tests form their own cluster with `redis-cli --cluster`
# (Debian's redis-tools, which redis-server pulls in; Redis 7 for sharded
# pub/sub).
command -v redis-cli >/dev/null 2>&1 || install redis-tools
if redis-cli -u "$REDIS_URL" ping 2>/dev/null | grep -q PONG; then
  say "redis answers at $REDIS_URL"
else
  say "starting redis on port $redis_port"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" \
    --save "" --appendonly no --dir /tmp --logfile /tmp/job-progress-redis.log
  wait_for redis sh -c "redis-cli -u '$REDIS_URL' ping | grep -q PONG"
fi

# --- PostgreSQL -------------------------------------------------------------
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
if ! command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_up 2>/dev/null; then
  install postgresql
fi
if pg_up; then
  say "postgres answers on 127.0.0.1:5432"
else
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  say "starting postgres $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for postgres pg_up
fi
# A fresh Debian install asks for a password over TCP: give the postgres
# role the one in DATABASE_URL (trust-auth servers ignore it).
if ! psql "$DATABASE_URL" -qtAc 'select 1' >/dev/null 2>&1; then
  password=$(printf '%s' "$DATABASE_URL" | sed -E 's#^postgres(ql)?://[^:/@]+:([^@]*)@.*#\2#')
  if [ "$password" != "$DATABASE_URL" ]; then
    say "setting the postgres role's password"
    as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD '$password'\"" >/dev/null
  fi
  wait_for "postgres login ($DATABASE_URL)" psql "$DATABASE_URL" -qtAc 'select 1'
fi
# --- NATS ------------------------------------------------------------------
# The tests start nats-servers of their own; the binary must be there.
nats_bin=$(command -v nats-server || echo /usr/sbin/nats-server)
[ -x "$nats_bin" ] || { install nats-server; nats_bin=/usr/sbin/nats-server; }
nats_port=$(printf '%s' "$NATS_URL" | sed -E 's#^nats://([^@/]*@)?[^:/]*:?([0-9]*).*#\2#')
nats_port=${nats_port:-4222}
nats_up() { python3 -c "import socket; socket.create_connection(('127.0.0.1', $nats_port), 1)" 2>/dev/null; }
if nats_up; then
  say "nats answers on port $nats_port"
else
  say "starting nats on port $nats_port"
  nohup "$nats_bin" -a 127.0.0.1 -p "$nats_port" >/tmp/job-progress-nats.log 2>&1 &
  wait_for nats nats_up
fi
# --- Chromium ---------------------------------------------------------------
# The dashboard's tests drive a headless Chromium through chromedriver.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  install chromium chromium-driver
fi
say "ready"
