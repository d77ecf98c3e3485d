"""A real Celery worker (prefork, Redis broker) reporting to a real server
on Redis + PostgreSQL."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Server, eventually

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def celery_env(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("celery"), {
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"),
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres"),
        "KEY_PREFIX": f"jpclient-{secrets.token_hex(4)}:",
    })
    run = secrets.token_hex(4)
    env = {**os.environ, "JOB_PROGRESS_API": server.api, "JOB_PROGRESS_TOKEN": server.write_token,
           "JP_TEST_PREFIX": f"jp-celery-{run}:", "JP_TEST_QUEUE": f"jp-celery-{run}",
           "PYTHONPATH": str(HERE)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool", "prefork", "--concurrency", "1",
         "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=open(server.log.name + ".celery", "wb"),
    )
    os.environ.update({k: env[k] for k in ("JP_TEST_PREFIX", "JP_TEST_QUEUE")})
    sys.path.insert(0, str(HERE))
    import celery_app

    celery_app.app.conf.update(broker_transport_options={"global_keyprefix": env["JP_TEST_PREFIX"]},
                               task_default_queue=env["JP_TEST_QUEUE"])
    yield server, celery_app
    worker.terminate()
    worker.wait(30)
    server.close()
    import redis  # the broker's keys of this run

    broker = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
    for key in broker.scan_iter(match=f"{env['JP_TEST_PREFIX']}*"):
        broker.delete(key)


def test_a_celery_task_reports_its_items_failures_and_stage_and_completes(celery_env):
    server, app = celery_env
    task_id = f"celery-ok-{secrets.token_hex(4)}"
    app.import_rows.apply_async(kwargs={"total": 2000}, task_id=task_id)
    record = eventually(lambda: (r := server.get(task_id)) and r["status"] == "completed" and r, 60,
                        "the task's job completing")
    assert (record["totalTargetCount"], record["successCount"], record["failureCount"]) == (2000, 1960, 40)
    assert record["stage"] == "write"
    assert record["resultUrl"] == f"/imports/{task_id}"
    lines = server.logs(task_id)
    assert any(line["message"] == "2000 rows imported, 40 refused" for line in lines), lines


def test_a_failing_celery_task_fails_its_job_with_the_exception(celery_env):
    server, app = celery_env
    task_id = f"celery-fail-{secrets.token_hex(4)}"
    app.import_rows.apply_async(kwargs={"total": 2000, "fail_at": 1500}, task_id=task_id)
    record = eventually(lambda: (r := server.get(task_id)) and r["status"] == "failed" and r, 60,
                        "the task's job failing")
    assert record["errorMessage"] == "row 1500 broke the import"


def test_a_retried_celery_task_keeps_its_job_running_and_completes_it(celery_env):
    server, app = celery_env
    task_id = f"celery-retry-{secrets.token_hex(4)}"
    app.import_rows.apply_async(kwargs={"total": 200, "retry_at": 100}, task_id=task_id)
    record = eventually(lambda: (r := server.get(task_id)) and r["status"] == "completed" and r, 60,
                        "the retried task's job completing")
    assert (record["successCount"], record["failureCount"]) == (196, 4)


def test_a_server_restarted_mid_task_loses_no_final_report(celery_env):
    server, app = celery_env
    task_id = f"celery-restart-{secrets.token_hex(4)}"
    app.import_rows.apply_async(kwargs={"total": 2000, "pause": 0.2}, task_id=task_id)
    eventually(lambda: (r := server.get(task_id)) and r["successCount"] > 0, 60, "the first reports")
    server.restart()  # the same port, Redis prefix and PostgreSQL
    record = eventually(lambda: (r := server.get(task_id)) and r["status"] == "completed" and r, 60,
                        "the task's job completing")
    assert (record["successCount"], record["failureCount"]) == (1960, 40)


def test_a_cancelled_celery_task_stops_before_its_end_and_its_job_ends_cancelled(celery_env):
    server, app = celery_env
    task_id = f"celery-cancel-{secrets.token_hex(4)}"
    app.import_rows.apply_async(kwargs={"total": 2000, "pause": 0.25}, task_id=task_id)
    eventually(lambda: (r := server.get(task_id)) and r["successCount"] > 0, 60, "the task under way")
    status, body = server.write("POST", f"/api/v1/jobs/{task_id}/cancel", {"reason": "wrong file"},
                                token=server.control_token)
    assert status == 200, body
    record = eventually(lambda: (r := server.get(task_id)) and r["status"] == "cancelled" and r, 30,
                        "the task's job ending cancelled")
    assert record["currentSentCount"] < 2000, "the task stopped before its end"
    assert record["cancelRequested"]["reason"] == "wrong file"
