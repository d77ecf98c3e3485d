//! Where an answer's progress data came from.

use serde::Serialize;

/// Where progress data came from: the `X-Progress-Source` header of every
/// progress answer, and `progressSource` in a schedule's.
///
/// In the code the two stores are the *hot* store and the *archive*; on the
/// wire they keep the names the original dashboards read, `redis` and
/// `database`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Source {
    /// The in-process response cache (the data itself came from one of the
    /// others less than a cache period ago).
    #[serde(rename = "cache")]
    Cache,
    /// The hot store: live.
    #[serde(rename = "redis")]
    Hot,
    /// The archive: the last checkpoint.
    #[serde(rename = "database")]
    Archive,
}

impl Source {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cache => "cache",
            Source::Hot => "redis",
            Source::Archive => "database",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_names_are_the_serialized_ones() {
        for source in [Source::Cache, Source::Hot, Source::Archive] {
            let json = serde_json::to_string(&source).unwrap();
            assert_eq!(json, format!("\"{}\"", source.as_str()));
        }
    }
}
