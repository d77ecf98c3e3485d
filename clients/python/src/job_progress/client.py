"""The threaded client: declarations, the flusher thread, flushes on exit."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from typing import Any, Callable, Iterable

from . import _shutdown
from ._transport import Transport, quote_id
from .errors import JobProgressError, Refused, Unavailable
from .job import Job

#: Fields newer servers take; an older one refuses them with a 400 naming
#: the field, and the client then leaves that field out from there on.
OPTIONAL_FIELDS = frozenset({"name", "kind", "steps", "attempt", "stage", "message", "metadata", "resultUrl"})
_UNKNOWN_FIELD = re.compile(r"unknown field `([A-Za-z]+)`")
#: The batch endpoint takes at most this many reports a request.
BATCH_MAX = 1000
#: The logs endpoint takes at most this many lines a request.
LOGS_MAX = 100

logging.getLogger("job_progress").addHandler(logging.NullHandler())


class Client:
    """Reports jobs to one job-progress API with one write token.

    ``api`` and ``token`` default to ``JOB_PROGRESS_API`` (else
    ``http://127.0.0.1:8080``) and ``JOB_PROGRESS_TOKEN``. Reports are sent
    at most once per ``interval`` seconds per job, all jobs in one batch
    request; status changes are sent at once and retried for up to
    ``retry_for`` seconds. ``flush_timeout`` bounds the flush on SIGTERM,
    SIGINT and exit. With ``strict=True`` a refused report is raised from
    the job's next call instead of only being logged.
    """

    def __init__(self, api: str | None = None, token: str | None = None, *, interval: float = 1.0,
                 timeout: float = 10.0, retry_for: float = 30.0, flush_timeout: float = 5.0,
                 heartbeat: float = 15.0, strict: bool = False, logger: logging.Logger | None = None,
                 handle_signals: bool = True):
        api = api or os.environ.get("JOB_PROGRESS_API") or "http://127.0.0.1:8080"
        token = token if token is not None else os.environ.get("JOB_PROGRESS_TOKEN")
        self._transport = Transport(api, token, timeout)
        self.interval = interval
        self.retry_for = retry_for
        self.flush_timeout = flush_timeout
        self.heartbeat = heartbeat
        self.strict = strict
        self.logger = logger or logging.getLogger("job_progress")
        self._jobs: dict[str, Job] = {}
        self._jobs_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._unsupported: set[str] = set()
        self._logs_unsupported = False
        self._not_before = 0.0  # a Retry-After from the batch endpoint
        self._outage_logged = False
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        _shutdown.register(self, handle_signals)

    def __repr__(self) -> str:
        return f"Client({self._transport.where!r}, interval={self.interval})"

    @property
    def unsupported_fields(self) -> frozenset[str]:
        """Optional fields the server refused as unknown (it predates them)."""
        return frozenset(self._unsupported)

    # ------------------------------------------------------------ declaring

    def job(self, job_id: str, total: int | None = None, *, name: str | None = None, kind: str | None = None,
            steps: Iterable[str] | None = None, chunk_size: int | None = None, total_chunks: int | None = None,
            pause_ms: int | None = None, schedule_id: str | None = None, attempt: int | None = None,
            preparing: bool = False, on_cancel: Callable[[Job], None] | None = None) -> Job:
        """Declares ``job_id`` and returns its handle; raises at once when the
        server refuses (``Unauthorized`` for a bad token, ``Finished`` for a
        job that has ended, ``Refused`` otherwise) or stays unavailable."""
        body: dict[str, Any] = {"refreshIntervalMs": int(self.heartbeat * 1000)}
        for key, value in (("total", total), ("name", name), ("kind", kind), ("chunkSize", chunk_size),
                           ("totalChunks", total_chunks), ("pauseMs", pause_ms), ("scheduleId", schedule_id),
                           ("attempt", attempt)):
            if value is not None:
                body[key] = value
        if steps is not None:
            body["steps"] = list(steps)
        if preparing:
            body["status"] = "preparing"
        try:
            record = self._call_optional("PUT", "", body, job_id, retry_for=None)
        except Refused as err:
            if not (total is None and err.status == 400 and "total" in err.message):
                raise
            record = self._declare_with_stored_total(job_id, body)
        handle = Job(self, job_id, record if isinstance(record, dict) else {}, total, on_cancel)
        with self._jobs_lock:
            self._jobs[job_id] = handle
        self._start()
        return handle

    def _declare_with_stored_total(self, job_id: str, body: dict[str, Any]) -> Any:
        """Declares on a server that predates optional totals: with the total
        a handle of this client knows (a task retried at once), else 0 for a
        new job, else (409: the job exists and has counts) the stored one.
        Reports carry the real total later."""
        known = self._jobs.get(job_id)
        if known is not None and (known._total is not None or "totalTargetCount" in known.record):
            total = known._total if known._total is not None else known.record["totalTargetCount"]
            return self._call_optional("PUT", "", {**body, "total": total}, job_id, retry_for=None)
        try:
            return self._call_optional("PUT", "", {**body, "total": 0}, job_id, retry_for=None)
        except Refused as err:
            if err.reason != "exceeds_total":
                raise
        record = self._transport.call("GET", f"/api/v1/jobs/{quote_id(job_id)}/progress", None,
                                      retry_for=self.retry_for, job_id=job_id)
        total = int(record.get("totalTargetCount") or 0) if isinstance(record, dict) else 0
        return self._call_optional("PUT", "", {**body, "total": total}, job_id, retry_for=None)

    def _call_optional(self, method: str, suffix: str, body: dict[str, Any], job_id: str,
                       retry_for: float | None) -> Any:
        """Sends ``body`` to ``/api/v1/jobs/{job_id}{suffix}``, leaving out the
        optional fields this server does not know."""
        path = f"/api/v1/jobs/{quote_id(job_id)}{suffix}"
        while True:
            sent = {k: v for k, v in body.items() if k not in self._unsupported}
            try:
                return self._transport.call(method, path, sent, retry_for=self.retry_for if retry_for is None else retry_for,
                                            job_id=job_id)
            except Refused as err:
                if err.status == 400 and self._learn_unsupported({"message": err.message}):
                    continue
                raise

    def _learn_unsupported(self, answer: dict[str, Any] | None) -> bool:
        """Whether a 400 ``answer`` refused an optional field as unknown (remembered)."""
        found = _UNKNOWN_FIELD.search(str((answer or {}).get("message", "")))
        if not found or found.group(1) not in OPTIONAL_FIELDS or found.group(1) in self._unsupported:
            return False
        self._unsupported.add(found.group(1))
        self.logger.warning("the server does not know the field `%s` (it predates it); it is left out", found.group(1))
        return True

    # ------------------------------------------------------------ flushing

    def flush(self, timeout: float | None = None) -> bool:
        """Sends every job's pending state now; True once the server has it all."""
        with self._jobs_lock:
            jobs = list(self._jobs.values())
        return self._flush(jobs, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flushes (bounded by ``timeout``, default ``flush_timeout``) and stops the flusher."""
        done = self.flush(timeout)
        self._closed = True
        self._wake.set()
        _shutdown.unregister(self)
        return done

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _flush(self, jobs: list[Job], timeout: float | None, final: bool = False) -> bool:
        deadline = time.monotonic() + (self.flush_timeout if timeout is None else timeout)
        if not self._send_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return False
        try:
            while True:
                left = self._send(jobs, final, deadline)
                if not left or time.monotonic() >= deadline:
                    return not left
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        finally:
            self._send_lock.release()

    def _forget(self, job: Job) -> None:
        with self._jobs_lock:
            if self._jobs.get(job.id) is job:
                del self._jobs[job.id]

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="job-progress-flusher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            if self._closed:
                return
            if time.monotonic() < self._not_before:
                continue
            with self._jobs_lock:
                jobs = list(self._jobs.values())
            if jobs and self._send_lock.acquire(timeout=self.interval):
                try:
                    self._send(jobs, False, None)
                except Exception:  # the flusher must outlive any bug in a report
                    self.logger.exception("the progress flusher failed")
                finally:
                    self._send_lock.release()

    def _send(self, jobs: list[Job], final: bool, deadline: float | None) -> bool:
        """One round: every due report in batches, then pending log lines.
        Returns whether something is still to be sent (the API failed)."""
        now = time.monotonic()
        taken = []
        for job in jobs:
            got = job._take(now, self.heartbeat, final, self._unsupported)
            if got is not None:
                taken.append((job, *got))
        left = False
        for start in range(0, len(taken), BATCH_MAX):
            chunk = taken[start:start + BATCH_MAX]
            results = self._post_batch([item for _, item, _ in chunk], deadline)
            for index, (job, _, memo) in enumerate(chunk):
                result = results[index] if results is not None and index < len(results) else None
                left = job._taken(memo, result, now) or left
        if not self._logs_unsupported:
            for job in jobs:
                left = self._send_logs(job, deadline) or left
        return left

    def _post_batch(self, items: list[dict[str, Any]], deadline: float | None) -> list[dict[str, Any]] | None:
        retry_for = 0.0 if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            results = self._transport.call("POST", "/api/v1/progress", {"updates": items}, retry_for=retry_for)
        except (Unavailable, Refused) as err:
            if isinstance(err, Unavailable) and err.retry_after:
                self._not_before = time.monotonic() + err.retry_after
            if not self._outage_logged:
                self._outage_logged = True
                self.logger.warning("progress reports are not getting through (retried): %s", err)
            return None
        if self._outage_logged:
            self._outage_logged = False
            self.logger.info("progress reports are getting through again")
        return results if isinstance(results, list) else None

    def _send_logs(self, job: Job, deadline: float | None) -> bool:
        lines = job._take_logs()
        retry_for = 0.0 if deadline is None else max(0.0, deadline - time.monotonic())
        for start in range(0, len(lines), LOGS_MAX):
            try:
                self._transport.call("POST", f"/api/v1/jobs/{quote_id(job.id)}/logs",
                                     {"lines": lines[start:start + LOGS_MAX]}, retry_for=retry_for, job_id=job.id)
            except Refused as err:
                if err.status == 405 or (err.status == 404 and "no such endpoint" in err.message):
                    self._logs_unsupported = True
                    self.logger.warning("the server takes no log lines (it predates them); they are dropped")
                else:
                    job._report_failure(err)
                return False
            except JobProgressError:
                job._give_back_logs(lines[start:])
                return True
        return False
