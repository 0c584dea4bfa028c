//! The one error type of the library: every failure has a stable machine code and its
//! machine-readable details. The CLI maps it to an exit code and a hint (`cli/error_map.rs`)
//! and renders it; the library never prints.

use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn fenced_message(id: &str, presented: Option<u64>, current: u64) -> String {
    match presented {
        Some(p) => format!("issue {id} was claimed again (token {current}); token {p} is fenced"),
        None => format!("issue {id} is claimed (token {current}); writes must present its token"),
    }
}

/// Why a dependency may not be added ([`Error::Dependency`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepRefusal {
    /// `DEP_MISSING`: no such issue (or it was deleted meanwhile).
    Missing,
    /// `DEP_SELF`: an issue cannot depend on itself.
    OnItself,
    /// `DEP_CYCLE`: the edge would close a cycle (named in the error).
    Cycle,
}

impl DepRefusal {
    pub fn code(self) -> &'static str {
        match self {
            DepRefusal::Missing => "DEP_MISSING",
            DepRefusal::OnItself => "DEP_SELF",
            DepRefusal::Cycle => "DEP_CYCLE",
        }
    }
}

/// Why a gate command refuses a gate ([`Error::Gate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateRefusal {
    /// `GATE_INVALID`: the definition cannot run (no command, bad timeout, bad name).
    Invalid,
    /// `GATE_NOT_AUTO`: a manual gate asked to run.
    NotAuto,
    /// `GATE_NOT_ATTACHED`: the issue has no such gate.
    NotAttached,
    /// `GATE_EXISTS`: a definition of that name exists (and `--replace` was not given).
    Exists,
    /// `GATE_UNKNOWN`: no such gate in the registry (or on the issue).
    Unknown,
    /// `GATE_IN_USE`: issues carry the gate (and `--force` was not given).
    InUse,
}

impl GateRefusal {
    pub fn code(self) -> &'static str {
        match self {
            GateRefusal::Invalid => "GATE_INVALID",
            GateRefusal::NotAuto => "GATE_NOT_AUTO",
            GateRefusal::NotAttached => "GATE_NOT_ATTACHED",
            GateRefusal::Exists => "GATE_EXISTS",
            GateRefusal::Unknown => "GATE_UNKNOWN",
            GateRefusal::InUse => "GATE_IN_USE",
        }
    }
}

