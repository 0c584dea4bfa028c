//! A repository and the operations on it: every command goes through here. Every write is an
//! operation of [`ops`] applied inside one [`Transaction`] (see `tx.rs`), which takes the
//! writers' lock, rolls forward any journal left by a crash, commits, and keeps the read
//! index current. The methods here are thin: resolve what needs no lock, begin, apply,
//! commit.

pub mod batch;
pub mod claims;
mod gates;
pub mod git;
pub mod idempotent;
mod init;
pub mod metrics;
pub mod ops;
pub mod read;
pub mod remote;
pub mod supervise;
pub mod tx;
pub mod validate;

pub use crate::api::{BulkFailure, BulkReport, Deleted};
pub use gates::{GateTrust, definition_problem};
pub use idempotent::{Begun, IdempotencyKey, Keyed};
pub use init::InitReport;
pub use ops::dep_add::DepsChanged;
pub use ops::gate_record::GateOutcome;
pub use ops::update::Updated;
pub use tx::{Committed, IssueChange, Transaction};

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::api;
use crate::clock::Clock;
use crate::error::{Error, IoContext, Result};
use crate::model::{Event, Issue, IssueChanges, IssueId, NewIssue, Prefix, State};
use crate::query::Expr;
use crate::storage::FileBytes;
use crate::storage::config::Config;
use crate::storage::index::warm::WarmIndex;
use crate::storage::index::{self, Snapshot};
use crate::storage::journal::{self, Op};
use crate::storage::local::LocalState;
use crate::storage::lock::HolderInfo;
use crate::storage::{Durability, Layout, events};

/// Reads made again, when a read cannot be made consistent, before one is made under the lock.
const READ_TRIES: usize = 8;

/// How a command wants the repository opened.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// `--repo` or `JIT_DIR`: the project or its `.jit` directory. Otherwise discovered.
    pub repo: Option<PathBuf>,
    /// Where discovery starts.
    pub cwd: PathBuf,
    /// `--timeout-ms` / `JIT_LOCK_TIMEOUT_MS`; otherwise the config's value.
    pub lock_timeout_ms: Option<u64>,
    /// `JIT_DURABILITY`; otherwise the config's value.
    pub durability: Option<Durability>,
    /// What is running, for `lock.info`.
    pub command: String,
    /// `JIT_TRUST_ALL_GATES`: treat every auto gate as trusted (for CI, never the default).
    pub trust_all_gates: bool,
    /// `JIT_CEILING_DIRECTORIES`: discovery never moves up into these (absolute) directories.
    pub ceilings: Vec<PathBuf>,
    /// Who is acting, for the event log: `--actor`, `JIT_ACTOR`, else the user (validated by
    /// the caller).
    pub actor: String,
}

type WaitNotice = Box<dyn Fn(Option<&HolderInfo>)>;

/// An open repository.
pub struct Repo {
    layout: Layout,
    config: Config,
    durability: Durability,
    lock_timeout: Duration,
    clock: Clock,
    command: String,
    actor: String,
    on_wait: WaitNotice,
    /// Told what went wrong after a change committed (the event could not be appended).
    on_warning: Box<dyn Fn(&str)>,
    /// This tracker's local state (trusted gates), outside the tracked files.
    local: LocalState,
    trust_all_gates: bool,
    /// The fencing token this command's writes present (`--claim-token`), if any.
    claim_token: Option<u64>,
    /// Whether a commit has checked that git's merge driver is registered (once per command).
    driver_checked: std::cell::Cell<bool>,
    /// The warm index of a long-running process, which then answers every read of the whole
    /// set of issues (see [`Repo::set_warm`]).
    warm: Option<Arc<WarmIndex>>,
    /// Durability and lock timeout given by the caller (not the config's), kept over a reload
    /// of the config.
    durability_override: Option<Durability>,
    lock_timeout_override: Option<u64>,
    /// The deadline of the current call and its length in ms (`timeout_ms` of an MCP call):
    /// a transaction that would commit after it is abandoned (see [`Repo::set_deadline`]).
    deadline: Option<(std::time::Instant, u64)>,
    /// The environment of the commands it runs (gate commands), if not this process's.
    command_env: Option<Vec<(std::ffi::OsString, std::ffi::OsString)>>,
    /// Events made so far ([`Repo::new_event`]).
    events_made: std::cell::Cell<u64>,
}

