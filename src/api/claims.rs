//! Claims' part of the contract: `claim`, `release`, `renew` and `status` (see docs/agents.md).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Issue, State};

/// `claim`: the best claimable issue matching `filter`, or the one `id` names.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// Who takes the issue: it becomes the assignee.
    pub agent: String,
    /// The issue to claim (an id or unique prefix); absent: the best claimable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Only issues matching this query (not with `id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// The lease's length, e.g. `30m` (default: config `claims.lease_default`; at most
    /// `claims.lease_max`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
    /// Take the issue over from a live lease (needs `id`); the old holder is fenced.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub steal: bool,
}

/// The lease a claim or a renewal holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LeaseInfo {
    /// The fencing token: present it on every write (`--claim-token`, `JIT_CLAIM_TOKEN`).
    pub token: u64,
    pub agent: String,
    /// RFC 3339.
    pub lease_expires_at: String,
}

/// What `claim --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Claimed {
    pub issue: Issue,
    #[serde(flatten)]
    pub lease: LeaseInfo,
    /// The agent whose live lease `--steal` ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stolen_from: Option<String>,
    /// With `--remote`: the claim ref this claim holds on the remote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteClaim>,
}

/// A claim that holds across clones: the ref `refs/jit/claims/<id>` on a git remote, made by
/// a push that only succeeds if the ref does not exist (or still points at the expired
/// claim it takes over). See docs/git.md, "Remote claims".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RemoteClaim {
    /// The remote's name in this clone.
    pub remote: String,
    /// The ref, `refs/jit/claims/<id>`.
    #[serde(rename = "ref")]
    pub refname: String,
    /// The commit the ref points at, which records agent, token, lease expiry and host.
    pub object: String,
    /// The host this claim was taken on.
    pub host: String,
    /// RFC 3339: until then no other clone may take the ref over.
    pub lease_expires_at: String,
    /// The agent (and host) of the expired (or stolen) remote claim this one replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_over_from: Option<String>,
}

/// `release`: end the claim of an issue and move it (default: back to ready).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    pub id: String,
    /// Refuse unless this agent holds the lease (when one is live).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The state to leave the issue in (default: ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
}

/// `renew`: extend a live lease. Changes local state only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    pub id: String,
    /// Refuse unless this agent holds the lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
}

/// What `renew --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Renewed {
    pub id: String,
    #[serde(flatten)]
    pub lease: LeaseInfo,
    /// With `--remote`: the claim ref, now pointing at a commit with the new expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteClaim>,
}

/// One lease as `status` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LeaseStatus {
    pub id: String,
    pub title: String,
    /// The issue's state in this worktree (absent: no such issue here).
    pub state: Option<State>,
    pub agent: String,
    pub token: u64,
    pub claimed_at: String,
    pub renewed_at: String,
    pub lease_expires_at: String,
    /// Seconds since the claim.
    pub age_s: i64,
    pub expired: bool,
}

/// One of the slowest operations of the last hour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SlowOp {
    pub at: String,
    pub op: String,
    pub actor: String,
    pub duration_ms: u64,
    pub lock_wait_ms: u64,
}

/// What `status --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Status {
    /// Issues per state (every state, zeros too).
    pub states: std::collections::BTreeMap<String, usize>,
    /// How many issues `jit ready` lists.
    pub ready: usize,
    /// Leases by expiry, soonest first: live ones and expired ones not yet claimed again.
    pub leases: Vec<LeaseStatus>,
    /// In-progress issues, least recently updated first (at most 10).
    pub oldest_in_progress: Vec<OldWork>,
    /// The five slowest operations of the last hour, from the event log.
    pub slowest: Vec<SlowOp>,
    /// Some in-progress issue has an expired lease: status then exits 6.
    pub stuck: bool,
}

/// An in-progress issue and how long since it changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OldWork {
    pub id: String,
    pub title: String,
    pub assignee: Option<String>,
    pub updated_at: String,
    pub idle_s: i64,
}

/// `claim run`: claim an issue (as `claim` does), run a command on it and end the claim by
/// how the command ended; with `loop`, again until nothing is claimable (docs/agents.md).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRunRequest {
    /// Who takes the issues: they become the assignee.
    pub agent: String,
    /// Only issues matching this query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// The lease's length, renewed every third of it while the command runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
    /// While nothing is claimable, wait up to this long (each claim of a loop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
    /// The state an issue goes to when the command exits 0 (default: done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<State>,
    /// Take the next issue when one is finished, until none is claimable.
    #[serde(default, rename = "loop", skip_serializing_if = "std::ops::Not::not")]
    pub repeat: bool,
    /// The program and its arguments (run without a shell).
    pub command: Vec<String>,
}

/// How the run of one issue ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// The command exited 0 and the issue moved to the success state.
    Succeeded,
    /// The command exited 0 but a postcheck refused the move: the issue is `gated`.
    Gated,
    /// The command failed (non-zero or a signal): the issue is back in `ready`.
    Released,
    /// The end write was refused: the claim was over (expired and claimed again, or taken
    /// over), so nothing was written (`CLAIM_FENCED`).
    Fenced,
}

/// What `claim run --json` prints for each issue it ran (one JSON line per issue).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunResult {
    pub id: String,
    pub title: String,
    pub agent: String,
    /// The claim's fencing token.
    pub token: u64,
    /// The command's exit status (absent when a signal ended it).
    pub exit_code: Option<i32>,
    /// The signal that ended the command (absent when it exited).
    pub signal: Option<i32>,
    pub outcome: RunOutcome,
    /// The issue's state after the end write (absent when fenced: it is the new holder's).
    pub state: Option<State>,
    /// The signal (SIGINT, SIGTERM) the supervisor received and passed on to the command;
    /// the supervisor stops after this issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<i32>,
}
