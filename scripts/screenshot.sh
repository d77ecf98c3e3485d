#!/usr/bin/env bash
# Writes docs/dashboard.png: the dashboard of a live server with a few
# simulated campaigns running (and one finished, one failed), taken by
# headless Chromium. Needs what scripts/services.sh provides.
#
#   scripts/screenshot.sh            # 1280 px wide
#   WIDTH=390 scripts/screenshot.sh  # a phone
set -euo pipefail
cd "$(dirname "$0")/.."

export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
: "${DATABASE_URL:=postgres://postgres:postgres@127.0.0.1:5432/postgres}"
width=${WIDTH:-1280}
out=${OUT:-docs/dashboard.png}
say() { printf '[screenshot] %s\n' "$*" >&2; }

scripts/services.sh
cargo build -q --bin job-progress --example send_campaign

db=jp_screenshot_$$
prefix="screenshot-$$:"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  redis-cli -u "$REDIS_URL" --scan --pattern "$prefix*" | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null || true
}
trap cleanup EXIT
psql "$DATABASE_URL" -qc "CREATE DATABASE $db" >/dev/null
export DATABASE_URL="${DATABASE_URL%/*}/$db" KEY_PREFIX="$prefix" RUST_LOG=error

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/debug/job-progress serve --listen-addr "127.0.0.1:$port" &
pids+=($!)
for _ in $(seq 1 100); do
  python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" \
    >/dev/null 2>&1 && break
  sleep 0.1
done

campaign() { target/debug/examples/send_campaign "$@" >/dev/null 2>&1; }
# Two finished jobs first, for the "Recently finished" list.
campaign --job-id welcome-mail-1107 --total 2400 --chunk-size 800 --pause-ms 0 --work-ms 50
campaign --job-id invoice-run-1128 --total 900 --chunk-size 300 --pause-ms 0 --work-ms 50 \
  --failure-rate 0.02
# Then the running ones, at different paces.
campaign --job-id black-friday-push --total 500000 --chunk-size 2500 --pause-ms 400 --work-ms 200 \
  --schedule-id black-friday & pids+=($!)
campaign --job-id newsletter-2026-48 --total 120000 --chunk-size 1000 --pause-ms 300 --work-ms 300 \
  --failure-rate 0.03 & pids+=($!)
campaign --job-id sms-reminders --total 8000 --chunk-size 100 --pause-ms 250 --work-ms 100 & pids+=($!)
sleep 8

say "taking $out at ${width} px"
# Through chromedriver rather than `chromium --screenshot`, which shoots
# before the live stream has brought the jobs in.
driver_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
chromedriver --port="$driver_port" >/dev/null 2>&1 &
pids+=($!)
python3 - "$driver_port" "http://127.0.0.1:$port/" "$width" "$PWD/$out" <<'PY'
import base64, json, sys, time, urllib.request as u
driver, page, width, out = sys.argv[1:]
def call(method, path, body=None):
    req = u.Request(f"http://127.0.0.1:{driver}{path}", method=method,
                    data=None if body is None else json.dumps(body).encode(),
                    headers={"Content-Type": "application/json"})
    return json.load(u.urlopen(req, timeout=60))["value"]
for _ in range(100):
    try:
        if call("GET", "/status")["ready"]: break
    except OSError: time.sleep(0.1)
args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--lang=en-US", f"--window-size={width},1000"]
session = call("POST", "/session", {"capabilities": {"alwaysMatch": {
    "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}})["sessionId"]
try:
    call("POST", f"/session/{session}/url", {"url": page})
    time.sleep(4)  # a few updates on the bars
    png = call("GET", f"/session/{session}/screenshot")
    open(out, "wb").write(base64.b64decode(png))
finally:
    call("DELETE", f"/session/{session}")
PY
say "wrote $out ($(stat -c %s "$out") bytes)"
