-- no-transaction
ALTER INDEX IF EXISTS job_progress_retention_3_idx RENAME TO job_progress_retention_idx;
