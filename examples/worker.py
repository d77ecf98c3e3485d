#!/usr/bin/env python3
"""A worker in Python reporting a simulated chunked job over the HTTP API.

    JOB_PROGRESS_TOKEN=jp_w_... python3 examples/worker.py import-42

Standard library only. Declares the job, reports absolute counts after each
chunk, completes it. Retries 5xx and 429 with backoff (honouring
Retry-After). A 409 says why in data.reason: "stale" (a later state is
stored already) is ignored, "finished" (the job has ended elsewhere) stops
the worker, and any other reason, known or not, is an error; so is any
other 4xx (a bug in the request): exit 1.
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

    def __init__(self, status, message, reason=None):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.reason = reason  # a 409's data.reason


class Finished(Exception):
    """The job has completed or failed already: nothing more to report."""


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
                    envelope = json.load(err)
                except ValueError:
                    envelope = {"message": err.reason}
                data = envelope.get("data") or {}
                reason = data.get("reason") if isinstance(data, dict) else None
                refused = Refused(err.code, envelope.get("message", ""), reason)
                if reason == "finished":
                    raise Finished(str(refused)) from None
                raise refused from None
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
            if err.reason != "stale":  # stale: a later state is stored already
                raise
    record = call(
        "POST", f"/api/v1/jobs/{job}/complete", {"successCount": succeeded, "failureCount": failed}
    )
    print(f"{sys.argv[1]}: {record['status']}, {succeeded} sent, {failed} failed")


if __name__ == "__main__":
    try:
        main()
    except Finished as err:
        print(f"{sys.argv[1]}: already finished, stopping ({err})")
    except Refused as err:
        sys.exit(f"refused: {err}")
