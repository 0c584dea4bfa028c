//! Reading gates: `gate list`, `gate show`, `gate history`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{GateDef, GateRun, GateStatus, IssueId};

/// `gate list`: takes nothing; the response is an array of `GateInfo` in name order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateListRequest {}

/// A gate of the registry and what this machine makes of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GateInfo {
    pub name: String,
    #[serde(flatten)]
    pub def: GateDef,
    /// Auto gates only: whether this definition is trusted on this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted: Option<bool>,
    /// Why the definition can never run, if it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// `gate history ID`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateHistoryRequest {
    pub id: String,
}

/// Every gate of an issue with its status and recorded runs, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GateHistory {
    pub id: IssueId,
    pub gates: BTreeMap<String, GateRecord>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GateRecord {
    pub status: GateStatus,
    pub runs: Vec<GateRun>,
}
