-- no-transaction
-- Retention deletes `cancelled` checkpoints too: its index, as the
-- finished list's, over the three final statuses.
CREATE INDEX CONCURRENTLY IF NOT EXISTS job_progress_retention_3_idx
    ON job_progress (checkpointed_at)
    WHERE status IN ('completed', 'failed', 'cancelled');
