//! `issue delete`: the issue's file and, in the same commit, every reference to it from
//! other issues, so no dangling reference is ever left.

use super::Transaction;
use crate::api::{DeleteIssue, Deleted};
use crate::error::Result;

pub fn apply(tx: &mut Transaction, req: &DeleteIssue) -> Result<Deleted> {
    let id = tx.resolve(&req.id)?;
    let issue = tx.load(id)?.clone();
    let snap = tx.snapshot()?;
    let key = id.as_u128();
    let mut referrers: Vec<_> =
        snap.iter().filter(|e| e.summary().dependencies.contains(&key)).map(|e| e.id).collect();
    let unreadable = snap.problems.clone();
    drop(snap);
    // Issues this transaction staged (earlier entries of a batch) are not in the index yet.
    for i in tx.staged_issues() {
        if i.dependencies.contains(&id) && !referrers.contains(&i.id) {
            referrers.push(i.id);
        }
    }
    for r in &referrers {
        let mut other = tx.load(*r)?.clone();
        other.dependencies.retain(|d| *d != id);
        tx.stage(other)?;
    }
    tx.stage_delete(id)?;
    Ok(Deleted { deleted: id, title: issue.title, referrers, unreadable })
}
