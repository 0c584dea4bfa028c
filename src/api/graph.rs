//! `graph deps`, `rdeps`, `roots`, `leaves`, `order`, `path` and `export`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{IssueId, Priority, State};

/// An issue as the graph commands name it, or an id no issue has (a dangling dependency).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum NodeRef {
    Issue {
        id: IssueId,
        title: String,
        /// `null` only for a value this version does not know.
        state: Option<State>,
        priority: Option<Priority>,
    },
    Missing {
        id: IssueId,
        /// Always `true`.
        missing: bool,
    },
}

impl NodeRef {
    pub fn id(&self) -> IssueId {
        match self {
            NodeRef::Issue { id, .. } | NodeRef::Missing { id, .. } => *id,
        }
    }
}

/// `graph deps ID` / `graph rdeps ID`: the closure from `id`, `depth` levels (0 = all). The
/// response is an array of `DepthNode`, each issue once, breadth first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosureRequest {
    pub id: String,
    #[serde(default)]
    pub depth: usize,
}

/// An issue of a closure and its shortest distance from the start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DepthNode {
    #[serde(flatten)]
    pub node: NodeRef,
    pub depth: usize,
}

/// One line of the tree `graph deps`/`rdeps` print for people: `node` at `level` (1 = next to
/// the start), `again` when it was shown in full above (its subtree is not repeated).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TreeLine {
    pub node: NodeRef,
    pub level: usize,
    pub again: bool,
}

/// `graph path A B`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathRequest {
    pub from: String,
    pub to: String,
}

/// The shortest chain of dependencies, from A to B inclusive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PathResponse {
    pub path: Vec<NodeRef>,
}

/// The formats of `graph export`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    #[default]
    Dot,
    Mermaid,
    Json,
}

/// `graph export`: the format and an optional filter (edges between the chosen issues).
/// Under `--json` the response is a `GraphExport`; DOT and Mermaid are text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExportRequest {
    pub format: Option<ExportFormat>,
    pub filter: Option<String>,
}

/// The graph as data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GraphExport {
    pub nodes: Vec<ExportNode>,
    pub edges: Vec<Edge>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExportNode {
    pub id: IssueId,
    pub title: String,
    pub state: State,
}

/// `from` depends on `to`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Edge {
    pub from: IssueId,
    pub to: IssueId,
}