/// What deleting an issue touches.
#[derive(Debug, serde::Serialize)]
pub struct DeletePlan {
    pub issue: Issue,
    /// Issues that depend on it; the dependency is removed from each in the same commit.
    pub referrers: Vec<IssueId>,
    /// Issue files that could not be read as issues, so were not checked for a reference.
    #[serde(skip)]
    pub unreadable: Vec<index::Problem>,
}

impl Repo {
    /// Find and open the repository.
    pub fn open(opts: &OpenOptions, clock: Clock) -> Result<Repo> {
        Self::open_inner(opts, clock, false)
    }

    /// Open the repository even if its config cannot be read (the defaults stand in for it):
    /// for `validate`, which reports the config rather than failing on it.
    pub fn open_for_check(opts: &OpenOptions, clock: Clock) -> Result<Repo> {
        Self::open_inner(opts, clock, true)
    }

    fn open_inner(opts: &OpenOptions, clock: Clock, lenient: bool) -> Result<Repo> {
        let layout = match &opts.repo {
            Some(p) => Layout::at(&opts.cwd.join(p))?,
            None => Layout::discover(&opts.cwd, &opts.ceilings)?,
        };
        let config = match Config::load(&layout.config_path()) {
            Err(_) if lenient => Config::default(),
            loaded => loaded?,
        };
        Ok(Repo {
            durability: opts.durability.unwrap_or(config.durability),
            lock_timeout: Duration::from_millis(
                opts.lock_timeout_ms.unwrap_or(config.lock_timeout_ms),
            ),
            config,
            clock,
            command: opts.command.clone(),
            actor: opts.actor.clone(),
            on_wait: Box::new(|_| {}),
            on_warning: Box::new(|_| {}),
            local: LocalState::for_layout(&layout),
            trust_all_gates: opts.trust_all_gates,
            claim_token: None,
            driver_checked: std::cell::Cell::new(false),
            warm: None,
            durability_override: opts.durability,
            lock_timeout_override: opts.lock_timeout_ms,
            deadline: None,
            command_env: None,
            events_made: std::cell::Cell::new(0),
            layout,
        })
    }

    /// Answer every read of the whole set of issues ([`Repo::snapshot`], the snapshot a
    /// transaction takes under the lock) from `warm`, which re-reads only the files that
    /// changed. For a long-running process; the guarantees are those of a cold read.
    pub fn set_warm(&mut self, warm: Arc<WarmIndex>) {
        self.warm = Some(warm);
    }

    /// From now on, every transaction checks that `timeout_ms` from now has not passed: the
    /// lock is waited for at most until then, and a transaction that gets there before it
    /// commits is dropped (`DEADLINE_EXCEEDED`), so nothing of it is written. `None` clears.
    pub fn set_deadline(&mut self, timeout_ms: Option<u64>) {
        self.deadline =
            timeout_ms.map(|ms| (std::time::Instant::now() + Duration::from_millis(ms), ms));
    }

    /// `DEADLINE_EXCEEDED` if the deadline set by [`Repo::set_deadline`] has passed.
    pub(crate) fn check_deadline(&self) -> Result<()> {
        match self.deadline {
            Some((at, timeout_ms)) if std::time::Instant::now() >= at => {
                Err(Error::DeadlineExceeded { timeout_ms })
            }
            _ => Ok(()),
        }
    }

