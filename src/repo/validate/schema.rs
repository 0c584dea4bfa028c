//! Values inside an issue that parses: what the write path would refuse (a hand edit or a
//! merge can still put them there), a version that cannot go up, and timestamps not in the
//! form jit writes.

use serde_json::Value;

use super::Finding;
use crate::model::{Issue, MAX_DESCRIPTION, MAX_TITLE, time, validate_assignee, validate_label};

pub fn check_values(issue: &Issue, raw: &Value, path: &str, findings: &mut Vec<Finding>) {
    let id = issue.id;
    let mut bad = |msg: String| {
        findings.push(Finding::new("ISSUE_INVALID_VALUE", path, msg).issue(id));
    };
    let title = issue.title.trim();
    if title.is_empty() {
        bad("the title is empty".into());
    } else if title.len() > MAX_TITLE {
        bad(format!("the title is {} bytes, more than {MAX_TITLE}", title.len()));
    }
    if let Some(c) = issue.title.chars().find(|c| crate::model::is_layout_char(*c)) {
        bad(format!(
            "the title holds U+{:04X} (a line break, control or bidirectional formatting \
             character); set it again with `jit issue update {id} --title`",
            c as u32
        ));
    }
    if issue.description.len() > MAX_DESCRIPTION {
        bad(format!(
            "the description is {} bytes, more than {MAX_DESCRIPTION}",
            issue.description.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for l in &issue.labels {
        if let Err(e) = validate_label(l) {
            bad(e.to_string());
        } else if !seen.insert(l) {
            bad(format!("the label `{l}` is listed twice"));
        }
    }
    if let Some(a) = &issue.assignee
        && let Err(e) = validate_assignee(a)
    {
        bad(e.to_string());
    }
    let mut deps = std::collections::HashSet::new();
    for d in &issue.dependencies {
        if !deps.insert(d) {
            bad(format!("the dependency {d} is listed twice"));
        }
    }
    if issue.version == 0 {
        bad("version 0: versions start at 1".into());
    }
    if issue.updated_at < issue.created_at {
        bad("updated_at is before created_at".into());
    }
    if issue.closed_at.is_some_and(|c| c < issue.created_at) {
        bad("closed_at is before created_at".into());
    }
    if issue.version == u64::MAX {
        let msg = format!(
            "version {}, the largest there is: every change of the issue is refused \
             (VERSION_EXHAUSTED); recreate it",
            u64::MAX
        );
        findings.push(Finding::new("ISSUE_VERSION_EXHAUSTED", path, msg).issue(id));
    }
    let odd = odd_timestamps(raw);
    if !odd.is_empty() {
        let msg = format!(
            "{} not in the form jit writes (UTC, six fraction digits, e.g. \
             2026-03-02T09:05:00.000000Z); read correctly, and rewritten in that form the next \
             time jit writes the issue",
            odd.join(", ")
        );
        findings.push(Finding::new("ISSUE_TIMESTAMP_FORM", path, msg).issue(id));
    }
}

/// The timestamp fields whose text is not what jit would write for the same instant.
fn odd_timestamps(raw: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: String, v: Option<&Value>| {
        if let Some(s) = v.and_then(Value::as_str)
            && time::parse(s).is_ok_and(|t| time::format(t) != s)
        {
            out.push(name);
        }
    };
    for f in ["created_at", "updated_at", "closed_at"] {
        check(f.to_string(), raw.get(f));
    }
    if let Some(gates) = raw.get("gates").and_then(Value::as_object) {
        for (g, gate) in gates {
            let runs = gate.get("runs").and_then(Value::as_array).map_or(&[][..], |r| r);
            for (i, run) in runs.iter().enumerate() {
                check(format!("gates.{g}.runs[{i}].at"), run.get("at"));
            }
        }
    }
    if let Some(o) = raw.get("merge_overrides").and_then(Value::as_array) {
        for (i, m) in o.iter().enumerate() {
            check(format!("merge_overrides[{i}].dropped_at"), m.get("dropped_at"));
        }
    }
    out
}
