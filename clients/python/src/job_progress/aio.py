"""The asyncio client: the same API, with the calls that wait awaited.

Reports stay memory writes sent by the client's flusher thread; the
calls that wait for the server (declaring, completing, failing, flushing)
run in a worker thread, so they never block the event loop.

    from job_progress.aio import AsyncClient

    async with AsyncClient() as client:
        async with await client.job("import-42", total=n) as job:
            job.advance(10)
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Iterable

from .client import Client
from .job import Job


class AsyncJob:
    """A job handle for coroutines: the cheap calls as they are, the rest awaited."""

    def __init__(self, job: Job, loop: asyncio.AbstractEventLoop):
        self.sync = job
        #: Set (on the loop) once someone asks for the job to be cancelled.
        self.cancel_event = asyncio.Event()
        if job.cancel_requested is not None:
            self.cancel_event.set()
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        # progress, advance, stage, message, metadata, log, counts, record, ...
        return getattr(self.sync, name)

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"

    def _cancelled_elsewhere(self) -> None:
        self._loop.call_soon_threadsafe(self.cancel_event.set)

    async def complete(self, result_url: str | None = None) -> dict[str, Any]:
        """Completes the job; returns once the server holds it durably."""
        return await asyncio.to_thread(self.sync.complete, result_url)

    async def fail(self, error: BaseException | str) -> dict[str, Any]:
        """Fails the job with ``error``."""
        return await asyncio.to_thread(self.sync.fail, error)

    async def cancelled(self) -> dict[str, Any]:
        """Acknowledges a cancellation."""
        return await asyncio.to_thread(self.sync.cancelled)

    async def flush(self, timeout: float | None = None) -> bool:
        """Sends this job's pending state now."""
        return await asyncio.to_thread(self.sync.flush, timeout)

    async def __aenter__(self) -> AsyncJob:
        return self

    async def __aexit__(self, kind: Any, error: BaseException | None, tb: Any) -> None:
        await asyncio.to_thread(self.sync.__exit__, kind, error, tb)


class AsyncClient:
    """``Client`` for asyncio code; takes the same arguments."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.sync = Client(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"

    async def job(self, job_id: str, total: int | None = None, *, on_cancel: Callable[[AsyncJob], None] | None = None,
                  steps: Iterable[str] | None = None, **fields: Any) -> AsyncJob:
        """Declares ``job_id``; see ``Client.job``. ``on_cancel`` runs on the loop."""
        loop = asyncio.get_running_loop()
        handle: list[AsyncJob] = []

        def cancelled(_: Job) -> None:
            if handle:
                handle[0]._cancelled_elsewhere()
                if on_cancel is not None:
                    loop.call_soon_threadsafe(on_cancel, handle[0])

        job = await asyncio.to_thread(self.sync.job, job_id, total, steps=steps, on_cancel=cancelled, **fields)
        handle.append(AsyncJob(job, loop))
        return handle[0]

    async def flush(self, timeout: float | None = None) -> bool:
        """Sends every job's pending state now."""
        return await asyncio.to_thread(self.sync.flush, timeout)

    async def close(self, timeout: float | None = None) -> bool:
        """Flushes and stops the flusher."""
        return await asyncio.to_thread(self.sync.close, timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
