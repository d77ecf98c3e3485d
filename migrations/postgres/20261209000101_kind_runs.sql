-- Each kind's last finished runs: what the ETA of its next jobs leans on
-- (docs/eta.md, "Learning from earlier runs of the same kind"). One row
-- per completed run of a job with a kind, its summary (RunSummary,
-- src/write/eta/history.rs) as JSON; the archive keeps the last 50 per
-- kind, trimmed by the insert's own transaction, and retention
-- (RETENTION_DAYS, which ages job_progress) does not touch them.
--
-- A run is (kind, job_id, attempt): recording it again (a retried
-- completion) changes nothing. id orders the runs as they were recorded;
-- finished_at is the database's clock at that moment, for people.
CREATE TABLE kind_runs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    summary     JSONB NOT NULL,
    UNIQUE (kind, job_id, attempt)
);

-- A kind's latest runs, newest first: one range scan for the history and
-- for the trim.
CREATE INDEX kind_runs_latest_idx ON kind_runs (kind, id DESC);