/// Every way a jit operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no jit repository found in {}{}",
        searched.display(),
        if *upwards { " or any parent directory" } else { "" }
    )]
    RepoNotFound { searched: PathBuf, upwards: bool },

    /// Discovery stopped at a boundary before it found `.jit/` (code `REPO_NOT_FOUND` too).
    #[error(
        "no jit repository found in {} or its parents up to {}, {}",
        searched.display(),
        stopped_at.display(),
        why.describe()
    )]
    RepoNotFoundBelow { searched: PathBuf, stopped_at: PathBuf, why: SearchStop },

    #[error("no issue matches `{0}`")]
    IssueNotFound(String),

    #[error("`{prefix}` matches {} issues", candidates.len())]
    AmbiguousId { prefix: String, candidates: Vec<String> },

    #[error("`{0}` is not a valid issue id or prefix")]
    InvalidId(String),

    #[error("{0}")]
    InvalidTitle(String),

    #[error("invalid label `{label}`: {reason}")]
    InvalidLabel { label: String, reason: String },

    #[error("unknown {what} `{value}`")]
    InvalidValue {
        what: &'static str,
        value: String,
        allowed: Vec<String>,
        suggestion: Option<String>,
    },

    #[error("{field} is too long: {len} bytes, the limit is {max}")]
    TooLong { field: &'static str, len: usize, max: usize },

    #[error("{0}")]
    InvalidArgument(String),

    #[error("cannot refer to `{path}` as a document: {reason}")]
    DocumentPath { path: String, reason: String },

    #[error("issue {id} has no document `{path}`")]
    DocumentNotFound { id: String, path: String },

    #[error("cannot move issue {id} from {from} to {to}")]
    TransitionRefused { id: String, from: String, to: String, allowed: Vec<String> },

    #[error("issue {id} is at version {actual}, not {expected}")]
    VersionConflict { id: String, expected: u64, actual: u64 },

    #[error("{0}")]
    ConfirmationRequired(String),

    #[error("issue {id} is at version {version}, the largest there is: it cannot change again")]
    VersionExhausted { id: String, version: u64 },

    #[error(
        "timed out after {waited_ms} ms waiting for the repository lock{}",
        holder_suffix(holder)
    )]
    LockTimeout { waited_ms: u64, holder: Option<String> },

    #[error(
        "the call ran past its deadline of {timeout_ms} ms and was abandoned before it changed anything"
    )]
    DeadlineExceeded { timeout_ms: u64 },

    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },

    #[error("invalid configuration in {path}: {message}")]
    ConfigInvalid { path: PathBuf, message: String },

    #[error("invalid filter: {0}")]
    Filter(Box<crate::query::FilterError>),

    #[error("{0}")]
    BulkConfirmRequired(String, u64),

    /// A dependency that may not be added.
    #[error("{message}")]
    Dependency { refusal: DepRefusal, message: String, cycle: Vec<String> },

    #[error("issue {id} cannot move to {to}: {} not passed", gate_list(gates))]
    GatesNotPassed {
        id: String,
        to: String,
        gates: Vec<(String, String)>,
        moved_to: Option<String>,
    },

    /// A gate name or definition a gate command refuses.
    #[error("{message}")]
    Gate { refusal: GateRefusal, message: String, suggestion: Option<String> },

    /// Auto gates whose exact definition the person on this machine has not trusted.
    #[error("{} not trusted on this machine, so nothing was run", untrusted_list(gates))]
    GateUntrusted { gates: Vec<String> },

    #[error("issue {id} is blocked by {}: work cannot start before they are done", blockers.join(", "))]
    Blocked { id: String, blockers: Vec<String> },

    /// `jit claim ID` of an issue another agent holds a live lease on.
    #[error("issue {id} is claimed by {agent} until {expires_at}")]
    AlreadyClaimed { id: String, agent: String, token: u64, expires_at: String },

    /// `jit claim --remote` of an issue whose claim ref on the remote another clone holds
    /// (a live lease there); or `release --remote` of a claim ref that is not ours.
    #[error(
        "issue {} is claimed on remote {} by {} (host {}) until {}",
        .0.id, .0.remote, .0.agent, .0.host, .0.expires_at
    )]
    ClaimedRemotely(Box<RemoteHolder>),

    /// A write presenting a fencing token older than the issue's current claim (or none,
    /// with `claims.require_token`).
    #[error("{}", fenced_message(id, *presented, *current))]
    ClaimFenced { id: String, presented: Option<u64>, current: u64 },

    /// `jit claim` found nothing claimable; not a failure of the tool (exit 5).
    #[error(
        "no issue available to claim: {matched} matched ({blocked} blocked, {gated} gated, \
         {claimed} claimed, {} in a state other than ready)",
        matched.saturating_sub(blocked + gated + claimed)
    )]
    NoIssueAvailable { matched: usize, blocked: usize, gated: usize, claimed: usize },

    /// `claim run` could not start its command (not found, not executable); the claim of
    /// `id` was released.
    #[error("cannot start `{command}`: {reason}; the claim of issue {id} was released")]
    CommandNotStarted { command: String, reason: String, id: String },

    /// `renew` or `release --agent` of a lease that is not (or no longer) held.
    #[error("issue {id}: {reason}")]
    LeaseNotHeld { id: String, reason: String },

    /// The agent's rate limit (config `rate_limit`) is used up; nothing was done.
    #[error(
        "agent {agent} is over its rate limit ({per_minute} per minute, burst {burst}); retry in {retry_after_ms} ms"
    )]
    RateLimited { agent: String, retry_after_ms: u64, per_minute: u32, burst: u32 },

    #[error("the dependency graph has a cycle: {}", cycle.join(" → "))]
    GraphCycle { cycle: Vec<String> },

    #[error("no dependency path leads from {from} to {to}")]
    NoPath { from: String, to: String },

    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },

    /// One of jit's own files (`.jit/lock`, say) is a FIFO, directory, symbolic link or device.
    #[error("{}: not a regular file (jit's own file was replaced by something else)", path.display())]
    NotRegularFile { path: PathBuf },

    /// A multi-file change interrupted by a crash cannot be finished: one of its files is in
    /// the way (a directory, FIFO or link where the file goes). Writers stop; readers do not.
    #[error(
        "an interrupted change ({}) cannot be finished: {} is not a regular file",
        record.display(),
        path.display()
    )]
    JournalBlocked { record: PathBuf, path: PathBuf },

    /// A multi-file change failed after its journal record became durable and could not be
    /// undone: it stays recorded, and the next command finishes it.
    #[error(
        "the change could not be completed ({source}); it is recorded in {} and the next jit \
         command finishes it",
        record.display()
    )]
    ChangePending { record: PathBuf, source: Box<Error> },

    /// `jit merge-driver` could not merge one issue file; git reports a conflict.
    #[error("cannot merge {path}: {source}")]
    MergeFailed { path: String, source: crate::model::merge::MergeError },

    #[error("{} is not in a git work tree", path.display())]
    NotGitRepo { path: PathBuf },

    /// Running `git` itself failed (not installed, or it refused the command).
    #[error("`git {command}` failed: {message}")]
    GitFailed { command: String, message: String },

    /// A command that needs git (`claim --remote`) could not run it: not installed.
    #[error("git is not installed (not found on PATH): {what} needs it")]
    GitNotFound { what: String },

    /// `--remote NAME` names no remote of this clone.
    #[error("no git remote named `{remote}` in this clone{}", known_remotes(known))]
    RemoteUnknown { remote: String, known: Vec<String> },

    /// A `jit batch` input that is not a list of valid entries (`entry`: which one).
    #[error("{}{message}", entry_prefix(*entry))]
    BatchInvalid { entry: Option<usize>, message: String },

    /// A `jit batch` input over a size limit.
    #[error("the batch is too large: {message}")]
    BatchTooLarge { message: String, limit: u64 },

    #[error("{0}")]
    InvalidIdempotencyKey(String),

    /// A key that already committed a different request.
    #[error("idempotency key `{key}` was already used, at {at}, for a different request")]
    IdempotencyKeyReused { key: String, at: String },

    /// An entry of a batch failed: its own error, with its place. Nothing was written.
    /// `jit serve` while a daemon already serves the repository.
    #[error("jit serve is already running for this repository (pid {pid})")]
    ServeRunning { pid: u32 },

    /// `jit serve --status` when no daemon serves the repository.
    #[error("no jit serve is running for this repository")]
    ServeNotRunning,

    /// The daemon went away after it took a command and before it said how it ended.
    #[error(
        "jit serve stopped before the command finished; whether a change it asked for was \
         made is unknown"
    )]
    ServeInterrupted,

    #[error("entry {entry} ({op}): {source}; nothing was changed")]
    BatchEntry { entry: usize, op: &'static str, source: Box<Error> },
}

