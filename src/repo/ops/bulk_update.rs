//! `issue bulk-update`: one change applied to every issue a filter matches, as one commit.
//! Issues the change cannot apply to (a refused transition, a blocked issue, unpassed gates:
//! a bulk-update runs no gates) are reported and left alone; the others still change.

use super::{Transaction, check_labels, state_in};
use crate::api::{BulkFailure, BulkReport, BulkUpdate};
use crate::error::{Error, Result};
use crate::model::{Issue, IssueId, State};
use crate::query::EvalCtx;

pub fn apply(tx: &mut Transaction, req: &BulkUpdate) -> Result<BulkReport> {
    let filter = crate::query::parse(&req.filter).map_err(Error::from)?;
    let changes = req.changes.to_model();
    changes.validate()?;
    let repo = tx.repo();
    check_labels(repo.config(), &changes.add_labels)?;
    let snap = tx.snapshot()?;
    let view = repo.graph_view(&snap);
    let ctx = EvalCtx::new(tx.now(), Some(&view));
    let matched: Vec<IssueId> =
        snap.iter().filter(|e| filter.matches(e.id, &e.summary(), &ctx)).map(|e| e.id).collect();
    drop(ctx);
    let unreadable = snap.problems.clone();
    drop(snap);
    let limit = repo.config().bulk_confirm;
    if !req.dry_run && !req.yes && matched.len() as u64 > limit {
        return Err(Error::BulkConfirmRequired(
            format!(
                "the filter matches {} issues, more than bulk_confirm ({limit}); nothing was \
                 changed",
                matched.len(),
            ),
            matched.len() as u64,
        ));
    }
    let mut report = BulkReport {
        operation: "bulk-update".into(),
        filter: filter.to_string(),
        changes: changes.to_json(),
        dry_run: req.dry_run,
        matched: matched.len(),
        modified: 0,
        skipped: 0,
        errors: Vec::new(),
        issue_ids: Vec::new(),
        unreadable,
    };
    let now = tx.now();
    for id in matched {
        let mut issue = tx.load(id)?.clone();
        if let Err(e) = allowed(tx, &issue, changes.state) {
            report.errors.push(BulkFailure { id, code: e.code().into(), message: e.to_string() });
            continue;
        }
        // Staged at once, so a version that cannot go up is this issue's error.
        match changes.apply(&mut issue, now).and_then(|changed| match changed {
            true => tx.stage(issue).map(|_| true),
            false => Ok(false),
        }) {
            Ok(true) => report.issue_ids.push(id),
            Ok(false) => report.skipped += 1,
            Err(e) => report.errors.push(BulkFailure {
                id,
                code: e.code().into(),
                message: e.to_string(),
            }),
        }
    }
    report.modified = report.issue_ids.len();
    if req.dry_run {
        tx.discard();
    }
    Ok(report)
}

/// May a bulk-update move `issue` to `to`? Not into `in_progress` while blocked, and not
/// past a stage whose gates have not passed. A move the transition table refuses is left to
/// [`crate::model::IssueChanges::apply`], which reports it.
fn allowed(tx: &mut Transaction, issue: &Issue, to: Option<State>) -> Result<()> {
    let Some(to) = to.filter(|to| *to != issue.state) else { return Ok(()) };
    if to == State::InProgress && issue.state != State::InProgress {
        let what = issue.id.to_string();
        crate::rules::check_unblocked(&what, &issue.dependencies, |d| state_in(tx, d))?;
    }
    match crate::rules::gates_refusal(issue, to, tx.config()?) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
