//! A [`JobFilter`] as SQL conditions, for both archives: `kind = ...`, and
//! the text of `q` anywhere in the id or the name, ignoring case.
//!
//! PostgreSQL matches `q` with `ILIKE`, which the trigram indexes of
//! `pg_trgm` serve on the finished list (migration
//! `20261208000001_filters.sql`; where the extension could not be created
//! the same statement reads the rows the other conditions leave). SQLite
//! finds a `q` of 3 characters or more through its FTS5 trigram table
//! (`job_search`) on the finished list; a shorter one, which a trigram
//! index cannot hold, and the active list (a few thousand rows at most)
//! use `LIKE`, whose case folding is ASCII only.

use crate::domain::JobFilter;

/// Which database the SQL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// `$n` parameters, `ILIKE`.
    Postgres,
    /// `?n` parameters, `LIKE ... ESCAPE '\'`, FTS5.
    Sqlite,
}

/// How `q` is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lookup {
    /// Through the search index where the database has one.
    Indexed,
    /// By reading each row the other conditions leave.
    Scan,
}

/// A filter's conditions (each starting with ` AND`) and what its
/// parameters bind, in order.
#[derive(Debug, Default)]
pub(super) struct Conditions {
    /// The SQL to append to a `WHERE`.
    pub(super) sql: String,
    /// The text each parameter binds, from the first number on.
    pub(super) binds: Vec<String>,
}

impl Dialect {
    fn param(self, number: usize) -> String {
        match self {
            Dialect::Postgres => format!("${number}"),
            Dialect::Sqlite => format!("?{number}"),
        }
    }
}

/// `filter` as conditions on `job_progress`, its parameters numbered from
/// `first` on.
pub(super) fn conditions(
    filter: &JobFilter,
    first: usize,
    dialect: Dialect,
    lookup: Lookup,
) -> Conditions {
    let mut out = Conditions::default();
    if filter.top_level {
        // Served by the partial parent index's complement: few jobs are
        // children, and the active list reads a few thousand rows at most.
        out.sql.push_str(" AND parent_job_id IS NULL");
    }
    if let Some(kind) = &filter.kind {
        let param = dialect.param(first + out.binds.len());
        out.sql.push_str(&format!(" AND kind = {param}"));
        out.binds.push(kind.as_str().to_owned());
    }
    if let Some(q) = &filter.q {
        let param = dialect.param(first + out.binds.len());
        let condition = match dialect {
            Dialect::Postgres => format!("(job_id ILIKE {param} OR name ILIKE {param})"),
            Dialect::Sqlite if lookup == Lookup::Indexed && q.chars() >= 3 => {
                // The FTS table's rowids are those of `job_search_rows`,
                // which maps them to job ids.
                out.binds.push(q.fts_phrase());
                out.sql.push_str(&format!(
                    " AND job_id IN (SELECT job_id FROM job_search_rows WHERE id IN \
                     (SELECT rowid FROM job_search WHERE job_search MATCH {param}))"
                ));
                return out;
            }
            Dialect::Sqlite => {
                format!("(job_id LIKE {param} ESCAPE '\\' OR name LIKE {param} ESCAPE '\\')")
            }
        };
        out.binds.push(q.like_pattern());
        out.sql.push_str(&format!(" AND {condition}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_from_the_first_free_one() {
        let filter = JobFilter::parse(Some("import"), Some("a%b")).unwrap();
        let pg = conditions(&filter, 4, Dialect::Postgres, Lookup::Indexed);
        assert_eq!(
            pg.sql,
            " AND kind = $4 AND (job_id ILIKE $5 OR name ILIKE $5)"
        );
        assert_eq!(pg.binds, ["import", "%a\\%b%"]);
        let two = JobFilter::parse(Some("import"), Some("ab")).unwrap();
        let short = conditions(&two, 2, Dialect::Sqlite, Lookup::Indexed);
        assert!(short.sql.contains("LIKE ?3 ESCAPE"), "{}", short.sql);
        let long = JobFilter::parse(None, Some("abc")).unwrap();
        let fts = conditions(&long, 1, Dialect::Sqlite, Lookup::Indexed);
        assert!(fts.sql.contains("MATCH ?1"), "{}", fts.sql);
        assert_eq!(fts.binds, ["\"abc\""]);
        assert!(
            conditions(&JobFilter::default(), 1, Dialect::Sqlite, Lookup::Scan)
                .sql
                .is_empty()
        );
    }
}
