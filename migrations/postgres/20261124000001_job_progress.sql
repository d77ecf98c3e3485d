-- The latest checkpoint of each job: one row per job, upserted by the writer
-- on every status change and at most every checkpoint interval. It is what
-- the API serves once Redis has lost the job (restart, TTL expiry).
CREATE TABLE job_progress (
    job_id                      TEXT PRIMARY KEY,
    status                      TEXT NOT NULL
        CHECK (status IN ('preparing', 'in_progress', 'completed', 'failed')),
    total_target_count          BIGINT NOT NULL CHECK (total_target_count >= 0),
    current_sent_count          BIGINT NOT NULL CHECK (current_sent_count >= 0),
    success_count               BIGINT NOT NULL CHECK (success_count >= 0),
    failure_count               BIGINT NOT NULL CHECK (failure_count >= 0),
    total_chunks                BIGINT,
    current_chunk               BIGINT,
    started_at                  TIMESTAMPTZ,
    updated_at                  TIMESTAMPTZ NOT NULL,
    completed_at                TIMESTAMPTZ,
    estimated_end_at            TIMESTAMPTZ,
    estimated_remaining_seconds BIGINT,
    rate_per_second             DOUBLE PRECISION,
    error_message               TEXT,
    schedule_id                 TEXT,
    checkpointed_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The active list when Redis is down: only live jobs, by start time.
CREATE INDEX job_progress_active_idx ON job_progress (started_at, job_id)
    WHERE status IN ('preparing', 'in_progress');

-- Scheduled sends. Rows are created by whatever schedules sends; the writer
-- fills in the job, the actual start and the actual end (and creates the row
-- if a job names a schedule nobody registered).
CREATE TABLE schedules (
    id                 TEXT PRIMARY KEY,
    name               TEXT,
    scheduled_at       TIMESTAMPTZ,
    actual_start_at    TIMESTAMPTZ,
    actual_end_at      TIMESTAMPTZ,
    total_target_count BIGINT CHECK (total_target_count >= 0),
    job_id             TEXT,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX schedules_running_idx ON schedules (actual_start_at, id)
    WHERE actual_start_at IS NOT NULL AND actual_end_at IS NULL;
