//! `claim`: under the writers' lock and the local-state lock, pick the best claimable issue
//! (or the named one), make its lease and a new fencing token, and stage the issue
//! (in_progress, assigned, the token in its `claim`). The two locks make the choice and the
//! claim one step: two agents never receive the same issue, even from two worktrees of one
//! clone (they share the lease store and its lock, not the writers' lock).
//!
//! With `--remote`, the one write this operation makes itself is outside the repository: the
//! push of the issue's claim ref (`repo::remote`), under both locks, before the lease; the
//! caller deletes the ref again if the commit fails.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};

use super::Transaction;
use crate::api::{ClaimRequest, Claimed, LeaseInfo};
use crate::error::{Error, Result};
use crate::model::{Claim, Issue, IssueId, Stage, State};
use crate::query::{EvalCtx, Expr};
use crate::repo::remote::{Arbiter, Bid};
use crate::storage::index::{Entry, Snapshot};
use crate::storage::leases::{Lease, LeaseStore};

/// A claim's outcome, with the leases whose expiry this claim noticed (to be logged).
pub struct ClaimOutcome {
    pub claimed: Claimed,
    pub expired: Vec<(String, Lease)>,
}

/// Why a matching issue is not claimable (for the `NO_ISSUE_AVAILABLE` counts).
enum Verdict {
    Claimable,
    Blocked,
    Gated,
    Claimed,
    /// Not open for a claim at all (backlog, done, in progress without a lease…).
    Other,
}

/// Claim as `req` asks, with a lease of `lease`, the filter parsed already. With `remote`
/// (`claim --remote`), the claim must also win the issue's claim ref on the remote: issues
/// another clone holds there are skipped, and a lost push moves on to the next best issue
/// (or, for a named one, is `ALREADY_CLAIMED`) before anything local changes.
pub fn apply(
    tx: &mut Transaction,
    req: &ClaimRequest,
    filter: Option<&Expr>,
    lease: SignedDuration,
    mut remote: Option<&mut Arbiter>,
) -> Result<ClaimOutcome> {
    let repo = tx.repo();
    let now = tx.now();
    let mut locked = LeaseStore::lock(repo.local())?;
    let expired = locked.store.take_unlogged_expired(now);
    if let Some(a) = remote.as_deref_mut() {
        a.refresh(&mut locked.store)?;
    }
    let mut skip = remote.as_deref().map(|a| a.held_elsewhere(now)).unwrap_or_default();
    let expires_at = now.checked_add(lease).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    // Leases of issues that left in_progress are dropped as the file is written anyway.
    // A selection reads the index (once: a lost race picks again from the same snapshot).
    let snap = match &req.id {
        Some(text) => Err(text),
        None => Ok(tx.snapshot()?),
    };
    super::prune_leases(tx, &mut locked.store, snap.as_deref().ok())?;
    let (issue, stolen_from, token, won) = loop {
        let (issue, stolen_from) = match &snap {
            Err(text) => named(tx, &locked.store, text, req.steal, now)?,
            Ok(snap) => (best(tx, snap, &locked.store, filter, &skip, now)?, None),
        };
        let key = issue.id.to_string();
        let issued = locked.store.tokens.get(&key).copied().unwrap_or(0);
        let prior = remote.as_deref().map_or(0, |a| a.prior_token(&key));
        let token = issue.claim_token().max(issued).max(prior).checked_add(1).ok_or_else(|| {
            Error::InvalidArgument(format!("issue {key} has used up its fencing tokens"))
        })?;
        let Some(a) = remote.as_deref_mut() else { break (issue, stolen_from, token, None) };
        let bid = Bid {
            id: &key,
            agent: &req.agent,
            token,
            claimed_at: now,
            expires_at,
            steal: req.steal,
        };
        match a.try_win(&bid)? {
            Ok(won) => break (issue, stolen_from, token, Some(won)),
            Err(lost) if req.id.is_some() => return Err(lost),
            Err(_) => {
                skip.insert(key);
            }
        }
    };
    let key = issue.id.to_string();
    locked.store.tokens.insert(key.clone(), token);
    let entry = Lease {
        agent: req.agent.clone(),
        token,
        claimed_at: now,
        renewed_at: now,
        expires_at,
        expiry_logged: false,
        remote: remote.as_deref().and_then(Arbiter::lease),
    };
    locked.store.leases.insert(key, entry);
    if let Some(a) = remote.as_deref() {
        a.record_won(&mut locked.store);
    }
    // The lease and the token are durable before the issue names the token: a crash
    // between the two leaves a lease whose token the file does not have, which fences
    // nothing and expires.
    locked.save()?;
    drop(locked);
    let mut next = issue;
    next.state = State::InProgress;
    next.assignee = Some(req.agent.clone());
    next.claim =
        Some(Claim { token, agent: req.agent.clone(), claimed_at: now, extra: Default::default() });
    tx.claiming(next.id);
    let issue = tx.stage(next)?.clone();
    let lease = LeaseInfo {
        token,
        agent: req.agent.clone(),
        lease_expires_at: crate::model::time::format(expires_at),
    };
    Ok(ClaimOutcome { claimed: Claimed { issue, lease, stolen_from, remote: won }, expired })
}

