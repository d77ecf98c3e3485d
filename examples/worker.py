#!/usr/bin/env python3
"""A worker in Python reporting a simulated chunked job over the HTTP API.

    JOB_PROGRESS_TOKEN=jp_w_... python3 examples/worker.py import-42

Standard library only. Declares the job, reports absolute counts after each
chunk, completes it. Retries 5xx and 429 with backoff (honouring
Retry-After); a 409 on a progress report means a later state is already
stored and is ignored; any other 4xx is a bug in the request: exit 1.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

API = os.environ.get("JOB_PROGRESS_API", "http://127.0.0.1:8080").rstrip("/")
TOKEN = os.environ["JOB_PROGRESS_TOKEN"]
TOTAL, CHUNK, PAUSE_S = 2000, 200, 0.05


class Refused(Exception):
    """A 4xx: the request is wrong, retrying will not help."""

    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status


def call(method, path, body=None, attempts=6):
    """Sends one request; returns the envelope's data, retrying what is transient."""
    data = json.dumps(body if body is not None else {}).encode()
    for attempt in range(attempts):
        request = urllib.request.Request(
            API + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {TOKEN}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.load(response)["data"]
        except urllib.error.HTTPError as err:
            if err.code != 429 and err.code < 500:
                try:
                    message = json.load(err).get("message", "")
                except ValueError:
                    message = err.reason
                raise Refused(err.code, message) from None
            delay = float(err.headers.get("Retry-After") or 2**attempt * 0.1)
        except (urllib.error.URLError, TimeoutError):
            delay = 2**attempt * 0.1
        time.sleep(min(delay, 10))
    raise SystemExit(f"{method} {path}: still failing after {attempts} attempts")


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: worker.py JOB_ID")
    job = urllib.request.quote(sys.argv[1], safe="")
    chunks = TOTAL // CHUNK
    call("PUT", f"/api/v1/jobs/{job}", {"total": TOTAL, "chunkSize": CHUNK, "pauseMs": 50})
    succeeded = failed = 0
    for chunk in range(1, chunks + 1):
        time.sleep(PAUSE_S)  # the real work goes here
        failed += 3  # say three recipients per chunk bounce
        succeeded += CHUNK - 3
        try:
            call(
                "POST",
                f"/api/v1/jobs/{job}/progress",
                {"successCount": succeeded, "failureCount": failed, "currentChunk": chunk},
            )
        except Refused as err:
            if err.status != 409:  # 409: a later state is stored already
                raise
    record = call(
        "POST", f"/api/v1/jobs/{job}/complete", {"successCount": succeeded, "failureCount": failed}
    )
    print(f"{sys.argv[1]}: {record['status']}, {succeeded} sent, {failed} failed")


if __name__ == "__main__":
    try:
        main()
    except Refused as err:
        sys.exit(f"refused: {err}")
