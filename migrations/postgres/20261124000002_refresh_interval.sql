-- How often the writer promises to refresh the checkpoint while the job's
-- worker is alive; readers use it to tell a stalled job from a slow one.
ALTER TABLE job_progress ADD COLUMN refresh_interval_ms BIGINT;
