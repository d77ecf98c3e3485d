//! Identifiers: job ids and schedule ids.
//!
//! Both follow one rule, checked once at the edge (HTTP path, writer call):
//! 1 to 128 characters of `[A-Za-z0-9._:-]`, and not `.` or `..`. That
//! keeps them safe inside a Redis key, a URL path segment and a log line
//! without any escaping: `.` and `..` are the two segments a URL resolver
//! (a browser, a proxy, `fetch`) rewrites, so `/jobs/..` would name
//! another path than the job's.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest id accepted, in bytes (all accepted characters are ASCII).
pub const MAX_ID_LEN: usize = 128;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string is empty.
    #[error("must not be empty")]
    Empty,
    /// The string is longer than [`MAX_ID_LEN`].
    #[error("must be at most {MAX_ID_LEN} characters, got {0}")]
    TooLong(usize),
    /// The string holds a character outside `[A-Za-z0-9._:-]`.
    #[error("may only contain letters, digits, '.', '_', ':' and '-' (found {0:?})")]
    BadChar(char),
    /// The string is `.` or `..`, which URLs resolve away.
    #[error("must not be '.' or '..' (URLs resolve them as path segments)")]
    DotSegment,
}

fn check(raw: &str) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty);
    }
    let len = raw.chars().count();
    if len > MAX_ID_LEN {
        return Err(IdError::TooLong(len));
    }
    match raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        Some(c) => Err(IdError::BadChar(c)),
        None if raw == "." || raw == ".." => Err(IdError::DotSegment),
        None => Ok(()),
    }
}

/// The id of one job: 1-128 characters of `[A-Za-z0-9._:-]`, not `.` or
/// `..`.
///
/// ```
/// use job_progress::domain::JobId;
/// assert!(JobId::parse("campaign-42").is_ok());
/// assert!(JobId::parse("no spaces").is_err());
/// ```
///
/// Written as its text: serde's newtype form, which JSON and postcard both
/// write as the inner string (`into = "String"` had cloned the id each
/// time it was written).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct JobId(String);

/// The id of one scheduled send; same rule as [`JobId`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct ScheduleId(String);

impl JobId {
    /// Parses a job id, refusing anything outside the rule.
    pub fn parse(raw: impl Into<String>) -> Result<Self, IdError> {
        let raw = raw.into();
        check(&raw).map(|()| Self(raw))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ScheduleId {
    /// Parses a schedule id, refusing anything outside the rule.
    pub fn parse(raw: impl Into<String>) -> Result<Self, IdError> {
        let raw = raw.into();
        check(&raw).map(|()| Self(raw))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A job id looked up by its text (the response cache's hits): equal
/// ids are equal texts, and hash alike.
impl std::borrow::Borrow<str> for JobId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for JobId {
    type Error = IdError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(raw)
    }
}

impl TryFrom<String> for ScheduleId {
    type Error = IdError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(raw)
    }
}

impl From<JobId> for String {
    fn from(id: JobId) -> Self {
        id.0
    }
}

impl From<ScheduleId> for String {
    fn from(id: ScheduleId) -> Self {
        id.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ScheduleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in ["a", "job-1", "campaign:2026.11_24", &"x".repeat(MAX_ID_LEN)] {
            assert!(JobId::parse(ok).is_ok(), "{ok} should parse");
        }
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(JobId::parse(""), Err(IdError::Empty));
        assert_eq!(
            JobId::parse("x".repeat(MAX_ID_LEN + 1)),
            Err(IdError::TooLong(MAX_ID_LEN + 1))
        );
        assert_eq!(JobId::parse("a b"), Err(IdError::BadChar(' ')));
        assert_eq!(JobId::parse("a/b"), Err(IdError::BadChar('/')));
        assert_eq!(JobId::parse("é"), Err(IdError::BadChar('é')));
        assert_eq!(JobId::parse("a*"), Err(IdError::BadChar('*')));
        assert_eq!(JobId::parse("."), Err(IdError::DotSegment));
        assert_eq!(JobId::parse(".."), Err(IdError::DotSegment));
        assert_eq!(ScheduleId::parse(".."), Err(IdError::DotSegment));
        for dotted in ["...", ".a", "a..", "..a"] {
            assert!(JobId::parse(dotted).is_ok(), "{dotted} is no path segment");
        }
    }

    #[test]
    fn deserializing_checks_the_rule() {
        assert!(serde_json::from_str::<JobId>("\"ok-1\"").is_ok());
        assert!(serde_json::from_str::<JobId>("\"not ok\"").is_err());
    }
}
