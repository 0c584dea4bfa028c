//! The one write path. A [`Transaction`] holds the writers' lock (its guard is a field, so
//! nothing commits without it), loads the issues and config an operation reads, stages the
//! files it changes, and commits them in one step: one atomic rename for a single file, one
//! journal record for several, then the index. Dropping it without [`Transaction::commit`]
//! changes nothing. The version bump and `updated_at` happen here and nowhere else.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::Repo;
use super::idempotent::Keyed;
use crate::error::{Error, Result};
use crate::model::{Issue, IssueId, Prefix};
use crate::storage::atomic;
use crate::storage::config::Config;
use crate::storage::fault::{self, Step};
use crate::storage::idempotency::{KeyStore, Record};
use crate::storage::index::{self, Snapshot};
use crate::storage::journal::{self, Op};
use crate::storage::leases::LeaseStore;
use crate::storage::lock::RepoLock;
use crate::storage::trust::{TrustStore, Trusted};

/// An issue file written and fsynced before the lock is taken, so that `issue create` only
/// renames it under the lock. Removed when dropped unless a commit installed it.
#[derive(Debug)]
pub struct PreparedFile {
    tmp: Option<PathBuf>,
}

impl PreparedFile {
    /// Write `issue`'s file to a temp file beside its place.
    pub fn new(repo: &Repo, issue: &Issue) -> Result<PreparedFile> {
        let path = repo.layout.issue_path(issue.id);
        let tmp = atomic::prepare(&path, &issue.to_file_bytes(), repo.durability)?;
        Ok(PreparedFile { tmp: Some(tmp) })
    }
}

impl Drop for PreparedFile {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// What a transaction will do to one issue file when it commits.
#[derive(Debug)]
enum Staged {
    Write(Issue),
    Create(Issue, Option<PreparedFile>),
    Delete,
}

/// One issue a commit changed: its version before (`None`: created) and after (`None`:
/// deleted).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IssueChange {
    pub id: IssueId,
    pub before: Option<u64>,
    pub after: Option<u64>,
}

/// What a commit did: everything an event records.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Committed {
    /// The operation, as the event log names it: `create`, `update`, `bulk_update`, `gate_pass`…
    pub op: &'static str,
    /// The issues changed, in id order; empty when nothing changed.
    pub issues: Vec<IssueChange>,
    /// Whether config.json was written.
    pub config: bool,
    /// Other files of `.jit/` written or moved (`validate --fix`), relative to `.jit/`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// How long taking the lock took.
    pub lock_wait: Duration,
    /// From the start of the transaction (before the lock) to the end of the commit.
    pub duration: Duration,
    /// The command words, as for `lock.info`.
    pub command: String,
}

impl Committed {
    /// Whether the commit wrote anything.
    pub fn changed(&self) -> bool {
        self.config || !self.issues.is_empty() || !self.files.is_empty()
    }
}

/// A write in progress: see the module documentation.
pub struct Transaction<'r> {
    repo: &'r Repo,
    _lock: RepoLock,
    started: Instant,
    lock_wait: Duration,
    now: Timestamp,
    /// Issues as read from their files (`None`: no such file), by id.
    loaded: HashMap<IssueId, Option<Issue>>,
    staged: BTreeMap<IssueId, Staged>,
    /// config.json as read under the lock, once asked for.
    config: Option<Config>,
    staged_config: Option<Config>,
    staged_trust: Vec<(String, Trusted)>,
    /// Other files of `.jit/` to write or move aside (`validate --fix`: quarantine, notes,
    /// event log segments, restored issue files), committed in the same journal record.
    staged_files: Vec<Op>,
    /// Issues this transaction claims: their staged write is the new claim, which the token
    /// the command presents (for some other issue, say) does not fence.
    claiming: HashSet<IssueId>,
    /// The key store, held, and the keyed request, for a write with an idempotency key
    /// (`Repo::begin_keyed`): the reply is recorded at commit.
    keyed: Option<(KeyStore<'r>, Keyed)>,
    /// The fencing token the writes staged now present: the command's (`--claim-token`),
    /// or a batch entry's own.
    claim_token: Option<u64>,
}

