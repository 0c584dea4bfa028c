//! The write operations' part of the contract: one request type per operation (what the CLI flags, a
//! batch entry and an MCP call all deserialise into) and the responses that are not simply an
//! issue (what `--json` prints). Field names are those of the `--json` issue object and of the
//! CLI flags. Issue ids are the text the user gave (a full id or a unique prefix): the
//! operation resolves them, under the lock.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::model::{GateStatus, IssueChanges, IssueId, Mode, Priority, Stage, State};
use crate::storage::index;

/// `issue create`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIssue {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// The starting state (default: the config's `default_state`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// Default: normal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Issues it depends on: ids or unique prefixes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// The field changes `issue update` and `issue bulk-update` share. Every field is optional;
/// a change already in place writes nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Changes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_labels: Vec<String>,
    /// A name assigns; `null` unassigns; absent leaves the assignee alone.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_or_null"
    )]
    pub assignee: Option<Option<String>>,
    /// Context keys set to JSON values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, Value>,
}

/// A field that may be absent (outer `None`), `null` (`Some(None)`) or a value.
fn present_or_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl Changes {
    /// The change as the model applies it.
    pub fn to_model(&self) -> IssueChanges {
        IssueChanges {
            title: self.title.clone(),
            description: self.description.clone(),
            state: self.state,
            priority: self.priority,
            add_labels: self.add_labels.clone(),
            remove_labels: self.remove_labels.clone(),
            assignee: self.assignee.clone(),
            context: self.context.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}

impl From<IssueChanges> for Changes {
    fn from(c: IssueChanges) -> Changes {
        Changes {
            title: c.title,
            description: c.description,
            state: c.state,
            priority: c.priority,
            add_labels: c.add_labels,
            remove_labels: c.remove_labels,
            assignee: c.assignee,
            // In order, so a key given twice keeps its last value, as when applied in turn.
            context: c.context.into_iter().collect(),
        }
    }
}

/// `issue update`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpdateIssue {
    pub id: String,
    #[serde(flatten)]
    pub changes: Changes,
    /// Apply only if the issue is at this version (compare-and-swap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_version: Option<u64>,
}

/// `issue delete` (also removes every reference to the issue from other issues).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteIssue {
    pub id: String,
}

/// `issue bulk-update`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BulkUpdate {
    /// Which issues, in the query language.
    pub filter: String,
    #[serde(flatten)]
    pub changes: Changes,
    /// Report what would change and write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Allow a change of more issues than the config's `bulk_confirm`.
    #[serde(default)]
    pub yes: bool,
}

/// `dep add` and `dep rm`: `id` depends (or no longer depends) on each of `deps`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DepEdit {
    pub id: String,
    /// Also accepted as `depends_on`, the name of the `--json` issue field and of `create`'s.
    #[serde(alias = "depends_on")]
    pub deps: Vec<String>,
}

/// `doc add`: refer to a file of the project from an issue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DocAdd {
    pub id: String,
    /// The file, relative to the project directory (the parent of `.jit/`) or absolute
    /// inside it; it must exist. Stored relative, `/`-separated.
    pub path: String,
    /// What it is (`spec`, `design`); a path added again gets the new label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// `doc rm`: stop referring to a file (the file itself is not touched).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DocRm {
    pub id: String,
    /// As stored, or as for `doc add`.
    pub path: String,
}

/// `doc list`: the documents of one issue, or of every issue.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DocListRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// One document of one issue, as `doc list` prints it.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct DocEntry {
    pub id: crate::model::IssueId,
    pub path: String,
    pub label: Option<String>,
}

/// `gate define`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateDefine {
    pub name: String,
    pub stage: Stage,
    pub mode: Mode,
    #[serde(default)]
    pub description: String,
    /// An auto gate's command and arguments.
    #[serde(default)]
    pub command: Vec<String>,
    /// Run the command through `sh -c`.
    #[serde(default)]
    pub shell: bool,
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
    /// Replace an existing definition.
    #[serde(default)]
    pub replace: bool,
}

fn default_timeout_s() -> u64 {
    600
}

/// `gate remove`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateRemove {
    pub name: String,
    /// Also detach the gate from every issue that carries it.
    #[serde(default)]
    pub force: bool,
}

/// `gate add` and `gate rm`: attach or detach `gates` on issue `id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateAttach {
    pub id: String,
    pub gates: Vec<String>,
}

/// `gate pass` and `gate fail`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateDecide {
    pub id: String,
    pub gate: String,
    /// `passed` or `failed`.
    pub status: GateStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The response of `issue delete` (fields in the order `--json` has always printed them).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Deleted {
    pub deleted: IssueId,
    /// Issues whose dependency on it was removed in the same commit.
    #[serde(rename = "references_removed")]
    pub referrers: Vec<IssueId>,
    pub title: String,
    /// Issue files that could not be read as issues, so were not checked for a reference.
    #[serde(skip)]
    pub unreadable: Vec<index::Problem>,
}

/// The response of `gate remove` (fields in the order `--json` has always printed them).
#[derive(Debug, Serialize, JsonSchema)]
pub struct GateRemoved {
    pub detached_from: Vec<IssueId>,
    pub removed: String,
}

/// One issue a bulk change could not change.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct BulkFailure {
    pub id: IssueId,
    pub code: String,
    pub message: String,
}

/// The response of a bulk update (or what it would be, with `dry_run`).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct BulkReport {
    pub operation: String,
    pub filter: String,
    pub changes: Value,
    pub dry_run: bool,
    pub matched: usize,
    pub modified: usize,
    /// Matched issues already in the target shape.
    pub skipped: usize,
    pub errors: Vec<BulkFailure>,
    /// The issues modified (or, with `dry_run`, that would be).
    pub issue_ids: Vec<IssueId>,
    /// Issue files that could not be read as issues, so were not matched against the filter.
    #[serde(skip)]
    pub unreadable: Vec<index::Problem>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignee_absent_null_and_set_are_three_things() {
        let u: UpdateIssue = serde_json::from_str(r#"{"id":"01ab"}"#).unwrap();
        assert_eq!(u.changes.assignee, None);
        let u: UpdateIssue = serde_json::from_str(r#"{"id":"01ab","assignee":null}"#).unwrap();
        assert_eq!(u.changes.assignee, Some(None));
        let u: UpdateIssue = serde_json::from_str(r#"{"id":"01ab","assignee":"a"}"#).unwrap();
        assert_eq!(u.changes.assignee, Some(Some("a".into())));
        let back = serde_json::to_value(&u).unwrap();
        assert_eq!(back, serde_json::json!({"id": "01ab", "assignee": "a"}));
    }

    #[test]
    fn requests_have_schemas() {
        let s = serde_json::to_value(schemars::schema_for!(UpdateIssue)).unwrap();
        assert!(s["properties"]["if_version"].is_object(), "{s}");
        assert!(s["properties"]["add_labels"].is_object(), "{s}");
        let s = serde_json::to_value(schemars::schema_for!(CreateIssue)).unwrap();
        assert_eq!(s["required"], serde_json::json!(["title"]));
    }
}
