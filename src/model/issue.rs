//! The issue record as stored in `.jit/issues/<id>.json`, and the changes commands make to it.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Gate, IssueId, Priority, State, validate_assignee, validate_label};
use crate::error::{Error, Result};

/// Longest title, in bytes.
pub const MAX_TITLE: usize = 1024;
/// Longest description, in bytes (1 MiB).
pub const MAX_DESCRIPTION: usize = 1 << 20;
const MAX_CONTEXT_KEY: usize = 128;

/// One issue. Field order here is the key order on disk; fields this version does not know
/// are kept in `extra` and written back unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Issue {
    pub id: IssueId,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub state: State,
    pub priority: Priority,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub dependencies: Vec<IssueId>,
    #[serde(default)]
    pub gates: BTreeMap<String, Gate>,
    #[serde(default)]
    pub context: Map<String, Value>,
    #[serde(default)]
    pub artifacts: Vec<Value>,
    /// Files of the project the issue refers to (`jit doc add`), by path relative to the
    /// project directory. Left out of the file while empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<Document>,
    pub version: u64,
    #[serde(with = "super::time")]
    #[schemars(with = "super::time::Rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "super::time")]
    #[schemars(with = "super::time::Rfc3339")]
    pub updated_at: Timestamp,
    #[serde(default, with = "super::time::option")]
    #[schemars(with = "Option<super::time::Rfc3339>")]
    pub closed_at: Option<Timestamp>,
    /// The latest claim (`jit claim`): its fencing token and agent. Left out of the file
    /// while the issue was never claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<super::Claim>,
    /// Values a git merge overrode (both branches changed a field; the later one won), the
    /// last [`MAX_MERGE_OVERRIDES`], oldest first. Left out of the file while empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merge_overrides: Vec<MergeOverride>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A file of the project an issue refers to: its path relative to the project directory
/// (`/`-separated, no `..`), and a label saying what it is (`spec`, `design`). A bare string
/// in the file is read as a path without a label.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(from = "DocumentForm")]
pub struct Document {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// How a document reads from a file: a bare path, or the full object.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum DocumentForm {
    Path(String),
    Full {
        path: String,
        #[serde(default)]
        label: Option<String>,
    },
}

impl From<DocumentForm> for Document {
    fn from(f: DocumentForm) -> Self {
        match f {
            DocumentForm::Path(path) => Document { path, label: None },
            DocumentForm::Full { path, label } => Document { path, label },
        }
    }
}

/// Overrides kept per issue; older ones are dropped so issue files stay small.
pub const MAX_MERGE_OVERRIDES: usize = 50;

/// One value a merge dropped: `field` was changed on both branches, `kept` won (its branch
/// changed the issue later) and `dropped` lost. `dropped_at` is the `updated_at` of the
/// branch whose value was dropped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MergeOverride {
    pub field: String,
    pub kept: Value,
    pub dropped: Value,
    #[serde(with = "super::time")]
    #[schemars(with = "super::time::Rfc3339")]
    pub dropped_at: Timestamp,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Issue {
    /// Count one more change: the next version and `updated_at`. A version never goes
    /// backwards, so one at `u64::MAX` (only a hand edit gets there) refuses every change,
    /// before anything is written.
    pub fn bump(&mut self, now: Timestamp) -> Result<()> {
        self.version = self.version.checked_add(1).ok_or_else(|| Error::VersionExhausted {
            id: self.id.to_string(),
            version: self.version,
        })?;
        self.updated_at = now;
        Ok(())
    }

    /// The on-disk form: pretty-printed, stable key order, final newline.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("issue serialises");
        out.push(b'\n');
        out
    }

    /// The fencing token of the latest claim; 0 for an issue never claimed.
    pub fn claim_token(&self) -> u64 {
        self.claim.as_ref().map_or(0, |c| c.token)
    }

    /// The compact one-line form used in `--json` output and in the index.
    pub fn to_compact_json(&self) -> String {
        serde_json::to_string(self).expect("issue serialises")
    }

    /// Parse an issue file (a leading UTF-8 byte-order mark is ignored; a UTF-16 or UTF-32
    /// one is named in the error).
    pub fn from_slice(bytes: &[u8]) -> std::result::Result<Issue, serde_json::Error> {
        if let Some(why) = super::foreign_encoding(bytes) {
            return Err(serde::de::Error::custom(why));
        }
        serde_json::from_slice(super::without_bom(bytes))
    }
}

/// What `issue create` asks for.
#[derive(Clone, Debug, Default)]
pub struct NewIssue {
    pub title: String,
    pub description: String,
    pub state: Option<State>,
    pub priority: Option<Priority>,
    pub assignee: Option<String>,
    pub labels: Vec<String>,
    /// Issues it depends on (checked to exist by the repository).
    pub dependencies: Vec<IssueId>,
}

