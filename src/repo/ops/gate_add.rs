//! `gate add`: attach registry gates to an issue (pending). Attached ones stay as they are.

use super::{Transaction, unknown_gate};
use crate::api::GateAttach;
use crate::error::Result;
use crate::model::{Gate, Issue};
use crate::repo::definition_problem;
use crate::repo::gates::invalid_gate;

pub fn apply(tx: &mut Transaction, req: &GateAttach) -> Result<Issue> {
    let id = tx.resolve(&req.id)?;
    let config = tx.config()?;
    if let Some(bad) = req.gates.iter().find(|n| !config.gates.contains_key(*n)) {
        return Err(unknown_gate(bad, config));
    }
    for n in &req.gates {
        if let Some(p) = definition_problem(n, &config.gates[n]) {
            return Err(invalid_gate(n, &p));
        }
    }
    let mut issue = tx.load(id)?.clone();
    for n in &req.gates {
        issue.gates.entry(n.clone()).or_insert_with(Gate::pending);
    }
    Ok(tx.stage(issue)?.clone())
}
