//! A compact stored form for the estimator's numbers that are whole.
//!
//! Jobs written over HTTP keep their estimator in the hot store between
//! updates (see [`crate::write::ingest`]), so its size is paid on every
//! update. Most of its `f64`s hold whole numbers (items, pauses, wall-clock
//! milliseconds, sample counts): those are stored as variable-length
//! integers (one to three bytes for typical values instead of eight),
//! every other value as the `f64` it is. The round trip is exact.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest magnitude stored as an integer: beyond 2^53 not every
/// whole number is an `f64`.
const EXACT: f64 = 9_007_199_254_740_992.0;

#[derive(Serialize, Deserialize)]
enum Number {
    Whole(i64),
    Other(f64),
}

/// `#[serde(with = "whole")]` for an `f64` that is usually a whole number.
pub(super) mod whole {
    use super::*;

    pub(in super::super) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        // -0.0 is whole but would come back as 0.0: keep it exact.
        let is_whole = v.fract() == 0.0 && v.abs() < EXACT && !(*v == 0.0 && v.is_sign_negative());
        if is_whole {
            Number::Whole(*v as i64)
        } else {
            Number::Other(*v)
        }
        .serialize(s)
    }

    pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(match Number::deserialize(d)? {
            Number::Whole(n) => n as f64,
            Number::Other(v) => v,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct One(#[serde(with = "whole")] f64);

    #[test]
    fn whole_numbers_are_short_and_every_value_comes_back_exactly() {
        for v in [
            0.0,
            -0.0,
            1.0,
            500.0,
            2150.0,
            -3.0,
            0.1,
            f64::INFINITY,
            f64::MIN_POSITIVE,
            EXACT,
            1e300,
        ] {
            let bytes = postcard::to_allocvec(&One(v)).unwrap();
            let back: One = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back.0.to_bits(), v.to_bits(), "{v}");
            if v.fract() == 0.0 && v.abs() < 1e6 && !v.is_sign_negative() {
                assert!(bytes.len() <= 4, "{v} took {} bytes", bytes.len());
            }
        }
    }
}
