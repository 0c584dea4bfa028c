//! `jit validate` and `jit validate --fix`: what they take and what `--json` prints.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::IssueId;
use crate::repo::validate::Finding;

/// `validate --fix`: repair what is safe, move aside what is not (docs/validate.md).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FixRequest {
    /// List what would be done, change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Put back, from git's `HEAD`, an issue file that cannot be read, when `HEAD` has a
    /// valid version of it (the damaged file is kept in quarantine).
    #[serde(default)]
    pub restore_from_git: bool,
    /// Remove documents whose file is missing or outside the project.
    #[serde(default)]
    pub prune_docs: bool,
}

/// One repair `--fix` made (or, with `--dry-run`, would make).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FixAction {
    /// The finding repaired, and its severity.
    pub code: String,
    pub severity: crate::repo::validate::Severity,
    /// `roll_forward`, `discard_record`, `quarantine_record`, `rewrite_lock_info`,
    /// `remove_temp_file`, `rebuild_index`, `quarantine`, `rename`, `restore_from_git`,
    /// `remove_dependency`, `remove_gate`, `remove_document`, `release_claim`,
    /// `cut_event_lines`.
    pub action: String,
    /// The file concerned, relative to the project directory.
    pub path: String,
    pub issue: Option<IssueId>,
    /// What in the file: the dependency, gate or document removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Where the file went (quarantine, or its new name), relative to the project directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// What was done, in a sentence.
    pub message: String,
}

/// What `validate --fix --json` prints.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct FixReport {
    pub dry_run: bool,
    /// The repairs, in the order they were made.
    pub actions: Vec<FixAction>,
    /// What is left: after `--fix`, the findings of a check made after the repairs; with
    /// `--dry-run`, the findings no repair would settle.
    pub remaining: Vec<Finding>,
    /// Remaining findings per severity (`error`, `warning`, `info`).
    pub counts: BTreeMap<String, usize>,
    /// The folder of `.jit/quarantine/` this fix moved things into, if it moved any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<String>,
    /// Bytes freed by removing temp files and the index.
    pub freed_bytes: u64,
}