impl NewIssue {
    /// Validate every field and build the issue (version 1).
    pub fn build(self, id: IssueId, now: Timestamp, default_state: State) -> Result<Issue> {
        let title = check_title(&self.title)?;
        check_description(&self.description)?;
        for l in &self.labels {
            validate_label(l)?;
        }
        if let Some(a) = &self.assignee {
            validate_assignee(a)?;
        }
        let state = self.state.unwrap_or(default_state);
        let mut labels = self.labels;
        labels.sort();
        labels.dedup();
        Ok(Issue {
            id,
            title,
            description: self.description,
            state,
            priority: self.priority.unwrap_or(Priority::Normal),
            assignee: self.assignee,
            labels,
            dependencies: self.dependencies,
            gates: BTreeMap::new(),
            context: Map::new(),
            artifacts: Vec::new(),
            documents: Vec::new(),
            version: 1,
            created_at: now,
            updated_at: now,
            closed_at: state.is_closed().then_some(now),
            claim: None,
            merge_overrides: Vec::new(),
            extra: Map::new(),
        })
    }
}

fn check_title(title: &str) -> Result<String> {
    let t = title.trim();
    if t.is_empty() {
        return Err(Error::InvalidTitle("the title is empty".into()));
    }
    if t.len() > MAX_TITLE {
        return Err(Error::TooLong { field: "title", len: t.len(), max: MAX_TITLE });
    }
    if let Some(c) = t.chars().find(|c| super::is_layout_char(*c)) {
        return Err(Error::InvalidTitle(format!(
            "the title may not contain line breaks, control characters or bidirectional \
             formatting characters (found U+{:04X})",
            c as u32
        )));
    }
    Ok(t.to_string())
}

fn check_description(d: &str) -> Result<()> {
    if d.len() > MAX_DESCRIPTION {
        return Err(Error::TooLong { field: "description", len: d.len(), max: MAX_DESCRIPTION });
    }
    Ok(())
}

/// A set of field changes (`issue update`, later bulk-update and batch). Every field is
/// optional; applying an empty or already-satisfied change leaves the issue untouched.
#[derive(Clone, Debug, Default)]
pub struct IssueChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub state: Option<State>,
    pub priority: Option<Priority>,
    pub add_labels: Vec<String>,
    pub remove_labels: Vec<String>,
    /// `Some(None)` unassigns.
    pub assignee: Option<Option<String>>,
    pub context: Vec<(String, Value)>,
}

impl IssueChanges {
    /// Check the values themselves, before any issue is read.
    pub fn validate(&self) -> Result<()> {
        if let Some(t) = &self.title {
            check_title(t)?;
        }
        if let Some(d) = &self.description {
            check_description(d)?;
        }
        for l in self.add_labels.iter().chain(&self.remove_labels) {
            validate_label(l)?;
        }
        if let Some(l) = self.add_labels.iter().find(|l| self.remove_labels.contains(l)) {
            return Err(Error::InvalidArgument(format!(
                "label `{l}` is both added and removed; say which"
            )));
        }
        if let Some(Some(a)) = &self.assignee {
            validate_assignee(a)?;
        }
        for (k, _) in &self.context {
            if k.is_empty() || k.len() > MAX_CONTEXT_KEY || k.chars().any(char::is_control) {
                return Err(Error::InvalidArgument(format!(
                    "invalid context key `{k}`: 1 to {MAX_CONTEXT_KEY} bytes, no control characters"
                )));
            }
        }
        Ok(())
    }

