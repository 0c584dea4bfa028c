//! Claims, leases and fencing as `Repo` methods: `claim` (with `--wait`), `release`,
//! `renew` and `status`. The operations are in `ops::claim` and `ops::release`; leases are
//! local state (`storage::leases`). See docs/agents.md.

use std::time::{Duration, Instant, SystemTime};

use jiff::{SignedDuration, Timestamp};

use super::remote::{self, Arbiter, Remote};
use super::{Begun, IdempotencyKey, Keyed, Repo, ops};
use crate::api::{self, ClaimRequest, Claimed, LeaseInfo, ReleaseRequest, RenewRequest, Renewed};
use crate::error::{Error, Result};
use crate::model::{State, parse_duration, validate_assignee};
use crate::query::Expr;
use crate::storage::leases::{self, Lease, LeaseStore};

/// The longest sleep of `claim --wait` between two looks at the repository.
const WAIT_POLL: Duration = Duration::from_millis(50);

/// How often `claim --wait --remote` asks the remote again while nothing changes here.
const REMOTE_POLL: Duration = Duration::from_secs(1);

impl Repo {
    /// The lease a claim or renewal asks for (`text`, else `claims.lease_default`), refused
    /// above `claims.lease_max`.
    pub fn lease_length(&self, text: Option<&str>) -> Result<SignedDuration> {
        let claims = &self.config().claims;
        let max = parse_duration("claims.lease_max", &claims.lease_max)?;
        let asked = match text {
            Some(t) => parse_duration("--lease", t)?,
            None => parse_duration("claims.lease_default", &claims.lease_default)?,
        };
        if asked > max {
            return Err(Error::InvalidArgument(format!(
                "a lease of {} is longer than the maximum, claims.lease_max = {}",
                text.unwrap_or(&claims.lease_default),
                claims.lease_max
            )));
        }
        Ok(asked)
    }

    /// The checks of a claim that need no lock: the agent's name, the filter, the lease.
    pub fn check_claim(&self, req: &ClaimRequest) -> Result<(Option<Expr>, SignedDuration)> {
        validate_assignee(&req.agent)?;
        if req.id.is_some() && req.filter.is_some() {
            return Err(Error::InvalidArgument("give an issue id or --filter, not both".into()));
        }
        if req.steal && req.id.is_none() {
            return Err(Error::InvalidArgument(
                "--steal takes over one named issue: give its id".into(),
            ));
        }
        let filter = req.filter.as_deref().map(crate::query::parse).transpose()?;
        Ok((filter, self.lease_length(req.lease.as_deref())?))
    }

    /// `claim`: one transaction picks and claims (see `ops::claim`).
    /// With an idempotency `key`, a retry returns the first claim (even when its lease has
    /// ended since) and claims nothing.
    pub fn claim(&self, req: &ClaimRequest, key: Option<&IdempotencyKey>) -> Result<Claimed> {
        self.claim_on(req, None, key)
    }

    /// `claim`, and with `remote` (`claim --remote NAME`) a claim that holds across clones:
    /// it also wins the issue's claim ref on that git remote (`repo::remote`), or claims
    /// nothing.
    pub fn claim_on(
        &self,
        req: &ClaimRequest,
        remote: Option<&str>,
        key: Option<&IdempotencyKey>,
    ) -> Result<Claimed> {
        let keyed = self.claim_keyed(req, remote, key);
        if let Some(claimed) = self.replayed(keyed.as_ref())? {
            return Ok(claimed);
        }
        let (filter, lease) = self.check_claim(req)?;
        let remote = self.open_remote(remote)?;
        self.claim_checked(req, filter.as_ref(), lease, remote.as_ref(), keyed.as_ref())
    }

    fn claim_keyed(
        &self,
        req: &ClaimRequest,
        remote: Option<&str>,
        key: Option<&IdempotencyKey>,
    ) -> Option<Keyed> {
        match remote {
            None => self.keyed(key, "claim", req),
            Some(r) => self.keyed(key, "claim", &(req, r)),
        }
    }

    fn open_remote(&self, name: Option<&str>) -> Result<Option<Remote>> {
        name.map(|n| Remote::open(self.layout.project(), n)).transpose()
    }

