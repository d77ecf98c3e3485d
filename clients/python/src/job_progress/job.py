"""A job handle: what a task calls while it works.

``progress``, ``advance``, ``stage``, ``message``, ``metadata`` and ``log``
only change memory (a lock and a few assignments); the client's flusher
thread sends the latest state at most once per interval. ``complete``,
``fail`` and ``cancelled`` are sent at once and awaited.
"""

from __future__ import annotations

import collections
import datetime
import threading
import logging
from typing import Any, Callable, Protocol

from .errors import Finished, JobCancelled, JobProgressError, Refused



class Owner(Protocol):
    """The client as a job sees it (``Client``, which imports this module,
    so it is described here rather than imported)."""

    strict: bool
    logger: logging.Logger

    def _call_optional(self, method: str, suffix: str, body: dict[str, Any], job_id: str,
                       retry_for: float | None) -> Any: ...

    def _learn_unsupported(self, answer: dict[str, Any] | None) -> bool: ...

    def _flush(self, jobs: list[Job], timeout: float | None, final: bool = ...) -> bool: ...

    def _forget(self, job: Job) -> None: ...


#: Levels the logs endpoint takes.
LEVELS = ("info", "warn", "error")
#: Lines kept while the API cannot take them; the oldest go first.
MAX_PENDING_LOGS = 10_000


