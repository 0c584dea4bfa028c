//! The finding codes: each with its fixed severity and a one-line summary (the human
//! output's group headings, and `--only`'s list of codes).

use serde::Serialize;

/// How bad a finding is. `error` and `warning` make `validate` exit 6; `info` does not.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Data is wrong or unreadable: an issue is missing from listings, or a rule is broken.
    Error,
    /// Nothing is wrong yet, but something is left over or in the way and should be settled.
    Warning,
    /// Worth knowing; nothing to settle.
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One finding code.
#[derive(Debug)]
pub struct CodeInfo {
    pub code: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
}

const fn c(code: &'static str, severity: Severity, summary: &'static str) -> CodeInfo {
    CodeInfo { code, severity, summary }
}

use Severity::{Error as E, Info as I, Warning as W};

/// Every code `validate` reports (docs/validate.md describes each).
pub const CODES: &[CodeInfo] = &[
    c("ISSUE_UNREADABLE", E, "issue files that cannot be read"),
    c("ISSUE_UNPARSEABLE", E, "issue files that are not JSON"),
    c("ISSUE_TRUNCATED", E, "issue files cut short (a partial write)"),
    c("ISSUE_CONFLICT_MARKERS", E, "issue files holding git conflict markers"),
    c("ISSUE_UNMERGED", E, "issue files an unfinished git merge left unmerged"),
    c("ISSUE_SCHEMA", E, "issue files with a missing or mistyped field"),
    c("ISSUE_INVALID_VALUE", E, "issue fields holding values jit would refuse"),
    c("ISSUE_VERSION_EXHAUSTED", E, "issues whose version cannot be incremented"),
    c("ISSUE_TIMESTAMP_FORM", I, "timestamps not in the form jit writes"),
    c("ISSUE_ID_MISMATCH", E, "issue files whose id is not their file name"),
    c("ISSUE_DUPLICATE_ID", E, "issue files holding an id another file has"),
    c("ISSUE_NOT_REGULAR", E, "symbolic links, directories and FIFOs among the issue files"),
    c("FOREIGN_FILE", W, "files in issues/ that are not issue files"),
    c("TEMP_FILE", W, "temp files left by killed writers"),
    c("DEP_MISSING", E, "dependencies on issues that do not exist"),
    c("DEP_SELF", E, "issues that depend on themselves"),
    c("DEP_CYCLE", E, "dependency cycles"),
    c("GATE_UNKNOWN", E, "gates on issues that are not in the registry"),
    c("DOC_MISSING", W, "documents whose file does not exist"),
    c("DOC_OUTSIDE", W, "documents outside the project"),
    c("LEASE_EXPIRED", W, "in-progress issues whose claim's lease expired"),
    c("EVENT_LINE_TORN", W, "event log lines that are not events"),
    c("EVENTS_DISAGREE", I, "issues whose version is not the event log's"),
    c("STATE_BLOCKED", I, "issues in progress whose dependencies are not done"),
    c("CLAIM_MERGED", W, "issues a merge left claimed by one of two agents"),
    c("LABEL_NAMESPACE", W, "labels outside the declared namespaces"),
    c("CONFIG_INVALID", E, "a config.json that cannot be read"),
    c("GATE_DEF_INVALID", E, "gate definitions that cannot run"),
    c("GATE_UNTRUSTED", I, "auto gates not trusted on this machine"),
    c("JOURNAL_PENDING", W, "multi-file changes interrupted, to be rolled forward"),
    c("JOURNAL_INCOMPLETE", W, "journal records whose writing never finished"),
    c("JOURNAL_DAMAGED", E, "journal records that cannot be applied as written"),
    c("JOURNAL_BLOCKED", E, "journal records that cannot be applied now"),
    c("JOURNAL_QUARANTINED", E, "damaged journal records set aside, not yet settled"),
    c("DISK_FULL", E, "too little free space for a write"),
    c("LOCK_FILE_INVALID", E, "a lock file that stops every writer"),
    c("LOCK_INFO_INVALID", I, "a lock.info that cannot be read"),
    c("INDEX_DAMAGED", I, "index files that cannot be used whole"),
    c("INDEX_STALE", I, "index records that no longer match the files"),
    c("INDEX_WRONG", E, "index records listings trust that disagree with their files"),
    c("STORE_FOREIGN_ENTRY", I, "entries of .jit/ that jit does not know"),
    c("ISSUES_DIR_INVALID", E, "an issues/ that is not a directory"),
    c("GIT_DRIVER_MISSING", I, "a git clone without jit's merge driver registered"),
];

/// The entry of `code`, if it is one.
pub fn code_info(code: &str) -> Option<&'static CodeInfo> {
    CODES.iter().find(|c| c.code == code)
}
