//! `jit validate`: every check of a repository, read only, under the shared lock so that no
//! writer changes a file while it is checked. One module per family of checks: the issue
//! files one by one (`files`, `schema`), what issues say of each other and of the config
//! (`refs`), and the rest of `.jit/` (`store`). Each finding names its code, severity, path
//! and issue, and the repair `--fix` can make of it (see docs/validate.md).

mod codes;
mod events;
mod files;
mod fix;
mod refs;
mod schema;
mod store;

pub use codes::{CODES, CodeInfo, Severity, code_info};
pub use fix::{FixOptions, has_problems};

use std::collections::BTreeMap;

use serde::Serialize;

use super::Repo;
use crate::error::Result;
use crate::model::IssueId;
use crate::storage::lock::RepoLock;

/// A safe repair of a finding, described for machines (what `--fix` would do).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Fix {
    /// `remove_temp_file`, `roll_forward`, `discard_record`, `quarantine`,
    /// `settle_record`, `remove_dependency`, `rebuild_index`.
    pub action: &'static str,
    /// What the action applies to, when the path and issue do not say it all (the dependency
    /// to remove).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// One problem found.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    /// The file, relative to the project directory (`.jit/issues/<id>.json`).
    pub path: String,
    /// The issue concerned, if any (from the file name, or from inside the file).
    pub issue: Option<IssueId>,
    pub message: String,
    /// Whether a safe repair is known (described by `fix`).
    pub fixable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    /// For `DEP_CYCLE`: the issues on the cycle, first one repeated at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycle: Option<Vec<IssueId>>,
    /// For findings git settles: the commands, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_commands: Option<Vec<String>>,
}

impl Finding {
    /// A finding of `code` (its severity from the table), with no fix.
    pub fn new(code: &'static str, path: impl Into<String>, message: impl Into<String>) -> Self {
        let severity = code_info(code).map_or(Severity::Error, |c| c.severity);
        Finding {
            code,
            severity,
            path: path.into(),
            issue: None,
            message: message.into(),
            fixable: false,
            fix: None,
            cycle: None,
            git_commands: None,
        }
    }

    pub fn issue(mut self, id: IssueId) -> Self {
        self.issue = Some(id);
        self
    }

    pub fn fix(mut self, action: &'static str, target: Option<String>) -> Self {
        self.fixable = true;
        self.fix = Some(Fix { action, target });
        self
    }
}

/// How many things were checked.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Checked {
    /// Entries of `issues/` looked at (files of every kind).
    pub files: usize,
    /// Issue files that read as a valid issue.
    pub issues: usize,
    pub dependencies: usize,
    pub journal_records: usize,
    pub gate_definitions: usize,
}

/// What `validate` found: the findings in a stable order (path, then code, then message).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ValidateReport {
    pub findings: Vec<Finding>,
    /// Findings per severity (`error`, `warning`, `info`), every severity present.
    pub counts: BTreeMap<&'static str, usize>,
    /// Findings per code, for the codes found.
    pub by_code: BTreeMap<&'static str, usize>,
    pub checked: Checked,
}

impl ValidateReport {
    /// Any error or warning (info does not count): what makes `validate` exit 6.
    pub fn has_problems(&self) -> bool {
        self.findings.iter().any(|f| f.severity != Severity::Info)
    }
}

/// What to check.
#[derive(Clone, Debug, Default)]
pub struct ValidateOptions {
    /// Report only these codes (empty: all). Every check still runs.
    pub only: Vec<&'static str>,
}

/// Progress of the longest step (reading the issue files): `(done, total)`.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Everything one run of the checks found, with what the fixes need to know.
struct Checks {
    findings: Vec<Finding>,
    checked: Checked,
    scan: files::Scan,
    /// Event log segments with lines that are not events.
    segments: Vec<events::Damaged>,
}

impl Repo {
    /// Check the whole repository. Takes the lock in shared mode (no writer runs meanwhile,
    /// other checkers may) and changes nothing.
    pub fn validate(&self, opts: &ValidateOptions, progress: Progress) -> Result<ValidateReport> {
        let mut findings = Vec::new();
        // Before the lock is taken: taking it rewrites lock.info.
        store::check_lock_info(&self.layout, &mut findings);
        let _lock =
            RepoLock::acquire_shared(&self.layout, self.lock_timeout, &self.command, &mut |h| {
                (self.on_wait)(h)
            })?;
        let mut checks = self.run_checks(progress, true)?;
        findings.append(&mut checks.findings);
        Ok(report(findings, &opts.only, checks.checked))
    }

    /// Every check but lock.info's (call with the lock held, shared or not); the journal's
    /// only with `journal`.
    fn run_checks(&self, progress: Progress, journal: bool) -> Result<Checks> {
        let mut findings = Vec::new();
        let mut checked = Checked::default();
        let config = store::check_config(&self.layout, &mut findings);
        let scan = files::scan(&self.layout, progress, &mut findings)?;
        checked.files = scan.entries;
        checked.issues = scan.issues.len();
        checked.dependencies = scan.issues.iter().map(|i| i.issue.dependencies.len()).sum();
        if let Some(config) = &config {
            checked.gate_definitions = config.gates.len();
            store::check_gate_defs(self, config, &mut findings);
        }
        refs::check(&scan, config.as_ref(), &mut findings);
        refs::check_documents(self.layout.project(), &scan, &mut findings);
        store::check_leases(self, &scan, &mut findings);
        let segments = events::check(&self.layout, &scan, &mut findings)?;
        if journal {
            checked.journal_records = store::check_journal(&self.layout, &mut findings)?;
        }
        store::check_root(&self.layout, &mut findings);
        store::check_space(&self.layout, scan.largest, &mut findings);
        store::check_index(&self.layout, &scan, &mut findings)?;
        store::check_unmerged(&self.layout, &mut findings);
        store::check_merge_driver(&self.layout, &mut findings);
        Ok(Checks { findings, checked, scan, segments })
    }
}

fn report(mut findings: Vec<Finding>, only: &[&'static str], checked: Checked) -> ValidateReport {
    if !only.is_empty() {
        findings.retain(|f| only.contains(&f.code));
    }
    sort(&mut findings);
    let counts = severity_counts(&findings);
    let mut by_code = BTreeMap::new();
    for f in &findings {
        *by_code.entry(f.code).or_default() += 1;
    }
    ValidateReport { findings, counts, by_code, checked }
}

/// The stable order of findings: path, then code, then message.
fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (&a.path, a.code, &a.message, a.issue).cmp(&(&b.path, b.code, &b.message, b.issue))
    });
}

/// Findings per severity, every severity present.
fn severity_counts(findings: &[Finding]) -> BTreeMap<&'static str, usize> {
    let mut counts: BTreeMap<&'static str, usize> =
        [Severity::Error, Severity::Warning, Severity::Info]
            .into_iter()
            .map(|s| (s.as_str(), 0))
            .collect();
    for f in findings {
        *counts.entry(f.severity.as_str()).or_default() += 1;
    }
    counts
}

/// `.jit/<rel>` relative to the project directory, as findings name paths.
fn rel(rel: &str) -> String {
    format!("{}/{rel}", crate::storage::DIR_NAME)
}
