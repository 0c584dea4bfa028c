//! A repository and the operations on it: every command goes through here. Writes take the
//! writers' lock, roll forward any journal left by a crash, and keep the read index current.

mod deps;
mod gates;
pub mod git;
pub mod validate;

pub use gates::{GateTrust, definition_problem};

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::clock::Clock;
use crate::error::{Error, IoContext, Result};
use crate::model::{Issue, IssueChanges, IssueId, NewIssue, Prefix, State};
use crate::query::{EvalCtx, Expr};
use crate::storage::FileBytes;
use crate::storage::config::Config;
use crate::storage::index::{self, Snapshot};
use crate::storage::journal::{self, Op};
use crate::storage::local::LocalState;
use crate::storage::lock::{HolderInfo, RepoLock};
use crate::storage::{Durability, Layout, atomic};

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
    on_wait: WaitNotice,
    /// This tracker's local state (trusted gates), outside the tracked files.
    local: LocalState,
    trust_all_gates: bool,
}

/// What `init` did.
#[derive(Debug, serde::Serialize)]
pub struct InitReport {
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    pub created: bool,
    /// In an existing repository: the missing pieces `init` put back.
    pub repaired: Vec<String>,
    /// In a git work tree: the merge driver's setup (`null` outside one).
    pub git: Option<git::GitSetupReport>,
}

