//! Gates: the registry in config.json, gates on issues, manual decisions, automated runs, and
//! the check that guards moves to in_progress (prechecks) and to done (postchecks).
//!
//! An automated gate runs with no lock held; its result is recorded afterwards under the
//! lock, and only if that gate's record did not change meanwhile (a version check on the
//! gate, so unrelated edits of the issue do not throw a finished run away).

use super::Repo;
use crate::error::{Error, Result, exit};
use crate::graph::runner;
use crate::model::{
    Gate, GateDef, GateRun, GateStatus, Issue, IssueChanges, Mode, Stage, State, suggest,
    validate_assignee, validate_gate_name,
};
use crate::storage::config::Config;
use crate::storage::journal::{self, Op};
use crate::storage::trust::{TrustStore, Trusted};
use crate::storage::{atomic, index};

/// Whether one auto gate may run on this machine, for `gate trust|untrust|list`.
#[derive(Debug, serde::Serialize)]
pub struct GateTrust {
    pub name: String,
    /// The digest of the definition as it is now ([`GateDef::digest`]).
    pub sha256: String,
    /// Trusted now (after the command).
    pub trusted: bool,
    /// Whether this command changed that.
    pub changed: bool,
}

/// What stops the gate `name` from ever running: a name `gate define` would refuse, or a
/// definition that cannot run ([`GateDef::problem`]). One bad definition in config.json
/// fails only the commands that would use it, and `gate list` names it.
pub fn definition_problem(name: &str, def: &GateDef) -> Option<String> {
    if validate_gate_name(name).is_err() {
        return Some(
            "the name is not a-z, 0-9, `_` and `-`, starting with a letter or digit".into(),
        );
    }
    def.problem()
}

/// `problem`, and how to fix the definition.
fn fix_hint(name: &str, problem: &str) -> String {
    format!(
        "gate `{name}` cannot run: {problem}; fix it in .jit/config.json or redefine it with \
         `jit gate define --replace`"
    )
}

fn invalid_gate(name: &str, problem: &str) -> Error {
    Error::Gate {
        code: "GATE_INVALID",
        exit: exit::USER,
        message: fix_hint(name, problem),
        suggestion: None,
    }
}

/// The result of running one automated gate.
#[derive(Debug, serde::Serialize)]
pub struct GateOutcome {
    pub gate: String,
    pub status: GateStatus,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub timed_out: bool,
    /// False when the gate's record changed while the command ran; the result was dropped.
    pub recorded: bool,
    pub output: String,
}

/// The stage whose gates guard a move to `to`, if any.
pub fn guarding_stage(to: State) -> Option<Stage> {
    match to {
        State::InProgress => Some(Stage::Precheck),
        State::Done => Some(Stage::Postcheck),
        _ => None,
    }
}

/// Gates of `stage` on `issue` that are not passed, with their status. A gate missing from
/// the registry guards both stages (it cannot be shown to be harmless).
pub fn unpassed(issue: &Issue, stage: Stage, registry: &Config) -> Vec<(String, String)> {
    issue
        .gates
        .iter()
        .filter(|(name, g)| {
            g.status != GateStatus::Passed
                && registry.gates.get(*name).is_none_or(|d| d.stage == stage)
        })
        .map(|(name, g)| (name.clone(), g.status.to_string()))
        .collect()
}

fn unknown_gate(name: &str, config: &Config) -> Error {
    Error::Gate {
        code: "GATE_UNKNOWN",
        exit: exit::NOT_FOUND,
        message: format!("no gate named `{name}` in the registry"),
        suggestion: suggest(name, config.gates.keys().map(String::as_str)),
    }
}

impl Repo {
    fn reload_config(&self) -> Result<Config> {
        Config::load(&self.layout.config_path())
    }

    fn write_config(&self, config: &Config) -> Result<()> {
        atomic::write(&self.layout.config_path(), &config.to_bytes(), self.durability)
    }

