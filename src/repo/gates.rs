//! Gates: the registry in config.json, gates on issues, manual decisions, automated runs, and
//! the check that guards moves to in_progress (prechecks) and to done (postchecks).
//!
//! An automated gate runs with no lock held; its result is recorded afterwards in a
//! transaction (`ops::gate_record`). The writes themselves are operations of `ops/`.

use super::ops::gate_record::{GateResult, GatesRun, RecordGates};
use super::ops::{self, unknown_gate};
use super::{IdempotencyKey, Repo, api};
use crate::error::{Error, GateRefusal, Result};
use crate::graph::runner;
use crate::model::validate_gate_name;
use crate::model::{GateDef, GateStatus, Issue, IssueChanges, IssueId, Mode, suggest};
use crate::rules::{guarding_stage, unpassed};
use crate::storage::config::Config;
use crate::storage::index;
use crate::storage::trust::{TrustStore, Trusted};

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

pub(super) fn invalid_gate(name: &str, problem: &str) -> Error {
    Error::Gate {
        refusal: GateRefusal::Invalid,
        message: fix_hint(name, problem),
        suggestion: None,
    }
}

impl Repo {
    fn reload_config(&self) -> Result<Config> {
        Config::load(&self.layout.config_path())
    }

    /// Add (or, with `replace`, redefine) a gate in the registry.
    pub fn gate_define(&self, req: &api::GateDefine) -> Result<GateDef> {
        let mut tx = self.begin()?;
        let def = ops::gate_define::apply(&mut tx, req)?;
        tx.commit("gate_define")?;
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

    /// Remove a gate from the registry (with `force`, detaching it from every issue).
    pub fn gate_remove(&self, req: &api::GateRemove) -> Result<api::GateRemoved> {
        let mut tx = self.begin()?;
        let done = ops::gate_remove::apply(&mut tx, req)?;
        tx.commit("gate_remove")?;
        Ok(done)
    }

    /// `gate add`: attach registry gates to an issue (pending). Already attached ones are
    /// left as they are.
    pub fn gate_add(&self, req: &api::GateAttach, key: Option<&IdempotencyKey>) -> Result<Issue> {
        let keyed = self.keyed(key, "gate_add", req);
        self.write(keyed.as_ref(), "gate_add", |tx| ops::gate_add::apply(tx, req))
    }

    /// `gate rm`: detach gates from an issue.
    pub fn gate_rm(&self, req: &api::GateAttach, key: Option<&IdempotencyKey>) -> Result<Issue> {
        let keyed = self.keyed(key, "gate_rm", req);
        self.write(keyed.as_ref(), "gate_rm", |tx| ops::gate_rm::apply(tx, req))
    }

    /// `gate pass|fail`: record a manual decision on a gate.
    pub fn gate_decide(
        &self,
        req: &api::GateDecide,
        key: Option<&IdempotencyKey>,
    ) -> Result<Issue> {
        let op = if req.status == GateStatus::Passed { "gate_pass" } else { "gate_fail" };
        let keyed = self.keyed(key, op, req);
        self.write(keyed.as_ref(), op, |tx| ops::gate_decide::apply(tx, req))
    }

    /// Run automated gates of an issue (all attached auto gates, or the named ones) with no
    /// lock held, then record the results.
    pub fn gate_run(&self, input: &str, names: &[String]) -> Result<GatesRun> {
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
        let results = self.run_gates(&issue, &config, &chosen)?;
        if results.is_empty() {
            return Ok(GatesRun { id, version: issue.version, results: Vec::new() });
        }
        let mut tx = self.begin()?;
        let results =
            ops::gate_record::apply(&mut tx, RecordGates { id, results, if_version: None })?;
        let version = tx.load(id)?.version;
        tx.commit("gate_run")?;
        Ok(GatesRun { id, version, results })
    }

    /// Run `gates` of `issue` with no lock, after checking that every one that can run is
    /// trusted. A definition that cannot run is not run: it is recorded as failed.
    fn run_gates(
        &self,
        issue: &Issue,
        config: &Config,
        gates: &[String],
    ) -> Result<Vec<GateResult>> {
        self.check_trusted(config, gates)?;
        let mut results = Vec::new();
        for name in gates {
            let def = &config.gates[name];
            let run = match definition_problem(name, def) {
                Some(p) => runner::RunResult {
                    status: GateStatus::Failed,
                    exit_code: None,
                    duration_ms: 0,
                    timed_out: false,
                    output: format!("not run: {}", fix_hint(name, &p)),
                },
                None => runner::run(
                    def,
                    name,
                    &issue.id.to_string(),
                    self.layout.project(),
                    self.command_env.as_deref(),
                ),
            };
            let before = issue.gates.get(name).cloned();
            results.push(GateResult { gate: name.clone(), before, run });
        }
        Ok(results)
    }

    /// Before a move to in_progress or done: run the automated gates of the guarding stage
    /// that are not passed yet (no lock held). `None` when there is nothing to run; the
    /// caller records the results in the transaction that makes (or refuses) the move.
    pub(super) fn guarding_auto_gates(
        &self,
        id: IssueId,
        changes: &IssueChanges,
    ) -> Result<Option<Vec<GateResult>>> {
        let Some(to) = changes.state else { return Ok(None) };
        let Some(stage) = guarding_stage(to) else { return Ok(None) };
        let issue = self.load(id)?;
        if issue.state == to || !issue.state.can_move_to(to) {
            return Ok(None); // nothing to run: no move, or a move refused anyway
        }
        let config = self.reload_config()?;
        let auto: Vec<String> = unpassed(&issue, stage, &config)
            .into_iter()
            .map(|(n, _)| n)
            .filter(|n| config.gates.get(n).is_some_and(|d| d.mode == Mode::Auto))
            .collect();
        if auto.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.run_gates(&issue, &config, &auto)?))
    }
}

fn not_auto(name: &str, what_instead: &str) -> Error {
    Error::Gate {
        refusal: GateRefusal::NotAuto,
        message: format!("gate `{name}` is manual: {what_instead}"),
        suggestion: None,
    }
}

pub(super) fn not_attached(issue: &Issue, name: &str) -> Error {
    Error::Gate {
        refusal: GateRefusal::NotAttached,
        message: format!("issue {} has no gate `{name}`", issue.id),
        suggestion: suggest(name, issue.gates.keys().map(String::as_str)),
    }
}
