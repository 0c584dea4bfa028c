//! `release`: end an issue's claim (its lease leaves local state) and move the issue, by
//! default back to ready and unassigned. The move goes through `issue update`'s rules
//! (transitions, gates); a refused move keeps the lease. Fencing applies as to any write: a
//! holder whose claim is over cannot release its successor's.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Transaction;
use crate::api::{Changes, ReleaseRequest, UpdateIssue};
use crate::error::{Error, Result};
use crate::model::State;
use crate::storage::leases::{Lease, LeaseStore};

use super::update::Updated;

/// A release's outcome, with the leases whose expiry it noticed (to be logged).
pub struct Released {
    pub updated: Updated,
    pub expired: Vec<(String, Lease)>,
}

pub fn apply(tx: &mut Transaction, req: &ReleaseRequest) -> Result<Released> {
    apply_noting(tx, req, BTreeMap::new())
}

/// [`apply`], setting the context keys `note` in the same write (unless the gates refuse
/// the move): `claim run` records how its command ended so.
pub fn apply_noting(
    tx: &mut Transaction,
    req: &ReleaseRequest,
    note: BTreeMap<String, Value>,
) -> Result<Released> {
    let id = tx.resolve(&req.id)?;
    let key = id.to_string();
    let now = tx.now();
    let mut locked = LeaseStore::lock(tx.repo().local())?;
    let expired = locked.store.take_unlogged_expired(now);
    let pruned = super::prune_leases(tx, &mut locked.store, None)?;
    if let (Some(agent), Some(l)) = (&req.agent, locked.store.live(&key, now))
        && &l.agent != agent
    {
        return Err(Error::AlreadyClaimed {
            id: key,
            agent: l.agent.clone(),
            token: l.token,
            expires_at: crate::model::time::format(l.expires_at),
        });
    }
    let to = req.state.unwrap_or(State::Ready);
    let unassign = matches!(to, State::Ready | State::Backlog);
    let changes = Changes {
        state: Some(to),
        assignee: unassign.then_some(None),
        context: note,
        ..Changes::default()
    };
    let update = UpdateIssue { id: key.clone(), changes, if_version: None };
    let updated = super::update::apply(tx, &update)?;
    if updated.refused.is_none() {
        locked.store.leases.remove(&key);
    }
    if updated.refused.is_none() || !expired.is_empty() || pruned > 0 {
        locked.save()?;
    }
    Ok(Released { updated, expired })
}
