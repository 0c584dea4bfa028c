//! `dep add`: refuses self-dependencies, missing issues and cycles (naming the whole cycle).
//! The check runs under the writers' lock, so two processes adding A→B and B→A at once can
//! never both succeed.

use std::collections::HashMap;

use super::Transaction;
use crate::api::DepEdit;
use crate::error::{Error, Result};
use crate::graph;
use crate::model::{Issue, IssueId};
use crate::storage::index;

/// What a dependency edit did: the issue after it and the dependencies added (or removed).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct DepsChanged {
    pub issue: Issue,
    pub changed: Vec<IssueId>,
}

/// Resolve dependency arguments with `resolve`, each once, in order, refusing a missing
/// issue with `DEP_MISSING`.
pub fn resolve_deps(
    inputs: &[String],
    mut resolve: impl FnMut(&str) -> Result<IssueId>,
) -> Result<Vec<IssueId>> {
    let mut ids = Vec::new();
    for input in inputs {
        let id = match resolve(input) {
            Err(Error::IssueNotFound(_)) => Err(Error::Dependency {
                refusal: crate::error::DepRefusal::Missing,
                message: format!("cannot depend on `{input}`: no such issue"),
                cycle: vec![],
            }),
            other => other,
        }?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

pub fn apply(tx: &mut Transaction, req: &DepEdit) -> Result<DepsChanged> {
    let repo = tx.repo();
    let id = tx.resolve(&req.id)?;
    let mut issue = tx.load(id)?.clone();
    let mut added = Vec::new();
    let wanted = resolve_deps(&req.deps, |i| tx.resolve(i))?;
    // The cycle check visits only what the new dependencies lead to: read through the
    // index, each visited issue checked against its own file.
    let records = index::Records::open(repo.layout())?;
    // What this transaction staged (an earlier operation of a batch) wins over the index.
    let staged: HashMap<graph::Node, Vec<graph::Node>> = tx
        .staged_issues()
        .map(|i| (i.id.as_u128(), i.dependencies.iter().map(|d| d.as_u128()).collect()))
        .collect();
    for dep in wanted {
        if dep == id {
            return Err(Error::Dependency {
                refusal: crate::error::DepRefusal::OnItself,
                message: format!("issue {id} cannot depend on itself"),
                cycle: vec![],
            });
        }
        if issue.dependencies.contains(&dep) {
            continue;
        }
        let own = issue.dependencies.iter().map(|d| d.as_u128()).collect::<Vec<_>>();
        let deps_of = |n: graph::Node| {
            if n == id.as_u128() {
                own.clone()
            } else if let Some(d) = staged.get(&n) {
                d.clone()
            } else {
                records.deps(n).unwrap_or_default()
            }
        };
        if let Some(cycle) = graph::cycle_if_added(id.as_u128(), dep.as_u128(), deps_of) {
            let names: Vec<String> =
                cycle.iter().map(|n| IssueId::from_u128(*n).to_string()).collect();
            return Err(Error::Dependency {
                refusal: crate::error::DepRefusal::Cycle,
                message: format!(
                    "{id} cannot depend on {dep}: that closes the cycle {}",
                    names.join(" → ")
                ),
                cycle: names,
            });
        }
        issue.dependencies.push(dep);
        added.push(dep);
    }
    let issue = tx.stage(issue)?.clone();
    Ok(DepsChanged { issue, changed: added })
}
