//! `jit validate --fix`: the repairs of what `validate` finds. Under the writers' lock, it
//! lists the journal's interrupted changes and then finishes them, frees what it can (temp
//! files, the index), and stages every change of a tracked file in ONE transaction: issue
//! edits (dangling references, cycles, expired claims), moves into `.jit/quarantine/` with a
//! note beside each, files restored from git, event log segments without their bad lines.
//! One commit makes them all or nothing. Then it rebuilds the index and checks again, still
//! under the lock, so what it reports as remaining is what the next `validate` finds.
//! A dry run plans the same repairs from the same findings and changes nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;

use super::{Finding, Progress, Repo, Severity, events, store};
use crate::api::{FixAction, FixReport, FixRequest, ReleaseRequest};
use crate::error::{Error, IoContext, Result};
use crate::model::{Issue, IssueId};
use crate::repo::Transaction;
use crate::repo::ops;
use crate::storage::{DIR_NAME, atomic, index};

mod quarantine;
mod refs;

/// What to repair (the CLI's flags).
pub type FixOptions = FixRequest;

/// The note left beside everything moved into quarantine.
#[derive(Serialize)]
struct Note<'a> {
    /// Where it was, relative to the project directory.
    from: &'a str,
    code: &'a str,
    /// Why it was moved: the finding's message.
    reason: &'a str,
    moved_at: String,
    /// How to put it back.
    restore: String,
}

/// What an event log segment lost, kept in quarantine.
#[derive(Serialize)]
struct CutLines<'a> {
    from: &'a str,
    cut_at: String,
    lines: Vec<CutLine>,
}

#[derive(Serialize)]
struct CutLine {
    line: usize,
    /// The line as text (invalid UTF-8 replaced).
    text: String,
    /// The exact bytes in hex, when the line is not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    hex: Option<String>,
}

/// A gate removed from an issue because the registry does not have it, kept in quarantine.
#[derive(Serialize)]
struct RemovedGate<'a> {
    issue: IssueId,
    gate: &'a str,
    removed_at: String,
    definition: &'a crate::model::Gate,
}

/// The edits of one issue.
#[derive(Default)]
struct Edit {
    deps: BTreeSet<IssueId>,
    gates: BTreeSet<String>,
    docs: BTreeSet<String>,
}

struct Planner<'a, 'r> {
    repo: &'r Repo,
    tx: &'a mut Transaction<'r>,
    opts: &'a FixOptions,
    actions: Vec<FixAction>,
    /// Indices (into the findings) of those a repair settles.
    settled: HashSet<usize>,
    /// The quarantine folder of this fix, relative to `.jit/`, once made up.
    qdir: Option<String>,
    freed: u64,
    /// Paths (relative to `.jit/`) already moved or rewritten.
    moved: HashSet<String>,
    /// Issues whose file this fix moves out of `issues/` (dependencies on them are removed,
    /// so that the fix leaves none dangling).
    gone: HashSet<IssueId>,
    git: Option<bool>,
}

impl Repo {
    /// Repair what `validate` finds (see the module documentation).
    pub fn fix(&self, opts: &FixOptions, progress: Progress) -> Result<FixReport> {
        let mut pre = Vec::new();
        store::check_lock_info(&self.layout, &mut pre);
        let mut tx = self.begin_unrecovered()?;
        store::check_lock_file(&self.layout, &mut pre);
        store::check_journal(&self.layout, &mut pre)?;
        let mut p = Planner {
            repo: self,
            tx: &mut tx,
            opts,
            actions: Vec::new(),
            settled: HashSet::new(),
            qdir: None,
            freed: 0,
            moved: HashSet::new(),
            gone: HashSet::new(),
            git: None,
        };
        p.lock_file(&pre)?;
        p.journal_and_lock_info(&pre)?;
        let checks = self.run_checks(progress, false)?;
        let mut findings = pre;
        let offset = findings.len();
        // Found before the checks already (a dry run finds it again: the same finding).
        let lock_found = findings.iter().any(|f| f.code == "LOCK_FILE_INVALID");
        findings.extend(
            checks.findings.into_iter().filter(|f| !(lock_found && f.code == "LOCK_FILE_INVALID")),
        );
        p.free_space(&findings)?;
        p.quarantined_records(&findings)?;
        p.files(&findings)?;
        p.references(&findings, &checks.scan)?;
        p.leases(&findings, offset)?;
        p.merged_claims(&findings)?;
        p.event_log(&findings, &checks.segments);
        let Planner { actions, settled, qdir, freed, .. } = p;
        let quarantine = qdir.map(|q| format!("{DIR_NAME}/{q}"));
        let disk_full = findings.iter().any(|f| f.code == "DISK_FULL");
        let index_findings =
            findings.iter().any(|f| matches!(f.code, "INDEX_DAMAGED" | "INDEX_WRONG"));
        let remaining = if opts.dry_run {
            drop(tx);
            let mut left: Vec<Finding> = findings
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !settled.contains(i))
                .map(|(_, f)| f)
                .collect();
            super::sort(&mut left);
            left
        } else {
            let (committed, lock) = tx.commit_keeping_lock("validate_fix")?;
            // Brought up to date after any change too (files moved or renamed), so that the
            // check below, and a second fix, find nothing to rebuild.
            if (index_findings || committed.changed()) && !disk_full {
                // Best effort, as every index write: a listing writes it otherwise.
                let _ = index::snapshot_locked(&self.layout, &lock);
            }
            let mut left = self.run_checks(&|_, _| {}, true)?.findings;
            drop(lock);
            super::sort(&mut left);
            left
        };
        let counts = super::severity_counts(&remaining)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        Ok(FixReport {
            dry_run: opts.dry_run,
            actions,
            remaining,
            counts,
            quarantine,
            freed_bytes: freed,
        })
    }
}

