-- no-transaction
-- The retention index of 20261128110000_retention_index.sql was never
-- built: it reused the name of the finished-list index of the migration
-- before it, so its IF NOT EXISTS skipped it, and retention scanned the
-- table. This one has a name of its own. CONCURRENTLY, for the reason
-- given there: a large table keeps taking checkpoints while it is built.
CREATE INDEX CONCURRENTLY IF NOT EXISTS job_progress_retention_idx
    ON job_progress (checkpointed_at)
    WHERE status IN ('completed', 'failed');
