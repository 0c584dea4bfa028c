//! The rules of readiness, blocking and gate policy, written once: used by `ready`,
//! `blocked`, `is:ready`/`is:blocked` in queries, the graph, and the checks of `issue update`
//! and `issue bulk-update`. Each rule reads an issue through [`Facts`], which a full
//! [`Issue`] and an index [`Summary`] both provide, so it gives one answer on either.

use crate::error::{Error, Result};
use crate::model::{GateDef, GateStatus, Issue, IssueId, Mode, Stage, State};
use crate::storage::config::Config;
use crate::storage::index::Summary;

/// What the rules read of an issue.
pub trait Facts {
    /// Its state, if it is one this jit knows.
    fn state(&self) -> Option<State>;
    /// The issues it depends on.
    fn dependencies(&self) -> Vec<u128>;
    /// Its gates and their status, by name.
    fn gates(&self) -> Vec<(&str, &str)>;
}

impl Facts for Issue {
    fn state(&self) -> Option<State> {
        Some(self.state)
    }
    fn dependencies(&self) -> Vec<u128> {
        self.dependencies.iter().map(|d| d.as_u128()).collect()
    }
    fn gates(&self) -> Vec<(&str, &str)> {
        self.gates.iter().map(|(n, g)| (n.as_str(), g.status.as_str())).collect()
    }
}

impl Facts for Summary<'_> {
    fn state(&self) -> Option<State> {
        State::from_u8(self.state)
    }
    fn dependencies(&self) -> Vec<u128> {
        self.dependencies.clone()
    }
    fn gates(&self) -> Vec<(&str, &str)> {
        self.gates.clone()
    }
}

/// Why a precheck holds an issue back from being ready, when it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    /// Its latest result is failed (manual or auto).
    Failed,
    /// A manual precheck no one has passed yet.
    Pending,
    /// An auto precheck not run yet whose definition this machine has not trusted: starting
    /// the issue would be refused, so it is not ready here.
    Untrusted,
    /// An auto precheck not run yet whose definition cannot run (no command, timeout 0).
    Invalid,
    /// A gate missing from the registry: it cannot be shown to be harmless.
    Unknown,
}

/// The readiness rule for one gate on an issue, written once for `jit ready` and `is:ready`:
/// a postcheck or a passed gate never holds; a failed one always does; a pending manual
/// precheck does; a pending auto precheck does not when it can run here (`runnable`: valid
/// and trusted), as it runs when the issue starts.
pub fn precheck_hold(status: &str, def: Option<&GateDef>, runnable: bool) -> Option<Hold> {
    let Some(def) = def else {
        return (status != GateStatus::Passed.as_str()).then_some(Hold::Unknown);
    };
    if def.stage == Stage::Postcheck || status == GateStatus::Passed.as_str() {
        return None;
    }
    if status == GateStatus::Failed.as_str() {
        return Some(Hold::Failed);
    }
    match def.mode {
        Mode::Manual => Some(Hold::Pending),
        Mode::Auto if runnable => None,
        Mode::Auto if def.problem().is_some() => Some(Hold::Invalid),
        Mode::Auto => Some(Hold::Untrusted),
    }
}

/// Ready: state ready, every dependency done (`dep_done`), and no gate holding it
/// (`hold`, [`precheck_hold`]).
pub fn ready_by_rule(
    s: &impl Facts,
    dep_done: impl Fn(u128) -> bool,
    hold: impl Fn(&str, &str) -> Option<Hold>,
) -> bool {
    s.state() == Some(State::Ready)
        && s.dependencies().iter().all(|d| dep_done(*d))
        && s.gates().iter().all(|(name, status)| hold(name, status).is_none())
}

/// Blocked: open, with some dependency not done (`dep_done`; a missing one is not done).
pub fn is_blocked(s: &impl Facts, dep_done: impl Fn(u128) -> bool) -> bool {
    !s.state().is_some_and(State::is_closed) && !s.dependencies().iter().all(|d| dep_done(*d))
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
pub fn unpassed(issue: &impl Facts, stage: Stage, registry: &Config) -> Vec<(String, String)> {
    issue
        .gates()
        .into_iter()
        .filter(|(name, status)| {
            *status != GateStatus::Passed.as_str()
                && registry.gates.get(*name).is_none_or(|d| d.stage == stage)
        })
        .map(|(name, status)| (name.to_string(), status.to_string()))
        .collect()
}

/// Work may not start on a blocked issue: refuse (`BLOCKED`) while any of `deps` is not done
/// (`state_of` gives `None` for a missing issue, which counts as not done). `what` names the
/// issue in the error.
pub fn check_unblocked(
    what: &str,
    deps: &[IssueId],
    mut state_of: impl FnMut(IssueId) -> Result<Option<State>>,
) -> Result<()> {
    let mut blockers = Vec::new();
    for d in deps {
        if state_of(*d)? != Some(State::Done) {
            blockers.push(d.to_string());
        }
    }
    if blockers.is_empty() {
        return Ok(());
    }
    Err(Error::Blocked { id: what.to_string(), blockers })
}

/// A move of `issue` to `to` refused by its unpassed gates (`GATES_NOT_PASSED`), if it is.
/// No gate guards a move that is not one (`to` is its state) or that the transition table
/// refuses anyway.
pub fn gates_refusal(issue: &Issue, to: State, registry: &Config) -> Option<Error> {
    let stage = guarding_stage(to)?;
    if issue.state == to || !issue.state.can_move_to(to) {
        return None;
    }
    let gates = unpassed(issue, stage, registry);
    (!gates.is_empty()).then(|| Error::GatesNotPassed {
        id: issue.id.to_string(),
        to: to.to_string(),
        gates,
        moved_to: None,
    })
}

#[cfg(test)]
mod tests;