    /// How long a writer waits for the lock: the timeout, cut short by the deadline.
    pub(crate) fn lock_wait_limit(&self) -> Duration {
        match self.deadline {
            Some((at, _)) => {
                self.lock_timeout.min(at.saturating_duration_since(std::time::Instant::now()))
            }
            None => self.lock_timeout,
        }
    }

    /// The warm index set by [`Repo::set_warm`].
    pub fn warm(&self) -> Option<&Arc<WarmIndex>> {
        self.warm.as_ref()
    }

    /// Read config.json again if the warm index saw it change (a long-running process calls
    /// this before each request). Returns whether it was read again; a config that cannot be
    /// read is an error, and the one in use is kept.
    pub fn refresh_config(&mut self) -> Result<bool> {
        let Some(warm) = &self.warm else { return Ok(false) };
        if !warm.take_config_changed() {
            return Ok(false);
        }
        let config = Config::load(&self.layout.config_path())?;
        self.durability = self.durability_override.unwrap_or(config.durability);
        self.lock_timeout =
            Duration::from_millis(self.lock_timeout_override.unwrap_or(config.lock_timeout_ms));
        self.config = config;
        Ok(true)
    }

    /// The fencing token every write of this command presents (`--claim-token`,
    /// `JIT_CLAIM_TOKEN`): the transaction refuses a write to an issue claimed again since.
    pub fn set_claim_token(&mut self, token: Option<u64>) {
        self.claim_token = token;
    }

    /// The environment gate commands get (`None`: this process's). `jit serve` sets its
    /// client's.
    pub fn set_command_env(&mut self, env: Option<Vec<(std::ffi::OsString, std::ffi::OsString)>>) {
        self.command_env = env;
    }

    /// The token set by [`Repo::set_claim_token`].
    pub fn claim_token(&self) -> Option<u64> {
        self.claim_token
    }

    /// This tracker's local state.
    pub fn local(&self) -> &crate::storage::local::LocalState {
        &self.local
    }

    /// Called once when a write has waited long for the lock (the CLI prints who holds it).
    pub fn set_wait_notice(&mut self, f: impl Fn(Option<&HolderInfo>) + 'static) {
        self.on_wait = Box::new(f);
    }

    /// Called with a message when something went wrong after a change committed, so the
    /// command still succeeds (the CLI prints it as a warning).
    pub fn set_warning_notice(&mut self, f: impl Fn(&str) + 'static) {
        self.on_warning = Box::new(f);
    }

    pub(crate) fn warn(&self, message: &str) {
        (self.on_warning)(message)
    }

    /// After a commit: warn (once per open repository) when the tracker is in a git clone
    /// that has not registered jit's merge driver, as the next merge would go wrong.
    pub(crate) fn warn_if_no_merge_driver(&self) {
        if self.driver_checked.replace(true) {
            return;
        }
        if git::driver_registered(&self.layout) == Some(false) {
            self.warn(git::DRIVER_MISSING);
        }
    }

