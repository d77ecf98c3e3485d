-- Each kind's last finished runs: what the ETA of its next jobs leans on
-- (docs/eta.md, "Learning from earlier runs of the same kind"). One row
-- per completed run of a job with a kind, its summary (RunSummary,
-- src/write/eta/history.rs) as JSON text; the archive keeps the last 50
-- per kind, trimmed by the insert's own transaction, and retention
-- (RETENTION_DAYS, which ages job_progress) does not touch them.
--
-- A run is (kind, job_id, attempt): recording it again (a retried
-- completion) changes nothing. id orders the runs as they were recorded
-- (AUTOINCREMENT: never reused, even after the newest is deleted);
-- finished_at is the database's clock at that moment, in microseconds.
CREATE TABLE kind_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    finished_at INTEGER NOT NULL
        DEFAULT (CAST(unixepoch('now', 'subsec') * 1000000 AS INTEGER)),
    summary     TEXT NOT NULL,
    UNIQUE (kind, job_id, attempt)
) STRICT;

-- A kind's latest runs, newest first: one range scan for the history and
-- for the trim.
CREATE INDEX kind_runs_latest_idx ON kind_runs (kind, id DESC);
