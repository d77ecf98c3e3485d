#!/usr/bin/env python3
"""What 100 jobs calling ``progress()`` as fast as they can for 10 s cost:
requests the client sends, calls a second, CPU per call (the flusher
thread's included). Starts its own server (embedded stores) and counts the
requests it answered from its /metrics.

    clients/.venv/bin/python clients/python/bench/progress_calls.py [--jobs 100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import secrets
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from job_progress import Client

REPO = Path(__file__).resolve().parents[3]


def requests_answered(api: str, route: str) -> int:
    text = urllib.request.urlopen(f"{api}/metrics", timeout=5).read().decode()
    found = re.findall(r'^job_progress_http_requests_total\{route="' + re.escape(route) + r'",method="POST",status="\d+"\} (\d+)', text, re.M)
    return sum(map(int, found))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    token = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "tokens").write_text(f"write {hashlib.sha256(token.encode()).hexdigest()} bench\n")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        api = f"http://127.0.0.1:{port}"
        binary = os.environ.get("JOB_PROGRESS_BIN", str(REPO / "target" / "debug" / "job-progress"))
        env = {**os.environ, "LISTEN_ADDR": f"127.0.0.1:{port}", "DATA_DIR": f"{tmp}/data", "TOKENS_FILE": f"{tmp}/tokens",
               "RUST_LOG": "warn"}
        for name in ("REDIS_URL", "DATABASE_URL"):
            env.pop(name, None)
        server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):
                try:
                    urllib.request.urlopen(f"{api}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            client = Client(api, token, handle_signals=False)
            jobs = [client.job(f"bench-{n}", total=10**12) for n in range(args.jobs)]
            before = requests_answered(api, "/api/v1/progress")
            calls = 0
            cpu, wall = time.process_time(), time.monotonic()
            deadline = wall + args.seconds
            while time.monotonic() < deadline:
                for _ in range(100):
                    for job in jobs:
                        job.progress(calls, 0)
                calls += 100 * len(jobs)
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            client.close()
            sent = requests_answered(api, "/api/v1/progress") - before
        finally:
            server.terminate()
            server.wait()
    print(f"python: {args.jobs} jobs, {wall:.1f} s: {calls:,} progress() calls, {calls / wall:,.0f} calls/s, "
          f"{cpu / calls * 1e9:,.0f} ns CPU per call, {sent} batch requests ({sent / wall:.2f}/s)")


if __name__ == "__main__":
    main()