    /// Say (as warnings) which damaged journal records are set aside and not yet settled: every
    /// command does, reads included, since each may be a half-made change.
    pub fn warn_quarantined(&self) {
        for name in journal::quarantined(&self.layout) {
            self.warn(&tx::quarantine_warning(&name));
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Who is acting (`--actor`, `JIT_ACTOR`, else the user).
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// A new event of `op` for this command: now, a fresh id, the actor and the command
    /// words. The transaction fills in the issues and the times, and appends it with
    /// [`Repo::append_event`] once the change has committed.
    pub fn new_event(&self, op: &str) -> Event {
        // `JIT_SEED` (tests) gives every `rng()` the same bits: a count of this command's
        // events keeps the ids of several events of one command (a batch) apart. It is the
        // Repo's, not the process's, so that a command served by `jit serve` makes the ids a
        // process of its own would.
        let n = self.events_made.get();
        self.events_made.set(n + 1);
        let random = self.clock.rng().next_u128() ^ u128::from(n.wrapping_mul(0x9e37_79b9));
        let mut e = Event::new(self.clock.now(), random, &self.actor, op);
        e.command = Some(self.command.clone()).filter(|c| !c.is_empty());
        e
    }

    /// Append `event` to the event log (with the repository's durability). Call with the
    /// lock held, after the change it records has committed, never before: a crash between
    /// the two loses this event, never records a change that did not happen.
    pub fn append_event(&self, event: &Event) -> Result<()> {
        events::append(&self.layout, event, self.durability)
    }

    /// Read the event log (see [`events::read`]).
    pub fn events(&self, filter: &events::Filter, limit: Option<usize>) -> Result<events::Page> {
        events::read(&self.layout, filter, limit)
    }

    /// Turn a full id or a unique prefix (4+ characters) into an id.
    pub fn resolve(&self, input: &str) -> Result<IssueId> {
        let prefix = Prefix::parse(input)?;
        if let Some(id) = prefix.as_full() {
            return match fs::symlink_metadata(self.layout.issue_path(id)) {
                Ok(_) => Ok(id),
                Err(_) => Err(Error::IssueNotFound(input.to_string())),
            };
        }
        let found = crate::storage::ids::lookup(&self.layout, &prefix)?;
        match found.len() {
            0 => Err(Error::IssueNotFound(input.to_string())),
            1 => Ok(found[0]),
            _ => Err(Error::AmbiguousId {
                prefix: input.to_string(),
                candidates: found.iter().map(|i| i.to_string()).collect(),
            }),
        }
    }

    /// Read one issue from its file (the source of truth).
    pub fn load(&self, id: IssueId) -> Result<Issue> {
        let path = self.layout.issue_path(id);
        // Only a regular file is an issue, as for listings.
        let bytes = match crate::storage::read_regular(&path).at(&path)? {
            FileBytes::Regular(b) => b,
            FileBytes::Missing => return Err(Error::IssueNotFound(id.to_string())),
            FileBytes::NotRegular => {
                let message = "not a regular file (listings skip it)".into();
                return Err(Error::Corrupt { path, message });
            }
        };
        let issue = Issue::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: path.clone(),
            message: format!("not a valid issue: {e}"),
        })?;
        if issue.id != id {
            return Err(Error::Corrupt {
                path,
                message: format!("the issue inside is {}, not {id}", issue.id),
            });
        }
        Ok(issue)
    }

    /// Resolve and read. Like [`Repo::snapshot`], never shows half of a multi-file change,
    /// and takes no lock to do so.
    pub fn show(&self, input: &str) -> Result<Issue> {
        let id = self.resolve(input)?;
        let (read, changes) = self.read_consistent(|| self.load(id))?;
        let Some(changes) = changes else { return read };
        // The last state of this issue among the changes laid over it, if any is newer.
        let mut latest: Option<Option<Issue>> = None;
        let name = format!("issues/{}", id.file_name());
        for op in changes.iter().flatten() {
            match op {
                Op::Write { path, content } if *path == name => {
                    if let Ok(i) = Issue::from_slice(content.as_bytes()) {
                        latest = Some(Some(i));
                    }
                }
                Op::Remove { path } | Op::Move { path, .. } if *path == name => latest = Some(None),
                // Renamed into this name by `validate --fix`: read where the move put it.
                Op::Move { to, .. } if *to == name => latest = self.load(id).ok().map(Some),
                _ => {}
            }
        }
        match (latest, read) {
            (None, read) => read,
            (Some(None), _) => Err(Error::IssueNotFound(input.to_string())),
            (Some(Some(new)), Ok(old)) if old.version >= new.version => Ok(old),
            (Some(Some(new)), _) => Ok(new),
        }
    }

