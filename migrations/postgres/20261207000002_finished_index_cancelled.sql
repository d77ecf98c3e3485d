-- no-transaction
-- The finished list reads `completed`, `failed` and now `cancelled` rows; a
-- partial index serves a query only when the query's statuses imply the
-- index's, so it is built again over the three, beside the old one (one
-- statement a file: PostgreSQL runs a multi-statement file as one
-- transaction, which CONCURRENTLY refuses; CONCURRENTLY as in its first
-- build, since checkpoints keep arriving), then takes the old one's name.
CREATE INDEX CONCURRENTLY IF NOT EXISTS job_progress_finished_3_idx
    ON job_progress (updated_at DESC, job_id DESC)
    WHERE status IN ('completed', 'failed', 'cancelled');
