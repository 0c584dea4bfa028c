//! `gate pass` and `gate fail`: record a manual decision on a gate of an issue.

use super::Transaction;
use crate::api::GateDecide;
use crate::error::{Error, Result};
use crate::model::{GateRun, Issue, validate_assignee};
use crate::repo::gates::not_attached;

pub fn apply(tx: &mut Transaction, req: &GateDecide) -> Result<Issue> {
    if let Some(who) = &req.by {
        // `by` names someone, as an assignee does, and is shown on one line of history.
        validate_assignee(who).map_err(|_| {
            Error::InvalidArgument(format!(
                "invalid `by` name {who:?}: 1 to 128 bytes without spaces or control \
                 characters, like an assignee"
            ))
        })?;
    }
    let id = tx.resolve(&req.id)?;
    let now = tx.now();
    let mut issue = tx.load(id)?.clone();
    let Some(gate) = issue.gates.get_mut(&req.gate) else {
        return Err(not_attached(&issue, &req.gate));
    };
    gate.record(GateRun {
        status: req.status,
        at: now,
        by: req.by.clone(),
        note: req.note.clone(),
        exit_code: None,
        duration_ms: None,
        timed_out: false,
        output: None,
        extra: Default::default(),
    });
    Ok(tx.stage(issue)?.clone())
}