    /// Every issue, through the index: never half of a multi-file change, whether one is
    /// being applied while this reads or was interrupted by a crash, and without taking the
    /// lock (see `Repo::read_consistent`).
    ///
    /// With a warm index ([`Repo::set_warm`]) the snapshot is shared with it (and with other
    /// requests); one with journal records laid over it is a detached copy.
    pub fn snapshot(&self) -> Result<Arc<Snapshot>> {
        let read = || match &self.warm {
            Some(w) => w.snapshot(),
            None => index::snapshot(&self.layout).map(Arc::new),
        };
        let (snap, changes) = self.read_consistent(read)?;
        let snap = snap?;
        let Some(changes) = changes else { return Ok(snap) };
        let mut own = Arc::try_unwrap(snap).unwrap_or_else(|shared| shared.detached());
        own.overlay(&changes);
        Ok(Arc::new(own))
    }

    /// Run `read` (a read of issue files) so that it can be made consistent without the lock:
    /// returns its result and, if multi-file commits overlapped it (or one is pending after a
    /// crash), their changes, which the caller lays over what it read
    /// ([`journal::changes_between`] says why that gives each commit whole). In the common
    /// case, no commit ran during the read (the commit sequence is the same even number before
    /// and after it, and no record is pending) and nothing else is read. A read is made again
    /// only when it overlapped more commits than the journal keeps the records of, or the
    /// sequence could not be read; after [`READ_TRIES`] such reads it is made under the lock.
    fn read_consistent<T>(&self, mut read: impl FnMut() -> T) -> Result<(T, Option<Vec<Vec<Op>>>)> {
        for _ in 0..READ_TRIES {
            let before = journal::commit_seq(&self.layout);
            let quiet = before.is_some_and(|s| s % 2 == 0) && !journal::pending(&self.layout);
            let got = read();
            let after = journal::commit_seq(&self.layout);
            if quiet && after == before {
                return Ok((got, None));
            }
            let (Some(before), Some(after)) = (before, after) else { continue };
            if let Some(changes) = journal::changes_between(&self.layout, before, after)? {
                return Ok((got, Some(changes)));
            }
        }
        // A transaction that commits nothing: the lock, and recovery of an interrupted change.
        let _tx = self.begin()?;
        Ok((read(), None))
    }

    /// Create an issue depending on `new.dependencies` and on the issues `depends_on` names
    /// (ids or prefixes).
    pub fn create(&self, new: NewIssue, depends_on: &[String]) -> Result<Issue> {
        let mut deps: Vec<String> = new.dependencies.iter().map(|d| d.to_string()).collect();
        deps.extend(depends_on.iter().cloned());
        let req = api::CreateIssue {
            title: new.title,
            description: new.description,
            state: new.state,
            priority: new.priority,
            assignee: new.assignee,
            labels: new.labels,
            depends_on: deps,
        };
        self.create_issue(&req, None)
    }

    /// `issue create`. The file is written and fsynced before the lock is taken; under the
    /// lock it is only renamed into place, after checking that every dependency exists.
    /// With an idempotency `key`, a retry returns the issue the first request created.
    pub fn create_issue(
        &self,
        req: &api::CreateIssue,
        key: Option<&IdempotencyKey>,
    ) -> Result<Issue> {
        let keyed = self.keyed(key, "create", req);
        if let Some(issue) = self.replayed(keyed.as_ref())? {
            return Ok(issue);
        }
        let template = ops::create::template(self, req)?;
        let mut rng = self.clock.rng();
        loop {
            let issue = ops::create::build(self, &template, &mut rng)?;
            let file = tx::PreparedFile::new(self, &issue)?;
            let mut tx = match self.begin_keyed(keyed.as_ref())? {
                Begun::Replay(issue) => return Ok(issue),
                Begun::Fresh(tx) => tx,
            };
            if tx.exists(issue.id)? {
                continue; // only reachable with a fixed clock and seed (tests): draw another id
            }
            let issue = ops::create::finish(&mut tx, issue, Some(file))?;
            tx.commit_reply("create", &issue)?;
            return Ok(issue);
        }
    }

