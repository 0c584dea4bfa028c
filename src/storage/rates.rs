//! Per-agent rate limits: one token bucket per agent in local state (`rates.json`), shared by
//! the worktrees of a clone, changed under the local-state lock. See `rate_limit` in
//! docs/agents.md.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::config::RateLimit;
use super::local::LocalState;
use crate::error::{Error, Result};

/// The file's name in local state.
pub const FILE: &str = "rates.json";

/// One agent's bucket: how many tokens it held at `at`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub tokens: f64,
    #[serde(with = "crate::model::time")]
    pub at: Timestamp,
}

/// The file's content, by agent name.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RateStore {
    #[serde(default)]
    pub agents: BTreeMap<String, Bucket>,
}

/// What a bucket says of one more operation at `now`: the bucket after taking a token, or
/// how long until one is there (in milliseconds, rounded up).
pub fn take(limit: &RateLimit, bucket: Option<&Bucket>, now: Timestamp) -> Result<Bucket, u64> {
    let burst = f64::from(limit.burst.max(1));
    let per_ms = f64::from(limit.per_minute) / 60_000.0;
    let tokens = match bucket {
        None => burst,
        Some(b) => {
            // A clock that went back refills nothing (and takes nothing away).
            let elapsed_ms = now.duration_since(b.at).as_secs_f64().max(0.0) * 1000.0;
            (b.tokens + elapsed_ms * per_ms).min(burst)
        }
    };
    if tokens >= 1.0 {
        return Ok(Bucket { tokens: tokens - 1.0, at: now });
    }
    if per_ms <= 0.0 {
        return Err(u64::MAX);
    }
    Err(((1.0 - tokens) / per_ms).ceil().max(1.0) as u64)
}

/// Take one token from `agent`'s bucket, or refuse with `RATE_LIMITED` (nothing written).
pub fn check(local: &LocalState, limit: &RateLimit, agent: &str, now: Timestamp) -> Result<()> {
    let _lock = local.lock()?;
    let mut store: RateStore = match local.read(FILE)? {
        None => RateStore::default(),
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: local.dir().join(FILE),
            message: format!("unreadable rate-limit state ({e})"),
        })?,
    };
    match take(limit, store.agents.get(agent), now) {
        Ok(bucket) => {
            store.agents.insert(agent.to_string(), bucket);
            let mut bytes = serde_json::to_vec_pretty(&store).expect("rates serialise");
            bytes.push(b'\n');
            local.write(FILE, &bytes)
        }
        Err(retry_after_ms) => Err(Error::RateLimited {
            agent: agent.to_string(),
            retry_after_ms,
            per_minute: limit.per_minute,
            burst: limit.burst,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_bucket_allows_a_burst_then_refills_at_the_rate() {
        let limit = RateLimit { per_minute: 60, burst: 2, extra: Default::default() };
        let t0 = at("2026-01-01T00:00:00Z");
        let b = take(&limit, None, t0).unwrap();
        let b = take(&limit, Some(&b), t0).unwrap();
        assert_eq!(take(&limit, Some(&b), t0), Err(1000));
        assert_eq!(take(&limit, Some(&b), at("2026-01-01T00:00:00.400Z")), Err(600));
        let b = take(&limit, Some(&b), at("2026-01-01T00:00:01Z")).unwrap();
        assert_eq!(b.tokens, 0.0);
        // Never more than the burst, however long the pause.
        let b = take(&limit, Some(&b), at("2026-01-02T00:00:00Z")).unwrap();
        assert_eq!(b.tokens, 1.0);
        // A clock that went back refills nothing.
        assert!(
            take(&limit, Some(&Bucket { tokens: 0.5, at: t0 }), at("2025-01-01T00:00:00Z"))
                .is_err()
        );
    }
}
