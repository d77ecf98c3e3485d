//! The timestamps of a progress record in JSON, written and read as
//! chrono writes and reads them (RFC 3339 in UTC, `Z`, with 0, 3, 6 or 9
//! digits of fraction as needed), without chrono's general formatter
//! and parser for the common shape.
//!
//! Every read of a record from the hot store parses its timestamps and
//! every answer writes them: chrono's `Display`-based writer and its
//! lenient parser were about a tenth of a cache load's instructions
//! (BENCHMARKS.md). The fast path takes `YYYY-MM-DDTHH:MM:SS[.fraction]Z`
//! for years 0-9999; anything else (another offset, a leap second, a
//! lower-case `t`, a year past 9999) goes to chrono, so what is accepted
//! and what is written are exactly chrono's.
//!
//! Use as `#[serde(with = "rfc3339")]` on a `DateTime<Utc>`, or
//! `#[serde(with = "rfc3339::option")]` on an `Option<DateTime<Utc>>`.

use std::fmt;

use chrono::{DateTime, Datelike as _, NaiveDate, Timelike as _, Utc};
use serde::{Deserialize, Deserializer, Serialize as _, Serializer, de};

/// Writes `at` as chrono's serde would.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut text = [0u8; 30];
    // Only ASCII digits and separators are written: always UTF-8.
    match write(at, &mut text).map(|len| std::str::from_utf8(&text[..len])) {
        Some(Ok(text)) => serializer.serialize_str(text),
        _ => at.serialize(serializer),
    }
}

/// A timestamp that serializes as [`serialize`] writes it, where a field
/// cannot say `#[serde(with)]`: a serializer written by hand (the stored
/// record's), which otherwise got chrono's `Display`-based writer.
pub struct At<'a>(pub &'a DateTime<Utc>);

impl serde::Serialize for At<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize(self.0, serializer)
    }
}

/// Reads what chrono's serde reads.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    deserializer.deserialize_str(Visitor)
}

/// The same, for an optional timestamp (`null` or absent: `None`).
pub mod option {
    use super::*;

    /// Writes `at`, or `null`.
    pub fn serialize<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::serialize(at, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Reads a timestamp or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct At(#[serde(with = "super")] DateTime<Utc>);
        Ok(Option::<At>::deserialize(deserializer)?.map(|At(at)| at))
    }
}

struct Visitor;

impl de::Visitor<'_> for Visitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an RFC 3339 date and time")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        match read(text.as_bytes()) {
            Some(at) => Ok(at),
            None => text
                .parse::<DateTime<chrono::FixedOffset>>()
                .map(|at| at.with_timezone(&Utc))
                .map_err(E::custom),
        }
    }
}

