//! Claim leases and the highest fencing token issued per issue, in local state
//! (`leases.json`), shared by every worktree of a clone and never in the tracked files: a
//! renewal rewrites this file only. Every read-modify-write happens under the local-state
//! lock ([`LocalState::lock`]); the writers' lock of a worktree is not enough, as two
//! worktrees of one clone have two.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::local::{LocalLock, LocalState};
use crate::error::{Error, Result};
use crate::model::{Issue, State};

/// The file's name in local state.
pub const FILE: &str = "leases.json";

/// One live (or expired, not yet taken over) lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub agent: String,
    pub token: u64,
    #[serde(with = "crate::model::time")]
    pub claimed_at: Timestamp,
    #[serde(with = "crate::model::time")]
    pub renewed_at: Timestamp,
    #[serde(with = "crate::model::time")]
    pub expires_at: Timestamp,
    /// Whether its expiry was logged (`lease_expired`), so it is logged once.
    #[serde(default)]
    pub expiry_logged: bool,
    /// The claim ref this claim holds on a git remote (`claim --remote`), so that
    /// `release --remote` deletes it only while it is still this claim's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteLease>,
}

/// Which remote claim ref a lease holds: the remote's name and the commit the ref points at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteLease {
    pub remote: String,
    pub object: String,
}

impl Lease {
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }
}

/// The file's content, by full issue id.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LeaseStore {
    #[serde(default)]
    pub leases: BTreeMap<String, Lease>,
    /// The highest token ever issued per issue: a claim takes max(this, the file's) + 1, so
    /// a token never goes backwards when a merge or a hand edit lowers the file's.
    #[serde(default)]
    pub tokens: BTreeMap<String, u64>,
    /// The claim refs this clone made on git remotes (`claim --remote`) and has not deleted:
    /// remote name → issue id → commit. They outlive the lease (a release without
    /// `--remote` leaves the ref), so that this clone can still delete or take back its own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub remote_refs: BTreeMap<String, BTreeMap<String, String>>,
}

/// The store loaded under the local-state lock; [`Locked::save`] writes it back.
pub struct Locked<'l> {
    local: &'l LocalState,
    _lock: LocalLock,
    pub store: LeaseStore,
}

impl LeaseStore {
    /// What `local` holds (empty when nothing was claimed yet). No lock: a reader's view.
    pub fn load(local: &LocalState) -> Result<LeaseStore> {
        let Some(bytes) = local.read(FILE)? else { return Ok(LeaseStore::default()) };
        serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: local.dir().join(FILE),
            message: format!("unreadable claim leases ({e})"),
        })
    }

    /// Take the local-state lock and load the store, for a change.
    pub fn lock(local: &LocalState) -> Result<Locked<'_>> {
        let lock = local.lock()?;
        let store = LeaseStore::load(local)?;
        Ok(Locked { local, _lock: lock, store })
    }

    /// The live lease of `id` at `now`, if any.
    pub fn live(&self, id: &str, now: Timestamp) -> Option<&Lease> {
        self.leases.get(id).filter(|l| l.is_live(now))
    }

    /// Drop the leases that `over` says are over (see [`over`]); returns how many. `over`
    /// gets the issue id and the lease.
    pub fn prune(&mut self, mut over: impl FnMut(&str, &Lease) -> Result<bool>) -> Result<usize> {
        let mut gone = Vec::new();
        for (id, l) in &self.leases {
            if over(id, l)? {
                gone.push(id.clone());
            }
        }
        for id in &gone {
            self.leases.remove(id);
        }
        Ok(gone.len())
    }

    /// The commit of this clone's claim ref of `id` on `remote`, if it made one.
    pub fn remote_ref(&self, remote: &str, id: &str) -> Option<&str> {
        self.remote_refs.get(remote)?.get(id).map(String::as_str)
    }

    /// Record (`Some`) or forget (`None`) this clone's claim ref of `id` on `remote`.
    pub fn set_remote_ref(&mut self, remote: &str, id: &str, object: Option<String>) {
        match object {
            Some(o) => {
                self.remote_refs.entry(remote.into()).or_default().insert(id.into(), o);
            }
            None => {
                if let Some(refs) = self.remote_refs.get_mut(remote) {
                    refs.remove(id);
                    if refs.is_empty() {
                        self.remote_refs.remove(remote);
                    }
                }
            }
        }
    }

    /// Expired leases whose expiry was not logged yet; marks them logged.
    pub fn take_unlogged_expired(&mut self, now: Timestamp) -> Vec<(String, Lease)> {
        let mut out = Vec::new();
        for (id, l) in self.leases.iter_mut() {
            if !l.is_live(now) && !l.expiry_logged {
                l.expiry_logged = true;
                out.push((id.clone(), l.clone()));
            }
        }
        out
    }
}

/// Whether `lease` is over because of what its issue's file (as this worktree has it) says:
/// the file knows the lease's claim (its token is the lease's or newer) and the issue has
/// left in_progress (to anything but `gated`, where the claim's agent still works on the
/// postcheck that refused it). A file with an older token has not seen the claim yet (it was
/// made in another worktree, or a crash came between the lease and the file): its lease is
/// kept until it expires.
pub fn over(issue: &Issue, lease: &Lease) -> bool {
    issue.claim_token() >= lease.token && !matches!(issue.state, State::InProgress | State::Gated)
}

impl Locked<'_> {
    /// Write the store back atomically (the lock is released when `self` drops).
    pub fn save(&self) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(&self.store).expect("leases serialise");
        bytes.push(b'\n');
        self.local.write(FILE, &bytes)
    }
}
