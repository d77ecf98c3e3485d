"""Celery integration: a task base class that reports each task as a job.

    from job_progress.celery import ProgressTask

    @app.task(base=ProgressTask, bind=True)
    def import_rows(self, path):
        self.job.stage("load")
        for i, row in enumerate(rows, 1):
            write(row)
            self.update_state(state="PROGRESS", meta={"current": i, "total": len(rows), "failed": 0})

- The job is declared when the task starts, with the task id as its id,
  the task's name as ``name`` and ``kind``, and ``attempt`` (retries + 1).
- ``update_state(state="PROGRESS", meta={"current", "total"})`` becomes a
  report (``failed``, ``stage`` and ``message`` in ``meta`` too); the
  state still goes to the result backend when there is one.
- Success, failure and retries come from Celery's own signals
  (``task_success`` completes, ``task_failure`` fails with the
  exception's message, ``task_retry`` logs the attempt and keeps the job
  running); pending reports are flushed at the end of every task and when
  the worker process shuts down (prefork children leave through
  ``os._exit``: ``atexit`` never runs there).
- A task that returns a dict with ``result_url`` gives its job that result
  link.
- A cancellation requested on the server raises ``JobCancelled`` from the
  task's next ``update_state`` (or ``self.job.raise_if_cancelled()``); the
  job then ends ``cancelled``.

Each worker process makes its own ``Client`` (a thread does not survive a
fork), from ``JOB_PROGRESS_API`` / ``JOB_PROGRESS_TOKEN`` or the keyword
arguments given to ``configure``.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

import celery
from celery import signals
from celery.backends.base import DisabledBackend

from .client import Client
from .errors import JobCancelled, JobProgressError
from .job import Job

_settings: dict[str, Any] = {}
_client: tuple[int, Client] | None = None
_client_lock = threading.Lock()
_running: dict[str, Job] = {}
_KIND = re.compile(r"[^A-Za-z0-9._:-]")


def configure(**client_options: Any) -> None:
    """Options for each worker process's ``Client`` (``api``, ``token``, ``interval``, ...)."""
    global _client
    _settings.clear()
    _settings.update(client_options)
    _client = None


def client() -> Client:
    """This process's client, made on first use (after a fork, anew)."""
    global _client
    with _client_lock:
        if _client is None or _client[0] != os.getpid():
            # Celery owns the worker's signals; its shutdown signals flush instead.
            _client = (os.getpid(), Client(**{"handle_signals": False, **_settings}))
        return _client[1]


class ProgressTask(celery.Task):
    """A task reported as a job. Set ``progress_total`` (or pass ``total`` in
    ``update_state``'s meta) and optionally ``progress_steps`` on the task."""

    #: The job's total when the task starts, if known.
    progress_total: int | None = None
    #: The job's named steps, if any.
    progress_steps: list[str] | None = None

    @property
    def job(self) -> Job:
        """The running request's job handle."""
        job = _running.get(self.request.id)
        if job is None:
            raise RuntimeError("no job: the task is not running in a worker")
        return job

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task_id = self.request.id
        if task_id is None or self.request.called_directly:
            return super().__call__(*args, **kwargs)
        attempt = (self.request.retries or 0) + 1
        _running[task_id] = client().job(
            task_id, total=self.progress_total, name=self.name[:200], kind=_KIND.sub("_", self.name)[:64],
            steps=self.progress_steps, attempt=attempt if attempt > 1 else None,
        )
        try:
            return super().__call__(*args, **kwargs)
        finally:
            _running[task_id].flush()

    def update_state(self, task_id: str | None = None, state: str | None = None, meta: Any = None, **kwargs: Any) -> None:
        job = _running.get(task_id or self.request.id)
        if job is not None:
            if state == "PROGRESS" and isinstance(meta, dict):
                _report(job, meta)
            job.raise_if_cancelled()
        if not isinstance(self.backend, DisabledBackend):
            super().update_state(task_id, state, meta, **kwargs)


def _report(job: Job, meta: dict[str, Any]) -> None:
    failed = int(meta.get("failed") or 0)
    total = meta.get("total")
    if meta.get("current") is not None:
        job.progress(int(meta["current"]) - failed, failed, total=int(total) if total is not None else None)
    elif total is not None:
        job.set_total(int(total))
    if meta.get("stage") is not None:
        job.stage(str(meta["stage"]))
    if meta.get("message") is not None:
        job.message(str(meta["message"]))


def _ended(task_id: str | None) -> Job | None:
    return _running.pop(task_id, None) if task_id else None


@signals.task_success.connect(weak=False)
def _on_success(sender: Any = None, result: Any = None, **_: Any) -> None:
    job = _ended(getattr(getattr(sender, "request", None), "id", None))
    if job is not None:
        # A task that returns {"result_url": ...} says where its result opens.
        url = result.get("result_url") if isinstance(result, dict) else None
        try:
            job.complete(result_url=url if isinstance(url, str) else None)
        except JobProgressError as err:
            job._client.logger.warning("job %s: could not report its completion: %s", job.id, err)


@signals.task_failure.connect(weak=False)
def _on_failure(task_id: str | None = None, exception: BaseException | None = None, **_: Any) -> None:
    job = _ended(task_id)
    if job is not None:
        try:
            # Celery may hand the signal a stand-in for the exception (one it
            # could pickle), so the job's own state says whether it stopped
            # because it was asked to.
            stopped = isinstance(exception, JobCancelled) or job.cancel_requested is not None
            job.cancelled() if stopped else job.fail(exception or "failed")
        except JobProgressError as err:
            job._client.logger.warning("job %s: could not report its failure: %s", job.id, err)


@signals.task_retry.connect(weak=False)
def _on_retry(request: Any = None, reason: Any = None, **_: Any) -> None:
    job = _ended(getattr(request, "id", None))
    if job is not None:
        attempt = (getattr(request, "retries", 0) or 0) + 1
        job.log("warn", f"attempt {attempt} failed, retrying: {reason}")
        job.message(f"retrying after attempt {attempt}: {reason}"[:500])
        job.flush()


@signals.worker_process_shutdown.connect(weak=False)
@signals.worker_shutdown.connect(weak=False)
def _on_shutdown(**_: Any) -> None:
    if _client is not None and _client[0] == os.getpid():
        _client[1].flush()
