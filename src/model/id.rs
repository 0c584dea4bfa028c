//! Issue ids: random 128-bit, time-ordered ULIDs written in lowercase Crockford base32
//! (26 characters), and the prefixes users type to name them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// Shortest prefix accepted on the command line.
pub const MIN_PREFIX: usize = 4;
const LEN: usize = 26;
/// Lowercase Crockford base32: digits and letters without i, l, o, u.
fn is_id_char(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'a'..=b'h' | b'j' | b'k' | b'm' | b'n' | b'p'..=b't' | b'v'..=b'z')
}

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A full issue id: a ULID (48-bit millisecond timestamp, then 80 random bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IssueId(u128);

impl IssueId {
    /// An id from a millisecond timestamp and 80 random bits.
    pub fn from_parts(ms: u64, random: u128) -> Self {
        let ms = u128::from(ms) & ((1 << 48) - 1);
        IssueId((ms << 80) | (random & ((1 << 80) - 1)))
    }

    pub fn as_u128(self) -> u128 {
        self.0
    }

    pub fn from_u128(v: u128) -> Self {
        IssueId(v)
    }

    /// The 26 characters of the id.
    pub fn to_bytes(self) -> [u8; LEN] {
        let mut out = [0u8; LEN];
        for (i, c) in out.iter_mut().enumerate() {
            *c = ALPHABET[((self.0 >> (125 - 5 * i)) & 31) as usize];
        }
        out
    }

    /// Decode 26 characters of lowercase Crockford base32; `None` if not an id.
    pub fn from_bytes(s: &[u8]) -> Option<Self> {
        if s.len() != LEN || s[0] > b'7' {
            return None;
        }
        let mut v: u128 = 0;
        for &b in s {
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'h' => b - b'a' + 10,
                b'j' | b'k' => b - b'j' + 18,
                b'm' | b'n' => b - b'm' + 20,
                b'p'..=b't' => b - b'p' + 22,
                b'v'..=b'z' => b - b'v' + 27,
                _ => return None,
            };
            v = (v << 5) | u128::from(d);
        }
        Some(IssueId(v))
    }

    /// The first `len` characters of the id (all 26 if `len` is larger): what human output
    /// shows, with `len` from [`unique_prefix_len`] over the repository's ids.
    pub fn short(self, len: usize) -> String {
        let mut s = self.to_string();
        s.truncate(len.min(LEN));
        s
    }

    /// The file name this issue is stored under in `.jit/issues/`.
    pub fn file_name(self) -> String {
        format!("{self}.json")
    }

    /// Parse a file name of the form `<id>.json`.
    pub fn from_file_name(name: &str) -> Option<Self> {
        name.strip_suffix(".json").and_then(|s| Self::from_bytes(s.as_bytes()))
    }
}

impl fmt::Display for IssueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.to_bytes();
        f.write_str(std::str::from_utf8(&b).expect("the alphabet is ASCII"))
    }
}

impl FromStr for IssueId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::from_bytes(s.as_bytes()).ok_or_else(|| Error::InvalidId(s.to_string()))
    }
}

impl Serialize for IssueId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl schemars::JsonSchema for IssueId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "IssueId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "a ULID in lowercase Crockford base32",
            "pattern": "^[0-9a-hjkmnp-tv-z]{26}$"
        })
    }
}

impl<'de> Deserialize<'de> for IssueId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(|_| serde::de::Error::custom(format!("invalid issue id `{s}`")))
    }
}

/// Shortest prefix length (at least 8) that tells every id in `sorted` apart. Neighbours in
/// sorted order share the longest prefixes, so only they are compared, on the numbers: the
/// first character holds the top 3 bits of the 128 and each later one 5 bits.
pub fn unique_prefix_len(sorted: &[IssueId]) -> usize {
    let common_chars = |a: IssueId, b: IssueId| {
        let lz = (a.as_u128() ^ b.as_u128()).leading_zeros() as usize;
        if lz >= 128 {
            LEN
        } else if lz < 3 {
            0
        } else {
            1 + (lz - 3) / 5
        }
    };
    let longest = sorted.windows(2).map(|w| common_chars(w[0], w[1])).max().unwrap_or(0);
    (longest + 1).clamp(8, LEN)
}

/// A validated, lowercased id or id prefix as typed by a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefix(String);

