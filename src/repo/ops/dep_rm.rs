//! `dep rm`: a full id that no longer names an issue can still be removed (to clean up after
//! a hand edit).

use super::Transaction;
use super::dep_add::DepsChanged;
use crate::api::DepEdit;
use crate::error::{Error, Result};
use crate::model::IssueId;

pub fn apply(tx: &mut Transaction, req: &DepEdit) -> Result<DepsChanged> {
    let id = tx.resolve(&req.id)?;
    let mut issue = tx.load(id)?.clone();
    let mut removed = Vec::new();
    for d in &req.deps {
        let dep = match tx.resolve(d) {
            Ok(x) => x,
            Err(Error::IssueNotFound(_)) => match d.to_ascii_lowercase().parse::<IssueId>() {
                Ok(x) => x,
                Err(_) => return Err(Error::IssueNotFound(d.clone())),
            },
            Err(e) => return Err(e),
        };
        if issue.dependencies.contains(&dep) {
            issue.dependencies.retain(|x| *x != dep);
            removed.push(dep);
        }
    }
    let issue = tx.stage(issue)?.clone();
    Ok(DepsChanged { issue, changed: removed })
}
