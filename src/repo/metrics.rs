//! `metrics` (from the event log, and the local log of refusals, reading only the window
//! asked for) and the recording of refusals. See docs/agents.md, "Metrics".

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::Repo;
use crate::api::{Latency, Metrics, OpMetrics};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::model::{Event, State};
use crate::storage::events::Filter;
use crate::storage::index::Snapshot;
use crate::storage::local::LocalState;
use crate::storage::refusals;

/// The error codes that are counted as refusals.
pub const REFUSALS: [&str; 4] =
    ["VERSION_CONFLICT", "CLAIM_FENCED", "NO_ISSUE_AVAILABLE", "RATE_LIMITED"];

/// Where a command records its refusal, once it knows how it ended: what it needs of the
/// repository, kept after the `Repo` is gone.
#[derive(Clone, Debug)]
pub struct RefusalLog {
    local: LocalState,
    clock: Clock,
    actor: String,
    command: String,
}

impl RefusalLog {
    /// Record `err` if it is a refusal ([`REFUSALS`]): one line of the local log, with the
    /// code and the issue it names. Best effort: a refusal that cannot be logged is still
    /// the command's answer.
    pub fn record(&self, err: &Error) {
        let code = err.code();
        if !REFUSALS.contains(&code) {
            return;
        }
        let mut e = Event::new(self.clock.now(), self.clock.rng().next_u128(), &self.actor, {
            refusals::OP
        });
        e.command = Some(self.command.clone()).filter(|c| !c.is_empty());
        e.extra.insert("code".into(), code.into());
        if let Some(id) = err.details().get("id").filter(|v| v.is_string()) {
            e.extra.insert("issue".into(), id.clone());
        }
        let _ = refusals::append(&self.local, &e);
    }
}

impl Repo {
    /// The log a command's refusal goes to.
    pub fn refusal_log(&self) -> RefusalLog {
        RefusalLog {
            local: self.local.clone(),
            clock: self.clock.clone(),
            actor: self.actor.clone(),
            command: self.command.clone(),
        }
    }

    /// The metrics of the events at or after `since` (all of them when `None`), with the
    /// issues per state of `snap`.
    pub fn metrics(&self, since: Option<Timestamp>, snap: &Snapshot) -> Result<Metrics> {
        let now = self.clock.now();
        let filter = Filter { since_ns: since.map(|t| t.as_nanosecond()), ..Filter::default() };
        let page = self.events(&filter, None)?;
        let mut by_op: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        let mut lock_waits = Vec::new();
        let (mut claims, mut expiries) = (0, 0);
        for e in &page.events {
            match e.op.as_str() {
                "lease_expired" => {
                    expiries += 1;
                    continue;
                }
                "claim" | "claim_steal" => claims += 1,
                _ => {}
            }
            by_op.entry(e.op.clone()).or_default().push(e.duration_ms);
            lock_waits.push(e.lock_wait_ms);
        }
        let refused = refusals::read(&self.local, &filter)?;
        let mut codes: BTreeMap<String, u64> = BTreeMap::new();
        for e in &refused.events {
            if let Some(code) = e.extra.get("code").and_then(|c| c.as_str()) {
                *codes.entry(code.to_string()).or_default() += 1;
            }
        }
        let count = |code: &str| codes.get(code).copied().unwrap_or(0);
        let mut states: BTreeMap<String, usize> =
            State::ALL.iter().map(|s| (s.to_string(), 0)).collect();
        for e in snap.iter() {
            if let Some(st) = State::from_u8(e.head().state) {
                *states.entry(st.to_string()).or_default() += 1;
            }
        }
        Ok(Metrics {
            since: since.map(crate::model::time::format),
            until: crate::model::time::format(now),
            operations: by_op
                .into_iter()
                .map(|(op, mut d)| OpMetrics { op, latency: latency(&mut d) })
                .collect(),
            lock_wait: latency(&mut lock_waits),
            claims_served: claims,
            lease_expiries: expiries,
            version_conflicts: count("VERSION_CONFLICT"),
            fenced_writes: count("CLAIM_FENCED"),
            no_work: count("NO_ISSUE_AVAILABLE"),
            rate_limited: count("RATE_LIMITED"),
            states,
            skipped_lines: page.skipped_lines + refused.skipped_lines,
        })
    }

    /// Take one token of the agent's rate limit (config `rate_limit`), or refuse with
    /// `RATE_LIMITED`; nothing to do without a limit.
    pub fn check_rate(&self, agent: &str) -> Result<()> {
        match &self.config.rate_limit {
            Some(limit) => {
                crate::storage::rates::check(&self.local, limit, agent, self.clock.now())
            }
            None => Ok(()),
        }
    }
}

/// Nearest-rank percentiles of `d` (sorted here).
fn latency(d: &mut [u64]) -> Latency {
    d.sort_unstable();
    let rank = |p: f64| {
        if d.is_empty() {
            return 0;
        }
        let i = (p * d.len() as f64).ceil() as usize;
        d[i.clamp(1, d.len()) - 1]
    };
    Latency {
        count: d.len() as u64,
        p50_ms: rank(0.50),
        p95_ms: rank(0.95),
        p99_ms: rank(0.99),
        max_ms: d.last().copied().unwrap_or(0),
        sum_ms: d.iter().sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut d: Vec<u64> = (1..=100).rev().collect();
        let l = latency(&mut d);
        assert_eq!((l.count, l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms), (100, 50, 95, 99, 100));
        assert_eq!(l.sum_ms, 5050);
        let l = latency(&mut [7]);
        assert_eq!((l.p50_ms, l.p99_ms, l.max_ms), (7, 7, 7));
        assert_eq!(latency(&mut []), Latency::default());
    }
}
