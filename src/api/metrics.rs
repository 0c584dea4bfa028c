//! `metrics`: what the event log (and the local log of refusals) says of a window of time.
//! See docs/agents.md, "Metrics".

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `metrics`: the window to read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsRequest {
    /// The window's start: `YYYY-MM-DD` (UTC), an RFC 3339 timestamp, an age like `30m`,
    /// `24h`, `7d`, or `all` for the whole history (default: `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// Latency percentiles of a set of durations, in milliseconds (nearest rank).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
    /// The sum of all of them (the Prometheus summary's `_sum`).
    pub sum_ms: u64,
}

/// One operation's events in the window: how many, and how long they took (from the start
/// of the transaction to its commit, lock wait included).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OpMetrics {
    /// As the event log names it: `create`, `update`, `claim`, `release`, `batch`, …
    pub op: String,
    #[serde(flatten)]
    pub latency: Latency,
}

/// What `metrics --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Metrics {
    /// The window's start (RFC 3339); absent: the whole history.
    pub since: Option<String>,
    /// The window's end: now.
    pub until: String,
    /// Per operation, by name: every committed change of the window (lease expiries are
    /// counted apart, in `lease_expiries`).
    pub operations: Vec<OpMetrics>,
    /// How long the committed operations waited for the writers' lock.
    pub lock_wait: Latency,
    /// Claims served: `claim` and `claim_steal` events.
    pub claims_served: u64,
    /// Leases that expired (`lease_expired` events).
    pub lease_expiries: u64,
    /// Refusals, from the local log (this clone only): `VERSION_CONFLICT`.
    pub version_conflicts: u64,
    /// Refusals: `CLAIM_FENCED`.
    pub fenced_writes: u64,
    /// Refusals: `NO_ISSUE_AVAILABLE` (a `claim --wait` counts once, for its last answer).
    pub no_work: u64,
    /// Refusals: `RATE_LIMITED`.
    pub rate_limited: u64,
    /// Issues per state now (every state, zeros too).
    pub states: BTreeMap<String, usize>,
    /// Lines of either log that are not events (torn by a crash, or damaged), skipped.
    pub skipped_lines: usize,
}
