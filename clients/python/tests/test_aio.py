"""The asyncio client against a real server."""

from __future__ import annotations

import asyncio

import pytest

from job_progress.aio import AsyncClient


def test_an_async_job_reports_and_completes_without_blocking_the_loop(server, unique):
    job_id = unique("async")

    async def main() -> None:
        async with AsyncClient(server.api, server.write_token, interval=0.05) as client:
            ticks = 0

            async def ticker() -> None:  # runs while the calls that wait are awaited
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            running = asyncio.create_task(ticker())
            async with await client.job(job_id, total=100) as job:
                for _ in range(100):
                    job.advance(1)
                assert await job.flush(5)
            running.cancel()
            assert ticks > 0

    asyncio.run(main())
    record = server.get(job_id)
    assert (record["status"], record["successCount"]) == ("completed", 100)


def test_an_async_job_fails_with_the_exception(server, unique):
    job_id = unique("async-fail")

    async def main() -> None:
        async with AsyncClient(server.api, server.write_token) as client:
            async with await client.job(job_id, total=5):
                raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        asyncio.run(main())
    assert server.get(job_id)["errorMessage"] == "disk full"
