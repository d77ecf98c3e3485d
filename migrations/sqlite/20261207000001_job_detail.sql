-- What a job says about itself besides its counts (as on PostgreSQL: name
-- and kind as columns, the rest as one JSON text column), and a total that
-- may be NULL for a job that declares steps instead. SQLite cannot drop a
-- NOT NULL in place, so the table is rebuilt, rows and indexes as they were;
-- the status CHECK admits `cancelled` (a job stopped on request), and the
-- attempt, a pending request to stop and the parent of a child job get
-- their columns (see the PostgreSQL migration), so the table need not be
-- rebuilt again for them.
CREATE TABLE job_progress_next (
    job_id                      TEXT NOT NULL PRIMARY KEY,
    status                      TEXT NOT NULL
        CHECK (status IN ('preparing', 'in_progress', 'completed', 'failed', 'cancelled')),
    total_target_count          INTEGER CHECK (total_target_count >= 0),
    current_sent_count          INTEGER NOT NULL CHECK (current_sent_count >= 0),
    success_count               INTEGER NOT NULL CHECK (success_count >= 0),
    failure_count               INTEGER NOT NULL CHECK (failure_count >= 0),
    total_chunks                INTEGER,
    current_chunk               INTEGER,
    started_at                  INTEGER,
    updated_at                  INTEGER NOT NULL,
    completed_at                INTEGER,
    estimated_end_at            INTEGER,
    estimated_remaining_seconds INTEGER,
    rate_per_second             REAL,
    error_message               TEXT,
    schedule_id                 TEXT,
    checkpointed_at             INTEGER NOT NULL
        DEFAULT (CAST(unixepoch('now', 'subsec') * 1000000 AS INTEGER)),
    refresh_interval_ms         INTEGER,
    estimated_end_earliest      INTEGER,
    estimated_end_latest        INTEGER,
    name                        TEXT,
    kind                        TEXT,
    detail                      TEXT,
    attempt                     INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    cancel_requested            TEXT,
    parent_job_id               TEXT
) STRICT, WITHOUT ROWID;

INSERT INTO job_progress_next (job_id, status, total_target_count, current_sent_count,
    success_count, failure_count, total_chunks, current_chunk, started_at, updated_at,
    completed_at, estimated_end_at, estimated_remaining_seconds, rate_per_second,
    error_message, schedule_id, checkpointed_at, refresh_interval_ms,
    estimated_end_earliest, estimated_end_latest)
SELECT job_id, status, total_target_count, current_sent_count, success_count,
    failure_count, total_chunks, current_chunk, started_at, updated_at, completed_at,
    estimated_end_at, estimated_remaining_seconds, rate_per_second, error_message,
    schedule_id, checkpointed_at, refresh_interval_ms, estimated_end_earliest,
    estimated_end_latest
FROM job_progress;

DROP TABLE job_progress;
ALTER TABLE job_progress_next RENAME TO job_progress;

CREATE INDEX job_progress_active_idx
    ON job_progress (started_at IS NULL, started_at, job_id)
    WHERE status IN ('preparing', 'in_progress');

CREATE INDEX job_progress_finished_idx
    ON job_progress (updated_at DESC, job_id DESC)
    WHERE status IN ('completed', 'failed', 'cancelled');

CREATE INDEX job_progress_retention_idx
    ON job_progress (checkpointed_at)
    WHERE status IN ('completed', 'failed', 'cancelled');

CREATE INDEX job_progress_parent_idx
    ON job_progress (parent_job_id, job_id)
    WHERE parent_job_id IS NOT NULL;
