//! Reading issues: `issue list`, `query`, `issue show`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `issue list` (and `query`, whose expression is the filter): which issues, in what order,
/// how many, and which fields of each.
///
/// The response is an array of `Issue` objects; with `fields`, of objects
/// holding only those keys in that order (a field an issue lacks is `null`); with `count`, a
/// `CountResponse`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ListRequest {
    /// A filter in the query language (`jit help filters`).
    pub filter: Option<String>,
    /// `FIELD` or `FIELD:desc` (id, created, updated, closed, priority, state, title);
    /// newest first when absent.
    pub sort: Option<String>,
    /// At most this many issues.
    pub limit: Option<usize>,
    /// Only these fields, in this order.
    pub fields: Vec<String>,
    /// Only how many issues match.
    pub count: bool,
}

/// `query`: the filter and the options of `ListRequest`; with `explain`, the parsed filter
/// (`Explain`) instead of the issues.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct QueryRequest {
    pub expr: String,
    pub explain: bool,
    #[serde(flatten)]
    pub select: ListRequest,
}

/// How many issues match (`--count`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CountResponse {
    pub count: usize,
}

/// `query --explain`: the filter as normalised text and as a tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Explain {
    /// `{"or": [...]}`, `{"and": [...]}`, `{"not": ...}` and the terms.
    pub ast: serde_json::Value,
    pub query: String,
}

/// `issue show`: ids or unique prefixes. The response is one `Issue` object
/// per distinct issue, in the order first named (JSON Lines when there are several).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShowRequest {
    pub ids: Vec<String>,
}
