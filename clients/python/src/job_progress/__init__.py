"""Report job progress to a job-progress server.

    from job_progress import Client, track

    client = Client()  # JOB_PROGRESS_API, JOB_PROGRESS_TOKEN
    with client.job("import-42", total=len(rows), name="Import rows") as job:
        for row in track(rows, job):
            import_row(row)

Reports are cheap (memory only) and sent at most once a second per job,
every job of a client in one batch request; completing and failing are
sent at once and return once the server holds them durably.
"""

from .client import Client
from .errors import Finished, JobCancelled, JobProgressError, Refused, Unauthorized, Unavailable
from .job import Job
from .track import track

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Finished",
    "Job",
    "JobCancelled",
    "JobProgressError",
    "Refused",
    "Unauthorized",
    "Unavailable",
    "track",
    "__version__",
]
