//! What issues say of each other and of the config: dependencies on issues that do not
//! exist or on themselves, dependency cycles (each named), gates missing from the registry,
//! labels outside the declared namespaces; and what a git merge can leave that no per-file
//! merge settles: work in progress that its merged dependencies forbid, and one issue claimed
//! on two branches.

use std::collections::{BTreeMap, HashMap};

use super::Finding;
use super::files::Scan;
use crate::model::{IssueId, State};
use crate::storage::config::Config;

pub fn check(scan: &Scan, config: Option<&Config>, findings: &mut Vec<Finding>) {
    let mut adj: BTreeMap<u128, Vec<u128>> = BTreeMap::new();
    for s in &scan.issues {
        let (issue, path) = (&s.issue, s.path.as_str());
        let id = issue.id;
        let mut edges = Vec::new();
        for &d in &issue.dependencies {
            if d == id {
                let msg = "depends on itself: it can never be ready; remove the dependency";
                findings.push(
                    Finding::new("DEP_SELF", path, msg)
                        .issue(id)
                        .fix("remove_dependency", Some(d.to_string())),
                );
            } else if !scan.names.contains(&d) {
                let msg = format!(
                    "depends on {d}, which does not exist (deleted, or on a branch not merged \
                     yet): the issue is blocked for good; remove it with `jit dep rm {id} {d}`"
                );
                findings.push(
                    Finding::new("DEP_MISSING", path, msg)
                        .issue(id)
                        .fix("remove_dependency", Some(d.to_string())),
                );
            } else {
                edges.push(d.as_u128());
            }
        }
        adj.insert(id.as_u128(), edges);
        let Some(config) = config else { continue };
        for g in issue.gates.keys() {
            if !config.gates.contains_key(g) {
                let msg = format!(
                    "has the gate `{g}`, which is not in the registry of config.json: it can \
                     never pass; define it (`jit gate define {g} ...`) or detach it \
                     (`jit gate rm {id} {g}`)"
                );
                findings.push(
                    Finding::new("GATE_UNKNOWN", path, msg)
                        .issue(id)
                        .fix("remove_gate", Some(g.clone())),
                );
            }
        }
        for l in &issue.labels {
            if crate::model::validate_label(l).is_ok() && config.check_label_namespace(l).is_err() {
                let ns = l.split(':').next().unwrap_or_default();
                let msg = format!(
                    "the label `{l}` is outside the declared namespaces ({}): jit refuses it \
                     on writes; declare `{ns}` in config.json's label_namespaces, or remove \
                     the label (`jit issue update {id} --remove-label {l}`)",
                    config.label_namespaces.keys().cloned().collect::<Vec<_>>().join(", ")
                );
                findings.push(Finding::new("LABEL_NAMESPACE", path, msg).issue(id));
            }
        }
    }
    cycles(scan, adj, findings);
    merge_leftovers(scan, findings);
}

