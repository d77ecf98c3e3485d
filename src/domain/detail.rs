//! What a job says about itself besides its counts: its name and kind, a
//! message, where its result is, and free-form metadata. Each is parsed
//! once at the edge into a type that cannot hold a value over its limit;
//! limits count characters, except metadata's, which counts the bytes of
//! its JSON.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest name, in characters.
pub const MAX_NAME: usize = 200;
/// The longest kind, in characters (`[A-Za-z0-9._:-]`).
pub const MAX_KIND: usize = 64;
/// The longest message, in characters.
pub const MAX_MESSAGE: usize = 500;
/// The longest result URL, in characters.
pub const MAX_RESULT_URL: usize = 2048;
/// The largest metadata object, in bytes of its JSON.
pub const MAX_METADATA_BYTES: usize = 4096;

/// A value over its limit or of the wrong form; `field` is its JSON name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct DetailError {
    /// The field, as the API names it (`name`, `metadata`, ...).
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl DetailError {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// Refuses text longer than `max` characters, or holding control
/// characters other than tab (a name or message is one line of text).
fn text(field: &'static str, value: &str, max: usize) -> Result<(), DetailError> {
    let len = value.chars().count();
    if len > max {
        return Err(DetailError::new(
            field,
            format!("at most {max} characters, got {len}"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(DetailError::new(field, "must not hold control characters"));
    }
    Ok(())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses `value`, refusing one over the limit.
            pub fn parse(value: impl Into<String>) -> Result<Self, DetailError> {
                let value = value.into();
                text($field, &value, $max)?;
                Ok(Self(value))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// A human title for a job ("March newsletter"), shown instead of its
    /// id where there is room; at most [`MAX_NAME`] characters.
    JobName,
    "name",
    MAX_NAME
);

text_type!(
    /// The latest sentence a job says about itself ("waiting for the rate
    /// limit to reset"); at most [`MAX_MESSAGE`] characters. Empty clears it.
    Message,
    "message",
    MAX_MESSAGE
);

/// A job's type (`nightly-import`, `push:campaign`): for filters, and for
/// estimates from earlier runs of the same kind. `[A-Za-z0-9._:-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct JobKind(String);

impl JobKind {
    /// Parses `value`, refusing anything but 1 to [`MAX_KIND`] of
    /// `[A-Za-z0-9._:-]`.
    pub fn parse(value: impl Into<String>) -> Result<Self, DetailError> {
        let value = value.into();
        let valid = (1..=MAX_KIND).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if !valid {
            return Err(DetailError::new(
                "kind",
                format!("1 to {MAX_KIND} of A-Z a-z 0-9 . _ : -"),
            ));
        }
        Ok(Self(value))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for JobKind {
    type Error = DetailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a finished job's result can be opened: an absolute `http` or
/// `https` URL, or a path on the dashboard's own site (one leading `/`,
/// never `//`, which a browser reads as another host). Any other scheme
/// (`javascript:`, `data:`) is refused, so a view may make it a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResultUrl(String);

impl ResultUrl {
    /// Parses `value` (at most [`MAX_RESULT_URL`] characters).
    pub fn parse(value: impl Into<String>) -> Result<Self, DetailError> {
        let value = value.into();
        let field = "resultUrl";
        if value.chars().count() > MAX_RESULT_URL {
            return Err(DetailError::new(
                field,
                format!("at most {MAX_RESULT_URL} characters"),
            ));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(DetailError::new(
                field,
                "must not hold spaces or control characters",
            ));
        }
        // The form alone decides, exactly as openapi.yaml's pattern says:
        // an `http://` or `https://` prefix and a host (anything else after
        // it is the browser's to read), or a path on this site.
        let has_host = |rest: &str| !rest.is_empty() && !rest.starts_with(['/', '?', '#']);
        let absolute = value
            .strip_prefix("https://")
            .or_else(|| value.strip_prefix("http://"))
            .is_some_and(has_host);
        let path = value
            .strip_prefix('/')
            .is_some_and(|rest| !rest.starts_with(['/', '\\']));
        if !absolute && !path {
            return Err(DetailError::new(
                field,
                "an absolute http(s) URL or a path starting with a single /",
            ));
        }
        Ok(Self(value))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free-form facts about a job, shown as a table: a JSON object of at
/// most [`MAX_METADATA_BYTES`] bytes.
pub type Metadata = serde_json::Map<String, serde_json::Value>;

/// Merges `patch` into `metadata` key by key (`null` removes a key) and
/// refuses the result if it is over [`MAX_METADATA_BYTES`], leaving
/// `metadata` as it was.
pub fn merge_metadata(metadata: &mut Metadata, patch: &Metadata) -> Result<(), DetailError> {
    let mut merged = metadata.clone();
    for (key, value) in patch {
        if value.is_null() {
            merged.remove(key);
        } else {
            merged.insert(key.clone(), value.clone());
        }
    }
    check_metadata(&merged)?;
    *metadata = merged;
    Ok(())
}

/// Refuses metadata over [`MAX_METADATA_BYTES`] bytes of JSON.
pub fn check_metadata(metadata: &Metadata) -> Result<(), DetailError> {
    let bytes = serde_json::to_vec(metadata).map_or(usize::MAX, |json| json.len());
    if bytes > MAX_METADATA_BYTES {
        return Err(DetailError::new(
            "metadata",
            format!("at most {MAX_METADATA_BYTES} bytes of JSON, got {bytes}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_messages_count_characters_and_refuse_control_characters() {
        assert!(JobName::parse("é".repeat(MAX_NAME)).is_ok());
        let err = JobName::parse("é".repeat(MAX_NAME + 1)).unwrap_err();
        assert_eq!(err.field, "name");
        assert!(Message::parse("a\nb").is_err());
        assert!(Message::parse("tab\tok").is_ok());
    }

    #[test]
    fn kinds_are_a_small_alphabet() {
        assert!(JobKind::parse("push:campaign.v2_x-1").is_ok());
        for bad in ["", "a b", "ü", &"k".repeat(MAX_KIND + 1)] {
            assert_eq!(JobKind::parse(bad).unwrap_err().field, "kind", "{bad:?}");
        }
    }

    #[test]
    fn a_result_url_is_http_or_a_local_path_and_nothing_else() {
        for good in ["https://x.example/r?id=1", "http://h:8080/a", "/reports/42"] {
            assert!(ResultUrl::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "//evil.example/x",
            "/\\evil.example",
            "reports/42",
            "ftp://h/x",
            "https://",
            "https:///x",
            "HTTPS://upper.example",
            "/a b",
            "",
        ] {
            assert_eq!(
                ResultUrl::parse(bad).unwrap_err().field,
                "resultUrl",
                "{bad}"
            );
        }
    }

    #[test]
    fn metadata_merges_by_key_and_null_removes() {
        let mut metadata: Metadata = serde_json::from_str(r#"{"a":1,"b":2}"#).unwrap();
        let patch: Metadata = serde_json::from_str(r#"{"b":null,"c":"x"}"#).unwrap();
        merge_metadata(&mut metadata, &patch).unwrap();
        assert_eq!(
            serde_json::to_string(&metadata).unwrap(),
            r#"{"a":1,"c":"x"}"#
        );
    }

    #[test]
    fn metadata_over_its_size_is_refused_and_left_as_it_was() {
        let mut metadata: Metadata = serde_json::from_str(r#"{"a":1}"#).unwrap();
        let mut patch = Metadata::new();
        patch.insert("big".into(), "x".repeat(MAX_METADATA_BYTES).into());
        let err = merge_metadata(&mut metadata, &patch).unwrap_err();
        assert_eq!(err.field, "metadata");
        assert_eq!(serde_json::to_string(&metadata).unwrap(), r#"{"a":1}"#);
    }
}
