//! How instants are written in issue files: RFC 3339 in UTC with exactly six fraction digits
//! (`2026-03-02T09:05:00.000000Z`), so that every timestamp jit writes has the same width
//! and text order is time order. Reading accepts any RFC 3339 instant: any offset, and a
//! fraction of any length (digits past nanoseconds are dropped).

use jiff::Timestamp;
use jiff::fmt::temporal::DateTimePrinter;
use serde::{Deserialize, Deserializer, Serializer};

/// Fraction digits written: microseconds, the precision jit keeps.
pub const FRACTION_DIGITS: u8 = 6;

/// `t` as written in an issue file.
pub fn format(t: Timestamp) -> String {
    DateTimePrinter::new().precision(Some(FRACTION_DIGITS)).timestamp_to_string(&t)
}

/// Parse an RFC 3339 instant as found in a file.
pub fn parse(s: &str) -> Result<Timestamp, String> {
    match s.parse::<Timestamp>() {
        Ok(t) => Ok(t),
        Err(e) => {
            // jiff reads at most nine fraction digits; RFC 3339 sets no limit.
            let digits_at = s.find('.').map(|i| i + 1);
            let long = digits_at.map(|i| s[i..].bytes().take_while(u8::is_ascii_digit).count());
            match (digits_at, long) {
                (Some(i), Some(n)) if n > 9 => {
                    let cut = format!("{}{}", &s[..i + 9], &s[i + n..]);
                    cut.parse::<Timestamp>().map_err(|e| e.to_string())
                }
                _ => Err(e.to_string()),
            }
        }
    }
}

/// `#[serde(with = "time")]` for a `Timestamp`.
pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*t))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    let s = std::borrow::Cow::<str>::deserialize(d)?;
    parse(&s).map_err(serde::de::Error::custom)
}

/// `#[serde(with = "time::option")]` for an `Option<Timestamp>`.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&format(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        match Option::<std::borrow::Cow<str>>::deserialize(d)? {
            Some(s) => parse(&s).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// The JSON Schema of a timestamp as jit writes it (`jit schema`): an RFC 3339 string.
pub struct Rfc3339;

impl schemars::JsonSchema for Rfc3339 {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339, UTC, six fraction digits when written by jit"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_have_one_width_and_reads_take_any_fraction() {
        for (t, want) in [
            ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00.000000Z"),
            ("2026-01-01T00:00:00.5Z", "2026-01-01T00:00:00.500000Z"),
            ("2026-01-01T00:00:00.123456Z", "2026-01-01T00:00:00.123456Z"),
            ("2026-01-01T02:00:00.1+02:00", "2026-01-01T00:00:00.100000Z"),
        ] {
            assert_eq!(format(parse(t).unwrap()), want, "{t}");
        }
        let long = parse("2026-01-01T00:00:00.123456789123Z").unwrap();
        assert_eq!(long, parse("2026-01-01T00:00:00.123456789Z").unwrap());
        for bad in ["2026-01-01", "yesterday", "2026-01-01T00:00:00.Z", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
