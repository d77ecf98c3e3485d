"""A worker that counts, says so, and waits to be killed (test_client.py)."""

import sys
import time

from job_progress import Client

client = Client(interval=3600)  # nothing is sent by the flusher: only the flush on SIGTERM can send it
job = client.job(sys.argv[1], total=2000)
job.progress(1234, 5)
print("counted", flush=True)
time.sleep(60)
