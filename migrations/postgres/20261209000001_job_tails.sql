-- What the archive keeps of a finished job beside its checkpoint: its last
-- 100 log lines and its progress history downsampled to at most 200
-- points, so a failed job's page still shows why and how it ran after the
-- hot store has let go of it (docs/http-api.md, "Logs" and "History").
-- Both are JSON arrays as the API serves them; written once when the job
-- ends, read only by id. The row goes when retention deletes its job.
CREATE TABLE job_tails (
    job_id   TEXT PRIMARY KEY REFERENCES job_progress (job_id) ON DELETE CASCADE,
    last_seq BIGINT NOT NULL CHECK (last_seq >= 0),
    lines    TEXT NOT NULL,
    samples  TEXT NOT NULL
);
