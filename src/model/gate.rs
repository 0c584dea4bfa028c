//! Gates: named checks from the registry in config.json, attached to issues. A precheck must
//! pass before work starts (in_progress); a postcheck before the issue is done.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;

/// When a gate applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Precheck,
    Postcheck,
}

/// Who decides a gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Manual,
    Auto,
}

/// A gate's status on one issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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

impl GateDef {
    /// What stops this auto gate from running, if anything: no command, or a timeout of 0
    /// (the command would be killed at once). `gate define` refuses both; a config edited by
    /// hand or merged can still hold them. A manual gate runs nothing, so has no such problem.
    pub fn problem(&self) -> Option<String> {
        match self.mode {
            Mode::Auto if self.command.first().is_none_or(|c| c.is_empty()) => {
                Some("no command: an auto gate needs one".into())
            }
            Mode::Auto if self.timeout_s == 0 => {
                Some("timeout_s is 0: the command would be killed at once".into())
            }
            _ => None,
        }
    }

    /// The SHA-256 of everything that decides what this gate runs and how, as 64 hex digits:
    /// the name (the command sees it as `JIT_GATE`), stage, mode, command, shell flag,
    /// timeout and any field this jit does not know (a later one may change behaviour). Only
    /// the description is left out. The input is a fixed prefix and compact JSON whose
    /// object keys are sorted, so the digest does not depend on how config.json is laid out.
    pub fn digest(&self, name: &str) -> String {
        use sha2::{Digest, Sha256};
        let mut canon = Map::new();
        for (k, v) in &self.extra {
            canon.insert(format!("x-{k}"), v.clone());
        }
        canon.insert("name".into(), name.into());
        canon.insert("stage".into(), self.stage.as_str().into());
        canon.insert("mode".into(), self.mode.to_string().into());
        canon.insert("command".into(), self.command.clone().into());
        canon.insert("shell".into(), self.shell.into());
        canon.insert("timeout_s".into(), self.timeout_s.into());
        let json = serde_json::to_string(&sorted(Value::Object(canon))).expect("JSON serialises");
        let hash = Sha256::new().chain_update(b"jit gate definition v1\n").chain_update(json);
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// `v` with every object's keys in sorted order, at any depth.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(json: Value) -> GateDef {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_digest_covers_what_runs_and_not_the_layout() {
        let base = json!({"stage": "precheck", "mode": "auto", "command": ["make", "lint"]});
        let d = def(base.clone());
        let same = def(json!({"command": ["make", "lint"], "mode": "auto", "stage": "precheck",
                              "timeout_s": 600, "description": "words change nothing"}));
        assert_eq!(d.digest("lint"), same.digest("lint"));
        assert_eq!(d.digest("lint").len(), 64);
        let mut changed = Vec::new();
        for (k, v) in [
            ("command", json!(["make", "lint", "--fix"])),
            ("shell", json!(true)),
            ("timeout_s", json!(5)),
            ("stage", json!("postcheck")),
            ("env", json!({"A": "1"})),
        ] {
            let mut j = base.clone();
            j[k] = v;
            changed.push(def(j).digest("lint"));
        }
        changed.push(d.digest("other"));
        let mut all = changed.clone();
        all.push(d.digest("lint"));
        all.sort();
        all.dedup();
        assert_eq!(all.len(), changed.len() + 1, "every change makes a new digest");
    }

    #[test]
    fn definitions_that_cannot_run_are_named() {
        let ok = def(json!({"stage": "precheck", "mode": "auto", "command": ["true"]}));
        assert_eq!(ok.problem(), None);
        let none = def(json!({"stage": "precheck", "mode": "auto"}));
        assert_eq!(none.problem().unwrap(), "no command: an auto gate needs one");
        let blank = def(json!({"stage": "precheck", "mode": "auto", "command": [""]}));
        assert_eq!(blank.problem().unwrap(), "no command: an auto gate needs one");
        let zero = def(json!({"stage": "precheck", "mode": "auto", "command": ["true"],
                              "timeout_s": 0}));
        assert!(zero.problem().unwrap().contains("timeout_s is 0"));
        let manual = def(json!({"stage": "precheck", "mode": "manual"}));
        assert_eq!(manual.problem(), None);
    }
}
