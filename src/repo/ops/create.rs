//! `issue create`: a new issue (version 1), depending on issues that exist.

use super::dep_add::resolve_deps;
use super::{Repo, Transaction, check_labels, state_in, state_on_disk};
use crate::api::CreateIssue;
use crate::clock::Rng;
use crate::error::{Error, Result};
use crate::model::{Issue, IssueId, NewIssue, State};
use crate::repo::tx::PreparedFile;

/// What is checked and resolved with no lock: the labels, the dependencies (each once, in
/// order) and, for an issue created in progress, that none of them blocks it.
pub fn template(repo: &Repo, req: &CreateIssue) -> Result<NewIssue> {
    check_labels(repo.config(), &req.labels)?;
    let dependencies = resolve_deps(&req.depends_on, |i| repo.resolve(i))?;
    if req.state == Some(State::InProgress) {
        crate::rules::check_unblocked("the new issue", &dependencies, |d| state_on_disk(repo, d))?;
    }
    Ok(new_issue(req, dependencies))
}

fn new_issue(req: &CreateIssue, dependencies: Vec<IssueId>) -> NewIssue {
    NewIssue {
        title: req.title.clone(),
        description: req.description.clone(),
        state: req.state,
        priority: req.priority,
        assignee: req.assignee.clone(),
        labels: req.labels.clone(),
        dependencies,
    }
}

/// The issue `template` builds with a new id drawn from `rng` at `repo`'s time.
pub fn build(repo: &Repo, template: &NewIssue, rng: &mut Rng) -> Result<Issue> {
    let now = repo.clock().now();
    let ms = now.as_millisecond().max(0) as u64;
    let id = IssueId::from_parts(ms, rng.next_u128() >> 48);
    template.clone().build(id, now, repo.config().default_state)
}

/// Create the issue `req` describes; its dependencies may name issues this transaction
/// created.
pub fn apply(tx: &mut Transaction, req: &CreateIssue) -> Result<Issue> {
    check_labels(tx.repo().config(), &req.labels)?;
    let dependencies = resolve_deps(&req.depends_on, |i| tx.resolve(i))?;
    if req.state == Some(State::InProgress) {
        crate::rules::check_unblocked("the new issue", &dependencies, |d| state_in(tx, d))?;
    }
    let template = new_issue(req, dependencies);
    let mut rng = tx.repo().clock().rng();
    loop {
        let issue = build(tx.repo(), &template, &mut rng)?;
        if !tx.exists(issue.id)? {
            return finish(tx, issue, None);
        }
    }
}

/// Stage `issue` (built by [`build`], its file perhaps prepared before the lock), once every
/// dependency is checked to exist still. The caller has checked that its id is free.
pub fn finish(tx: &mut Transaction, issue: Issue, file: Option<PreparedFile>) -> Result<Issue> {
    for d in &issue.dependencies {
        if !tx.exists(*d)? {
            return Err(Error::Dependency {
                refusal: crate::error::DepRefusal::Missing,
                message: format!("cannot depend on {d}: it was deleted meanwhile"),
                cycle: vec![],
            });
        }
    }
    tx.stage_create(issue.clone(), file)?;
    Ok(issue)
}
