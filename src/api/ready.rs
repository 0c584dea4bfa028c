//! `ready` and `blocked`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::graph::NodeRef;

/// `ready`: the issues an agent can start now, highest priority first, then oldest. The
/// response is an array of `Issue` objects.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ReadyRequest {
    pub limit: Option<usize>,
}

/// `blocked`: takes nothing; the response is an array of `BlockedIssue`, newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockedRequest {}

/// An open issue with dependencies that are not done, and those dependencies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BlockedIssue {
    #[serde(flatten)]
    pub issue: NodeRef,
    pub blocked_by: Vec<NodeRef>,
}
