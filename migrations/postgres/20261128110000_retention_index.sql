-- no-transaction
-- Retention finds the finished checkpoints to delete by age through this
-- index, never by a scan of the table. Built CONCURRENTLY, so a large
-- table keeps taking checkpoints while it is built: that cannot run inside
-- a transaction (hence the first line), nor beside another statement in
-- this file.
CREATE INDEX CONCURRENTLY IF NOT EXISTS job_progress_finished_idx
    ON job_progress (checkpointed_at)
    WHERE status IN ('completed', 'failed');
