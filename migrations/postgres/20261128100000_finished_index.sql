-- Recently finished jobs, newest first (GET /api/v1/jobs?status=...): a
-- page is one range scan of this index from the cursor on, however many
-- jobs finished before it. Partial, like the active index: running jobs,
-- whose updated_at moves all the time, stay out of it.
CREATE INDEX job_progress_finished_idx ON job_progress (updated_at DESC, job_id DESC)
    WHERE status IN ('completed', 'failed');
