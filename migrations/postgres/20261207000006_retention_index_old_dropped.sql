-- no-transaction
DROP INDEX CONCURRENTLY IF EXISTS job_progress_retention_idx;
