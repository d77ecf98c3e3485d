"""The exceptions this package raises. None of them ever holds the token."""

from __future__ import annotations

from typing import Any


class JobProgressError(Exception):
    """Base of every error raised by this package."""


class Refused(JobProgressError):
    """A 4xx: the request is wrong (retrying it will not help).

    ``status`` is the HTTP status, ``reason`` a 409's ``data.reason``
    (``counts_decreased``, ``exceeds_total``, ...) and ``message`` the
    server's explanation, for people.
    """

    def __init__(self, status: int, message: str, reason: str | None = None, job_id: str | None = None):
        where = f"job {job_id}: " if job_id else ""
        why = f" ({reason})" if reason else ""
        super().__init__(f"{where}{status}{why}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.job_id = job_id


class Unauthorized(Refused):
    """401 or 403: no token, an unknown one, or a read token where a write token is needed."""


class Finished(Refused):
    """409 ``finished``: the job has completed or failed already; stop reporting it."""


class Unavailable(JobProgressError):
    """The API kept failing (5xx, 429, or unreachable) until the retry budget ran out.

    ``retry_after`` is the server's last ``Retry-After``, in seconds, if it sent one.
    """

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class JobCancelled(JobProgressError):
    """Someone asked for the job to be cancelled (``cancelRequested`` in the server's answers).

    ``request`` is the server's ``{at, by, reason}``.
    """

    def __init__(self, job_id: str, request: dict[str, Any]):
        by = request.get("by") or "someone"
        reason = request.get("reason")
        super().__init__(f"job {job_id}: cancellation requested by {by}" + (f": {reason}" if reason else ""))
        self.job_id = job_id
        self.request = request
