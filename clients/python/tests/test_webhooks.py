"""The server's webhooks, verified as a receiver verifies them: with the
Standard Webhooks library (`standardwebhooks`, PyPI). A genuine delivery
passes; a forged signature, a changed body and a replay older than five
minutes fail in the library itself."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from conftest import Server, eventually

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Receiver:
    """An HTTP server on a free port keeping each request's headers and body."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/hook"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()


@pytest.fixture
def delivered(tmp_path: Path) -> tuple[dict[str, str], bytes]:
    """One delivery of a completed job: its headers and body."""
    receiver = Receiver()
    subscriptions = tmp_path / "webhooks.toml"
    subscriptions.write_text(
        f'[[webhook]]\nname = "ops"\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n'
        'events = ["job.completed"]\n'
    )
    server = Server(tmp_path, {"WEBHOOKS_FILE": str(subscriptions), "WEBHOOKS_ALLOW_PRIVATE": "true"})
    try:
        assert server.write("PUT", "/api/v1/jobs/hooked-1", {"total": 3})[0] == 201
        assert server.write("POST", "/api/v1/jobs/hooked-1/complete", {"successCount": 3})[0] == 200
        eventually(lambda: receiver.received, 30, "a delivery")
        return receiver.received[0]
    finally:
        server.close()
        receiver.close()


def test_a_delivery_verifies_with_the_standard_webhooks_library(delivered):
    headers, body = delivered
    event = Webhook(SECRET).verify(body, headers)
    assert event["type"] == "job.completed"
    assert event["data"]["jobId"] == "hooked-1"
    assert event["data"]["successCount"] == 3


def test_a_forged_signature_or_a_changed_body_fails_verification(delivered):
    headers, body = delivered
    forger = Webhook("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY")
    forged = {**headers, "webhook-signature": forger.sign(headers["webhook-id"],
              datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=timezone.utc), body)}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, forged)
    changed = json.dumps({**json.loads(body), "type": "job.failed"}).encode()
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(changed, headers)


def test_a_replay_older_than_five_minutes_fails_verification(delivered):
    headers, body = delivered
    later = datetime.now(tz=timezone.utc) + timedelta(minutes=6)

    class SixMinutesLater(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return later

    # The same message, signature and all, presented six minutes on.
    with mock.patch("standardwebhooks.webhooks.datetime", SixMinutesLater):
        with pytest.raises(WebhookVerificationError, match="too old"):
            Webhook(SECRET).verify(body, headers)