impl Prefix {
    /// Refused (`InvalidId`) unless 4 to 26 characters of the alphabet, and 26 of them must
    /// be an id: above `7zzzzzzzzzzzzzzzzzzzzzzzzz` they overflow 128 bits, text that can never
    /// be an id rather than an id not found. A shorter prefix is a search, which may find
    /// nothing.
    pub fn parse(input: &str) -> Result<Self> {
        let s = input.trim().to_ascii_lowercase();
        if s.len() < MIN_PREFIX
            || s.len() > LEN
            || !s.bytes().all(is_id_char)
            || (s.len() == LEN && s.as_bytes()[0] > b'7')
        {
            return Err(Error::InvalidId(input.to_string()));
        }
        Ok(Prefix(s))
    }

    /// The full id, when the prefix is a whole id.
    pub fn as_full(&self) -> Option<IssueId> {
        (self.0.len() == LEN).then(|| self.0.parse().ok()).flatten()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text definition `unique_prefix_len` must agree with.
    fn prefix_len_by_text(sorted: &[IssueId]) -> usize {
        let strs: Vec<String> = sorted.iter().map(|i| i.to_string()).collect();
        let common =
            |a: &String, b: &String| a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        let longest = strs.windows(2).map(|w| common(&w[0], &w[1])).max().unwrap_or(0);
        (longest + 1).clamp(8, LEN)
    }

    proptest::proptest! {
        #[test]
        fn unique_prefix_len_agrees_with_the_text(
            raw in proptest::collection::vec(proptest::prelude::any::<u128>(), 0..40),
            near in proptest::collection::vec((0usize..40, 0u32..128), 0..20),
        ) {
            let mut ids: Vec<IssueId> = raw.iter().map(|r| IssueId::from_u128(*r)).collect();
            // Neighbours that differ in one bit, at every depth.
            for (i, bit) in near {
                if let Some(id) = ids.get(i % ids.len().max(1)).copied() {
                    ids.push(IssueId::from_u128(id.as_u128() ^ (1u128 << bit)));
                }
            }
            ids.sort();
            ids.dedup();
            proptest::prop_assert_eq!(unique_prefix_len(&ids), prefix_len_by_text(&ids));
        }
    }

    #[test]
    fn display_parse_round_trip_and_order() {
        let a = IssueId::from_parts(1_700_000_000_000, 42);
        let b = IssueId::from_parts(1_700_000_000_001, 1);
        let s = a.to_string();
        assert_eq!(s.len(), 26);
        assert_eq!(s, s.to_ascii_lowercase());
        assert_eq!(s.parse::<IssueId>().unwrap(), a);
        assert!(a < b && a.to_string() < b.to_string(), "time order is string order");
        assert_eq!(IssueId::from_file_name(&a.file_name()), Some(a));
    }

    #[test]
    fn matches_the_ulid_spec_encoding() {
        // The example of the ULID specification: 1469922850259 ms encodes as 01ARZ3NDEK.
        let id = IssueId::from_parts(1_469_922_850_259, 0);
        assert_eq!(&id.to_string()[..10], "01arz3ndek");
        assert_eq!(IssueId::from_parts(0, u128::MAX).to_string(), "0000000000zzzzzzzzzzzzzzzz");
        let max = IssueId::from_u128(u128::MAX);
        assert_eq!(max.to_string(), "7zzzzzzzzzzzzzzzzzzzzzzzzz");
        assert_eq!(IssueId::from_bytes(b"7zzzzzzzzzzzzzzzzzzzzzzzzz"), Some(max));
        assert_eq!(IssueId::from_bytes(b"8zzzzzzzzzzzzzzzzzzzzzzzzz"), None, "overflows 128 bits");
    }

    #[test]
    fn rejects_bad_ids_and_prefixes() {
        assert!("01J".parse::<IssueId>().is_err());
        assert!("0".repeat(25).parse::<IssueId>().is_err());
        assert!("u".repeat(26).parse::<IssueId>().is_err(), "u is not Crockford");
        assert!(Prefix::parse("01j").is_err());
        assert!(Prefix::parse("01j!").is_err());
        assert_eq!(Prefix::parse(" 01JX ").unwrap().as_str(), "01jx");
        let id = IssueId::from_parts(5, 5);
        assert_eq!(Prefix::parse(&id.to_string()).unwrap().as_full(), Some(id));
    }
}