    /// Apply `changes` to one issue. Returns the issue and whether it changed (a change that
    /// is already satisfied writes nothing and keeps the version). A move the gates refused
    /// is returned as its error (`GATES_NOT_PASSED`), after its outcome was committed (see
    /// [`Repo::update_issue`]).
    pub fn update(
        &self,
        input: &str,
        changes: &IssueChanges,
        if_version: Option<u64>,
    ) -> Result<(Issue, bool)> {
        let req =
            api::UpdateIssue { id: input.to_string(), changes: changes.clone().into(), if_version };
        let done = self.update_issue(&req, None)?;
        match done.refused {
            Some(e) => Err(e.into()),
            None => Ok((done.issue, done.changed)),
        }
    }

    /// `issue update`. A move to in_progress or done first runs, with no lock, the auto gates
    /// of the guarding stage not passed yet; then ONE transaction records their results and
    /// applies the update or refuses the move (which may leave the issue `gated`). With an
    /// idempotency `key`, a retry returns the first outcome and runs no gate.
    pub fn update_issue(
        &self,
        req: &api::UpdateIssue,
        key: Option<&IdempotencyKey>,
    ) -> Result<Updated> {
        let keyed = self.keyed(key, "update", req);
        if let Some(done) = self.replayed(keyed.as_ref())? {
            return Ok(done);
        }
        let changes = ops::update::check(self, req)?;
        let id = self.resolve(&req.id)?;
        if changes.state == Some(State::InProgress) {
            let issue = self.load(id)?;
            if issue.state.can_move_to(State::InProgress) && issue.state != State::InProgress {
                // Before running any precheck.
                let (what, deps) = (id.to_string(), &issue.dependencies);
                crate::rules::check_unblocked(&what, deps, |d| ops::state_on_disk(self, d))?;
            }
        }
        let runs = self.guarding_auto_gates(id, &changes)?;
        let req = api::UpdateIssue { id: id.to_string(), ..req.clone() };
        let mut tx = match self.begin_keyed(keyed.as_ref())? {
            Begun::Replay(done) => return Ok(done),
            Begun::Fresh(tx) => tx,
        };
        if let Some(results) = runs {
            let record = ops::gate_record::RecordGates { id, results, if_version: req.if_version };
            ops::gate_record::apply(&mut tx, record)?;
        }
        let done = ops::update::apply(&mut tx, &req)?;
        tx.commit_reply("update", &done)?;
        Ok(done)
    }

    /// What deleting `input` would do (read-only; used to ask before deleting).
    pub fn delete_plan(&self, input: &str) -> Result<DeletePlan> {
        let issue = self.show(input)?;
        let (referrers, unreadable) = self.referrers(issue.id)?;
        Ok(DeletePlan { issue, referrers, unreadable })
    }

    /// The issues that depend on `id`, and the files that could not be checked.
    fn referrers(&self, id: IssueId) -> Result<(Vec<IssueId>, Vec<index::Problem>)> {
        let snap = index::snapshot(&self.layout)?;
        let key = id.as_u128();
        let found =
            snap.iter().filter(|e| e.summary().dependencies.contains(&key)).map(|e| e.id).collect();
        Ok((found, snap.problems))
    }

    /// Delete an issue and, in the same journal commit, every reference to it from other
    /// issues, so no dangling reference is ever left.
    pub fn delete(&self, req: &api::DeleteIssue, key: Option<&IdempotencyKey>) -> Result<Deleted> {
        let keyed = self.keyed(key, "delete", req);
        if let Some(done) = self.replayed(keyed.as_ref())? {
            return Ok(done);
        }
        let req = api::DeleteIssue { id: self.resolve(&req.id)?.to_string() };
        self.write(keyed.as_ref(), "delete", |tx| ops::delete::apply(tx, &req))
    }

