-- no-transaction
-- A job's children, listed by parent.
CREATE INDEX CONCURRENTLY IF NOT EXISTS job_progress_parent_idx
    ON job_progress (parent_job_id, job_id)
    WHERE parent_job_id IS NOT NULL;
