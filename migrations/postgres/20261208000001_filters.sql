-- The lists' filters: kind= and q= (docs/http-api.md, "Filters").
--
-- Finished jobs of one kind, newest first: one range scan, as the finished
-- index gives the unfiltered list.
CREATE INDEX job_progress_kind_finished_idx
    ON job_progress (kind, updated_at DESC, job_id DESC)
    WHERE status IN ('completed', 'failed', 'cancelled');

-- q= finds its text anywhere in the id or the name (ILIKE '%q%'), which a
-- B-tree cannot serve: trigram indexes of pg_trgm can. Creating the
-- extension needs the CREATE privilege on the database (pg_trgm is a
-- trusted extension since PostgreSQL 13) and the contrib files on the
-- server. Where either is missing the server must still start: the
-- migration notes it and goes on without the indexes, and the same query
-- then reads the rows the other conditions leave (the finished list in
-- its order, so a common q fills its page early; a rare one reads the
-- whole window of `since`). Once the extension exists, the two
-- CREATE INDEX statements below can be run by hand.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION
    WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
        RAISE NOTICE 'pg_trgm cannot be created (%): q= on the finished list reads without an index', SQLERRM;
END $$;

-- Finished jobs only: the active list is short, and its rows change every
-- few seconds, which GIN entries would make dearer.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS job_progress_id_trgm_idx
            ON job_progress USING gin (job_id gin_trgm_ops)
            WHERE status IN ('completed', 'failed', 'cancelled');
        CREATE INDEX IF NOT EXISTS job_progress_name_trgm_idx
            ON job_progress USING gin (name gin_trgm_ops)
            WHERE status IN ('completed', 'failed', 'cancelled');
    END IF;
END $$;
