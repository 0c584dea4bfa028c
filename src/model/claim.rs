//! The claim an issue file records: the fencing token of its latest claim, who took it and
//! when. The lease itself (expiry, renewals) is local state (`storage::leases`), never here.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Map;

/// The latest claim of an issue. The token stays after a release or an expiry: it is what
/// fences a holder whose claim is over.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Claim {
    /// The fencing token: strictly greater than every earlier claim's of this issue.
    pub token: u64,
    /// The agent that claimed it.
    pub agent: String,
    #[serde(with = "super::time")]
    #[schemars(with = "super::time::Rfc3339")]
    pub claimed_at: Timestamp,
    #[serde(flatten)]
    pub extra: Map<String, serde_json::Value>,
}

/// A lease or wait length: `30m`, `90s`, `2h`, `1d` or any span jiff reads (`1h 30m`,
/// ISO 8601 `PT30M`); days are 24 hours. Zero and negative lengths are refused.
pub fn parse_duration(what: &str, text: &str) -> crate::error::Result<jiff::SignedDuration> {
    let bad = |why: String| {
        crate::error::Error::InvalidArgument(format!(
            "{what} `{text}` is not a duration ({why}); write e.g. 30s, 10m, 2h or 1d"
        ))
    };
    let span: jiff::Span = text.trim().parse().map_err(|e: jiff::Error| bad(e.to_string()))?;
    let d = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|e| bad(e.to_string()))?;
    if d.is_negative() || d.is_zero() {
        return Err(bad("it must be longer than zero".into()));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("--lease", "30m").unwrap().as_secs(), 1800);
        assert_eq!(parse_duration("--lease", "1d").unwrap().as_secs(), 86_400);
        assert_eq!(parse_duration("--lease", "1h 30m").unwrap().as_secs(), 5400);
        assert!(parse_duration("--lease", "0s").is_err());
        assert!(parse_duration("--lease", "soon").is_err());
        assert!(parse_duration("--lease", "-5m").is_err());
    }
}
