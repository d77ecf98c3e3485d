"""One HTTP call to the API, with the retries the server asks for.

Standard library only: ``http.client`` with one kept-alive connection per
thread (the flusher thread and each job's thread), so a report a second
costs no TCP handshake.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import urllib.parse
from typing import Any

from .errors import Finished, Refused, Unauthorized, Unavailable

#: The first retry waits about this long; each next one twice as long.
BACKOFF_START = 0.1
#: ... up to this.
BACKOFF_MAX = 5.0


def backoff(attempt: int) -> float:
    """The wait before retry ``attempt`` (0-based): doubling, capped, with
    jitter so that many workers hit by one outage do not come back in step."""
    ceiling = min(BACKOFF_MAX, BACKOFF_START * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


class Transient(Exception):
    """A 5xx, a 429, or no answer: worth retrying after ``retry_after`` seconds (if the server said)."""

    def __init__(self, what: str, retry_after: float | None = None):
        super().__init__(what)
        self.retry_after = retry_after


class Transport:
    """Sends requests to one API with one token.

    The token lives only in the header this object builds; it is left out
    of ``repr`` and of every error.
    """

    def __init__(self, api: str, token: str | None, timeout: float):
        parts = urllib.parse.urlsplit(api.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the API must be an http:// or https:// URL")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path
        self._timeout = timeout
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._local = threading.local()
        self._sleep = time.sleep  # replaced in tests, to see the waits without waiting
        #: Where it points, without credentials, for messages.
        self.where = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "") + self._prefix

    def __repr__(self) -> str:
        return f"Transport({self.where!r})"

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = kind(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def once(self, method: str, path: str, body: Any = None, job_id: str | None = None) -> tuple[int, Any]:
        """One attempt: ``(status, data)`` for a 2xx; raises ``Refused`` for a 4xx
        and ``Transient`` for what may pass."""
        payload = None if method == "GET" else json.dumps(body if body is not None else {}, separators=(",", ":")).encode()
        for reused in (True, False):
            conn = self._connection()
            try:
                conn.request(method, self._prefix + path, body=payload, headers=self._headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as err:
                # A kept-alive connection the server closed meanwhile: once
                # more on a fresh one before calling the server unreachable.
                self._drop_connection()
                if not reused:
                    raise Transient(f"{method} {path}: {type(err).__name__}") from None
            except (OSError, http.client.HTTPException) as err:
                self._drop_connection()
                raise Transient(f"{method} {path}: {type(err).__name__}: {err}") from None
        status = response.status
        if response.getheader("Connection", "").lower() == "close":
            self._drop_connection()
        try:
            envelope = json.loads(raw) if raw else {}
        except ValueError:
            envelope = {"message": raw[:200].decode(errors="replace")}
        if not isinstance(envelope, dict):
            envelope = {"message": str(envelope)[:200]}
        if 200 <= status < 300:
            return status, envelope.get("data")
        message = str(envelope.get("message") or response.reason)
        if status == 429 or status >= 500:
            raise Transient(f"{method} {path}: {status}: {message}", retry_after_seconds(response.getheader("Retry-After")))
        data = envelope.get("data")
        reason = data.get("reason") if isinstance(data, dict) else None
        if status in (401, 403):
            hint = "no token was sent: pass token= or set JOB_PROGRESS_TOKEN" if "Authorization" not in self._headers else (
                "the token is unknown to the server" if status == 401 else "the token may not write: use a write token"
            )
            raise Unauthorized(status, f"{message} ({hint})", job_id=job_id)
        if reason == "finished":
            raise Finished(status, message, reason, job_id)
        raise Refused(status, message, reason, job_id)

    def call(self, method: str, path: str, body: Any = None, *, retry_for: float, job_id: str | None = None) -> Any:
        """Sends until a 2xx (returns its ``data``) or a 4xx (raises ``Refused``);
        retries the transient with backoff and ``Retry-After`` for up to
        ``retry_for`` seconds, then raises ``Unavailable``."""
        deadline = time.monotonic() + retry_for
        attempt = 0
        while True:
            try:
                return self.once(method, path, body, job_id)[1]
            except Transient as err:
                delay = err.retry_after if err.retry_after is not None else backoff(attempt)
                attempt += 1
                if time.monotonic() + delay > deadline:
                    raise Unavailable(f"{self.where}: {err} (gave up after {attempt} attempts)", err.retry_after) from None
                self._sleep(delay)

    def close(self) -> None:
        """Closes this thread's connection (others close with their threads)."""
        self._drop_connection()


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (the API sends whole seconds; an HTTP date is taken too)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime

        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def quote_id(job_id: str) -> str:
    """A job id as a path segment."""
    return urllib.parse.quote(job_id, safe="")