    fn claim_checked(
        &self,
        req: &ClaimRequest,
        filter: Option<&Expr>,
        lease: SignedDuration,
        remote: Option<&Remote>,
        keyed: Option<&Keyed>,
    ) -> Result<Claimed> {
        let mut tx = match self.begin_keyed(keyed)? {
            Begun::Replay(claimed) => return Ok(claimed),
            Begun::Fresh(tx) => tx,
        };
        let mut arbiter = remote.cloned().map(Arbiter::new);
        let out = ops::claim::apply(&mut tx, req, filter, lease, arbiter.as_mut());
        // Expiries noticed are logged even when nothing could be claimed: the lease store
        // has marked them logged.
        let (claimed, expired) = match out {
            Ok(o) => (Ok(o.claimed), o.expired),
            Err(e) => (Err(e), self.note_expired_locked()),
        };
        self.log_expired(&expired);
        let mut made = None;
        let committed = claimed.and_then(|claimed| {
            made = Some((claimed.issue.id.to_string(), claimed.lease.token));
            let op = if claimed.stolen_from.is_some() { "claim_steal" } else { "claim" };
            tx.commit_reply(op, &claimed).map(|_| claimed)
        });
        match committed {
            // A change that a later writer finishes is a claim made: the ref stays.
            Err(e) if !matches!(e, Error::ChangePending { .. }) => {
                if let Some(failed) = arbiter.as_mut().and_then(Arbiter::give_back) {
                    self.warn(&format!("the remote claim ref was not deleted again: {failed}"));
                }
                if let (Some((id, token)), Some(_)) = (made, &arbiter) {
                    self.drop_lease(&id, token);
                }
                Err(e)
            }
            other => other,
        }
    }

    /// A remote claim whose issue file could not be written gives its lease back too (the
    /// token stays issued), so nothing of it is left. Best effort, as the ref's deletion.
    fn drop_lease(&self, id: &str, token: u64) {
        let Ok(mut locked) = LeaseStore::lock(self.local()) else { return };
        if let Some(l) = locked.store.leases.get(id).filter(|l| l.token == token) {
            if let Some(r) = l.remote.clone()
                && locked.store.remote_ref(&r.remote, id) == Some(r.object.as_str())
            {
                locked.store.set_remote_ref(&r.remote, id, None);
            }
            locked.store.leases.remove(id);
            let _ = locked.save();
        }
    }

    /// `claim --wait`: try, and while nothing is claimable, sleep until the repository or the
    /// lease store changes (a stat of `issues/` and of the lease file every 50 ms, no read
    /// of the repository) or a lease expires, then try again; `NO_ISSUE_AVAILABLE` once
    /// `wait` has passed. With a remote, it also tries again every second (a fetch).
    pub fn claim_waiting(
        &self,
        req: &ClaimRequest,
        wait: Duration,
        remote: Option<&str>,
        key: Option<&IdempotencyKey>,
    ) -> Result<Claimed> {
        let keyed = self.claim_keyed(req, remote, key);
        if let Some(claimed) = self.replayed(keyed.as_ref())? {
            return Ok(claimed);
        }
        let (filter, lease) = self.check_claim(req)?;
        let remote = self.open_remote(remote)?;
        let deadline = Instant::now() + wait;
        loop {
            let seen = self.change_marks();
            match self.claim_checked(req, filter.as_ref(), lease, remote.as_ref(), keyed.as_ref()) {
                Err(Error::NoIssueAvailable { .. }) if Instant::now() < deadline => {}
                other => return other,
            }
            let next_expiry = LeaseStore::load(self.local()).ok().and_then(|s| {
                s.leases.values().map(|l| l.expires_at).filter(|t| *t > self.clock().now()).min()
            });
            let asked = Instant::now();
            loop {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                std::thread::sleep(WAIT_POLL.min(deadline - now));
                let expired = next_expiry.is_some_and(|t| t <= Timestamp::now());
                // Another clone's release or expiry shows in no local file: ask the remote
                // again now and then.
                let remote_due = remote.is_some() && asked.elapsed() >= REMOTE_POLL;
                if expired || remote_due || self.change_marks() != seen {
                    break;
                }
            }
        }
    }

    /// What `--wait` watches: the mtimes of `issues/` (every rename into it) and of the
    /// lease file (claims and releases in other worktrees).
    fn change_marks(&self) -> (Option<SystemTime>, Option<SystemTime>) {
        let mtime = |p: std::path::PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        (mtime(self.layout.issues_dir()), mtime(self.local().dir().join(leases::FILE)))
    }