/// `at` as `YYYY-MM-DDTHH:MM:SS[.fff[fff[fff]]]Z` into `out`, its length;
/// `None` where chrono's own writer is needed (a year outside 0-9999, a
/// leap second).
fn write(at: &DateTime<Utc>, out: &mut [u8; 30]) -> Option<usize> {
    let (year, nanos) = (at.year(), at.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        out[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
    };
    put(&padded(year as u32, 4)[..4]);
    for (sep, value) in [
        (b'-', at.month()),
        (b'-', at.day()),
        (b'T', at.hour()),
        (b':', at.minute()),
        (b':', at.second()),
    ] {
        put(&[sep]);
        put(&padded(value, 2)[..2]);
    }
    // chrono's `SecondsFormat::AutoSi`: as few of 0, 3, 6, 9 digits as
    // hold the fraction exactly.
    let (fraction, width) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    if width > 0 {
        put(b".");
        put(&padded(fraction, width)[..width]);
    }
    put(b"Z");
    Some(len)
}

/// `value`'s last `width` (at most 9) decimal digits, zero-padded, in the
/// array's first `width` bytes.
fn padded(value: u32, width: usize) -> [u8; 9] {
    let mut digits = [b'0'; 9];
    for (place, digit) in digits[..width].iter_mut().rev().enumerate() {
        *digit = b'0' + (value / 10u32.pow(place as u32) % 10) as u8;
    }
    digits
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (1-9 digits of fraction), or `None`
/// for any other text (chrono reads it, or says why not).
fn read(text: &[u8]) -> Option<DateTime<Utc>> {
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let field = text.get(range)?;
        field.iter().try_fold(0u32, |value, &b| {
            b.is_ascii_digit().then(|| value * 10 + u32::from(b - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if text.len() < 20
        || text.last() != Some(&b'Z')
        || separators.iter().any(|&(at, b)| text[at] != b)
    {
        return None;
    }
    let nanos = match &text[19..text.len() - 1] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            let value = number(20..text.len() - 1)?;
            value * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?;
    // A second of 60 (a leap second) is `None` here: chrono reads it.
    let time = date.and_hms_nano_opt(number(11..13)?, number(14..16)?, number(17..19)?, nanos)?;
    Some(time.and_utc())
}

#[cfg(test)]
mod tests {
    use chrono::{SecondsFormat, TimeZone as _};
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Ours(#[serde(with = "super")] DateTime<Utc>);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Chronos(DateTime<Utc>);

    /// Timestamps over the years 0-9999 with every width of fraction: a
    /// fixed pseudo-random walk, so a failure repeats.
    fn sample() -> impl Iterator<Item = DateTime<Utc>> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        (0..20_000).map(move |i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let secs = (state >> 11) as i64 % 253_402_300_800 - 62_167_219_200;
            let nanos = match i % 4 {
                0 => 0,
                1 => (state as u32 % 1_000) * 1_000_000,
                2 => (state as u32 % 1_000_000) * 1_000,
                _ => state as u32 % 1_000_000_000,
            };
            Utc.timestamp_opt(secs, nanos).unwrap()
        })
    }

    #[test]
    fn timestamps_are_written_and_read_as_chrono_writes_and_reads_them() {
        for at in sample() {
            let ours = serde_json::to_string(&Ours(at)).unwrap();
            assert_eq!(ours, serde_json::to_string(&Chronos(at)).unwrap());
            assert_eq!(serde_json::from_str::<Ours>(&ours).unwrap(), Ours(at));
            let text = format!("\"{}\"", at.to_rfc3339_opts(SecondsFormat::Nanos, true));
            assert_eq!(serde_json::from_str::<Ours>(&text).unwrap(), Ours(at));
        }
    }

    #[test]
    fn other_shapes_are_read_and_refused_as_chrono_reads_and_refuses_them() {
        for text in [
            "2026-12-07T10:00:00+02:00",
            "2026-12-07t10:00:00z",
            "2026-12-07 10:00:00Z",
            "2026-12-07T10:00:00.5Z",
            "2026-12-07T10:00:00.1234567891Z",
            "2016-12-31T23:59:60Z",
            "+10000-01-01T00:00:00Z",
            "2026-02-30T10:00:00Z",
            "2026-12-07T24:00:00Z",
            "2026-12-07T10:00:00",
            "2026-12-07T10:00Z",
            "2026-12-07T1a:00:00Z",
            "",
            "yesterday",
        ] {
            let json = format!("\"{text}\"");
            let ours = serde_json::from_str::<Ours>(&json).map_err(|_| ());
            let chronos = serde_json::from_str::<Chronos>(&json).map_err(|_| ());
            assert_eq!(ours.map(|o| o.0), chronos.map(|c| c.0), "{text}");
        }
        let far = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            serde_json::to_string(&Ours(far)).unwrap(),
            serde_json::to_string(&Chronos(far)).unwrap()
        );
    }

    #[test]
    fn an_optional_timestamp_is_null_or_absent_when_there_is_none() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Record {
            #[serde(default, with = "option")]
            at: Option<DateTime<Utc>>,
        }
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap();
        let json = serde_json::to_string(&Record { at: Some(at) }).unwrap();
        assert_eq!(json, r#"{"at":"2026-12-07T10:00:00Z"}"#);
        assert_eq!(serde_json::from_str::<Record>(&json).unwrap().at, Some(at));
        assert_eq!(
            serde_json::from_str::<Record>(r#"{"at":null}"#).unwrap().at,
            None
        );
        assert_eq!(serde_json::from_str::<Record>("{}").unwrap().at, None);
        assert_eq!(
            serde_json::to_string(&Record { at: None }).unwrap(),
            r#"{"at":null}"#
        );
    }
}
