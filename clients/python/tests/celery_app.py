"""The Celery app the integration tests run a worker of (test_celery.py).

Its broker is Redis with a key prefix and a queue of the run's own
(``JP_TEST_PREFIX``, ``JP_TEST_QUEUE``), so runs never see each other.
"""

import os
import time

from celery import Celery

from job_progress.celery import ProgressTask

app = Celery("jp_test", broker=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379") + "/0")
app.conf.update(
    broker_transport_options={"global_keyprefix": os.environ.get("JP_TEST_PREFIX", "jp-test:")},
    task_default_queue=os.environ.get("JP_TEST_QUEUE", "jp-test"),
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(base=ProgressTask, bind=True, name="jp_test.import_rows")
def import_rows(self, total=2000, pause=0.0, fail_at=None, retry_at=None):
    """``total`` items, one in fifty failing; the stage changes halfway.
    ``fail_at`` raises at that item; ``retry_at`` retries there once."""
    self.job.stage("load")
    failed = 0
    for i in range(1, total + 1):
        if i == fail_at:
            raise RuntimeError(f"row {i} broke the import")
        if i == retry_at and self.request.retries == 0:
            raise self.retry(exc=RuntimeError(f"row {i} timed out"), countdown=0)
        if i % 50 == 0:
            failed += 1
        if i == total // 2:
            self.job.stage("write")
        self.update_state(state="PROGRESS", meta={"current": i, "total": total, "failed": failed})
        if pause and i % 100 == 0:
            time.sleep(pause)
    self.job.log("info", f"{total} rows imported, {failed} refused")
    return {"failed": failed, "result_url": f"/imports/{self.request.id}"}
