"""Answers a real server seldom gives on demand (503, 429, each 409
reason), from a tiny scripted HTTP server in the test."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from conftest import eventually
from job_progress import Client, Finished, Refused, Unavailable

RECORD = {"jobId": "j1", "status": "in_progress", "successCount": 0, "failureCount": 0}


class Scripted:
    """Answers each request with the next scripted answer for its path, else 200."""

    def __init__(self) -> None:
        self.script: dict[str, list[tuple[int, dict[str, str], Any]]] = {}
        self.seen: list[tuple[str, str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                outer.seen.append((self.command, self.path, body))
                queue = outer.script.get(self.path) or []
                if queue:
                    status, headers, data = queue.pop(0)
                elif self.path == "/api/v1/progress":
                    status, headers = 200, {}
                    data = [{"jobId": u["jobId"], "statusCode": 200, "message": "OK", "data": {**RECORD, **u}}
                            for u in body["updates"]]
                else:
                    status, headers, data = 200, {}, RECORD
                envelope = json.dumps({"statusCode": status, "message": "scripted", "data": data}).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(envelope)))
                self.end_headers()
                self.wfile.write(envelope)

            do_PUT = do_POST = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.api = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def calls(self, method: str, path: str) -> list[Any]:
        return [body for m, p, body in list(self.seen) if m == method and p == path]


@pytest.fixture
def fake():
    server = Scripted()
    yield server
    server.httpd.shutdown()


def quiet_client(fake: Scripted, **options: Any) -> tuple[Client, list[float]]:
    """A client whose waits between retries are recorded, not slept."""
    client = Client(fake.api, "t0ken-t0ken-t0ken", handle_signals=False, **options)
    waits: list[float] = []
    client._transport._sleep = waits.append
    return client, waits


def test_503_and_429_are_retried_after_the_servers_retry_after(fake):
    fake.script["/api/v1/jobs/j1"] = [(503, {"Retry-After": "1"}, None), (429, {"Retry-After": "7"}, None),
                                      (201, {}, RECORD)]
    client, waits = quiet_client(fake)
    job = client.job("j1", total=10)
    assert job.record["jobId"] == "j1"
    assert waits == [1.0, 7.0]
    assert len(fake.calls("PUT", "/api/v1/jobs/j1")) == 3


def test_5xx_without_retry_after_backs_off_doubling_with_jitter(fake):
    fake.script["/api/v1/jobs/j1/complete"] = [(502, {}, None)] * 3
    client, waits = quiet_client(fake)
    client.job("j1", total=10).complete()
    assert len(waits) == 3
    for attempt, wait in enumerate(waits):
        ceiling = 0.1 * 2**attempt
        assert ceiling / 2 <= wait <= ceiling, waits


def test_a_server_that_keeps_failing_is_given_up_with_unavailable(fake):
    fake.script["/api/v1/jobs/j1"] = [(503, {}, None)] * 1000
    client = Client(fake.api, "t0ken-t0ken-t0ken", retry_for=0.3, handle_signals=False)
    with pytest.raises(Unavailable) as raised:
        client.job("j1", total=10)
    assert "t0ken" not in str(raised.value)


def test_409_stale_is_ignored_and_unknown_reasons_raise(fake, caplog):
    caplog.set_level(logging.WARNING, "job_progress")
    client, _ = quiet_client(fake, interval=0.05)
    job = client.job("j1", total=10)
    fake.script["/api/v1/progress"] = [(200, {}, [{"jobId": "j1", "statusCode": 409, "message": "overtaken",
                                                   "data": {"reason": "stale"}}])]
    job.advance(2)
    eventually(lambda: fake.calls("POST", "/api/v1/progress"), what="a report")
    assert job.flush(5)
    assert "j1" not in caplog.text and not job.ended
    fake.script["/api/v1/jobs/j1/complete"] = [(409, {}, {"reason": "a_reason_from_the_future"})]
    with pytest.raises(Refused) as raised:
        job.complete()
    assert raised.value.reason == "a_reason_from_the_future"


def test_409_finished_at_the_end_raises_finished(fake):
    client, _ = quiet_client(fake)
    job = client.job("j1", total=10)
    fake.script["/api/v1/jobs/j1/fail"] = [(409, {}, {"reason": "finished"})]
    with pytest.raises(Finished):
        job.fail("boom")
    assert job.ended


def test_a_report_the_batch_answers_503_for_is_sent_again(fake):
    client, _ = quiet_client(fake, interval=0.05)
    job = client.job("j1", total=10)
    fake.script["/api/v1/progress"] = [(200, {}, [{"jobId": "j1", "statusCode": 503, "message": "busy", "data": None}]),
                                       (503, {"Retry-After": "0"}, None)]
    job.progress(4, 1)
    eventually(lambda: len(fake.calls("POST", "/api/v1/progress")) >= 3, what="the report sent three times")
    assert fake.calls("POST", "/api/v1/progress")[2]["updates"][0]["successCount"] == 4
    assert job.flush(5)


def test_fields_an_older_server_refuses_are_left_out_and_the_counts_still_go(fake):
    unknown = "invalid body: stage: unknown field `stage`, expected one of `jobId`, `successCount`"
    fake.script["/api/v1/progress"] = [(200, {}, [{"jobId": None, "statusCode": 400, "message": unknown,
                                                   "data": None}])]
    client, _ = quiet_client(fake, interval=0.05)
    job = client.job("j1", total=10)
    job.stage("load")
    job.advance(3)
    eventually(lambda: len(fake.calls("POST", "/api/v1/progress")) >= 2, what="the report sent again")
    resent = fake.calls("POST", "/api/v1/progress")[1]["updates"][0]
    assert "stage" not in resent and resent["successCount"] == 3
    assert client.unsupported_fields == {"stage"}
