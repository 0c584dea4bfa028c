//! `gate rm`: detach gates from an issue (registry gates or not, so stale ones can be
//! cleaned up). A name neither attached nor in the registry is a typo: refused.

use super::Transaction;
use crate::api::GateAttach;
use crate::error::{Error, GateRefusal, Result};
use crate::model::{Issue, suggest};

pub fn apply(tx: &mut Transaction, req: &GateAttach) -> Result<Issue> {
    let id = tx.resolve(&req.id)?;
    let config = tx.config()?.clone();
    let mut issue = tx.load(id)?.clone();
    let names = &req.gates;
    if let Some(bad) =
        names.iter().find(|n| !issue.gates.contains_key(*n) && !config.gates.contains_key(*n))
    {
        let known = config.gates.keys().chain(issue.gates.keys()).map(String::as_str);
        return Err(Error::Gate {
            refusal: GateRefusal::Unknown,
            message: format!("no gate named `{bad}` in the registry or on issue {id}"),
            suggestion: suggest(bad, known),
        });
    }
    issue.gates.retain(|k, _| !names.contains(k));
    Ok(tx.stage(issue)?.clone())
}
