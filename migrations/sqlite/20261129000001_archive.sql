-- The archive on SQLite: the tables, columns, CHECKs and indexes that
-- migrations/postgres/ ends with, in one step, since this database starts
-- from there.
--
-- Times are INTEGER microseconds since the epoch, PostgreSQL's precision,
-- so a record reads back exactly as PostgreSQL gives it (see
-- src/store/sqlite/mod.rs). STRICT refuses a value of the wrong type, as
-- PostgreSQL's typed columns do; WITHOUT ROWID keeps each table in its
-- primary key's order, with no second copy of the key in a rowid index.

-- The latest checkpoint of each job (one row per job), upserted by the
-- writer with the never-backwards rule. checkpointed_at is the database's
-- own clock (retention ages rows by it), here to the millisecond: SQLite's
-- 'now' goes no finer.
CREATE TABLE job_progress (
    job_id                      TEXT NOT NULL PRIMARY KEY,
    status                      TEXT NOT NULL
        CHECK (status IN ('preparing', 'in_progress', 'completed', 'failed')),
    total_target_count          INTEGER NOT NULL CHECK (total_target_count >= 0),
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
    estimated_end_latest        INTEGER
) STRICT, WITHOUT ROWID;

-- The active list: live jobs by start, jobs without a start last (the
-- order PostgreSQL gives NULLs; SQLite would put them first).
CREATE INDEX job_progress_active_idx
    ON job_progress (started_at IS NULL, started_at, job_id)
    WHERE status IN ('preparing', 'in_progress');

-- Recently finished jobs, newest first: a page is one range scan from the
-- cursor on.
CREATE INDEX job_progress_finished_idx
    ON job_progress (updated_at DESC, job_id DESC)
    WHERE status IN ('completed', 'failed');

-- Retention finds the finished checkpoints to delete by age through this
-- index, never by a scan of the table.
CREATE INDEX job_progress_retention_idx
    ON job_progress (checkpointed_at)
    WHERE status IN ('completed', 'failed');

-- Scheduled sends. Rows are created by whatever schedules sends; the writer
-- fills in the job, the actual start and the actual end (and creates the row
-- if a job names a schedule nobody registered).
CREATE TABLE schedules (
    id                 TEXT NOT NULL PRIMARY KEY,
    name               TEXT,
    scheduled_at       INTEGER,
    actual_start_at    INTEGER,
    actual_end_at      INTEGER,
    total_target_count INTEGER CHECK (total_target_count >= 0),
    job_id             TEXT,
    created_at         INTEGER NOT NULL
        DEFAULT (CAST(unixepoch('now', 'subsec') * 1000000 AS INTEGER))
) STRICT, WITHOUT ROWID;

CREATE INDEX schedules_running_idx ON schedules (actual_start_at, id)
    WHERE actual_start_at IS NOT NULL AND actual_end_at IS NULL;
