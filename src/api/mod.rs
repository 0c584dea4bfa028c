//! The request/response contract: what each command takes and what `--json` prints (and MCP
//! returns). One set of serde types; `jit schema` prints their JSON Schemas from `schema`.

pub mod batch;
pub mod claims;
pub mod error;
pub mod gates;
pub mod graph;
pub mod issues;
pub mod metrics;
pub mod ready;
pub mod schema;
pub mod serve;
pub mod validate;
pub mod write;

pub use batch::{BatchEntry, BatchReply, EntryOutcome};
pub use claims::{
    ClaimRequest, ClaimRunRequest, Claimed, LeaseInfo, LeaseStatus, OldWork, ReleaseRequest,
    RemoteClaim, RenewRequest, Renewed, RunOutcome, RunResult, SlowOp, Status,
};
pub use error::{ErrorBody, ErrorResponse};
pub use gates::{GateHistory, GateHistoryRequest, GateInfo, GateListRequest, GateRecord};
pub use graph::{
    ClosureRequest, DepthNode, Edge, ExportFormat, ExportNode, ExportRequest, GraphExport, NodeRef,
    PathRequest, PathResponse,
};
pub use issues::{CountResponse, Explain, ListRequest, QueryRequest, ShowRequest};
pub use metrics::{Latency, Metrics, MetricsRequest, OpMetrics};
pub use ready::{BlockedIssue, BlockedRequest, ReadyRequest};
pub use validate::{FixAction, FixReport, FixRequest};
pub use write::*;
