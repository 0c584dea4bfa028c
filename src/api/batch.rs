//! `jit batch`: a list of write requests applied as one all-or-nothing commit. Each entry is
//! one operation's own request (the types of `api::write`), tagged with `op`; a `create` may
//! carry a `key` that later entries name as `@key`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::write::{BulkUpdate, CreateIssue, DeleteIssue, DepEdit, UpdateIssue};
use crate::model::IssueId;

/// One entry of a batch: an operation's request, tagged with `op`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum BatchEntry {
    Create(BatchCreate),
    Update(UpdateIssue),
    Delete(DeleteIssue),
    DepAdd(DepEdit),
    DepRm(DepEdit),
    GatePass(GateVerdict),
    GateFail(GateVerdict),
    BulkUpdate(BulkUpdate),
}

/// A batch's `create`: the request of `issue create`, and a key later entries name it by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchCreate {
    /// Later entries name the new issue `@key` (letters, digits, `_`, `-`, `.`; 1 to 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(flatten)]
    pub issue: CreateIssue,
}

/// A batch's `gate_pass` or `gate_fail`: the request of `gate pass|fail`, the verdict given
/// by the op.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateVerdict {
    pub id: String,
    pub gate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The input of `jit batch`: a JSON array of entries, or an object with the entries and an
/// idempotency key for the whole batch.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a schema only: the input is read entry by entry (see `repo::batch`)
pub enum BatchRequest {
    Entries(Vec<BatchInputEntry>),
    Keyed {
        /// A retry with this key returns the first result and changes nothing (24 hours).
        idempotency_key: Option<String>,
        entries: Vec<BatchInputEntry>,
    },
}

/// An entry as the input has it: the operation's request, and the fencing token its writes
/// present.
#[derive(JsonSchema)]
#[allow(dead_code)] // a schema only, as `BatchRequest`
pub struct BatchInputEntry {
    /// Present this claim's fencing token on this entry's writes instead of the command's
    /// (`--claim-token`): a write to an issue claimed again since is refused (CLAIM_FENCED).
    claim_token: Option<u64>,
    #[serde(flatten)]
    entry: BatchEntry,
}

/// What one entry did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EntryOutcome {
    /// Its place in the input, from 0.
    pub entry: usize,
    pub op: String,
    /// The `key` of a create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The issue it created or changed (absent for `bulk_update`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<IssueId>,
    /// The issue's version after this entry (absent when it was deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Whether the entry changed anything (a change already in place changes nothing).
    pub changed: bool,
    /// For `bulk_update`: the issues it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue_ids: Option<Vec<IssueId>>,
    /// For `bulk_update`: the matched issues it could not change, as `issue bulk-update`
    /// reports them (the rest of the batch still commits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<BatchBulkFailure>>,
    /// For `delete`: the issues whose dependency on it was removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub references_removed: Option<Vec<IssueId>>,
}

/// One issue a `bulk_update` entry could not change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchBulkFailure {
    pub id: IssueId,
    pub code: String,
    pub message: String,
}

/// The response of `jit batch` (the same with `--dry-run`, which writes nothing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchReply {
    pub dry_run: bool,
    /// Each entry's outcome, in input order.
    pub entries: Vec<EntryOutcome>,
    /// Every issue the commit changed, in id order: version before (`null`: created) and
    /// after (`null`: deleted).
    pub issues: Vec<VersionChange>,
}

/// One issue a batch changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VersionChange {
    pub id: IssueId,
    pub before: Option<u64>,
    pub after: Option<u64>,
}