impl Repo {
    /// Start a transaction: take the writers' lock and finish any change a crash interrupted
    /// (rolling a complete journal record forward, discarding an incomplete one).
    pub fn begin(&self) -> Result<Transaction<'_>> {
        self.begin_inner(true)
    }

    /// Start a transaction for `validate --fix`: take the writers' lock (also when `.jit/lock`
    /// is not a regular file, which stops every other writer: the fix moves it aside) but
    /// leave interrupted changes in the journal, so the fix can list them first (and a dry
    /// run leaves them); [`Transaction::recover`] then finishes them.
    pub fn begin_unrecovered(&self) -> Result<Transaction<'_>> {
        self.begin_inner(false)
    }

    fn begin_inner(&self, recover: bool) -> Result<Transaction<'_>> {
        let started = Instant::now();
        self.check_deadline()?;
        let acquire = if recover { RepoLock::acquire } else { RepoLock::acquire_for_repair };
        let lock = acquire(&self.layout, self.lock_wait_limit(), &self.command, &mut |h| {
            (self.on_wait)(h)
        });
        // A wait cut short by the deadline is the deadline's error, not the lock's.
        let lock = match lock {
            Err(Error::LockTimeout { .. }) if self.check_deadline().is_err() => {
                return Err(self.check_deadline().expect_err("checked"));
            }
            other => other?,
        };
        let lock_wait = started.elapsed();
        if recover {
            let recovered = journal::recover(&self.layout, self.durability)?;
            for name in &recovered.quarantined {
                self.warn(&quarantine_warning(name));
            }
        }
        Ok(Transaction {
            repo: self,
            _lock: lock,
            started,
            lock_wait,
            now: self.clock.now(),
            loaded: HashMap::new(),
            staged: BTreeMap::new(),
            config: None,
            staged_config: None,
            staged_trust: Vec::new(),
            claiming: HashSet::new(),
            staged_files: Vec::new(),
            keyed: None,
            claim_token: self.claim_token,
        })
    }
}

