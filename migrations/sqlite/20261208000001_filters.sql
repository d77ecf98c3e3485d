-- The lists' filters: kind= and q= (docs/http-api.md, "Filters").
--
-- Finished jobs of one kind, newest first: one range scan, as the finished
-- index gives the unfiltered list.
CREATE INDEX job_progress_kind_finished_idx
    ON job_progress (kind, updated_at DESC, job_id DESC)
    WHERE status IN ('completed', 'failed', 'cancelled');

-- q= finds its text anywhere in the id or the name: an FTS5 table with
-- the trigram tokenizer (case-insensitive) serves a q of 3 characters or
-- more; shorter ones read with LIKE (src/store/archive/filter.rs).
--
-- FTS5 keys its rows by an integer rowid, which job_progress (WITHOUT
-- ROWID) has not: job_search_rows gives each job one, and holds the
-- indexed text, so job_search stores only its index (external content).
-- Triggers keep both in step with job_progress, in the writer's own
-- transaction: a row added, a name changed, a row deleted by retention.
CREATE TABLE job_search_rows (
    id     INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL UNIQUE,
    name   TEXT
) STRICT;

CREATE VIRTUAL TABLE job_search USING fts5(
    job_id, name, content = 'job_search_rows', content_rowid = 'id', tokenize = 'trigram'
);

INSERT INTO job_search_rows (job_id, name) SELECT job_id, name FROM job_progress;
INSERT INTO job_search (job_search) VALUES ('rebuild');

CREATE TRIGGER job_search_added AFTER INSERT ON job_progress BEGIN
    INSERT INTO job_search_rows (job_id, name) VALUES (new.job_id, new.name);
    INSERT INTO job_search (rowid, job_id, name)
        SELECT id, job_id, name FROM job_search_rows WHERE job_id = new.job_id;
END;

CREATE TRIGGER job_search_renamed AFTER UPDATE OF name ON job_progress
WHEN old.name IS NOT new.name BEGIN
    INSERT INTO job_search (job_search, rowid, job_id, name)
        SELECT 'delete', id, job_id, name FROM job_search_rows WHERE job_id = old.job_id;
    UPDATE job_search_rows SET name = new.name WHERE job_id = old.job_id;
    INSERT INTO job_search (rowid, job_id, name)
        SELECT id, job_id, name FROM job_search_rows WHERE job_id = old.job_id;
END;

CREATE TRIGGER job_search_deleted AFTER DELETE ON job_progress BEGIN
    INSERT INTO job_search (job_search, rowid, job_id, name)
        SELECT 'delete', id, job_id, name FROM job_search_rows WHERE job_id = old.job_id;
    DELETE FROM job_search_rows WHERE job_id = old.job_id;
END;