    /// Add (or, with `replace`, redefine) a gate in the registry.
    pub fn gate_define(&self, name: &str, def: GateDef, replace: bool) -> Result<GateDef> {
        validate_gate_name(name)?;
        match (def.mode, def.command.is_empty()) {
            (Mode::Auto, true) => {
                return Err(Error::InvalidArgument(
                    "an auto gate needs a command: `jit gate define NAME --mode auto -- CMD ARG...`"
                        .into(),
                ));
            }
            (Mode::Manual, false) => {
                return Err(Error::InvalidArgument("a manual gate takes no command".into()));
            }
            _ => {}
        }
        let _lock = self.lock()?;
        let mut config = self.reload_config()?;
        if config.gates.contains_key(name) && !replace {
            return Err(Error::Gate {
                code: "GATE_EXISTS",
                exit: exit::CONFLICT,
                message: format!("a gate named `{name}` is already defined"),
                suggestion: None,
            });
        }
        if def.mode == Mode::Auto {
            // Defined here, by the person at this machine: trusted as it is written. First,
            // so a definition is never in config.json untrusted because of a failed write.
            self.trust_store_update(|store| {
                store.gates.insert(name.to_string(), self.trusted_now(name, &def));
            })?;
        }
        config.gates.insert(name.to_string(), def.clone());
        self.write_config(&config)?;
        Ok(def)
    }

    fn trusted_now(&self, name: &str, def: &GateDef) -> Trusted {
        Trusted { sha256: def.digest(name), trusted_at: self.clock.now() }
    }

    fn trust_store_update<T>(&self, f: impl FnOnce(&mut TrustStore) -> T) -> Result<T> {
        TrustStore::update(&self.local, f)
    }

    /// The trusted definitions recorded on this machine.
    pub fn trust_store(&self) -> Result<TrustStore> {
        TrustStore::load(&self.local)
    }

    /// Is `name`'s definition allowed to run here (trusted, or `JIT_TRUST_ALL_GATES`)?
    pub fn is_trusted(&self, store: &TrustStore, name: &str, def: &GateDef) -> bool {
        self.trust_all_gates || store.trusts(name, def)
    }

    /// The auto gates of the registry that would run if needed: valid and trusted. What
    /// readiness counts on (an auto precheck of this set runs when the issue starts).
    pub fn runnable_auto_gates(
        &self,
        config: &Config,
    ) -> Result<std::collections::BTreeSet<String>> {
        let store = self.trust_store()?;
        Ok(config
            .gates
            .iter()
            .filter(|(n, d)| {
                d.mode == Mode::Auto
                    && definition_problem(n, d).is_none()
                    && self.is_trusted(&store, n, d)
            })
            .map(|(n, _)| n.clone())
            .collect())
    }

    /// Readiness and graph facts over `snap`, with this machine's runnable auto gates. An
    /// unreadable trust file counts as trusting nothing here (a run names the damage).
    pub fn graph_view<'a>(&'a self, snap: &'a index::Snapshot) -> crate::graph::GraphView<'a> {
        crate::graph::GraphView {
            snap,
            gates: &self.config().gates,
            runnable: self.runnable_auto_gates(self.config()).unwrap_or_default(),
        }
    }

    /// The one check before any auto gate runs: every gate of `names` that could run is
    /// trusted. Nothing has been run or written when it refuses. (A definition that cannot
    /// run needs no trust: it is never run, only recorded as failed.)
    fn check_trusted(&self, config: &Config, names: &[String]) -> Result<()> {
        let store = self.trust_store()?;
        let untrusted: Vec<String> = names
            .iter()
            .filter(|n| {
                let def = &config.gates[*n];
                definition_problem(n, def).is_none() && !self.is_trusted(&store, n, def)
            })
            .cloned()
            .collect();
        if untrusted.is_empty() { Ok(()) } else { Err(Error::GateUntrusted { gates: untrusted }) }
    }

    /// Trust the named auto gates (or, with `all`, every valid auto gate) as they are defined
    /// now. With neither, changes nothing and returns the auto gates not trusted.
    pub fn gate_trust(&self, names: &[String], all: bool) -> Result<Vec<GateTrust>> {
        let config = self.reload_config()?;
        let chosen = self.auto_gates_named(&config, names, all)?;
        if names.is_empty() && !all {
            let store = self.trust_store()?;
            return Ok(chosen
                .into_iter()
                .filter(|n| !store.trusts(n, &config.gates[n]))
                .map(|n| GateTrust {
                    sha256: config.gates[&n].digest(&n),
                    name: n,
                    trusted: false,
                    changed: false,
                })
                .collect());
        }
        self.trust_store_update(|store| {
            chosen
                .into_iter()
                .map(|n| {
                    let def = &config.gates[&n];
                    let changed = !store.trusts(&n, def);
                    if changed {
                        store.gates.insert(n.clone(), self.trusted_now(&n, def));
                    }
                    GateTrust { sha256: def.digest(&n), name: n, trusted: true, changed }
                })
                .collect()
        })
    }