fn entry_prefix(entry: Option<usize>) -> String {
    entry.map(|e| format!("entry {e}: ")).unwrap_or_default()
}

/// Where and why repository discovery stopped searching upwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchStop {
    /// The top of the git work tree that contains the start.
    GitWorkTree,
    /// The next directory up is one of `JIT_CEILING_DIRECTORIES`.
    Ceiling,
}

impl SearchStop {
    fn describe(self) -> &'static str {
        match self {
            SearchStop::GitWorkTree => {
                "the top of the git work tree that holds it (discovery does not leave a git \
                 repository)"
            }
            SearchStop::Ceiling => "as the next directory up is in JIT_CEILING_DIRECTORIES",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            SearchStop::GitWorkTree => "git_work_tree",
            SearchStop::Ceiling => "ceiling",
        }
    }
}

fn gate_list(gates: &[(String, String)]) -> String {
    let names: Vec<String> = gates.iter().map(|(n, s)| format!("{n} ({s})")).collect();
    format!("gate{} {}", if names.len() == 1 { "" } else { "s" }, names.join(", "))
}

/// "auto gate `a` is" / "auto gates `a`, `b` are".
/// Who holds a claim ref on a remote (`ALREADY_CLAIMED` of `claim --remote`).
#[derive(Debug)]
pub struct RemoteHolder {
    pub id: String,
    pub remote: String,
    pub agent: String,
    pub host: String,
    pub token: u64,
    pub expires_at: String,
}

