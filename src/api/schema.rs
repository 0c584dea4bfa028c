//! The table behind `jit schema`: each command's name and the types of its request and
//! response. Adding a command to the contract is one row of [`COMMANDS`].

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;

use super::*;
use crate::model::Issue;

/// One command of the contract.
pub struct Entry {
    /// The command as typed after `jit` (`issue list`, `graph deps`).
    pub name: &'static str,
    pub request: fn(&mut SchemaGenerator) -> Schema,
    pub response: fn(&mut SchemaGenerator) -> Schema,
}

/// The schema of `T`, as a table cell.
fn of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.root_schema_for::<T>()
}

const fn row(
    name: &'static str,
    request: fn(&mut SchemaGenerator) -> Schema,
    response: fn(&mut SchemaGenerator) -> Schema,
) -> Entry {
    Entry { name, request, response }
}

/// Every command whose request and response are typed here, in the order `jit schema` lists
/// them. `error` is the body any command prints when it fails (its request is empty).
pub const COMMANDS: &[Entry] = &[
    row("issue list", of::<ListRequest>, of::<ListResponse>),
    row("issue show", of::<ShowRequest>, of::<Issue>),
    row("query", of::<QueryRequest>, of::<QueryResponse>),
    row("ready", of::<ReadyRequest>, of::<Vec<Issue>>),
    row("blocked", of::<BlockedRequest>, of::<Vec<BlockedIssue>>),
    row("graph deps", of::<ClosureRequest>, of::<Vec<DepthNode>>),
    row("graph rdeps", of::<ClosureRequest>, of::<Vec<DepthNode>>),
    row("graph roots", of::<NoRequest>, of::<Vec<NodeRef>>),
    row("graph leaves", of::<NoRequest>, of::<Vec<NodeRef>>),
    row("graph order", of::<NoRequest>, of::<Vec<NodeRef>>),
    row("graph path", of::<PathRequest>, of::<PathResponse>),
    row("graph export", of::<ExportRequest>, of::<GraphExport>),
    row("gate list", of::<GateListRequest>, of::<Vec<GateInfo>>),
    row("gate history", of::<GateHistoryRequest>, of::<GateHistory>),
    row("issue create", of::<CreateIssue>, of::<Issue>),
    row("issue update", of::<UpdateIssue>, of::<Issue>),
    row("issue delete", of::<DeleteIssue>, of::<Deleted>),
    row("issue bulk-update", of::<BulkUpdate>, of::<BulkReport>),
    row("dep add", of::<DepEdit>, of::<Issue>),
    row("dep rm", of::<DepEdit>, of::<Issue>),
    row("doc add", of::<DocAdd>, of::<Issue>),
    row("doc rm", of::<DocRm>, of::<Issue>),
    row("doc list", of::<DocListRequest>, of::<Vec<DocEntry>>),
    row("gate add", of::<GateAttach>, of::<Issue>),
    row("gate rm", of::<GateAttach>, of::<Issue>),
    row("gate pass", of::<GateDecide>, of::<Issue>),
    row("gate fail", of::<GateDecide>, of::<Issue>),
    row("gate remove", of::<GateRemove>, of::<GateRemoved>),
    row("batch", of::<batch::BatchRequest>, of::<BatchReply>),
    row("claim", of::<ClaimRequest>, of::<Claimed>),
    row("claim run", of::<ClaimRunRequest>, of::<RunResult>),
    row("release", of::<ReleaseRequest>, of::<Issue>),
    row("renew", of::<RenewRequest>, of::<Renewed>),
    row("status", of::<NoRequest>, of::<Status>),
    row("metrics", of::<MetricsRequest>, of::<Metrics>),
    row("validate", of::<NoRequest>, of::<crate::repo::validate::ValidateReport>),
    row("validate fix", of::<FixRequest>, of::<FixReport>), // `validate --fix`
    row("error", of::<NoRequest>, of::<ErrorResponse>),
];

/// A command that takes nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoRequest {}

/// What `issue list` prints: the issues, the chosen fields of each, or their count.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a schema only: the CLI writes the index's JSON of each issue as it is
enum ListResponse {
    Issues(Vec<Issue>),
    Fields(Vec<serde_json::Map<String, serde_json::Value>>),
    Count(CountResponse),
}

/// What `query` prints: as `issue list`, or the parsed filter with `explain`.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum QueryResponse {
    List(ListResponse),
    Explain(Explain),
}

/// The document `jit schema COMMAND` prints.
#[derive(Serialize)]
pub struct Document {
    pub command: &'static str,
    pub request: Schema,
    pub response: Schema,
}

/// The entry named `name`, if the contract has one.
pub fn find(name: &str) -> Option<&'static Entry> {
    COMMANDS.iter().find(|e| e.name == name)
}

impl Entry {
    /// Its request and response schemas (JSON Schema 2020-12, definitions inlined in `$defs`).
    pub fn document(&self) -> Document {
        let mut g = SchemaGenerator::default();
        let request = (self.request)(&mut g);
        let mut g = SchemaGenerator::default();
        let response = (self.response)(&mut g);
        Document { command: self.name, request, response }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_a_schema_and_a_unique_name() {
        let mut names = std::collections::HashSet::new();
        for e in COMMANDS {
            assert!(names.insert(e.name), "{} twice", e.name);
            let d = e.document();
            assert!(d.request.as_object().is_some() && d.response.as_object().is_some());
        }
    }
}
