//! Gates: named checks from the registry in config.json, attached to issues. A precheck must
//! pass before work starts (in_progress); a postcheck before the issue is done.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;

/// When a gate applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Precheck,
    Postcheck,
}

/// Who decides a gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Manual,
    Auto,
}

/// A gate's status on one issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateStatus {
    Pending,
    Passed,
    Failed,
}

impl GateStatus {
    pub const ALL: [GateStatus; 3] = [GateStatus::Pending, GateStatus::Passed, GateStatus::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            GateStatus::Pending => "pending",
            GateStatus::Passed => "passed",
            GateStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for GateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Precheck => "precheck",
            Stage::Postcheck => "postcheck",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Manual => "manual",
            Mode::Auto => "auto",
        })
    }
}

fn parse_choice<T: Copy>(
    what: &'static str,
    s: &str,
    all: &[(&'static str, T)],
) -> Result<T, Error> {
    let n = s.trim().to_ascii_lowercase();
    all.iter().find(|(k, _)| *k == n).map(|(_, v)| *v).ok_or_else(|| Error::InvalidValue {
        what,
        value: s.to_string(),
        allowed: all.iter().map(|(k, _)| k.to_string()).collect(),
        suggestion: super::suggest(&n, all.iter().map(|(k, _)| *k)),
    })
}

impl FromStr for Stage {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        parse_choice("stage", s, &[("precheck", Stage::Precheck), ("postcheck", Stage::Postcheck)])
    }
}

impl FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        parse_choice("mode", s, &[("manual", Mode::Manual), ("auto", Mode::Auto)])
    }
}

/// A gate in the registry (`config.json` → `gates`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateDef {
    pub stage: Stage,
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The argument vector of an automated gate (run without a shell unless `shell`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shell: bool,
    #[serde(default = "default_timeout")]
    pub timeout_s: u64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn default_timeout() -> u64 {
    600
}

/// One recorded decision or run of a gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateRun {
    pub status: GateStatus,
    #[serde(with = "super::time")]
    pub at: jiff::Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    /// The last bytes of the command's output (stdout and stderr together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Runs kept per gate on an issue; older ones are dropped so issue files stay small.
pub const MAX_RUNS: usize = 20;

/// A gate attached to an issue: its status and its recent history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    pub status: GateStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<GateRun>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Gate {
    pub fn pending() -> Gate {
        Gate { status: GateStatus::Pending, runs: Vec::new(), extra: Map::new() }
    }

    /// Record a result: it becomes the status and joins the history.
    pub fn record(&mut self, run: GateRun) {
        self.status = run.status;
        self.runs.push(run);
        if self.runs.len() > MAX_RUNS {
            let drop = self.runs.len() - MAX_RUNS;
            self.runs.drain(..drop);
        }
    }
}

/// Gate names: like label namespaces, `[a-z0-9][a-z0-9_-]*`, at most 64 bytes.
pub fn validate_gate_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid gate name `{name}`: use a-z, 0-9, `_` and `-`, starting with a letter or digit"
        )))
    }
}