impl<'r> Transaction<'r> {
    pub fn repo(&self) -> &'r Repo {
        self.repo
    }

    /// The time of this transaction: every timestamp it writes.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The issue as this transaction sees it: staged if staged, else read from its file.
    pub fn load(&mut self, id: IssueId) -> Result<&Issue> {
        if !self.staged.contains_key(&id) {
            self.read(id)?;
        }
        let found = match self.staged.get(&id) {
            Some(Staged::Write(i) | Staged::Create(i, _)) => Some(i),
            Some(Staged::Delete) => None,
            None => self.loaded[&id].as_ref(),
        };
        found.ok_or_else(|| Error::IssueNotFound(id.to_string()))
    }

    /// Turn a full id or a unique prefix into an id, as this transaction sees the issues: one
    /// it created counts (so a later operation of the same transaction can name it), one it
    /// deleted does not.
    pub fn resolve(&mut self, input: &str) -> Result<IssueId> {
        let prefix = Prefix::parse(input)?;
        let created: Vec<IssueId> = self
            .staged
            .iter()
            .filter(|(id, s)| {
                matches!(s, Staged::Create(..)) && id.to_string().starts_with(prefix.as_str())
            })
            .map(|(id, _)| *id)
            .collect();
        let on_disk = match self.repo.resolve(input) {
            Ok(id) if matches!(self.staged.get(&id), Some(Staged::Delete)) => None,
            Ok(id) => Some(id),
            Err(Error::IssueNotFound(_)) => None,
            Err(e) => return Err(e),
        };
        match (on_disk, created.as_slice()) {
            (Some(id), []) => Ok(id),
            (None, [id]) => Ok(*id),
            (None, []) => Err(Error::IssueNotFound(input.to_string())),
            (found, more) => Err(Error::AmbiguousId {
                prefix: input.to_string(),
                candidates: found.iter().chain(more).map(|i| i.to_string()).collect(),
            }),
        }
    }

    /// Whether an issue with this id exists, as this transaction sees it.
    pub fn exists(&mut self, id: IssueId) -> Result<bool> {
        match self.staged.get(&id) {
            Some(Staged::Write(_) | Staged::Create(..)) => Ok(true),
            Some(Staged::Delete) => Ok(false),
            // As `Repo::resolve` sees it: a file by that name, whatever it holds.
            None => Ok(self.loaded.get(&id).map_or_else(
                || std::fs::symlink_metadata(self.repo.layout.issue_path(id)).is_ok(),
                Option::is_some,
            )),
        }
    }

    /// The version of the issue's file when this transaction first read it (what a
    /// compare-and-swap compares with), or `None` when there was none.
    pub fn version_as_read(&mut self, id: IssueId) -> Result<Option<u64>> {
        Ok(self.read(id)?.map(|i| i.version))
    }

    fn read(&mut self, id: IssueId) -> Result<Option<&Issue>> {
        if !self.loaded.contains_key(&id) {
            let issue = match self.repo.load(id) {
                Ok(i) => Some(i),
                Err(Error::IssueNotFound(_)) => None,
                Err(e) => return Err(e),
            };
            self.loaded.insert(id, issue);
        }
        Ok(self.loaded[&id].as_ref())
    }

    /// Stage `issue` to be written. Its version becomes the version as read plus one (once,
    /// however often it is staged) and `updated_at` this transaction's time; a version that
    /// cannot go up is refused (`VERSION_EXHAUSTED`) here, before anything is written. An
    /// issue staged unchanged from its file is not written at all. Returns the issue as it
    /// will be written.
    pub fn stage(&mut self, mut issue: Issue) -> Result<&Issue> {
        let id = issue.id;
        if let Some(Staged::Create(..)) = self.staged.get(&id) {
            issue.version = 1;
            issue.updated_at = self.now;
            let prepared = None; // the prepared file no longer holds what will be written
            self.staged.insert(id, Staged::Create(issue, prepared));
            return self.load(id);
        }
        let Some(read) = self.read(id)?.cloned() else {
            return Err(Error::IssueNotFound(id.to_string()));
        };
        self.check_fence(&read)?;
        issue.version = read.version;
        issue.updated_at = read.updated_at;
        if issue == read {
            self.staged.remove(&id);
        } else {
            issue.bump(self.now)?;
            self.staged.insert(id, Staged::Write(issue));
        }
        self.load(id)
    }

    /// Present `token` (or none) on the writes staged from now on, instead of the command's:
    /// a batch entry's `claim_token`.
    pub fn present_claim_token(&mut self, token: Option<u64>) {
        self.claim_token = token;
    }

    /// Mark `id` as claimed by this transaction (see [`crate::repo::ops::claim`]): its
    /// staged write is exempt from fencing, as it is the claim that makes the new token.
    pub fn claiming(&mut self, id: IssueId) {
        self.claiming.insert(id);
    }

    /// Fencing, in one place: a write to `read` (the issue as its file has it) is refused
    /// (`CLAIM_FENCED`) when the command presents a token older than the issue's current
    /// claim, or, with `claims.require_token`, presents none (or another) while the claim's
    /// lease is live.
    fn check_fence(&self, read: &Issue) -> Result<()> {
        if self.claiming.contains(&read.id) {
            return Ok(());
        }
        let current = read.claim_token();
        let presented = self.claim_token;
        let fenced = match presented {
            Some(p) if p < current => true,
            _ if self.repo.config().claims.require_token => {
                presented != Some(current) && self.claim_is_live(read)?
            }
            _ => false,
        };
        if fenced {
            return Err(Error::ClaimFenced { id: read.id.to_string(), presented, current });
        }
        Ok(())
    }

    /// Whether the issue's current claim has a live lease.
    fn claim_is_live(&self, read: &Issue) -> Result<bool> {
        let Some(claim) = &read.claim else { return Ok(false) };
        let store = crate::storage::leases::LeaseStore::load(self.repo.local())?;
        Ok(store.live(&read.id.to_string(), self.now).is_some_and(|l| l.token == claim.token))
    }

    /// Stage a new issue (version 1), optionally with its file already prepared.
    pub fn stage_create(&mut self, mut issue: Issue, file: Option<PreparedFile>) -> Result<()> {
        if self.exists(issue.id)? {
            return Err(Error::InvalidArgument(format!("issue {} exists already", issue.id)));
        }
        issue.version = 1;
        self.staged.insert(issue.id, Staged::Create(issue, file));
        Ok(())
    }

    /// Stage the removal of an issue's file.
    pub fn stage_delete(&mut self, id: IssueId) -> Result<()> {
        if matches!(self.staged.get(&id), Some(Staged::Create(..))) {
            self.staged.remove(&id);
            return Ok(());
        }
        let Some(read) = self.read(id)?.cloned() else {
            return Err(Error::IssueNotFound(id.to_string()));
        };
        self.check_fence(&read)?;
        self.staged.insert(id, Staged::Delete);
        Ok(())
    }

    /// config.json as this transaction sees it (read under the lock: gate commands of other
    /// processes may have changed it since the repository was opened).
    pub fn config(&mut self) -> Result<&Config> {
        if let Some(staged) = &self.staged_config {
            return Ok(staged);
        }
        if self.config.is_none() {
            self.config = Some(Config::load(&self.repo.layout.config_path())?);
        }
        Ok(self.config.as_ref().expect("loaded"))
    }

    /// Stage a new config.json.
    pub fn stage_config(&mut self, config: Config) {
        self.staged_config = Some(config);
    }

    /// Stage trust of an auto gate's definition on this machine. Written first at commit
    /// (it is local state, outside the tracked files), so a definition committed by this
    /// transaction is never in config.json untrusted because of a failed write.
    pub fn stage_trust(&mut self, name: &str, trusted: Trusted) {
        self.staged_trust.push((name.to_string(), trusted));
    }

    /// Finish the changes a crash interrupted, as [`Repo::begin`] does (for a transaction
    /// begun with [`Repo::begin_unrecovered`]; call before loading anything).
    pub fn recover(&mut self) -> Result<journal::Recovery> {
        journal::recover(&self.repo.layout, self.repo.durability)
    }

    /// Stage moving the entry `from` of `.jit/` (a relative path such as
    /// `issues/x.json`; a file of any kind, a directory) to `to`, which must not exist.
    pub fn stage_move(&mut self, from: String, to: String) {
        self.staged_files.push(Op::Move { path: from, to });
    }

    /// Stage writing `content` to the file `path` of `.jit/` (relative), a file that is not
    /// a readable issue or config.json (those are staged with [`Transaction::stage`] and
    /// [`Transaction::stage_config`]).
    pub fn stage_file(&mut self, path: String, content: String) {
        self.staged_files.push(Op::Write { path, content });
    }

    /// Forget everything staged (a dry run): a commit then writes nothing.
    pub fn discard(&mut self) {
        self.staged_files.clear();
        self.staged.clear();
        self.staged_config = None;
        self.staged_trust.clear();
    }

    /// What a commit would change now, in id order: what [`Committed::issues`] will say.
    pub fn pending(&self) -> Vec<IssueChange> {
        self.changes_of(&self.staged)
    }

    fn changes_of(&self, staged: &BTreeMap<IssueId, Staged>) -> Vec<IssueChange> {
        let mut issues = Vec::new();
        for (id, s) in staged {
            let before = self.loaded.get(id).and_then(|i| i.as_ref().map(|i| i.version));
            let (before, after) = match s {
                Staged::Write(i) => (before, Some(i.version)),
                Staged::Create(i, _) => (None, Some(i.version)),
                Staged::Delete => (before, None),
            };
            issues.push(IssueChange { id: *id, before, after });
        }
        issues
    }

    /// The issues staged to be written or created, as they will be written. Operations that
    /// scan the index (which holds only what is committed) lay these over it, so a later
    /// operation of the same transaction sees an earlier one's changes.
    pub fn staged_issues(&self) -> impl Iterator<Item = &Issue> {
        self.staged.values().filter_map(|s| match s {
            Staged::Write(i) | Staged::Create(i, _) => Some(i),
            Staged::Delete => None,
        })
    }

    /// Whether the transaction has staged a change of `id` (a write, create or delete).
    pub fn is_staged(&self, id: IssueId) -> bool {
        self.staged.contains_key(&id)
    }

    /// Every issue through the index, read under this transaction's lock (from the warm
    /// index if the repository has one: under the lock no commit can overlap the read).
    /// Issues staged in this transaction are not laid over it.
    pub fn snapshot(&self) -> Result<std::sync::Arc<Snapshot>> {
        match &self.repo.warm {
            Some(w) => w.snapshot(),
            None => index::snapshot_locked(&self.repo.layout, &self._lock).map(std::sync::Arc::new),
        }
    }

    /// Hold `store` until the commit, which records the reply of `keyed` in it.
    pub(super) fn hold_key(&mut self, store: KeyStore<'r>, keyed: Keyed) {
        self.keyed = Some((store, keyed));
    }

    /// Commit what is staged as operation `op`, then record the written issues in the index.
    /// For a transaction begun with an idempotency key, use [`Transaction::commit_reply`].
    pub fn commit(self, op: &'static str) -> Result<Committed> {
        debug_assert!(self.keyed.is_none(), "a keyed transaction commits with its reply");
        self.commit_reply(op, &())
    }

    /// [`Transaction::commit`], and then, if the transaction was begun with an idempotency
    /// key (`Repo::begin_keyed`), record `reply` as the result of the keyed request, still
    /// holding the key store (and the writers' lock), so that no retry can come between the
    /// commit and the record. A crash between the two leaves the change committed and the
    /// key unrecorded (a retry then applies the request again); a record that cannot be
    /// written is a warning, as the change has committed.
    pub fn commit_reply<R: serde::Serialize>(
        mut self,
        op: &'static str,
        reply: &R,
    ) -> Result<Committed> {
        let keyed = self.keyed.take();
        let committed = self.commit_staged(op)?;
        if let Some((store, k)) = keyed {
            let response = serde_json::to_value(reply).expect("replies serialise");
            let record = Record { op: k.op.into(), digest: k.digest, at: self.now, response };
            if let Err(e) = store.record(k.key.as_str(), record) {
                self.repo.warn(&format!(
                    "the change was made, but its idempotency key was not recorded: {e}"
                ));
            }
        }
        if committed.changed() {
            // Said with the locks released: asking git may start a process.
            let repo = self.repo;
            drop(self);
            repo.warn_if_no_merge_driver();
        }
        Ok(committed)
    }

    /// [`Transaction::commit`], keeping the writers' lock for what must follow the commit
    /// under it (`validate --fix` rebuilds the index and checks again).
    pub fn commit_keeping_lock(mut self, op: &'static str) -> Result<(Committed, RepoLock)> {
        debug_assert!(self.keyed.is_none(), "a keyed transaction commits with its reply");
        let committed = self.commit_staged(op)?;
        Ok((committed, self._lock))
    }

    /// Remove the index (see [`index::clear`]), under this transaction's lock.
    pub fn clear_index(&self) -> Result<u64> {
        index::clear(&self.repo.layout, &self._lock)
    }

    fn commit_staged(&mut self, op: &'static str) -> Result<Committed> {
        // Past the deadline: dropped, so nothing staged is written.
        self.repo.check_deadline()?;
        let mut staged = std::mem::take(&mut self.staged);
        let config = self.staged_config.take();
        let files = std::mem::take(&mut self.staged_files);
        let layout = &self.repo.layout;
        let durability = self.repo.durability;
        if !self.staged_trust.is_empty() {
            let trust = std::mem::take(&mut self.staged_trust);
            TrustStore::update(&self.repo.local, |store| store.gates.extend(trust))?;
        }
        let issues = self.changes_of(&staged);
        // Files other than issues and config always go through the journal (a move has no
        // single atomic write).
        let single_file = staged.len() + usize::from(config.is_some()) == 1
            && files.is_empty()
            && !staged.values().any(|s| matches!(s, Staged::Delete));
        if single_file {
            match (staged.iter_mut().next(), &config) {
                (Some((id, Staged::Create(_, Some(file)))), _) => {
                    let tmp = file.tmp.take().expect("a prepared file has its temp file");
                    atomic::install(&tmp, &layout.issue_path(*id), durability)?;
                }
                (Some((id, Staged::Write(i) | Staged::Create(i, None))), _) => {
                    atomic::write(&layout.issue_path(*id), &i.to_file_bytes(), durability)?;
                }
                (_, Some(c)) => atomic::write(&layout.config_path(), &c.to_bytes(), durability)?,
                // A lone delete is never a single-file write (it goes through the journal).
                (_, None) => {}
            }
        } else if !issues.is_empty() || config.is_some() || !files.is_empty() {
            let mut ops: Vec<Op> = staged.iter().map(|(id, s)| file_op(*id, s)).collect();
            if let Some(c) = &config {
                ops.push(Op::Write { path: "config.json".into(), content: utf8(c.to_bytes()) });
            }
            ops.extend(files.iter().cloned());
            journal::commit(layout, &ops, durability)?;
        }
        let written: Vec<&Issue> = staged
            .values()
            .filter_map(|s| match s {
                Staged::Write(i) | Staged::Create(i, _) => Some(i),
                Staged::Delete => None,
            })
            .collect();
        if !written.is_empty() {
            let _ = index::record_written(layout, &written);
            let _ = fault::reach(Step::IndexUpdated);
        }
        self.end_leases(&staged);
        let committed = Committed {
            op,
            issues,
            config: config.is_some(),
            files: files.iter().map(|op| op.path().to_string()).collect(),
            lock_wait: self.lock_wait,
            duration: self.started.elapsed(),
            command: self.repo.command.clone(),
        };
        if committed.changed() {
            self.append_event(&committed);
            let _ = fault::reach(Step::EventAppended);
        }
        Ok(committed)
    }

    /// A committed write that took a claimed issue out of in_progress (to anything but
    /// `gated`), or deleted it, ends its claim: the lease of that claim (same token) leaves
    /// local state now, in this transaction, under the writers' lock. After the commit, so a
    /// failed commit keeps the lease; a crash between the two leaves a lease that the next
    /// claim, release, renew or status drops ([`crate::storage::leases::over`]), or that expires.
    fn end_leases(&self, staged: &BTreeMap<IssueId, Staged>) {
        use crate::model::State;
        let ended: Vec<(String, u64)> = staged
            .iter()
            .filter_map(|(id, s)| {
                let before = self.loaded.get(id)?.as_ref()?;
                let claim = before.claim.as_ref()?;
                let left = match s {
                    Staged::Write(i) => !matches!(i.state, State::InProgress | State::Gated),
                    Staged::Delete => true,
                    Staged::Create(..) => false,
                };
                (before.state == State::InProgress && left).then(|| (id.to_string(), claim.token))
            })
            .collect();
        if ended.is_empty() {
            return;
        }
        let result = LeaseStore::lock(self.repo.local()).and_then(|mut locked| {
            let before = locked.store.leases.len();
            for (id, token) in &ended {
                if locked.store.leases.get(id).is_some_and(|l| l.token <= *token) {
                    locked.store.leases.remove(id);
                }
            }
            if locked.store.leases.len() == before { Ok(()) } else { locked.save() }
        });
        if let Err(e) = result {
            self.repo.warn(&format!("the change was made, but its claim's lease stays: {e}"));
        }
    }

    /// The event of a commit, appended while the lock is still held (so the log is in commit
    /// order). The change has committed by now: an append that fails costs this event only,
    /// said as a warning, and the command still succeeds.
    fn append_event(&self, c: &Committed) {
        let mut event = self.repo.new_event(c.op);
        for i in &c.issues {
            event.touch(i.id, i.before, i.after);
        }
        event.duration_ms = duration_ms(c.duration);
        event.lock_wait_ms = duration_ms(c.lock_wait);
        if let Err(e) = self.repo.append_event(&event) {
            self.repo.warn(&format!("the change was made, but its event was not logged: {e}"));
        }
    }
}

/// What every command says about a damaged journal record recovery set aside, until it is
/// settled (see [`journal::quarantined`]).
pub fn quarantine_warning(name: &str) -> String {
    format!(
        "a damaged journal record was set aside unapplied as .jit/quarantine/{name}: the \
         multi-file change it held may be half made; `jit validate` reports it until it is \
         settled"
    )
}

/// The journal operation for one staged issue file.
fn file_op(id: IssueId, s: &Staged) -> Op {
    let path = format!("issues/{}", id.file_name());
    match s {
        Staged::Write(i) | Staged::Create(i, _) => {
            Op::Write { path, content: utf8(i.to_file_bytes()) }
        }
        Staged::Delete => Op::Remove { path },
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("JSON is UTF-8")
}