fn known_remotes(known: &[String]) -> String {
    match known {
        [] => " (it has none)".into(),
        _ => format!(" (it has {})", known.join(", ")),
    }
}

fn untrusted_list(gates: &[String]) -> String {
    let names: Vec<String> = gates.iter().map(|g| format!("`{g}`")).collect();
    match names.len() {
        1 => format!("auto gate {} is", names[0]),
        _ => format!("auto gates {} are", names.join(", ")),
    }
}

fn holder_suffix(holder: &Option<String>) -> String {
    holder.as_ref().map(|h| format!(" (held by {h})")).unwrap_or_default()
}

impl Error {
    /// The stable machine code (`docs/errors.md`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::RepoNotFound { .. } | Error::RepoNotFoundBelow { .. } => "REPO_NOT_FOUND",
            Error::IssueNotFound(_) => "ISSUE_NOT_FOUND",
            Error::AmbiguousId { .. } => "AMBIGUOUS_ID",
            Error::InvalidId(_) => "INVALID_ID",
            Error::InvalidTitle(_) => "INVALID_TITLE",
            Error::InvalidLabel { .. } => "INVALID_LABEL",
            Error::InvalidValue { what, .. } => match *what {
                "state" => "INVALID_STATE",
                "priority" => "INVALID_PRIORITY",
                "durability" => "INVALID_DURABILITY",
                _ => "INVALID_VALUE",
            },
            Error::TooLong { .. } => "TOO_LONG",
            Error::InvalidArgument(_) => "INVALID_ARGUMENT",
            Error::DocumentPath { .. } => "DOCUMENT_PATH_INVALID",
            Error::DocumentNotFound { .. } => "DOCUMENT_NOT_FOUND",
            Error::TransitionRefused { .. } => "TRANSITION_REFUSED",
            Error::VersionConflict { .. } => "VERSION_CONFLICT",
            Error::ConfirmationRequired(_) => "CONFIRMATION_REQUIRED",
            Error::VersionExhausted { .. } => "VERSION_EXHAUSTED",
            Error::LockTimeout { .. } => "LOCK_TIMEOUT",
            Error::DeadlineExceeded { .. } => "DEADLINE_EXCEEDED",
            Error::Corrupt { .. } => "CORRUPT_FILE",
            Error::ConfigInvalid { .. } => "CONFIG_INVALID",
            Error::Filter(f) => f.code(),
            Error::Dependency { refusal, .. } => refusal.code(),
            Error::Gate { refusal, .. } => refusal.code(),
            Error::GatesNotPassed { .. } => "GATES_NOT_PASSED",
            Error::GateUntrusted { .. } => "GATE_UNTRUSTED",
            Error::GraphCycle { .. } => "GRAPH_CYCLE",
            Error::Blocked { .. } => "ISSUE_BLOCKED",
            Error::NoPath { .. } => "PATH_NOT_FOUND",
            Error::AlreadyClaimed { .. } => "ALREADY_CLAIMED",
            Error::ClaimedRemotely(_) => "ALREADY_CLAIMED",
            Error::ClaimFenced { .. } => "CLAIM_FENCED",
            Error::NoIssueAvailable { .. } => "NO_ISSUE_AVAILABLE",
            Error::LeaseNotHeld { .. } => "LEASE_NOT_HELD",
            Error::CommandNotStarted { .. } => "COMMAND_NOT_STARTED",
            Error::RateLimited { .. } => "RATE_LIMITED",
            Error::BulkConfirmRequired(..) => "BULK_CONFIRM_REQUIRED",
            Error::NotRegularFile { .. } => "NOT_A_REGULAR_FILE",
            Error::JournalBlocked { .. } => "JOURNAL_BLOCKED",
            Error::ChangePending { .. } => "CHANGE_PENDING",
            Error::MergeFailed { .. } => "MERGE_FAILED",
            Error::NotGitRepo { .. } => "NOT_A_GIT_REPOSITORY",
            Error::GitFailed { .. } => "GIT_FAILED",
            Error::GitNotFound { .. } => "GIT_NOT_FOUND",
            Error::RemoteUnknown { .. } => "REMOTE_UNKNOWN",
            Error::BatchInvalid { .. } => "BATCH_INVALID",
            Error::BatchTooLarge { .. } => "BATCH_TOO_LARGE",
            Error::BatchEntry { source, .. } => source.code(),
            Error::InvalidIdempotencyKey(_) => "INVALID_IDEMPOTENCY_KEY",
            Error::ServeRunning { .. } => "SERVE_RUNNING",
            Error::ServeNotRunning => "SERVE_NOT_RUNNING",
            Error::ServeInterrupted => "SERVE_INTERRUPTED",
            Error::IdempotencyKeyReused { .. } => "IDEMPOTENCY_KEY_REUSED",
            Error::Io { source, .. } => match source.kind() {
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                    "PERMISSION_DENIED"
                }
                io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => "DISK_FULL",
                _ => "IO_ERROR",
            },
        }
    }

    /// A multi-line excerpt of the input with a caret under the problem, when there is one.
    pub fn snippet(&self) -> Option<String> {
        match self {
            Error::Filter(f) => Some(f.snippet()),
            Error::BatchEntry { source, .. } => source.snippet(),
            _ => None,
        }
    }

    /// Extra machine-readable fields for the JSON error object.
    pub fn details(&self) -> Map<String, Value> {
        let v = match self {
            Error::AmbiguousId { prefix, candidates } => {
                json!({"prefix": prefix, "candidates": candidates})
            }
            Error::IssueNotFound(id) => json!({"id": id}),
            Error::ServeRunning { pid } => json!({"pid": pid}),
            Error::DocumentPath { path, reason } => json!({"path": path, "reason": reason}),
            Error::DocumentNotFound { id, path } => json!({"id": id, "path": path}),
            Error::RepoNotFoundBelow { searched, stopped_at, why } => json!({
                "path": searched.to_string_lossy(),
                "stopped_at": stopped_at.to_string_lossy(),
                "reason": why.as_str(),
            }),
            Error::InvalidValue { what, value, allowed, suggestion } => {
                json!({"field": what, "value": value, "allowed": allowed, "suggestion": suggestion})
            }
            Error::VersionExhausted { id, version } => json!({"id": id, "version": version}),
            Error::TooLong { field, len, max } => json!({"field": field, "len": len, "max": max}),
            Error::TransitionRefused { id, from, to, allowed } => {
                json!({"id": id, "from": from, "to": to, "allowed": allowed})
            }
            Error::VersionConflict { id, expected, actual } => {
                json!({"id": id, "expected": expected, "actual": actual})
            }
            Error::Filter(f) => json!({
                "position": {"line": f.line, "column": f.column, "offset": f.start,
                             "length": f.end - f.start},
                "input": f.input,
                "expected": f.expected,
                "suggestion": f.suggestion,
            }),
            Error::BulkConfirmRequired(_, matched) => json!({"matched": matched}),
            Error::Dependency { cycle, .. } if !cycle.is_empty() => json!({"cycle": cycle}),
            Error::GatesNotPassed { id, to, gates, moved_to } => json!({
                "id": id, "to": to, "state": moved_to,
                "gates": gates.iter().map(|(n, s)| json!({"name": n, "status": s})).collect::<Vec<_>>(),
            }),
            Error::Gate { suggestion, .. } => json!({"suggestion": suggestion}),
            Error::GateUntrusted { gates } => json!({"gates": gates}),
            Error::GraphCycle { cycle } => json!({"cycle": cycle}),
            Error::Blocked { id, blockers } => json!({"id": id, "blockers": blockers}),
            Error::NoPath { from, to } => json!({"from": from, "to": to}),
            Error::AlreadyClaimed { id, agent, token, expires_at } => {
                json!({"id": id, "agent": agent, "token": token, "lease_expires_at": expires_at})
            }
            Error::ClaimedRemotely(h) => json!({
                "id": h.id, "agent": h.agent, "token": h.token, "lease_expires_at": h.expires_at,
                "remote": h.remote, "host": h.host
            }),
            Error::ClaimFenced { id, presented, current } => {
                json!({"id": id, "presented": presented, "current": current})
            }
            Error::NoIssueAvailable { matched, blocked, gated, claimed } => json!({
                "matched": matched, "blocked": blocked, "gated": gated, "claimed": claimed
            }),
            Error::LeaseNotHeld { id, .. } => json!({"id": id}),
            Error::CommandNotStarted { command, id, .. } => json!({"command": command, "id": id}),
            Error::RateLimited { agent, retry_after_ms, per_minute, burst } => json!({
                "agent": agent, "retry_after_ms": retry_after_ms,
                "per_minute": per_minute, "burst": burst
            }),
            Error::MergeFailed { path, .. } => json!({"path": path}),
            Error::NotGitRepo { path } => json!({"path": path.to_string_lossy()}),
            Error::GitFailed { command, .. } => json!({"command": command}),
            Error::RemoteUnknown { remote, known } => json!({"remote": remote, "known": known}),
            Error::BatchInvalid { entry, .. } => json!({"entry": entry}),
            Error::BatchTooLarge { limit, .. } => json!({"limit": limit}),
            Error::IdempotencyKeyReused { key, at } => json!({"key": key, "at": at}),
            Error::BatchEntry { entry, op, source } => {
                let mut m = source.details();
                m.insert("entry".into(), json!(entry));
                m.insert("op".into(), json!(op));
                Value::Object(m)
            }
            Error::JournalBlocked { record, path } => json!({
                "record": record.to_string_lossy(), "path": path.to_string_lossy()
            }),
            Error::ChangePending { record, source } => json!({
                "record": record.to_string_lossy(), "cause": source.code()
            }),
            Error::LockTimeout { waited_ms, holder } => {
                json!({"waited_ms": waited_ms, "holder": holder})
            }
            Error::DeadlineExceeded { timeout_ms } => json!({"timeout_ms": timeout_ms}),
            // Lossy: a path need not be UTF-8, and a JSON error must never fail to print.
            Error::Corrupt { path, .. }
            | Error::ConfigInvalid { path, .. }
            | Error::Io { path, .. }
            | Error::NotRegularFile { path } => json!({"path": path.to_string_lossy()}),
            _ => json!({}),
        };
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

/// Attach a path to an I/O error (`.at(path)`), the way every I/O failure is reported.
pub trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|source| Error::Io { path: path.as_ref().to_path_buf(), source })
    }
}

impl From<Box<crate::query::FilterError>> for Error {
    fn from(e: Box<crate::query::FilterError>) -> Self {
        Error::Filter(e)
    }
}