/// `.jit/<rel>` → `<rel>`.
fn in_store(path: &str) -> &str {
    path.strip_prefix(DIR_NAME).and_then(|p| p.strip_prefix('/')).unwrap_or(path)
}

impl Planner<'_, '_> {
    fn act(&mut self, i: usize, f: &Finding, action: &str, message: String) -> &mut FixAction {
        self.settled.insert(i);
        self.actions.push(FixAction {
            code: f.code.to_string(),
            severity: f.severity,
            action: action.to_string(),
            path: f.path.clone(),
            issue: f.issue,
            target: None,
            to: None,
            message,
        });
        self.actions.last_mut().expect("just pushed")
    }

    fn verb(&self, done: &str, would: &str) -> String {
        if self.opts.dry_run { would.to_string() } else { done.to_string() }
    }

    /// `.jit/lock` that is not a regular file (a directory, FIFO or link: every writer
    /// refuses to start): moved into quarantine, first and directly, as the journal's commit
    /// sequence lives in that file, so neither recovery nor the commit of this fix could run
    /// with it in the way. The next commit makes it again; the note goes with the commit.
    fn lock_file(&mut self, pre: &[Finding]) -> Result<()> {
        for (i, f) in pre.iter().enumerate().filter(|(_, f)| f.code == "LOCK_FILE_INVALID") {
            let to = format!("{}/lock", self.qdir());
            if !self.opts.dry_run {
                let root = self.repo.layout.root();
                let dest = root.join(&to);
                let mut missing: Vec<&std::path::Path> = dest
                    .ancestors()
                    .skip(1)
                    .take_while(|d| *d != root && std::fs::symlink_metadata(d).is_err())
                    .collect();
                missing.reverse();
                for d in missing {
                    atomic::create_dir(d, self.repo.durability)?;
                }
                let from = self.repo.layout.lock_path();
                std::fs::rename(&from, &dest).at(&from)?;
                atomic::sync_dir(root, self.repo.durability)?;
                if let Some(parent) = dest.parent() {
                    atomic::sync_dir(parent, self.repo.durability)?;
                }
            }
            let note = Note {
                from: &f.path,
                code: f.code,
                reason: &f.message,
                moved_at: crate::model::time::format(self.tx.now()),
                restore: "nothing to restore: jit made a new lock file".into(),
            };
            let text = serde_json::to_string_pretty(&note).expect("note serialises") + "\n";
            self.tx.stage_file(format!("{to}.note.json"), text);
            self.moved.insert("lock".into());
            let m = self.verb("moved into quarantine", "would move into quarantine");
            let shown = format!("{DIR_NAME}/{to}");
            let message = format!("{m}: {shown}; the next commit makes the lock file again");
            self.act(i, f, "quarantine", message).to = Some(shown);
        }
        Ok(())
    }