class Job:
    """One declared job. Made by ``Client.job``; use it as a context manager
    to complete it on success and fail it with the exception's message."""

    def __init__(self, client: Owner, job_id: str, record: dict[str, Any], total: int | None,
                 on_cancel: Callable[[Job], None] | None):
        self.id = job_id
        #: The record of the server's latest answer.
        self.record = record
        #: ``{at, by, reason}`` once someone asked for this job to stop, else None.
        self.cancel_requested: dict[str, Any] | None = None
        self._client = client
        self._lock = threading.Lock()
        self._success = int(record.get("successCount") or 0) if record else 0
        self._failure = int(record.get("failureCount") or 0) if record else 0
        self._chunk: int | None = None
        self._chunk_sent: int | None = None
        self._total = total
        self._total_sent = total
        self._stage: str | None = None
        self._stage_sent: str | None = None
        self._message: str | None = None
        self._message_sent: str | None = None
        self._metadata: dict[str, Any] = {}
        self._logs: collections.deque[dict[str, str]] = collections.deque(maxlen=MAX_PENDING_LOGS)
        self._version = 0  # grows with every change
        self._sent_version = 0  # the change the server has
        self._last_sent = 0.0
        self._ended = False
        self._error: JobProgressError | None = None  # for strict clients
        self._warned = False
        self._on_cancel = on_cancel
        self._check_cancel(record)

    def __repr__(self) -> str:
        return f"Job({self.id!r}, success={self._success}, failure={self._failure})"

    # ------------------------------------------------------------ cheap calls

    def progress(self, success: int, failure: int = 0, *, chunk: int | None = None, total: int | None = None) -> None:
        """Sets the absolute counts (and optionally the current chunk and a revised total)."""
        self._raise_if_asked()
        with self._lock:
            self._success, self._failure = success, failure
            if chunk is not None:
                self._chunk = chunk
            if total is not None:
                self._total = total
            self._version += 1

    def advance(self, n: int = 1, failed: int = 0) -> None:
        """Adds ``n`` successes and ``failed`` failures."""
        self._raise_if_asked()
        with self._lock:
            self._success += n
            self._failure += failed
            self._version += 1

    def set_total(self, total: int) -> None:
        """Revises the total (sent with the next report)."""
        with self._lock:
            self._total = total
            self._version += 1

    def stage(self, name: str) -> None:
        """Names the step the job is in (one of its declared ``steps``, or free text)."""
        with self._lock:
            self._stage = name
            self._version += 1

    def message(self, text: str) -> None:
        """A line for people about what is happening now (at most 500 characters)."""
        with self._lock:
            self._message = text[:500]
            self._version += 1

    def metadata(self, **values: Any) -> None:
        """Merges ``values`` into the job's metadata; a ``None`` value removes its key."""
        with self._lock:
            self._metadata.update(values)
            self._version += 1

    def log(self, level: str, message: str, *, at: datetime.datetime | None = None) -> None:
        """Adds a line to the job's log (``info``, ``warn`` or ``error``), sent with the next report."""
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}")
        when = (at or datetime.datetime.now(datetime.timezone.utc)).isoformat().replace("+00:00", "Z")
        self._logs.append({"level": level, "message": message[:2048], "at": when})

    @property
    def counts(self) -> tuple[int, int]:
        """``(success, failure)`` as this handle knows them."""
        return self._success, self._failure

    @property
    def ended(self) -> bool:
        """Whether the job has completed, failed or been cancelled (here or elsewhere)."""
        return self._ended

    def raise_if_cancelled(self) -> None:
        """Raises ``JobCancelled`` once a cancellation was requested."""
        if self.cancel_requested is not None:
            raise JobCancelled(self.id, self.cancel_requested)

    # ------------------------------------------------------- status changes

    def complete(self, result_url: str | None = None) -> dict[str, Any]:
        """Completes the job with its counts; returns once the server has it durably."""
        body: dict[str, Any] = {"successCount": self._success, "failureCount": self._failure}
        if result_url is not None:
            body["resultUrl"] = result_url
        return self._end("complete", body)

    def fail(self, error: BaseException | str) -> dict[str, Any]:
        """Fails the job with ``error`` (an exception's message, or text)."""
        text = str(error).strip() if not isinstance(error, str) else error.strip()
        if not text and isinstance(error, BaseException):
            text = type(error).__name__
        body = {"errorMessage": (text or "failed")[:2048], "successCount": self._success, "failureCount": self._failure}
        return self._end("fail", body)

    def cancelled(self) -> dict[str, Any]:
        """Acknowledges a cancellation: the job ends ``cancelled``."""
        return self._end("cancelled", {"successCount": self._success, "failureCount": self._failure})

    def flush(self, timeout: float | None = None) -> bool:
        """Sends this job's pending state now; True once the server has it."""
        return self._client._flush([self], timeout)

    def _end(self, what: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._ended:
            return self.record
        # Stage, message, metadata and log lines first: the server may refuse them after the end.
        self._client._flush([self], None, final=True)
        try:
            record = self._client._call_optional("POST", f"/{what}", body, self.id, retry_for=None)
        except Finished:
            self._finish()
            raise
        self._finish()
        if isinstance(record, dict):
            self.record = record
        return self.record

    def _finish(self) -> None:
        self._ended = True
        self._client._forget(self)

    # ------------------------------------------------ used by the flusher

    def _raise_if_asked(self) -> None:
        if self._error is not None and self._client.strict:
            err, self._error = self._error, None
            raise err

    def _take(self, now: float, heartbeat: float, final: bool, unsupported: set[str]) -> tuple[dict[str, Any], Any] | None:
        """The report to send now, if any, with what to remember once it is taken."""
        with self._lock:
            fields_pending = (self._stage != self._stage_sent or self._message != self._message_sent
                              or bool(self._metadata) or self._total != self._total_sent or self._chunk != self._chunk_sent)
            if final:  # the end carries the counts; the rest goes first
                due = fields_pending
            else:
                due = self._version > self._sent_version or now - self._last_sent >= heartbeat
            if self._ended or not due:
                return None
            item: dict[str, Any] = {"jobId": self.id, "successCount": self._success, "failureCount": self._failure}
            if self._chunk is not None:
                item["currentChunk"] = self._chunk
            if self._total is not None:
                item["total"] = self._total
            if self._stage != self._stage_sent and "stage" not in unsupported:
                item["stage"] = self._stage
            if self._message != self._message_sent and "message" not in unsupported:
                item["message"] = self._message
            metadata, self._metadata = self._metadata, {}
            if metadata and "metadata" not in unsupported:
                item["metadata"] = metadata
            return item, (self._version, self._stage, self._message, self._total, self._chunk, metadata)

    def _taken(self, taken: Any, result: dict[str, Any] | None, now: float) -> bool:
        """Takes the server's answer to a taken report (None: it never got
        there); returns whether the report is still to be sent."""
        version, stage, message, total, chunk, metadata = taken
        status = result.get("statusCode", 0) if result else 0
        data = result.get("data") if result else None
        reason = data.get("reason") if isinstance(data, dict) else None
        if status == 0 or status == 429 or status >= 500 or (status == 400 and self._client._learn_unsupported(result)):
            with self._lock:  # sent again next time, with what came meanwhile on top
                metadata.update(self._metadata)
                self._metadata = metadata
            if result is not None and status >= 500:
                self._report_failure(Refused(status, str(result.get("message", "")), None, self.id))
            return True
        with self._lock:
            self._sent_version = max(self._sent_version, version)
            self._stage_sent, self._message_sent, self._total_sent, self._chunk_sent = stage, message, total, chunk
            self._last_sent = now
        if 200 <= status < 300 or reason == "stale":
            self._warned = False
            if isinstance(data, dict) and "jobId" in data:
                self.record = data
                self._check_cancel(data)
            return False
        err = Refused(status, str(result.get("message", "")), reason, self.id) if result else None
        if reason == "finished":
            self._client.logger.warning("job %s has ended elsewhere; no more reports are sent", self.id)
            self._finish()
            return False
        self._report_failure(err)
        return False

    def _report_failure(self, err: JobProgressError | None) -> None:
        if err is None:
            return
        if self._client.strict:
            self._error = err
        if not self._warned:
            self._warned = True
            self._client.logger.warning("a report failed (logged once until one gets through): %s", err)

    def _take_logs(self) -> list[dict[str, str]]:
        lines = []
        while self._logs:
            lines.append(self._logs.popleft())
        return lines

    def _give_back_logs(self, lines: list[dict[str, str]]) -> None:
        self._logs.extendleft(reversed(lines))

    def _check_cancel(self, record: dict[str, Any] | None) -> None:
        asked = record.get("cancelRequested") if isinstance(record, dict) else None
        if asked and self.cancel_requested is None:
            self.cancel_requested = asked if isinstance(asked, dict) else {}
            self._client.logger.info("job %s: cancellation requested", self.id)
            if self._on_cancel is not None:
                try:
                    self._on_cancel(self)
                except Exception:  # a callback's bug must not stop the flusher
                    self._client.logger.exception("job %s: the cancellation callback failed", self.id)

    # ------------------------------------------------------ context manager

    def __enter__(self) -> Job:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        if self._ended:
            return
        try:
            if error is None:
                self.complete()
            elif isinstance(error, JobCancelled):
                self.cancelled()
            else:
                self.fail(error)
        except JobProgressError:
            if error is None:
                raise
            # The task's own exception matters more than the report of it.
            self._client.logger.warning("job %s: could not report its failure", self.id, exc_info=True)