    /// Mark and return the unlogged expiries, when a claim failed before it did.
    fn note_expired_locked(&self) -> Vec<(String, Lease)> {
        let now = self.clock().now();
        let Ok(mut locked) = LeaseStore::lock(self.local()) else { return Vec::new() };
        let expired = locked.store.take_unlogged_expired(now);
        if !expired.is_empty() {
            let _ = self.prune_leases(&mut locked.store);
            if locked.save().is_err() {
                return Vec::new();
            }
        }
        expired
    }

    /// Drop the leases of issues that have left in_progress ([`leases::over`]), judged by
    /// the issue files; one that cannot be read keeps its lease.
    fn prune_leases(&self, store: &mut LeaseStore) -> Result<usize> {
        store.prune(|key, lease| {
            let Ok(id) = key.parse() else { return Ok(false) };
            Ok(self.load(id).is_ok_and(|i| leases::over(&i, lease)))
        })
    }

    /// One `lease_expired` event per expiry noticed (call with the writers' lock held).
    pub(crate) fn log_expired(&self, expired: &[(String, Lease)]) {
        for (id, l) in expired {
            let mut event = self.new_event("lease_expired");
            if let Ok(id) = id.parse() {
                event.touch(id, None, None);
            }
            event.extra.insert("agent".into(), l.agent.clone().into());
            event.extra.insert("token".into(), l.token.into());
            let at = crate::model::time::format(l.expires_at);
            event.extra.insert("lease_expired_at".into(), at.into());
            if let Err(e) = self.append_event(&event) {
                self.warn(&format!("a lease expiry was not logged: {e}"));
            }
        }
    }

    /// `release`: end the claim and move the issue (default: ready, unassigned). A move to
    /// done runs the auto postchecks first, with no lock, as `issue update` does.
    pub fn release(
        &self,
        req: &ReleaseRequest,
        key: Option<&IdempotencyKey>,
    ) -> Result<ops::update::Updated> {
        self.release_on(req, None, key).map(|(updated, _)| updated)
    }

    /// `release`, and with `remote` (`release --remote NAME`) the claim ref there deleted
    /// too, only while it is this claim's: another clone's live claim there is
    /// `ALREADY_CLAIMED` and nothing changes. If the local release fails after the ref was
    /// deleted, the ref is put back. Also returns what happened on the remote (`None` for a
    /// retry with an idempotency key, which does nothing).
    pub fn release_on(
        &self,
        req: &ReleaseRequest,
        remote: Option<&str>,
        key: Option<&IdempotencyKey>,
    ) -> Result<(ops::update::Updated, Option<remote::RefRelease>)> {
        self.release_on_noting(req, remote, key, Default::default())
    }

    /// [`Repo::release`], setting the context keys `note` with the move (`claim run`).
    pub(crate) fn release_noting(
        &self,
        req: &ReleaseRequest,
        key: Option<&IdempotencyKey>,
        note: std::collections::BTreeMap<String, serde_json::Value>,
    ) -> Result<ops::update::Updated> {
        self.release_on_noting(req, None, key, note).map(|(updated, _)| updated)
    }