    /// Forget the trust of the named gates (registry gates or names only in the trust file).
    pub fn gate_untrust(&self, names: &[String]) -> Result<Vec<GateTrust>> {
        let config = self.reload_config()?;
        let store = self.trust_store()?;
        if let Some(bad) =
            names.iter().find(|n| !config.gates.contains_key(*n) && !store.gates.contains_key(*n))
        {
            return Err(unknown_gate(bad, &config));
        }
        self.trust_store_update(|store| {
            names
                .iter()
                .map(|n| GateTrust {
                    name: n.clone(),
                    sha256: config.gates.get(n).map(|d| d.digest(n)).unwrap_or_default(),
                    trusted: false,
                    changed: store.gates.remove(n).is_some(),
                })
                .collect()
        })
    }

    /// The auto gates `gate trust` acts on: the named ones (each must be a valid auto gate),
    /// or every valid auto gate when none is named.
    fn auto_gates_named(
        &self,
        config: &Config,
        names: &[String],
        all: bool,
    ) -> Result<Vec<String>> {
        if names.is_empty() || all {
            return Ok(config
                .gates
                .iter()
                .filter(|(n, d)| d.mode == Mode::Auto && definition_problem(n, d).is_none())
                .map(|(n, _)| n.clone())
                .collect());
        }
        for n in names {
            let def = config.gates.get(n).ok_or_else(|| unknown_gate(n, config))?;
            if let Some(p) = definition_problem(n, def) {
                return Err(invalid_gate(n, &p));
            }
            if def.mode != Mode::Auto {
                return Err(not_auto(n, "it runs nothing, so there is nothing to trust"));
            }
        }
        let mut v = names.to_vec();
        v.sort();
        v.dedup();
        Ok(v)
    }

    /// The registry as it is on disk now.
    pub fn gate_registry(&self) -> Result<Config> {
        self.reload_config()
    }

    /// Remove a gate from the registry. If issues carry it, refuse unless `force`, which also
    /// detaches it from them, in the same journal commit.
    pub fn gate_remove(&self, name: &str, force: bool) -> Result<Vec<crate::model::IssueId>> {
        let lock = self.lock()?;
        let mut config = self.reload_config()?;
        if config.gates.remove(name).is_none() {
            return Err(unknown_gate(name, &config));
        }
        let snap = index::snapshot_locked(&self.layout, &lock)?;
        let users: Vec<_> = snap
            .iter()
            .filter(|e| e.summary().gates.iter().any(|(g, _)| *g == name))
            .map(|e| e.id)
            .collect();
        drop(snap);
        if !users.is_empty() && !force {
            return Err(Error::Gate {
                code: "GATE_IN_USE",
                exit: exit::CONFLICT,
                message: format!(
                    "{} issue(s) carry gate `{name}`; --force detaches it from them",
                    users.len()
                ),
                suggestion: None,
            });
        }
        let now = self.clock.now();
        let mut ops = Vec::new();
        let mut updated = Vec::new();
        for id in &users {
            let mut issue = self.load(*id)?;
            issue.gates.remove(name);
            issue.bump(now)?;
            ops.push(issue_op(&issue));
            updated.push(issue);
        }
        ops.push(Op::Write {
            path: "config.json".into(),
            content: String::from_utf8(config.to_bytes()).expect("JSON is UTF-8"),
        });
        journal::commit(&self.layout, &ops, self.durability)?;
        let _ = index::record_written(&self.layout, &updated.iter().collect::<Vec<_>>());
        Ok(users)
    }

    /// Attach registry gates to an issue (pending). Already attached ones are left as they are.
    pub fn gate_add(&self, input: &str, names: &[String]) -> Result<Issue> {
        let id = self.resolve(input)?;
        let _lock = self.lock()?;
        let config = self.reload_config()?;
        if let Some(bad) = names.iter().find(|n| !config.gates.contains_key(*n)) {
            return Err(unknown_gate(bad, &config));
        }
        for n in names {
            if let Some(p) = definition_problem(n, &config.gates[n]) {
                return Err(invalid_gate(n, &p));
            }
        }
        let mut issue = self.load(id)?;
        let before = issue.gates.len();
        for n in names {
            issue.gates.entry(n.clone()).or_insert_with(Gate::pending);
        }
        if issue.gates.len() != before {
            self.bump_and_write(&mut issue)?;
        }
        Ok(issue)
    }

