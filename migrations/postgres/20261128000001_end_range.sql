-- The 80 % range around estimated_end_at (see estimatedEndRange in the API).
ALTER TABLE job_progress
    ADD COLUMN estimated_end_earliest TIMESTAMPTZ,
    ADD COLUMN estimated_end_latest   TIMESTAMPTZ;
