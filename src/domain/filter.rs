//! What a list is narrowed to: one kind of job, and a piece of text found
//! in the id or the name. Both lists take it (`kind=` and `q=`); each store
//! answers it from an index of its own (see `docs/http-api.md`, "Filters").

use super::{DetailError, JobKind, ProgressRecord};

/// The longest `q`, in characters: a name is at most
/// [`MAX_NAME`](super::MAX_NAME), so longer text can never be found.
pub const MAX_SEARCH: usize = 200;

/// Text to find, case-insensitive, anywhere in a job's id or name: 1 to
/// [`MAX_SEARCH`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Search {
    /// As given.
    text: String,
    /// Lower-cased, as it is compared.
    folded: String,
}

impl Search {
    /// Parses `value`; `None` when it is empty (an empty `q=` narrows
    /// nothing), an error when it is longer than [`MAX_SEARCH`] or holds
    /// control characters.
    pub fn parse(value: &str) -> Result<Option<Self>, DetailError> {
        let len = value.chars().count();
        if len > MAX_SEARCH {
            return Err(DetailError::new(
                "q",
                format!("at most {MAX_SEARCH} characters, got {len}"),
            ));
        }
        // Names hold none (tab aside), and PostgreSQL refuses a NUL in a
        // query's text: a 400, never a failed query.
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(DetailError::new("q", "must not hold control characters"));
        }
        Ok((!value.is_empty()).then(|| Self {
            text: value.to_owned(),
            folded: value.to_lowercase(),
        }))
    }

    /// The text, as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// How many characters it has (trigram indexes need at least 3).
    pub fn chars(&self) -> usize {
        self.text.chars().count()
    }

    /// Whether `haystack` holds it, ignoring case.
    pub fn found_in(&self, haystack: &str) -> bool {
        haystack.to_lowercase().contains(&self.folded)
    }

    /// A `LIKE` pattern that finds it anywhere: `%text%`, with `\`, `%`
    /// and `_` escaped by `\` (the statement says `ESCAPE '\'` where the
    /// database does not default to it).
    pub fn like_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.text.len() + 2);
        pattern.push('%');
        for c in self.text.chars() {
            if matches!(c, '\\' | '%' | '_') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
    }

    /// An FTS5 phrase of the text: in double quotes, each `"` doubled, so
    /// every character of it is taken literally.
    pub fn fts_phrase(&self) -> String {
        format!("\"{}\"", self.text.replace('"', "\"\""))
    }
}

/// What a list is narrowed to; the default narrows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct JobFilter {
    /// Only jobs of this kind.
    pub kind: Option<JobKind>,
    /// Only jobs whose id or name holds this text.
    pub q: Option<Search>,
    /// Only jobs without a parent (the active list's default; its
    /// `children=true` lists every job).
    pub top_level: bool,
}

impl JobFilter {
    /// The filter of `kind=` and `q=` as given (absent or empty: no
    /// filter); the error names the parameter at fault.
    pub fn parse(kind: Option<&str>, q: Option<&str>) -> Result<Self, DetailError> {
        let kind = kind
            .filter(|kind| !kind.is_empty())
            .map(JobKind::parse)
            .transpose()?;
        let q = q.map(Search::parse).transpose()?.flatten();
        Ok(Self {
            kind,
            q,
            top_level: false,
        })
    }

    /// The same filter, narrowed to jobs without a parent unless
    /// `children` (the active list's `children=true`).
    pub fn top_level_unless(mut self, children: bool) -> Self {
        self.top_level = !children;
        self
    }

    /// Whether it narrows nothing.
    pub fn is_empty(&self) -> bool {
        self.kind.is_none() && self.q.is_none() && !self.top_level
    }

    /// Whether a job of this id, kind and name passes.
    pub fn admits(&self, id: &str, kind: Option<&str>, name: Option<&str>) -> bool {
        let kind_ok = self
            .kind
            .as_ref()
            .is_none_or(|wanted| kind == Some(wanted.as_str()));
        let q_ok = self
            .q
            .as_ref()
            .is_none_or(|q| q.found_in(id) || name.is_some_and(|name| q.found_in(name)));
        kind_ok && q_ok
    }

    /// Whether `record` passes.
    pub fn admits_record(&self, record: &ProgressRecord) -> bool {
        (!self.top_level || record.parent_job_id.is_none())
            && self.admits(
                record.job_id.as_str(),
                record.kind.as_ref().map(JobKind::as_str),
                record.name.as_ref().map(|name| name.as_str()),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_is_found_in_the_id_or_the_name_ignoring_case() {
        let filter = JobFilter::parse(None, Some("NEWS")).unwrap();
        assert!(filter.admits("march-newsletter", None, None));
        assert!(filter.admits("job-1", None, Some("Weekly News")));
        assert!(!filter.admits("job-1", None, Some("Weekly digest")));
        let kind = JobFilter::parse(Some("import"), Some("")).unwrap();
        assert!(kind.q.is_none(), "an empty q narrows nothing");
        assert!(kind.admits("a", Some("import"), None));
        assert!(!kind.admits("a", Some("export"), None));
        assert!(!kind.admits("a", None, None));
    }

    #[test]
    fn bad_parameters_name_themselves() {
        let err = JobFilter::parse(Some("no spaces"), None).unwrap_err();
        assert_eq!(err.field, "kind");
        let long = "x".repeat(MAX_SEARCH + 1);
        assert_eq!(JobFilter::parse(None, Some(&long)).unwrap_err().field, "q");
        assert!(JobFilter::parse(None, Some(&"é".repeat(MAX_SEARCH))).is_ok());
    }

    #[test]
    fn patterns_take_every_character_literally() {
        let q = Search::parse(r#"50%_a\b"c"#).unwrap().unwrap();
        assert_eq!(q.like_pattern(), r#"%50\%\_a\\b"c%"#);
        assert_eq!(q.fts_phrase(), r#""50%_a\b""c""#);
    }
}