    /// [`Repo::release_on`], setting the context keys `note` with the move.
    fn release_on_noting(
        &self,
        req: &ReleaseRequest,
        remote: Option<&str>,
        key: Option<&IdempotencyKey>,
        note: std::collections::BTreeMap<String, serde_json::Value>,
    ) -> Result<(ops::update::Updated, Option<remote::RefRelease>)> {
        let keyed = match remote {
            None => self.keyed(key, "release", req),
            Some(r) => self.keyed(key, "release", &(req, r)),
        };
        if let Some(done) = self.replayed(keyed.as_ref())? {
            return Ok((done, None));
        }
        if let Some(a) = &req.agent {
            validate_assignee(a)?;
        }
        let remote = self.open_remote(remote)?;
        let id = self.resolve(&req.id)?;
        let changes = crate::model::IssueChanges {
            state: Some(req.state.unwrap_or(State::Ready)),
            ..Default::default()
        };
        let runs = self.guarding_auto_gates(id, &changes)?;
        let req = ReleaseRequest { id: id.to_string(), ..req.clone() };
        let mut tx = match self.begin_keyed(keyed.as_ref())? {
            Begun::Replay(done) => return Ok((done, None)),
            Begun::Fresh(tx) => tx,
        };
        if let Some(results) = runs {
            let record = ops::gate_record::RecordGates { id, results, if_version: None };
            ops::gate_record::apply(&mut tx, record)?;
        }
        let key = id.to_string();
        let on_remote = match &remote {
            Some(r) => {
                // Under the local-state lock, which serialises this clone's fetches.
                let locked = LeaseStore::lock(self.local())?;
                let mine = locked.store.remote_ref(r.name(), &key);
                Some(remote::release_ref(r, &key, mine, tx.now())?)
            }
            None => None,
        };
        let put_back = || {
            let (Some(r), Some(remote::RefRelease::Deleted(object))) = (&remote, &on_remote) else {
                return;
            };
            if let Err(e) = r.push(&key, Some(object), None) {
                self.warn(&format!("the remote claim ref could not be put back: {e}"));
            }
        };
        // A claim made with --remote and released without it leaves its ref to expire.
        let left = match &remote {
            None => LeaseStore::load(self.local())?.leases.remove(&key).and_then(|l| {
                let at = crate::model::time::format(l.expires_at);
                l.remote.map(|r| (r.remote, at))
            }),
            Some(_) => None,
        };
        let out = ops::release::apply_noting(&mut tx, &req, note).inspect_err(|_| put_back())?;
        if out.updated.refused.is_some() {
            put_back();
        }
        self.log_expired(&out.expired);
        if let Err(e) = tx.commit_reply("release", &out.updated) {
            if !matches!(e, Error::ChangePending { .. }) {
                put_back();
            }
            return Err(e);
        }
        if let Some(r) = &remote {
            // The ref is deleted (or was not ours): this clone no longer holds one.
            if let Ok(mut locked) = LeaseStore::lock(self.local()) {
                locked.store.set_remote_ref(r.name(), &key, None);
                let _ = locked.save();
            }
        }
        if let (Some((name, at)), None) = (left, &out.updated.refused) {
            self.warn(&format!(
                "the claim's ref on {name} stays until its lease expires ({at}): release with \
                 --remote {name} to delete it with the claim"
            ));
        }
        Ok((out.updated, on_remote))
    }

    /// `renew`: a live lease gets a new expiry. Only the lease file changes: no issue file,
    /// no index, no event.
    pub fn renew(&self, req: &RenewRequest) -> Result<Renewed> {
        self.renew_on(req, None)
    }

    /// `renew`, and with `remote` (`renew --remote NAME`) the claim ref there moved to a
    /// commit with the new expiry (a lease-checked push: only while the ref is this claim's),
    /// before the local lease changes.
    pub fn renew_on(&self, req: &RenewRequest, remote: Option<&str>) -> Result<Renewed> {
        if let Some(a) = &req.agent {
            validate_assignee(a)?;
        }
        let remote = self.open_remote(remote)?;
        let length = self.lease_length(req.lease.as_deref())?;
        let id = self.resolve(&req.id)?.to_string();
        let now = self.clock().now();
        let mut locked = LeaseStore::lock(self.local())?;
        let not_held = |reason: String| Error::LeaseNotHeld { id: id.clone(), reason };
        let Some(lease) = locked.store.leases.get_mut(&id) else {
            return Err(not_held("it is not claimed".into()));
        };
        if !lease.is_live(now) {
            let at = crate::model::time::format(lease.expires_at);
            return Err(not_held(format!("its lease expired at {at}")));
        }
        if let Some(p) = self.claim_token().filter(|p| *p < lease.token) {
            return Err(Error::ClaimFenced { id, presented: Some(p), current: lease.token });
        }
        if let Some(agent) = req.agent.as_ref().filter(|a| **a != lease.agent) {
            let _ = agent;
            return Err(Error::AlreadyClaimed {
                id: id.clone(),
                agent: lease.agent.clone(),
                token: lease.token,
                expires_at: crate::model::time::format(lease.expires_at),
            });
        }
        let expires_at =
            now.checked_add(length).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let renewed_remote = match &remote {
            Some(r) => {
                let mine = lease.remote.as_ref().filter(|m| m.remote == r.name());
                let Some(mine) = mine.map(|m| m.object.clone()) else {
                    let why = format!("it was not claimed with --remote {}", r.name());
                    return Err(not_held(why));
                };
                let bid = remote::Bid {
                    id: &id,
                    agent: &lease.agent,
                    token: lease.token,
                    claimed_at: lease.claimed_at,
                    expires_at,
                    steal: false,
                };
                let claim = remote::extend(r, &bid, &mine, now)?;
                lease.remote = Some(crate::storage::leases::RemoteLease {
                    remote: r.name().to_string(),
                    object: claim.object.clone(),
                });
                Some(claim)
            }
            None => None,
        };
        lease.renewed_at = now;
        lease.expires_at = expires_at;
        let info = LeaseInfo {
            token: lease.token,
            agent: lease.agent.clone(),
            lease_expires_at: crate::model::time::format(lease.expires_at),
        };
        if let Some(c) = &renewed_remote {
            locked.store.set_remote_ref(&c.remote, &id, Some(c.object.clone()));
        }
        self.prune_leases(&mut locked.store)?;
        locked.save()?;
        Ok(Renewed { id, lease: info, remote: renewed_remote })
    }

