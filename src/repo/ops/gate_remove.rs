//! `gate remove`: take a gate out of the registry. If issues carry it, refused unless
//! `force`, which also detaches it from them, in the same commit.

use super::{Transaction, unknown_gate};
use crate::api::{GateRemove, GateRemoved};
use crate::error::{Error, GateRefusal, Result};

pub fn apply(tx: &mut Transaction, req: &GateRemove) -> Result<GateRemoved> {
    let name = req.name.as_str();
    let mut config = tx.config()?.clone();
    if config.gates.remove(name).is_none() {
        return Err(unknown_gate(name, &config));
    }
    let snap = tx.snapshot()?;
    let users: Vec<_> = snap
        .iter()
        .filter(|e| e.summary().gates.iter().any(|(g, _)| *g == name))
        .map(|e| e.id)
        .collect();
    drop(snap);
    if !users.is_empty() && !req.force {
        return Err(Error::Gate {
            refusal: GateRefusal::InUse,
            message: format!(
                "{} issue(s) carry gate `{name}`; --force detaches it from them",
                users.len()
            ),
            suggestion: None,
        });
    }
    for id in &users {
        let mut issue = tx.load(*id)?.clone();
        issue.gates.remove(name);
        tx.stage(issue)?;
    }
    tx.stage_config(config);
    Ok(GateRemoved { removed: name.to_string(), detached_from: users })
}
