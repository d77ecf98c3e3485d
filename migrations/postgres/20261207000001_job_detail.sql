-- What a job says about itself besides its counts. A job may declare steps
-- instead of a total, so the total may be NULL. name and kind are columns of
-- their own (lists filter and search on them); the rest (steps, stage,
-- message, result link, metadata) is one JSON text column, read back whole
-- with the row and never queried into.
ALTER TABLE job_progress ALTER COLUMN total_target_count DROP NOT NULL;
ALTER TABLE job_progress
    ADD COLUMN name   TEXT,
    ADD COLUMN kind   TEXT,
    ADD COLUMN detail TEXT;

-- A job may end `cancelled` (stopped on request), as final as completed
-- and failed.
ALTER TABLE job_progress DROP CONSTRAINT job_progress_status_check;
ALTER TABLE job_progress ADD CONSTRAINT job_progress_status_check
    CHECK (status IN ('preparing', 'in_progress', 'completed', 'failed', 'cancelled'));

-- Control: the attempt a row belongs to (a new attempt may follow a failed
-- or cancelled one; the checkpoint upsert lets a later attempt replace an
-- earlier one whatever its status), a pending request to stop (JSON text;
-- kept by the upsert until the job ends), and the parent of a child job.
ALTER TABLE job_progress
    ADD COLUMN attempt          BIGINT NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    ADD COLUMN cancel_requested TEXT,
    ADD COLUMN parent_job_id    TEXT;