    /// The change as JSON (only the fields it sets), for reports.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(t) = &self.title {
            m.insert("title".into(), t.clone().into());
        }
        if let Some(d) = &self.description {
            m.insert("description".into(), d.clone().into());
        }
        if let Some(s) = self.state {
            m.insert("state".into(), s.as_str().into());
        }
        if let Some(p) = self.priority {
            m.insert("priority".into(), p.as_str().into());
        }
        if !self.add_labels.is_empty() {
            m.insert("add_labels".into(), self.add_labels.clone().into());
        }
        if !self.remove_labels.is_empty() {
            m.insert("remove_labels".into(), self.remove_labels.clone().into());
        }
        if let Some(a) = &self.assignee {
            m.insert("assignee".into(), a.clone().map_or(Value::Null, Value::from));
        }
        for (k, v) in &self.context {
            m.insert(format!("context.{k}"), v.clone());
        }
        Value::Object(m)
    }

    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.state.is_none()
            && self.priority.is_none()
            && self.add_labels.is_empty()
            && self.remove_labels.is_empty()
            && self.assignee.is_none()
            && self.context.is_empty()
    }

    /// Apply to `issue`. Returns whether anything changed. The version and `updated_at` are
    /// left alone: the transaction that stages the issue sets them. A refused state
    /// transition changes nothing.
    pub fn apply(&self, target: &mut Issue, now: Timestamp) -> Result<bool> {
        let mut next = target.clone();
        let issue = &mut next;
        if let Some(to) = self.state {
            if !issue.state.can_move_to(to) {
                return Err(Error::TransitionRefused {
                    id: issue.id.to_string(),
                    from: issue.state.to_string(),
                    to: to.to_string(),
                    allowed: issue.state.allowed_targets().iter().map(|s| s.to_string()).collect(),
                });
            }
            if to != issue.state {
                issue.closed_at = to.is_closed().then_some(now);
                issue.state = to;
            }
        }
        if let Some(t) = &self.title {
            issue.title = check_title(t)?;
        }
        if let Some(d) = &self.description {
            issue.description.clone_from(d);
        }
        if let Some(p) = self.priority {
            issue.priority = p;
        }
        issue.labels.retain(|l| !self.remove_labels.contains(l));
        issue.labels.extend(self.add_labels.iter().cloned());
        issue.labels.sort();
        issue.labels.dedup();
        if let Some(a) = &self.assignee {
            issue.assignee.clone_from(a);
        }
        for (k, v) in &self.context {
            issue.context.insert(k.clone(), v.clone());
        }
        let changed = next != *target;
        if changed {
            *target = next;
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Issue {
        let now: Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        NewIssue {
            title: "  Fix login  ".into(),
            labels: vec!["type:bug".into(); 2],
            ..Default::default()
        }
        .build(IssueId::from_parts(1, 2), now, State::Backlog)
        .unwrap()
    }

    #[test]
    fn build_trims_and_dedups() {
        let i = sample();
        assert_eq!(i.title, "Fix login");
        assert_eq!(i.labels, vec!["type:bug"]);
        assert_eq!(i.version, 1);
        assert!(i.closed_at.is_none());
    }

    #[test]
    fn rejects_bad_titles_and_sizes() {
        let now = Timestamp::UNIX_EPOCH;
        let id = IssueId::from_parts(1, 2);
        for t in ["", "   ", "a\nb"] {
            let n = NewIssue { title: t.into(), ..Default::default() };
            assert!(n.build(id, now, State::Backlog).is_err(), "{t:?}");
        }
        let n = NewIssue {
            title: "x".into(),
            description: "d".repeat(MAX_DESCRIPTION + 1),
            ..Default::default()
        };
        assert!(matches!(n.build(id, now, State::Backlog), Err(Error::TooLong { .. })));
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let mut v: Value = serde_json::from_slice(&sample().to_file_bytes()).unwrap();
        v["x_future"] = serde_json::json!({"a": [1, 2]});
        let issue: Issue = serde_json::from_value(v.clone()).unwrap();
        let back: Value = serde_json::from_slice(&issue.to_file_bytes()).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn apply_changes_bumps_version_only_on_change() {
        let mut i = sample();
        let later: Timestamp = "2026-02-01T00:00:00Z".parse().unwrap();
        let same = IssueChanges { state: Some(State::Backlog), ..Default::default() };
        assert!(!same.apply(&mut i, later).unwrap());
        assert_eq!(i.version, 1);
        let ch = IssueChanges {
            state: Some(State::Ready),
            add_labels: vec!["area:ui".into()],
            remove_labels: vec!["type:bug".into()],
            ..Default::default()
        };
        assert!(ch.apply(&mut i, later).unwrap());
        assert_eq!(i.version, 1, "the version is the transaction's to bump");
        i.bump(later).unwrap();
        assert_eq!((i.version, i.state, i.updated_at), (2, State::Ready, later));
        assert_eq!(i.labels, vec!["area:ui"]);
        let bad = IssueChanges { state: Some(State::Done), ..Default::default() };
        let before = i.clone();
        assert!(matches!(bad.apply(&mut i, later), Err(Error::TransitionRefused { .. })));
        assert_eq!(i, before, "a refused transition changes nothing");
    }

    #[test]
    fn closing_sets_and_reopening_clears_closed_at() {
        let mut i = sample();
        let t: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
        for s in [State::InProgress, State::Done] {
            IssueChanges { state: Some(s), ..Default::default() }.apply(&mut i, t).unwrap();
        }
        assert_eq!(i.closed_at, Some(t));
        IssueChanges { state: Some(State::Ready), ..Default::default() }.apply(&mut i, t).unwrap();
        assert_eq!(i.closed_at, None);
    }
}