    /// The journal's records (then finished, as every writer would) and lock.info.
    fn journal_and_lock_info(&mut self, pre: &[Finding]) -> Result<()> {
        for (i, f) in pre.iter().enumerate() {
            let (action, done, would) = match f.code {
                "JOURNAL_PENDING" => (
                    "roll_forward",
                    "rolled the interrupted change forward",
                    "would roll the interrupted change forward",
                ),
                "JOURNAL_INCOMPLETE" => (
                    "discard_record",
                    "discarded the unfinished record (no file was changed by it)",
                    "would discard the unfinished record (no file was changed by it)",
                ),
                "JOURNAL_DAMAGED" => (
                    "quarantine_record",
                    "moved the record, unapplied, to .jit/quarantine/journal-NAME (settled: \
                     check the issues it names against what was meant)",
                    "would move the record, unapplied, to .jit/quarantine/journal-NAME and \
                     settle it",
                ),
                "LOCK_INFO_INVALID" => {
                    if self.repo.layout.lock_info_path().is_file()
                        || std::fs::symlink_metadata(self.repo.layout.lock_info_path()).is_err()
                    {
                        let m = "rewritten with this command as the holder when --fix took the \
                                 lock";
                        self.act(i, f, "rewrite_lock_info", m.to_string());
                    } else {
                        self.quarantine(i, f)?;
                    }
                    continue;
                }
                _ => continue, // JOURNAL_BLOCKED: recovery fails and says why
            };
            let m = self.verb(done, would);
            self.act(i, f, action, m);
        }
        if !self.opts.dry_run {
            // What recovery sets aside is settled at once: the action above says so.
            for name in self.tx.recover()?.quarantined {
                let note = serde_json::json!({
                    "settled_at": crate::model::time::format(self.tx.now()),
                    "by": "jit validate --fix",
                    "record": format!("{DIR_NAME}/quarantine/{name}"),
                    "reason": "a damaged journal record, set aside unapplied by validate --fix",
                });
                let text = serde_json::to_string_pretty(&note).expect("note serialises") + "\n";
                crate::storage::journal::settle(&self.repo.layout, &name, &text)?;
            }
        }
        Ok(())
    }

    /// Temp files of dead writers go; the index goes when it is damaged, wrong or behind, or
    /// when the disk is full (it is rebuilt after the commit, unless the disk is full).
    fn free_space(&mut self, findings: &[Finding]) -> Result<()> {
        let mut cleared = false;
        let disk_full = findings.iter().any(|f| f.code == "DISK_FULL");
        for (i, f) in findings.iter().enumerate() {
            match f.code {
                "TEMP_FILE" => {
                    if !self.opts.dry_run {
                        let path = self.repo.layout.project().join(&f.path);
                        self.freed += atomic::remove_temp_file(&path)?;
                    }
                    let m = self.verb("removed the temp file", "would remove the temp file");
                    self.act(i, f, "remove_temp_file", m);
                }
                "INDEX_DAMAGED" | "INDEX_WRONG" => {
                    if !self.opts.dry_run && !cleared {
                        self.freed += self.tx.clear_index()?;
                        cleared = true;
                    }
                    let m = if disk_full {
                        self.verb(
                            "removed the index (the disk is full: the next listing writes it)",
                            "would remove the index (the disk is full: the next listing writes \
                             it)",
                        )
                    } else {
                        self.verb("rebuilt the index", "would rebuild the index")
                    };
                    self.act(i, f, "rebuild_index", m);
                }
                _ => {}
            }
        }
        if disk_full && !cleared && !self.opts.dry_run {
            self.freed += self.tx.clear_index()?;
        }
        Ok(())
    }

    /// Damaged journal records recovery set aside (before, or just now): each is settled
    /// with a note beside it (`quarantine/journal-<name>.settled`), which keeps the record
    /// and stops the warnings of every command.
    fn quarantined_records(&mut self, findings: &[Finding]) -> Result<()> {
        for (i, f) in findings.iter().enumerate().filter(|(_, f)| f.code == "JOURNAL_QUARANTINED") {
            let Some(name) = f.path.rsplit('/').next().map(str::to_string) else { continue };
            if !self.opts.dry_run {
                let note = serde_json::json!({
                    "settled_at": crate::model::time::format(self.tx.now()),
                    "by": "jit validate --fix",
                    "record": &f.path,
                    "reason": &f.message,
                });
                let text = serde_json::to_string_pretty(&note).expect("note serialises") + "\n";
                crate::storage::journal::settle(&self.repo.layout, &name, &text)?;
            }
            let m = self.verb(
                "settled: a note beside the record says so, and commands stop warning about it",
                "would settle it: a note beside the record, and commands stop warning about it",
            );
            self.act(i, f, "settle_record", m);
        }
        Ok(())
    }
}

/// What makes `--fix` exit 6: an error or warning remains; for a dry run (which changes
/// nothing), also one a repair would settle.
pub fn has_problems(report: &FixReport) -> bool {
    report.remaining.iter().any(|f| f.severity != Severity::Info)
        || report.dry_run && report.actions.iter().any(|a| a.severity != Severity::Info)
}