/// In progress while a dependency is not done (`issue update` refuses that move, so a merge
/// or a dependency added after work started made it), and a claim that won a merge over
/// another agent's claim of the same issue (the merge record names both) while it still holds.
fn merge_leftovers(scan: &Scan, findings: &mut Vec<Finding>) {
    let states: HashMap<IssueId, State> =
        scan.issues.iter().map(|s| (s.issue.id, s.issue.state)).collect();
    for s in &scan.issues {
        let (issue, path) = (&s.issue, s.path.as_str());
        if issue.state != State::InProgress {
            continue;
        }
        let id = issue.id;
        let open: Vec<String> = issue
            .dependencies
            .iter()
            .filter(|d| states.get(d).is_some_and(|st| *st != State::Done))
            .map(|d| d.to_string())
            .collect();
        if !open.is_empty() {
            let msg = format!(
                "is in progress but depends on {}, not done (a merge, or a dependency added \
                 after work started): finish {}, or move it back (`jit issue update {id} \
                 --state ready`)",
                open.join(", "),
                if open.len() == 1 { "it" } else { "them" }
            );
            findings.push(Finding::new("STATE_BLOCKED", path, msg).issue(id));
        }
        let Some(claim) = &issue.claim else { continue };
        let is_this_claim = |v: Option<&serde_json::Value>| {
            v.and_then(|t| t.as_str()).and_then(|t| crate::model::time::parse(t).ok())
                == Some(claim.claimed_at)
        };
        let lost = issue.merge_overrides.iter().rev().find(|o| match o.field.as_str() {
            "claim.claimed_at" => is_this_claim(Some(&o.kept)),
            "claim" => is_this_claim(o.kept.get("claimed_at")),
            _ => false,
        });
        if let Some(o) = lost {
            let dropped_agent = issue
                .merge_overrides
                .iter()
                .rev()
                .find(|x| x.field == "claim.agent" && x.kept == claim.agent.as_str())
                .and_then(|x| x.dropped.as_str().map(String::from))
                .or_else(|| o.dropped.get("agent").and_then(|a| a.as_str()).map(String::from))
                .unwrap_or_else(|| "another agent".into());
            let msg = format!(
                "was claimed on two branches: a merge kept {}'s claim (token {}) and dropped \
                 {dropped_agent}'s, who may still be working on it; settle it with them, then \
                 `jit release {id}` or `jit claim {id} --agent NAME --steal` (`--fix` \
                 releases it and fences both agents)",
                claim.agent, claim.token
            );
            findings
                .push(Finding::new("CLAIM_MERGED", path, msg).issue(id).fix("release_claim", None));
        }
    }
}

/// One finding per cycle found, until none is left: each found cycle's issues are taken out
/// before looking again, so every tangle of cycles is named at least once.
fn cycles(scan: &Scan, mut adj: BTreeMap<u128, Vec<u128>>, findings: &mut Vec<Finding>) {
    let paths: HashMap<u128, &str> =
        scan.issues.iter().map(|s| (s.issue.id.as_u128(), s.path.as_str())).collect();
    while let Some(mut cycle) = crate::graph::find_cycle(&adj) {
        cycle.pop(); // [a, ..., a] → [a, ...]
        let first = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
        cycle.rotate_left(first);
        for n in &cycle {
            adj.remove(n);
        }
        cycle.push(cycle[0]);
        let ids: Vec<IssueId> = cycle.iter().map(|n| IssueId::from_u128(*n)).collect();
        let text = ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(" → ");
        let msg = format!(
            "dependency cycle: {text}; none of these issues can ever be ready; remove one edge \
             (`jit dep rm A B` for one step A → B of the cycle)"
        );
        let mut f = Finding::new("DEP_CYCLE", paths[&cycle[0]], msg).issue(ids[0]);
        f.cycle = Some(ids);
        findings.push(f);
    }
}

/// Documents that lead nowhere or outside the project. Never read: only looked up.
pub fn check_documents(project: &std::path::Path, scan: &Scan, findings: &mut Vec<Finding>) {
    use crate::storage::documents::{DocState, state};
    for s in &scan.issues {
        let id = s.issue.id;
        for d in &s.issue.documents {
            let (code, why) = match state(project, &d.path) {
                DocState::Present => continue,
                DocState::Missing => ("DOC_MISSING", "does not exist".to_string()),
                DocState::Outside(why) => ("DOC_OUTSIDE", format!("is outside the project: {why}")),
            };
            let msg = format!(
                "the document `{}` {why}; `jit validate --fix` leaves it (a document may be \
                 written later), `--fix --prune-docs` removes it (or `jit doc rm {id} {}`)",
                d.path, d.path
            );
            findings.push(
                Finding::new(code, s.path.clone(), msg)
                    .issue(id)
                    .fix("remove_document", Some(d.path.clone())),
            );
        }
    }
}
