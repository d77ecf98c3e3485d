-- no-transaction
-- The new finished-list index takes the old name (queries and plans name it).
ALTER INDEX IF EXISTS job_progress_finished_3_idx RENAME TO job_progress_finished_idx;
