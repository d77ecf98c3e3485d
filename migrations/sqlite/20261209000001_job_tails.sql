-- What the archive keeps of a finished job beside its checkpoint: its last
-- 100 log lines and its progress history downsampled to at most 200
-- points (as migrations/postgres/20261209000001_job_tails.sql). The row
-- goes with its job: a trigger, since SQLite enforces foreign keys only
-- where each connection turns them on.
CREATE TABLE job_tails (
    job_id   TEXT NOT NULL PRIMARY KEY,
    last_seq INTEGER NOT NULL CHECK (last_seq >= 0),
    lines    TEXT NOT NULL,
    samples  TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TRIGGER job_tails_follow_deletes AFTER DELETE ON job_progress BEGIN
    DELETE FROM job_tails WHERE job_id = old.job_id;
END;