    /// `status`: one screen for a supervisor. Expiries not logged yet are logged (under the
    /// writers' lock, taken only then).
    pub fn status(&self, snap: &crate::storage::index::Snapshot) -> Result<api::Status> {
        let now = self.clock().now();
        if LeaseStore::load(self.local())?
            .leases
            .values()
            .any(|l| !l.is_live(now) && !l.expiry_logged)
        {
            let _tx = self.begin()?;
            let expired = self.note_expired_locked();
            self.log_expired(&expired);
        }
        let store = LeaseStore::load(self.local())?;
        let mut states: std::collections::BTreeMap<String, usize> =
            State::ALL.iter().map(|s| (s.to_string(), 0)).collect();
        let mut in_progress = Vec::new();
        for e in snap.iter() {
            let s = e.summary();
            if let Some(st) = State::from_u8(s.state) {
                *states.entry(st.to_string()).or_default() += 1;
                if st == State::InProgress {
                    in_progress.push((
                        s.updated_us,
                        e.id,
                        s.title.to_string(),
                        s.assignee.map(str::to_string),
                    ));
                }
            }
        }
        let view = self.graph_view(snap);
        let ready = super::read::ready(&view, &api::ReadyRequest { limit: None }).len();
        let mut leases = Vec::new();
        let mut stuck = false;
        for (id, l) in &store.leases {
            let entry = id.parse().ok().and_then(|i| snap.get(i));
            let (title, state) = match &entry {
                Some(e) => (e.summary().title.to_string(), State::from_u8(e.summary().state)),
                None => (String::new(), None),
            };
            let expired = !l.is_live(now);
            stuck |= expired && state == Some(State::InProgress);
            leases.push(api::LeaseStatus {
                id: id.clone(),
                title,
                state,
                agent: l.agent.clone(),
                token: l.token,
                claimed_at: crate::model::time::format(l.claimed_at),
                renewed_at: crate::model::time::format(l.renewed_at),
                lease_expires_at: crate::model::time::format(l.expires_at),
                age_s: now.duration_since(l.claimed_at).as_secs(),
                expired,
            });
        }
        leases.sort_by(|a, b| (&a.lease_expires_at, &a.id).cmp(&(&b.lease_expires_at, &b.id)));
        in_progress.sort();
        let oldest_in_progress = in_progress
            .into_iter()
            .take(10)
            .map(|(us, id, title, assignee)| {
                let at = Timestamp::from_microsecond(us).unwrap_or(now);
                api::OldWork {
                    id: id.to_string(),
                    title,
                    assignee,
                    updated_at: crate::model::time::format(at),
                    idle_s: now.duration_since(at).as_secs(),
                }
            })
            .collect();
        Ok(api::Status {
            states,
            ready,
            leases,
            oldest_in_progress,
            slowest: self.slowest(now)?,
            stuck,
        })
    }

    /// The five slowest operations of the hour before `now`.
    fn slowest(&self, now: Timestamp) -> Result<Vec<api::SlowOp>> {
        let since = now - SignedDuration::from_hours(1);
        let filter = crate::storage::events::Filter {
            since_ns: Some(since.as_nanosecond()),
            ..Default::default()
        };
        let mut events = self.events(&filter, None)?.events;
        events.sort_by_key(|e| (std::cmp::Reverse(e.duration_ms), e.at));
        Ok(events
            .into_iter()
            .take(5)
            .map(|e| api::SlowOp {
                at: crate::model::time::format(e.at),
                op: e.op,
                actor: e.actor,
                duration_ms: e.duration_ms,
                lock_wait_ms: e.lock_wait_ms,
            })
            .collect())
    }
}