    /// Apply `changes` to every issue `filter` matches (see [`Repo::bulk`]).
    pub fn bulk_update(
        &self,
        filter: &Expr,
        changes: &IssueChanges,
        dry_run: bool,
        confirmed: bool,
    ) -> Result<BulkReport> {
        let req = api::BulkUpdate {
            filter: filter.to_string(),
            changes: changes.clone().into(),
            dry_run,
            yes: confirmed,
        };
        self.bulk(&req, None)
    }

    /// `issue bulk-update`, as ONE journal commit: after a crash either all of the issues
    /// changed or none did. Issues the change cannot apply to are reported in `errors` and
    /// left alone. More matches than the config's `bulk_confirm` need `yes`, unless it is a
    /// dry run. An idempotency `key` counts only for a change that commits (not a dry run).
    pub fn bulk(&self, req: &api::BulkUpdate, key: Option<&IdempotencyKey>) -> Result<BulkReport> {
        let keyed = if req.dry_run { None } else { self.keyed(key, "bulk_update", req) };
        self.write(keyed.as_ref(), "bulk_update", |tx| ops::bulk_update::apply(tx, req))
    }

    /// `dep add`: make `req.id` depend on each of `req.deps`, all or nothing. Returns the
    /// issue and the dependencies that were new.
    pub fn dep_add(&self, req: &api::DepEdit, key: Option<&IdempotencyKey>) -> Result<DepsChanged> {
        let keyed = self.keyed(key, "dep_add", req);
        self.write(keyed.as_ref(), "dep_add", |tx| ops::dep_add::apply(tx, req))
    }

    /// `doc add`: refer to a file of the project (see [`ops::doc`]).
    pub fn doc_add(&self, req: &api::DocAdd) -> Result<Issue> {
        let mut tx = self.begin()?;
        let issue = ops::doc::add(&mut tx, req)?;
        tx.commit("doc_add")?;
        Ok(issue)
    }

    /// `path` as the user typed it in `cwd`, relative to the project (see
    /// [`crate::storage::documents::normalize`]); `Err` says why it cannot be a document.
    pub fn issue_documents_path(
        &self,
        cwd: &Path,
        path: &str,
    ) -> std::result::Result<String, String> {
        crate::storage::documents::normalize(self.layout.project(), cwd, path)
    }

    /// `doc list`: the documents of one issue (in the order added), or of every issue (by
    /// id), read without a lock.
    pub fn doc_list(&self, req: &api::DocListRequest) -> Result<Vec<api::DocEntry>> {
        let issues = match &req.id {
            Some(input) => vec![self.show(input)?],
            None => {
                let snap = self.snapshot()?;
                let mut all = Vec::new();
                for e in snap.iter() {
                    let issue = e.issue()?;
                    if !issue.documents.is_empty() {
                        all.push(issue);
                    }
                }
                all
            }
        };
        Ok(issues
            .into_iter()
            .flat_map(|i| {
                let id = i.id;
                i.documents.into_iter().map(move |d| api::DocEntry {
                    id,
                    path: d.path,
                    label: d.label,
                })
            })
            .collect())
    }

    /// `doc rm`: stop referring to a file.
    pub fn doc_rm(&self, req: &api::DocRm) -> Result<Issue> {
        let mut tx = self.begin()?;
        let issue = ops::doc::rm(&mut tx, req)?;
        tx.commit("doc_rm")?;
        Ok(issue)
    }

    /// `dep rm`: remove dependencies. Returns the issue and what was removed.
    pub fn dep_rm(&self, req: &api::DepEdit, key: Option<&IdempotencyKey>) -> Result<DepsChanged> {
        let keyed = self.keyed(key, "dep_rm", req);
        self.write(keyed.as_ref(), "dep_rm", |tx| ops::dep_rm::apply(tx, req))
    }
}

#[cfg(test)]
mod tests;
