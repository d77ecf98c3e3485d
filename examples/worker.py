#!/usr/bin/env python3
"""A worker reporting a simulated job of 2,000 items in chunks of 200 with the
`job_progress` package (`pip install ./clients/python`; from a checkout it is
found without installing):  JOB_PROGRESS_TOKEN=... python3 examples/worker.py import-42"""
import pathlib, sys, time
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "clients" / "python" / "src"))
from job_progress import Client, Finished

try:
    with Client().job(sys.argv[1], total=2000, chunk_size=200, pause_ms=50) as job:
        for chunk in range(1, 11):
            time.sleep(0.05)  # the real work: say three recipients a chunk bounce
            job.progress(197 * chunk, 3 * chunk, chunk=chunk)
    print(f"{sys.argv[1]}: {job.record['status']}, {job.counts[0]} sent, {job.counts[1]} failed")
except Finished as err:
    print(f"{sys.argv[1]}: already finished, stopping ({err})")