/// A path as JSON text even when it is not UTF-8 (serde refuses such paths outright).
fn lossy_path<S: serde::Serializer>(path: &Path, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

/// One issue a bulk change could not change.
#[derive(Debug, serde::Serialize)]
pub struct BulkFailure {
    pub id: IssueId,
    pub code: &'static str,
    pub message: String,
}

/// The outcome of a bulk update (or what it would be, with `dry_run`).
#[derive(Debug, serde::Serialize)]
pub struct BulkReport {
    pub operation: &'static str,
    pub filter: String,
    pub changes: serde_json::Value,
    pub dry_run: bool,
    pub matched: usize,
    pub modified: usize,
    /// Matched issues already in the target shape.
    pub skipped: usize,
    pub errors: Vec<BulkFailure>,
    /// The issues modified (or, with `dry_run`, that would be).
    pub issue_ids: Vec<IssueId>,
    /// Issue files that could not be read as issues, so were not matched against the filter.
    #[serde(skip)]
    pub unreadable: Vec<index::Problem>,
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

const GITIGNORE: &str = "\
# jit: local, derived or in-flight files; never commit these
/lock
/lock.info
/journal/
/index/
.tmp.*
/local/
";

/// The line of [`GITIGNORE`] that keeps local state (outside git: trusted gates) out of git.
const GITIGNORE_LOCAL: &str = "/local/";

impl Repo {
    /// Create `.jit/` in `project` (or repair missing pieces of one). Never touches issues,
    /// nor an existing config: one that does not load is refused (`ConfigInvalid`) before
    /// anything is created, as replacing it with the defaults would lose the user's settings.
    pub fn init(project: &Path) -> Result<InitReport> {
        let layout = Layout::for_new(project);
        let config = layout.config_path();
        if fs::symlink_metadata(&config).is_ok() {
            Config::load(&config)?;
        }
        // New: no `.jit/` yet, or one without a config (e.g. a directory made by hand). A
        // `.jit/` that already holds issues is being repaired, not created.
        let created = !config.exists()
            && !layout.issues_dir().read_dir().is_ok_and(|mut d| d.next().is_some());
        let mut repaired = Vec::new();
        fs::create_dir_all(layout.root()).at(layout.root())?;
        let issues = layout.issues_dir();
        if !issues.is_dir() {
            fs::create_dir_all(&issues).at(&issues)?;
            repaired.push("issues/".to_string());
        }
        if !config.exists() {
            atomic::write(&config, &Config::default().to_bytes(), Durability::Full)?;
            repaired.push("config.json".to_string());
        }
        let gi = layout.root().join(".gitignore");
        match crate::storage::read_regular(&gi).at(&gi)? {
            FileBytes::Missing => {
                atomic::write(&gi, GITIGNORE.as_bytes(), Durability::Full)?;
                repaired.push(".gitignore".to_string());
            }
            // Written by an older jit: local state would be committed. Add the line, keep the rest.
            FileBytes::Regular(mut old)
                if !String::from_utf8_lossy(&old).lines().any(|l| l.trim() == GITIGNORE_LOCAL) =>
            {
                if !old.is_empty() && !old.ends_with(b"\n") {
                    old.push(b'\n');
                }
                old.extend_from_slice(format!("{GITIGNORE_LOCAL}\n").as_bytes());
                atomic::write(&gi, &old, Durability::Full)?;
                repaired.push(".gitignore (/local/)".to_string());
            }
            _ => {}
        }
        if created {
            repaired.clear(); // all new, nothing repaired
        }
        // Outside a git work tree (or without git) there is nothing to set up, and nothing
        // to say about it: `jit git-setup` does it later.
        let git = match git::work_tree(layout.root())? {
            Some(_) => Some(git::setup(&layout)?),
            None => None,
        };
        Ok(InitReport { path: layout.root().to_path_buf(), created, repaired, git })
    }

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
            on_wait: Box::new(|_| {}),
            local: LocalState::for_layout(&layout),
            trust_all_gates: opts.trust_all_gates,
            layout,
        })
    }

    /// Called once when a write has waited long for the lock (the CLI prints who holds it).
    pub fn set_wait_notice(&mut self, f: impl Fn(Option<&HolderInfo>) + 'static) {
        self.on_wait = Box::new(f);
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

    /// Take the writers' lock and finish any change a crash interrupted.
    pub fn lock(&self) -> Result<RepoLock> {
        let lock = RepoLock::acquire(&self.layout, self.lock_timeout, &self.command, &mut |h| {
            (self.on_wait)(h)
        })?;
        journal::recover(&self.layout, self.durability)?;
        Ok(lock)
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

    /// Write one issue atomically and record it in the index. Call with the lock held.
    fn write_issue(&self, issue: &Issue) -> Result<()> {
        atomic::write(&self.layout.issue_path(issue.id), &issue.to_file_bytes(), self.durability)?;
        let _ = index::record_written(&self.layout, &[issue]);
        Ok(())
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
                Op::Remove { path } if *path == name => latest = Some(None),
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
    /// lock (see [`Repo::read_consistent`]).
    pub fn snapshot(&self) -> Result<Snapshot> {
        let (snap, changes) = self.read_consistent(|| index::snapshot(&self.layout))?;
        let mut snap = snap?;
        if let Some(changes) = changes {
            snap.overlay(&changes);
        }
        Ok(snap)
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
        let _lock = self.lock()?;
        Ok((read(), None))
    }

    fn check_labels<'a>(&self, labels: impl IntoIterator<Item = &'a String>) -> Result<()> {
        labels.into_iter().try_for_each(|l| {
            crate::model::validate_label(l)?;
            self.config.check_label_namespace(l)
        })
    }

    /// Create an issue depending on `new.dependencies` and on the issues `depends_on` names
    /// (ids or prefixes). The file is written and fsynced before the lock is taken; under
    /// the lock it is only renamed into place, after checking that every dependency exists.
    pub fn create(&self, mut new: NewIssue, depends_on: &[String]) -> Result<Issue> {
        self.check_labels(&new.labels)?;
        // Dependencies given as ids and as text (prefixes) alike; each once, in order.
        new.dependencies.extend(self.resolve_deps(depends_on)?);
        let mut seen = std::collections::HashSet::new();
        new.dependencies.retain(|d| seen.insert(*d));
        let now = self.clock.now();
        if new.state == Some(State::InProgress) {
            let deps = new.dependencies.clone();
            self.check_unblocked_deps("the new issue", &deps)?;
        }
        let mut rng = self.clock.rng();
        let ms = now.as_millisecond().max(0) as u64;
        let template = new;
        loop {
            let id = IssueId::from_parts(ms, rng.next_u128() >> 48);
            let issue = template.clone().build(id, now, self.config.default_state)?;
            let path = self.layout.issue_path(id);
            let tmp = atomic::prepare(&path, &issue.to_file_bytes(), self.durability)?;
            let lock = match self.lock() {
                Ok(l) => l,
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(e);
                }
            };
            if path.exists() {
                // Only reachable with a fixed clock and seed (tests): draw another id.
                let _ = fs::remove_file(&tmp);
                continue;
            }
            if let Some(gone) =
                issue.dependencies.iter().find(|d| !self.layout.issue_path(**d).exists())
            {
                let _ = fs::remove_file(&tmp);
                return Err(Error::Dependency {
                    code: "DEP_MISSING",
                    message: format!("cannot depend on {gone}: it was deleted meanwhile"),
                    cycle: vec![],
                });
            }
            atomic::install(&tmp, &path, self.durability)?;
            let _ = index::record_written(&self.layout, &[&issue]);
            drop(lock);
            return Ok(issue);
        }
    }

    /// Apply `changes` to one issue. Returns the issue and whether it changed (a change that
    /// is already satisfied writes nothing and keeps the version).
    pub fn update(
        &self,
        input: &str,
        changes: &IssueChanges,
        if_version: Option<u64>,
    ) -> Result<(Issue, bool)> {
        changes.validate()?;
        self.check_labels(&changes.add_labels)?;
        let id = self.resolve(input)?;
        if changes.state == Some(State::InProgress) {
            let issue = self.load(id)?;
            if issue.state.can_move_to(State::InProgress) {
                self.check_unblocked(&issue)?; // before running any precheck
            }
        }
        let if_version = self.prepare_gates(id, changes, if_version)?;
        let _lock = self.lock()?;
        let mut issue = self.load(id)?;
        if let Some(expected) = if_version {
            if expected != issue.version {
                return Err(Error::VersionConflict {
                    id: id.to_string(),
                    expected,
                    actual: issue.version,
                });
            }
        }
        if changes.state.is_some_and(|to| issue.state.can_move_to(to)) {
            if changes.state == Some(State::InProgress) {
                self.check_unblocked(&issue)?;
            }
            self.check_gates(&mut issue, changes)?;
        }
        let changed = changes.apply(&mut issue, self.clock.now())?;
        if changed {
            self.write_issue(&issue)?;
        }
        Ok((issue, changed))
    }

    /// Work may not start on a blocked issue: refuse a move to in_progress while any
    /// dependency is not done (a missing one counts as not done). Reads only its dependencies.
    fn check_unblocked(&self, issue: &Issue) -> Result<()> {
        if issue.state == State::InProgress {
            return Ok(());
        }
        self.check_unblocked_deps(&issue.id.to_string(), &issue.dependencies)
    }

    fn check_unblocked_deps(&self, what: &str, deps: &[IssueId]) -> Result<()> {
        let mut blockers = Vec::new();
        for d in deps {
            match self.load(*d) {
                Ok(dep) if dep.state == State::Done => {}
                Ok(_) | Err(Error::IssueNotFound(_)) => blockers.push(d.to_string()),
                Err(e) => return Err(e),
            }
        }
        if blockers.is_empty() {
            return Ok(());
        }
        Err(Error::Blocked { id: what.to_string(), blockers })
    }

    /// What deleting `input` would do (read-only; used to ask before deleting).
    pub fn delete_plan(&self, input: &str) -> Result<DeletePlan> {
        let issue = self.show(input)?;
        let (referrers, unreadable) = self.referrers(issue.id, None)?;
        Ok(DeletePlan { issue, referrers, unreadable })
    }

    /// The issues that depend on `id`, and the files that could not be checked.
    fn referrers(
        &self,
        id: IssueId,
        held: Option<&RepoLock>,
    ) -> Result<(Vec<IssueId>, Vec<index::Problem>)> {
        let snap = match held {
            Some(lock) => index::snapshot_locked(&self.layout, lock)?,
            None => index::snapshot(&self.layout)?,
        };
        let key = id.as_u128();
        let found =
            snap.iter().filter(|e| e.summary().dependencies.contains(&key)).map(|e| e.id).collect();
        Ok((found, snap.problems))
    }

    /// Delete an issue and, in the same journal commit, every reference to it from other
    /// issues, so no dangling reference is ever left.
    pub fn delete(&self, input: &str) -> Result<DeletePlan> {
        let id = self.resolve(input)?;
        let lock = self.lock()?;
        let issue = self.load(id)?;
        let now = self.clock.now();
        let mut ops = Vec::new();
        let mut updated = Vec::new();
        let (referrers, unreadable) = self.referrers(id, Some(&lock))?;
        for r in &referrers {
            let mut other = self.load(*r)?;
            other.dependencies.retain(|d| *d != id);
            other.bump(now)?;
            ops.push(Op::Write {
                path: format!("issues/{}", r.file_name()),
                content: String::from_utf8(other.to_file_bytes()).expect("JSON is UTF-8"),
            });
            updated.push(other);
        }
        ops.push(Op::Remove { path: format!("issues/{}", id.file_name()) });
        journal::commit(&self.layout, &ops, self.durability)?;
        let _ = index::record_written(&self.layout, &updated.iter().collect::<Vec<_>>());
        Ok(DeletePlan { issue, referrers, unreadable })
    }

    /// Apply `changes` to every issue `filter` matches, as ONE journal commit: after a crash
    /// either all of them changed or none did. Issues the change cannot apply to (a refused
    /// transition) are reported in `errors` and left alone. More matches than the config's
    /// `bulk_confirm` need `confirmed`, unless it is a dry run.
    pub fn bulk_update(
        &self,
        filter: &Expr,
        changes: &IssueChanges,
        dry_run: bool,
        confirmed: bool,
    ) -> Result<BulkReport> {
        changes.validate()?;
        self.check_labels(&changes.add_labels)?;
        let lock = self.lock()?;
        let snap = index::snapshot_locked(&self.layout, &lock)?;
        let now = self.clock.now();
        let view = self.graph_view(&snap);
        let ctx = EvalCtx::new(now, Some(&view));
        let matched: Vec<IssueId> = snap
            .iter()
            .filter(|e| filter.matches(e.id, &e.summary(), &ctx))
            .map(|e| e.id)
            .collect();
        drop(ctx);
        let unreadable = snap.problems.clone();
        drop(snap);
        if !dry_run && !confirmed && matched.len() as u64 > self.config.bulk_confirm {
            return Err(Error::BulkConfirmRequired(
                format!(
                    "the filter matches {} issues, more than bulk_confirm ({}); nothing was changed",
                    matched.len(),
                    self.config.bulk_confirm
                ),
                matched.len() as u64,
            ));
        }
        let mut report = BulkReport {
            operation: "bulk-update",
            filter: filter.to_string(),
            changes: changes.to_json(),
            dry_run,
            matched: matched.len(),
            modified: 0,
            skipped: 0,
            errors: Vec::new(),
            issue_ids: Vec::new(),
            unreadable,
        };
        let mut updated = Vec::new();
        for id in matched {
            let mut issue = self.load(id)?;
            if let Err(e) = self.bulk_state_allowed(&issue, changes.state) {
                report.errors.push(BulkFailure { id, code: e.code(), message: e.to_string() });
                continue;
            }
            match changes.apply(&mut issue, now) {
                Ok(true) => {
                    report.issue_ids.push(id);
                    updated.push(issue);
                }
                Ok(false) => report.skipped += 1,
                Err(e) => {
                    report.errors.push(BulkFailure { id, code: e.code(), message: e.to_string() })
                }
            }
        }
        report.modified = updated.len();
        if dry_run || updated.is_empty() {
            return Ok(report);
        }
        let ops: Vec<Op> = updated
            .iter()
            .map(|i| Op::Write {
                path: format!("issues/{}", i.id.file_name()),
                content: String::from_utf8(i.to_file_bytes()).expect("JSON is UTF-8"),
            })
            .collect();
        journal::commit(&self.layout, &ops, self.durability)?;
        let _ = index::record_written(&self.layout, &updated.iter().collect::<Vec<_>>());
        Ok(report)
    }

    /// May a bulk-update move `issue` to `to`? Not into `in_progress` while blocked, and not
    /// past a stage whose gates have not passed (a bulk-update runs no gates). A move the
    /// transition table refuses is left to [`IssueChanges::apply`], which reports it.
    fn bulk_state_allowed(&self, issue: &Issue, to: Option<State>) -> Result<()> {
        let Some(to) = to.filter(|to| *to != issue.state) else { return Ok(()) };
        if to == State::InProgress {
            self.check_unblocked(issue)?;
        }
        if let Some(stage) = gates::guarding_stage(to) {
            let blocking = gates::unpassed(issue, stage, &self.config);
            if issue.state.can_move_to(to) && !blocking.is_empty() {
                return Err(Error::GatesNotPassed {
                    id: issue.id.to_string(),
                    to: to.to_string(),
                    gates: blocking,
                    moved_to: None,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