/// The issue `text` names, if it may be claimed (or stolen).
fn named(
    tx: &mut Transaction,
    store: &LeaseStore,
    text: &str,
    steal: bool,
    now: Timestamp,
) -> Result<(Issue, Option<String>)> {
    let id = tx.resolve(text)?;
    let issue = tx.load(id)?.clone();
    let key = id.to_string();
    let held = store.live(&key, now);
    if let Some(l) = held
        && !steal
    {
        return Err(Error::AlreadyClaimed {
            id: key,
            agent: l.agent.clone(),
            token: l.token,
            expires_at: crate::model::time::format(l.expires_at),
        });
    }
    let orphan = issue.state == State::InProgress && store.leases.contains_key(&key);
    if issue.state != State::Ready && !orphan && !(steal && held.is_some()) {
        let allowed =
            if issue.state.can_move_to(State::Ready) { vec!["ready".into()] } else { vec![] };
        return Err(Error::TransitionRefused {
            id: key,
            from: issue.state.to_string(),
            to: "in_progress (a claim takes ready issues, or in-progress ones whose lease expired)"
                .into(),
            allowed,
        });
    }
    if issue.state == State::Ready {
        let deps = issue.dependencies.clone();
        crate::rules::check_unblocked(&key, &deps, |d| super::state_in(tx, d))?;
        let config = tx.config()?;
        if let Some(e) = crate::rules::gates_refusal(&issue, State::InProgress, config) {
            return Err(e);
        }
    }
    Ok((issue, held.filter(|_| steal).map(|l| l.agent.clone())))
}

/// The best claimable issue matching `filter`: highest priority, then oldest, then id.
///
/// The candidates (ready and in-progress issues) are taken from the head of their record
/// ([`Entry::lead`]: state and priority, nothing decoded or allocated) and judged one
/// priority at a time, highest first: the first priority with a claimable issue holds the
/// best one, so the issues of lower priorities are never decoded nor their dependencies
/// looked up. Only when nothing is claimable are all judged, for the `NO_ISSUE_AVAILABLE`
/// counts. This is most of a claim's time under the lock at 10k issues.
fn best(
    tx: &mut Transaction,
    snap: &Snapshot,
    store: &LeaseStore,
    filter: Option<&Expr>,
    skip: &BTreeSet<String>,
    now: Timestamp,
) -> Result<Issue> {
    let repo = tx.repo();
    let view = repo.graph_view(snap);
    let config = tx.config()?.clone();
    let eval = EvalCtx::new(now, Some(&view));
    let matched: Vec<_> = match filter {
        Some(_) => crate::query::select::select(snap, filter, &eval, Default::default(), None),
        None => snap.iter().collect(),
    };
    // Only ready and in-progress issues can be claimable or held back: the others are
    // decided from the head of their record, without decoding the rest.
    let mut candidates: Vec<(Reverse<u8>, Entry)> = matched
        .iter()
        .filter_map(|e| {
            let (state, priority) = match e.lead() {
                Some(l) => (l.state, l.priority),
                None => (e.head().state, e.summary().priority),
            };
            matches!(State::from_u8(state), Some(State::Ready | State::InProgress))
                .then_some((Reverse(priority), *e))
        })
        .collect();
    candidates.sort_by_key(|(p, _)| *p);
    let (mut blocked, mut gated, mut claimed) = (0, 0, 0);
    for group in candidates.chunk_by(|a, b| a.0 == b.0) {
        let mut best: Option<(Reverse<u8>, i64, IssueId)> = None;
        for (_, e) in group {
            let s = e.summary();
            let key = e.id.to_string();
            let verdict = match State::from_u8(s.state) {
                _ if store.live(&key, now).is_some() || skip.contains(&key) => Verdict::Claimed,
                Some(State::InProgress) if store.leases.contains_key(&key) => Verdict::Claimable,
                Some(State::Ready) if view.is_blocked(&s) => Verdict::Blocked,
                Some(State::Ready)
                    if !view.is_ready(&s)
                        || !crate::rules::unpassed(&s, Stage::Precheck, &config).is_empty() =>
                {
                    Verdict::Gated
                }
                Some(State::Ready) => Verdict::Claimable,
                _ => Verdict::Other,
            };
            match verdict {
                Verdict::Claimable => {
                    let rank = (Reverse(s.priority), s.created_us, e.id);
                    if best.is_none_or(|b| rank < b) {
                        best = Some(rank);
                    }
                }
                Verdict::Blocked => blocked += 1,
                Verdict::Gated => gated += 1,
                Verdict::Claimed => claimed += 1,
                Verdict::Other => {}
            }
        }
        if let Some((_, _, id)) = best {
            return Ok(tx.load(id)?.clone());
        }
    }
    Err(Error::NoIssueAvailable { matched: matched.len(), blocked, gated, claimed })
}