    /// Detach gates from an issue (registry gates or not, so stale ones can be cleaned up).
    /// A name that is neither attached nor in the registry is a typo: refused, nothing changes.
    pub fn gate_rm(&self, input: &str, names: &[String]) -> Result<Issue> {
        let id = self.resolve(input)?;
        let _lock = self.lock()?;
        let config = self.reload_config()?;
        let mut issue = self.load(id)?;
        if let Some(bad) =
            names.iter().find(|n| !issue.gates.contains_key(*n) && !config.gates.contains_key(*n))
        {
            let known = config.gates.keys().chain(issue.gates.keys()).map(String::as_str);
            return Err(Error::Gate {
                code: "GATE_UNKNOWN",
                exit: exit::NOT_FOUND,
                message: format!("no gate named `{bad}` in the registry or on issue {id}"),
                suggestion: suggest(bad, known),
            });
        }
        let before = issue.gates.len();
        issue.gates.retain(|k, _| !names.contains(k));
        if issue.gates.len() != before {
            self.bump_and_write(&mut issue)?;
        }
        Ok(issue)
    }

    /// Record a manual decision on a gate.
    pub fn gate_decide(
        &self,
        input: &str,
        name: &str,
        status: GateStatus,
        by: Option<String>,
        note: Option<String>,
    ) -> Result<Issue> {
        if let Some(who) = &by {
            // `by` names someone, as an assignee does, and is shown on one line of history.
            validate_assignee(who).map_err(|_| {
                Error::InvalidArgument(format!(
                    "invalid `by` name {who:?}: 1 to 128 bytes without spaces or control \
                     characters, like an assignee"
                ))
            })?;
        }
        let id = self.resolve(input)?;
        let _lock = self.lock()?;
        let mut issue = self.load(id)?;
        let now = self.clock.now();
        if !issue.gates.contains_key(name) {
            return Err(not_attached(&issue, name));
        }
        let gate = issue.gates.get_mut(name).expect("checked above");
        gate.record(GateRun {
            status,
            at: now,
            by,
            note,
            exit_code: None,
            duration_ms: None,
            timed_out: false,
            output: None,
            extra: Default::default(),
        });
        self.bump_and_write(&mut issue)?;
        Ok(issue)
    }

    /// Run automated gates of an issue (all attached auto gates, or the named ones) with no
    /// lock held, then record the results.
    pub fn gate_run(&self, input: &str, names: &[String]) -> Result<(Issue, Vec<GateOutcome>)> {
        let id = self.resolve(input)?;
        let issue = self.load(id)?;
        let config = self.reload_config()?;
        let mut chosen = Vec::new();
        if names.is_empty() {
            for n in issue.gates.keys() {
                if config.gates.get(n).is_some_and(|d| d.mode == Mode::Auto) {
                    chosen.push(n.clone());
                }
            }
        } else {
            for n in names {
                let def = config.gates.get(n).ok_or_else(|| unknown_gate(n, &config))?;
                if !issue.gates.contains_key(n) {
                    return Err(not_attached(&issue, n));
                }
                if def.mode != Mode::Auto {
                    return Err(not_auto(n, "use `jit gate pass|fail`"));
                }
                chosen.push(n.clone());
            }
        }
        self.run_and_record(issue, &config, &chosen, None)
    }

