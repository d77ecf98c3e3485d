"""The threaded client against a real server (embedded stores)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import eventually
from job_progress import Client, Finished, JobCancelled, Refused, Unauthorized, track

HERE = Path(__file__).resolve().parent


def test_a_job_in_a_with_block_reports_its_counts_and_completes(server, unique):
    job_id = unique("with-block")
    client = Client(server.api, server.write_token)
    with client.job(job_id, total=2000) as job:
        for i in range(2000):
            job.advance(0, failed=1) if i % 100 == 99 else job.advance(1)  # one in a hundred fails
    record = server.get(job_id)
    assert record["status"] == "completed", record
    assert (record["successCount"], record["failureCount"]) == (1980, 20)
    client.close()


def test_track_counts_each_item_and_sets_the_total(server, unique):
    job_id = unique("track")
    client = Client(server.api, server.write_token)
    with client.job(job_id) as job:
        for _ in track(range(321), job):
            pass
    record = server.get(job_id)
    assert (record["status"], record["totalTargetCount"], record["successCount"]) == ("completed", 321, 321)


def test_an_exception_fails_the_job_with_its_message_and_goes_on(server, unique):
    job_id = unique("raises")
    client = Client(server.api, server.write_token)
    with pytest.raises(ValueError):
        with client.job(job_id, total=10) as job:
            job.advance(3)
            raise ValueError("row 4 is not a row")
    record = server.get(job_id)
    assert record["status"] == "failed"
    assert record["errorMessage"] == "row 4 is not a row"
    assert record["successCount"] == 3


def test_many_jobs_reporting_as_fast_as_they_can_share_one_request_per_interval(server, unique):
    client = Client(server.api, server.write_token, interval=0.5)
    jobs = [client.job(unique(f"fast-{n}"), total=1_000_000) for n in range(50)]
    before = server.requests_to("/api/v1/progress")
    started = time.monotonic()
    calls = 0
    while calls < 200_000:
        for job in jobs:
            job.advance(1)
        calls += len(jobs)
    assert client.flush(10)
    elapsed = time.monotonic() - started
    sent = server.requests_to("/api/v1/progress") - before
    # At most one batch per interval while they ran, plus the final flush.
    assert 1 <= sent <= elapsed / client.interval + 2, (sent, elapsed)
    assert server.get(jobs[7].id)["successCount"] == 4000
    client.close()


def test_a_refused_token_raises_at_declaration_and_never_shows_the_token(server, unique):
    secret = "not-a-token-" + "x" * 30
    client = Client(server.api, secret)
    with pytest.raises(Unauthorized) as raised:
        client.job(unique("denied"), total=5)
    assert raised.value.status == 401
    assert "token" in str(raised.value) and secret not in str(raised.value)
    assert secret not in repr(client)
    read_only = Client(server.api, server.read_token)
    with pytest.raises(Unauthorized) as raised:
        read_only.job(unique("read-only"), total=5)
    assert raised.value.status == 403 and "write token" in str(raised.value)
    assert server.read_token not in str(raised.value) + repr(read_only)


def test_a_job_finished_elsewhere_stops_reporting_without_raising(server, unique, caplog):
    job_id = unique("ended-elsewhere")
    client = Client(server.api, server.write_token, interval=0.05)
    job = client.job(job_id, total=10)
    assert server.write("POST", f"/api/v1/jobs/{job_id}/complete", {"successCount": 2})[0] == 200
    caplog.set_level(logging.WARNING, "job_progress")
    job.advance(5)
    eventually(lambda: job.ended, what="the handle stopping")
    assert "ended elsewhere" in caplog.text
    assert server.get(job_id)["successCount"] == 2
    with pytest.raises(Finished):
        client.job(job_id, total=10)


def test_a_refused_report_is_logged_once_and_raised_only_when_strict(server, unique, caplog):
    caplog.set_level(logging.WARNING, "job_progress")
    for strict in (False, True):
        job_id = unique(f"too-many-{strict}")
        client = Client(server.api, server.write_token, interval=0.05, strict=strict)
        job = client.job(job_id, total=10)
        job.progress(11, 0)  # more than the total: 409 exceeds_total
        eventually(lambda: "exceeds_total" in caplog.text, what="the refusal being logged")
        if strict:  # raised from the job's next call
            with pytest.raises(Refused) as raised:
                job.progress(12, 0)
            assert raised.value.reason == "exceeds_total"
        else:
            job.progress(12, 0)
            job.flush(5)
            assert caplog.text.count(job_id) == 1, caplog.text
        caplog.clear()
        client.close()


def test_the_final_report_survives_a_server_restart_mid_job(server, unique):
    job_id = unique("restart")
    client = Client(server.api, server.write_token, interval=0.1)
    job = client.job(job_id, total=2000)
    job.stage("loading")
    for _ in range(1000):
        job.advance(1)
    eventually(lambda: server.get(job_id)["successCount"] == 1000, what="the first half reaching the server")
    server.kill()
    for _ in range(990):
        job.advance(1)
    job.advance(0, failed=10)
    server.start()  # the same port and data folder
    job.complete()
    record = server.get(job_id)
    assert record["status"] == "completed"
    assert (record["successCount"], record["failureCount"]) == (1990, 10)


def test_sigterm_mid_job_flushes_the_last_counts(server, unique):
    job_id = unique("sigterm")
    env = {**os.environ, "JOB_PROGRESS_API": server.api, "JOB_PROGRESS_TOKEN": server.write_token}
    child = subprocess.Popen([sys.executable, str(HERE / "sigterm_child.py"), job_id], env=env,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "counted"
    child.send_signal(signal.SIGTERM)
    assert child.wait(30) == -signal.SIGTERM  # it still dies of the signal
    record = server.get(job_id)
    assert (record["successCount"], record["failureCount"]) == (1234, 5), record


def test_stage_message_metadata_logs_and_result_link_reach_the_server(server, unique):
    job_id = unique("fields")
    client = Client(server.api, server.write_token, interval=0.05)
    job = client.job(job_id, total=10, name="Nightly export", kind="export", steps=["fetch", "write"])
    job.stage("fetch")
    job.message("fetching page 1")
    job.metadata(pages=3, source="crm")
    job.log("warn", "page 2 was empty")
    job.advance(10)
    job.complete(result_url="https://files.example/export.csv")
    missing = client.unsupported_fields & {"name", "kind", "steps", "stage", "message", "metadata", "resultUrl"}
    if missing or client._logs_unsupported:
        pytest.skip(f"this server predates {sorted(missing) or ['logs']}: the client left them out")
    record = server.get(job_id)
    assert record["status"] == "completed" and record["successCount"] == 10
    assert record.get("name") == "Nightly export" and record.get("kind") == "export"
    assert record.get("stage") == "fetch" and record.get("resultUrl", "").endswith("export.csv")


def test_a_cancel_request_reaches_the_job_and_ends_it_cancelled(server, unique):
    job_id = unique("cancel")
    seen = []
    client = Client(server.api, server.write_token, interval=0.05)
    job = client.job(job_id, total=100, on_cancel=seen.append)
    status, body = server.write("POST", f"/api/v1/jobs/{job_id}/cancel", {"reason": "wrong file"},
                                token=server.control_token)
    assert status in (200, 202), body
    with pytest.raises(JobCancelled):
        with job:
            while True:
                job.advance(1)
                job.raise_if_cancelled()
                time.sleep(0.01)
    assert seen == [job]
    assert server.get(job_id)["status"] == "cancelled"
