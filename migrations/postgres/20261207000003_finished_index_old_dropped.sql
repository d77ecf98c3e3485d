-- no-transaction
-- The finished-list index over two statuses, replaced by the one before.
DROP INDEX CONCURRENTLY IF EXISTS job_progress_finished_idx;