    /// Run `gates` with no lock, then record under the lock. With `expect_version`, the issue
    /// must still be at that version when the results are recorded (compare-and-swap).
    fn run_and_record(
        &self,
        issue: Issue,
        config: &Config,
        gates: &[String],
        expect_version: Option<u64>,
    ) -> Result<(Issue, Vec<GateOutcome>)> {
        self.check_trusted(config, gates)?;
        let mut results = Vec::new();
        for name in gates {
            let def = &config.gates[name];
            let r = match definition_problem(name, def) {
                Some(p) => runner::RunResult {
                    status: GateStatus::Failed,
                    exit_code: None,
                    duration_ms: 0,
                    timed_out: false,
                    output: format!("not run: {}", fix_hint(name, &p)),
                },
                None => runner::run(def, name, &issue.id.to_string(), self.layout.project()),
            };
            results.push((name.clone(), issue.gates.get(name).cloned(), r));
        }
        if results.is_empty() {
            return Ok((issue, Vec::new()));
        }
        let _lock = self.lock()?;
        let mut current = self.load(issue.id)?;
        if let Some(expected) = expect_version {
            if current.version != expected {
                return Err(Error::VersionConflict {
                    id: current.id.to_string(),
                    expected,
                    actual: current.version,
                });
            }
        }
        let now = self.clock.now();
        let mut outcomes = Vec::new();
        let mut changed = false;
        for (name, before, r) in results {
            let recorded = match current.gates.get_mut(&name) {
                Some(g) if Some(&*g) == before.as_ref() => {
                    g.record(GateRun {
                        status: r.status,
                        at: now,
                        by: Some("jit".into()),
                        note: None,
                        exit_code: r.exit_code,
                        duration_ms: Some(r.duration_ms),
                        timed_out: r.timed_out,
                        output: Some(r.output.clone()),
                        extra: Default::default(),
                    });
                    changed = true;
                    true
                }
                _ => false,
            };
            outcomes.push(GateOutcome {
                gate: name,
                status: r.status,
                exit_code: r.exit_code,
                duration_ms: r.duration_ms,
                timed_out: r.timed_out,
                recorded,
                output: r.output,
            });
        }
        if changed {
            self.bump_and_write(&mut current)?;
        }
        Ok((current, outcomes))
    }

    /// Before a move to in_progress or done: run the automated gates of the guarding stage
    /// that are not passed yet (no lock held). The caller then re-checks under the lock.
    /// Returns the version the caller must now expect, when it expected one.
    pub(super) fn prepare_gates(
        &self,
        id: crate::model::IssueId,
        changes: &IssueChanges,
        expect_version: Option<u64>,
    ) -> Result<Option<u64>> {
        let Some(stage) = changes.state.and_then(guarding_stage) else { return Ok(expect_version) };
        let issue = self.load(id)?;
        if issue.state == changes.state.expect("checked")
            || !issue.state.can_move_to(changes.state.expect("checked"))
        {
            return Ok(expect_version); // nothing to run: no move, or a move refused anyway
        }
        let config = self.reload_config()?;
        let auto: Vec<String> = unpassed(&issue, stage, &config)
            .into_iter()
            .map(|(n, _)| n)
            .filter(|n| config.gates.get(n).is_some_and(|d| d.mode == Mode::Auto))
            .collect();
        if auto.is_empty() {
            return Ok(expect_version);
        }
        let (after, _) = self.run_and_record(issue, &config, &auto, expect_version)?;
        Ok(expect_version.map(|_| after.version))
    }

    /// Under the lock: refuse a move past unpassed gates. A refused move to done from
    /// in_progress leaves the issue `gated`; that is written before the error is returned.
    pub(super) fn check_gates(&self, issue: &mut Issue, changes: &IssueChanges) -> Result<()> {
        let Some(to) = changes.state else { return Ok(()) };
        let Some(stage) = guarding_stage(to) else { return Ok(()) };
        if issue.state == to {
            return Ok(());
        }
        let config = self.reload_config()?;
        let blocking = unpassed(issue, stage, &config);
        if blocking.is_empty() {
            return Ok(());
        }
        let mut moved_to = None;
        if to == State::Done && issue.state == State::InProgress {
            issue.state = State::Gated;
            self.bump_and_write(issue)?;
            moved_to = Some(State::Gated.to_string());
        }
        Err(Error::GatesNotPassed {
            id: issue.id.to_string(),
            to: to.to_string(),
            gates: blocking,
            moved_to,
        })
    }

    fn bump_and_write(&self, issue: &mut Issue) -> Result<()> {
        issue.bump(self.clock.now())?;
        self.write_issue(issue)
    }
}

fn not_auto(name: &str, what_instead: &str) -> Error {
    Error::Gate {
        code: "GATE_NOT_AUTO",
        exit: exit::USER,
        message: format!("gate `{name}` is manual: {what_instead}"),
        suggestion: None,
    }
}

fn not_attached(issue: &Issue, name: &str) -> Error {
    Error::Gate {
        code: "GATE_NOT_ATTACHED",
        exit: exit::USER,
        message: format!("issue {} has no gate `{name}`", issue.id),
        suggestion: suggest(name, issue.gates.keys().map(String::as_str)),
    }
}

/// A journal write of one issue file.
pub(super) fn issue_op(issue: &Issue) -> Op {
    Op::Write {
        path: format!("issues/{}", issue.id.file_name()),
        content: String::from_utf8(issue.to_file_bytes()).expect("JSON is UTF-8"),
    }
}
