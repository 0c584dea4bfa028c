//! `issue update`: field changes of one issue, with compare-and-swap, the blocking rule and
//! the gates that guard a move. A move past unpassed gates is refused; a refused move to
//! done from in_progress leaves the issue `gated`, which is part of the outcome (committed
//! as a whole, like any other change).

use serde::{Deserialize, Serialize};

use super::{Repo, Transaction, check_labels, state_in};
use crate::api::UpdateIssue;
use crate::error::{Error, Result};
use crate::model::{Issue, IssueChanges, State};

/// What an update did (recorded whole for an idempotency key, so a retry is refused alike).
#[derive(Debug, Serialize, Deserialize)]
pub struct Updated {
    /// The issue as it is after the commit.
    pub issue: Issue,
    /// Whether the issue changed (an update already in place writes nothing).
    pub changed: bool,
    /// The move the gates refused, with `moved_to` when the issue became `gated`; the rest
    /// of the request was not applied.
    pub refused: Option<GatesRefused>,
}

/// A move the gates refused, reported as `GATES_NOT_PASSED` (see [`Error::GatesNotPassed`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GatesRefused {
    pub id: String,
    pub to: String,
    pub gates: Vec<(String, String)>,
    pub moved_to: Option<String>,
}

impl From<GatesRefused> for Error {
    fn from(r: GatesRefused) -> Error {
        Error::GatesNotPassed { id: r.id, to: r.to, gates: r.gates, moved_to: r.moved_to }
    }
}

/// The checks of an update that need no issue: the values and the labels.
pub fn check(repo: &Repo, req: &UpdateIssue) -> Result<IssueChanges> {
    let changes = req.changes.to_model();
    changes.validate()?;
    check_labels(repo.config(), &changes.add_labels)?;
    Ok(changes)
}

pub fn apply(tx: &mut Transaction, req: &UpdateIssue) -> Result<Updated> {
    let changes = check(tx.repo(), req)?;
    let id = tx.resolve(&req.id)?;
    let issue = tx.load(id)?.clone();
    if let Some(expected) = req.if_version {
        let actual = tx.version_as_read(id)?.unwrap_or(issue.version);
        if expected != actual {
            return Err(Error::VersionConflict { id: id.to_string(), expected, actual });
        }
    }
    if let Some(to) = changes.state.filter(|to| issue.state.can_move_to(*to)) {
        if to == State::InProgress && issue.state != State::InProgress {
            let deps = issue.dependencies.clone();
            crate::rules::check_unblocked(&id.to_string(), &deps, |d| state_in(tx, d))?;
        }
        let config = tx.config()?;
        if let Some(Error::GatesNotPassed { id: who, to: target, gates, .. }) =
            crate::rules::gates_refusal(&issue, to, config)
        {
            let mut moved_to = None;
            let mut now = issue.clone();
            if to == State::Done && issue.state == State::InProgress {
                now.state = State::Gated;
                moved_to = Some(State::Gated.to_string());
            }
            let before = tx.version_as_read(id)?;
            let now = tx.stage(now)?.clone();
            let refused = GatesRefused { id: who, to: target, gates, moved_to };
            let changed = before != Some(now.version);
            return Ok(Updated { issue: now, changed, refused: Some(refused) });
        }
    }
    let mut next = issue.clone();
    let changed = changes.apply(&mut next, tx.now())?;
    let issue = if changed { tx.stage(next)?.clone() } else { issue };
    Ok(Updated { issue, changed, refused: None })
}
