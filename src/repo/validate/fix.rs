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
use crate::error::{Error, Result};
use crate::model::{Issue, IssueId};
use crate::repo::Transaction;
use crate::repo::ops;
use crate::storage::{DIR_NAME, atomic, index};

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
        p.journal_and_lock_info(&pre)?;
        let checks = self.run_checks(progress, false)?;
        let mut findings = pre;
        let offset = findings.len();
        findings.extend(checks.findings);
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

    /// The quarantine folder of this fix (relative to `.jit/`): `quarantine/fix-<time>`.
    fn qdir(&mut self) -> String {
        if let Some(q) = &self.qdir {
            return q.clone();
        }
        let t = self.tx.now().strftime("%Y%m%dT%H%M%S%.6fZ").to_string();
        let base = format!("quarantine/fix-{t}");
        let mut q = base.clone();
        let mut n = 1;
        while std::fs::symlink_metadata(self.repo.layout.root().join(&q)).is_ok() {
            n += 1;
            q = format!("{base}-{n}");
        }
        self.qdir = Some(q.clone());
        q
    }

    /// Move the finding's path into quarantine, with a note.
    fn quarantine(&mut self, i: usize, f: &Finding) -> Result<()> {
        let from = in_store(&f.path).to_string();
        let to = format!("{}/{from}", self.qdir());
        self.stage_quarantine(&from, &to, f)?;
        let m = self.verb("moved into quarantine", "would move into quarantine");
        let shown = format!("{DIR_NAME}/{to}");
        let message = format!("{m}: {shown} (a note beside it says why)");
        self.act(i, f, "quarantine", message).to = Some(shown);
        Ok(())
    }

    fn stage_quarantine(&mut self, from: &str, to: &str, f: &Finding) -> Result<()> {
        self.moved.insert(from.to_string());
        if let Some(id) = from.strip_prefix("issues/").and_then(IssueId::from_file_name) {
            self.gone.insert(id);
        }
        let note = Note {
            from: &f.path,
            code: f.code,
            reason: &f.message,
            moved_at: crate::model::time::format(self.tx.now()),
            restore: format!("mv {DIR_NAME}/{to} {}", f.path),
        };
        let text = serde_json::to_string_pretty(&note).expect("note serialises") + "\n";
        self.tx.stage_move(from.to_string(), to.to_string());
        self.tx.stage_file(format!("{to}.note.json"), text);
        Ok(())
    }

    /// The version of an issue file `HEAD` has, if it is a valid issue of that id.
    fn head_version(&mut self, f: &Finding) -> Option<String> {
        let id = f.issue?;
        let project = self.repo.layout.project();
        if *self
            .git
            .get_or_insert_with(|| crate::repo::git::work_tree(project).ok().flatten().is_some())
        {
            let bytes = crate::repo::git::head_blob(project, &f.path)?;
            let issue = Issue::from_slice(&bytes).ok().filter(|i| i.id == id)?;
            let _ = issue;
            String::from_utf8(bytes).ok()
        } else {
            None
        }
    }

    /// Issue files that are not issues, and entries that are not issue files.
    fn files(&mut self, findings: &[Finding]) -> Result<()> {
        let unmerged: HashSet<&str> = findings
            .iter()
            .filter(|f| f.code == "ISSUE_UNMERGED")
            .map(|f| f.path.as_str())
            .collect();
        for (i, f) in findings.iter().enumerate() {
            let path = in_store(&f.path).to_string();
            if self.moved.contains(&path) {
                if matches!(f.code, "ISSUE_CONFLICT_MARKERS" | "ISSUE_SCHEMA") {
                    self.settled.insert(i);
                }
                continue;
            }
            match f.code {
                "ISSUE_UNPARSEABLE"
                | "ISSUE_TRUNCATED"
                | "ISSUE_SCHEMA"
                | "ISSUE_CONFLICT_MARKERS" => {
                    // During a merge, git settles it: moving it would confuse the merge.
                    if unmerged.contains(f.path.as_str()) {
                        continue;
                    }
                    match self.head_version(f) {
                        Some(head) if self.opts.restore_from_git => {
                            let to = format!("{}/{path}", self.qdir());
                            self.stage_quarantine(&path, &to, f)?;
                            self.tx.stage_file(path.clone(), head);
                            if let Some(id) = f.issue {
                                self.gone.remove(&id);
                            }
                            let m = self.verb(
                                "restored from git's HEAD; the damaged file is in quarantine",
                                "would restore it from git's HEAD and keep the damaged file in \
                                 quarantine",
                            );
                            self.act(i, f, "restore_from_git", m).to =
                                Some(format!("{DIR_NAME}/{to}"));
                        }
                        Some(_) => {
                            self.quarantine(i, f)?;
                            let a = self.actions.last_mut().expect("just pushed");
                            a.message.push_str(
                                "; git's HEAD has a valid version of it: `jit validate --fix \
                                 --restore-from-git` puts that back",
                            );
                        }
                        None => self.quarantine(i, f)?,
                    }
                }
                "ISSUE_NOT_REGULAR" | "FOREIGN_FILE" | "ISSUE_DUPLICATE_ID" => {
                    self.quarantine(i, f)?;
                }
                "ISSUE_ID_MISMATCH" => self.rename(i, f, &path)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// A file whose issue is not its name, and no file has that issue's name: renamed.
    fn rename(&mut self, i: usize, f: &Finding, path: &str) -> Result<()> {
        let full = self.repo.layout.root().join(path);
        let inner = std::fs::read(&full).ok().and_then(|b| Issue::from_slice(&b).ok());
        let Some(inner) = inner else { return Ok(()) };
        let name = inner.id.file_name();
        if self.repo.layout.issue_path(inner.id).exists() {
            return self.quarantine(i, f);
        }
        let to = format!("issues/{name}");
        self.moved.insert(path.to_string());
        if let Some(id) = f.issue {
            self.gone.insert(id);
        }
        self.gone.remove(&inner.id);
        self.tx.stage_move(path.to_string(), to.clone());
        let m = self.verb("renamed to", "would rename to");
        let shown = format!("{DIR_NAME}/{to}");
        let message = format!("{m} {shown}, the name of the issue inside");
        self.act(i, f, "rename", message).to = Some(shown);
        Ok(())
    }

    /// Dangling dependencies, cycles, gates not in the registry, and (with `--prune-docs`)
    /// documents that lead nowhere: each issue edited once.
    fn references(&mut self, findings: &[Finding], scan: &super::files::Scan) -> Result<()> {
        let mut edits: BTreeMap<IssueId, Edit> = BTreeMap::new();
        let mut done: Vec<(usize, &Finding, &'static str, String, String)> = Vec::new();
        for (i, f) in findings.iter().enumerate() {
            let (Some(id), Some(target)) = (f.issue, f.fix.as_ref().and_then(|x| x.target.clone()))
            else {
                continue;
            };
            let e = edits.entry(id).or_default();
            match f.code {
                "DEP_MISSING" | "DEP_SELF" => {
                    let Ok(dep) = target.parse() else { continue };
                    e.deps.insert(dep);
                    done.push((i, f, "remove_dependency", target, "the dependency".into()));
                }
                "GATE_UNKNOWN" => {
                    e.gates.insert(target.clone());
                    done.push((i, f, "remove_gate", target, "the gate".into()));
                }
                "DOC_MISSING" | "DOC_OUTSIDE" if self.opts.prune_docs => {
                    e.docs.insert(target.clone());
                    done.push((i, f, "remove_document", target, "the document".into()));
                }
                _ => {}
            }
        }
        let mut orphaned = Vec::new();
        for s in &scan.issues {
            for d in s.issue.dependencies.iter().filter(|d| self.gone.contains(d)) {
                edits.entry(s.issue.id).or_default().deps.insert(*d);
                orphaned.push((s.path.clone(), s.issue.id, *d));
            }
        }
        let cycles = self.break_cycles(findings, scan, &mut edits);
        if !cycles.is_empty() {
            // The loop breaks every cycle, whichever finding named it.
            self.settled.extend(
                findings.iter().enumerate().filter(|(_, f)| f.code == "DEP_CYCLE").map(|(i, _)| i),
            );
        }
        let mut failed: HashSet<IssueId> = HashSet::new();
        for (id, edit) in &edits {
            if let Err(e) = self.stage_edit(*id, edit) {
                if matches!(e, Error::Io { .. }) {
                    return Err(e);
                }
                failed.insert(*id); // e.g. VERSION_EXHAUSTED: the finding stays
            }
        }
        for (i, f, action, target, what) in done {
            if f.issue.is_some_and(|id| failed.contains(&id)) {
                continue;
            }
            let m = self.verb(
                &format!("removed {what} {target}"),
                &format!("would remove {what} {target}"),
            );
            self.act(i, f, action, m).target = Some(target);
        }
        for (path, id, dep) in orphaned {
            if failed.contains(&id) {
                continue;
            }
            let m = self.verb(
                &format!(
                    "removed the dependency {dep}: this fix moves its file out of .jit/issues/"
                ),
                &format!(
                    "would remove the dependency {dep}: this fix moves its file out of .jit/issues/"
                ),
            );
            self.actions.push(FixAction {
                code: "DEP_MISSING".into(),
                severity: Severity::Error,
                action: "remove_dependency".into(),
                path,
                issue: Some(id),
                target: Some(dep.to_string()),
                to: None,
                message: m,
            });
        }
        for (i, f, from, to) in cycles {
            if failed.contains(&from) {
                continue;
            }
            let m = self.verb(
                &format!("broke the cycle: removed the dependency {from} → {to}, its newest edge"),
                &format!(
                    "would break the cycle: remove the dependency {from} → {to}, its newest edge"
                ),
            );
            let path = format!("{DIR_NAME}/issues/{}", from.file_name());
            let a = self.act(i, &f, "remove_dependency", m);
            a.issue = Some(from);
            a.path = path;
            a.target = Some(to.to_string());
        }
        Ok(())
    }

    /// Remove one edge of each cycle until none is left, and the newest each time: the edge
    /// leaving the issue on the cycle changed last (`updated_at`; then the larger id), the
    /// one that most likely made the cycle. Returns (finding, from, to) per edge removed.
    fn break_cycles(
        &self,
        findings: &[Finding],
        scan: &super::files::Scan,
        edits: &mut BTreeMap<IssueId, Edit>,
    ) -> Vec<(usize, Finding, IssueId, IssueId)> {
        let Some(first) = findings.iter().position(|f| f.code == "DEP_CYCLE") else {
            return Vec::new();
        };
        let updated: HashMap<u128, (jiff::Timestamp, u128)> = scan
            .issues
            .iter()
            .map(|s| (s.issue.id.as_u128(), (s.issue.updated_at, s.issue.id.as_u128())))
            .collect();
        let mut adj: BTreeMap<u128, Vec<u128>> = BTreeMap::new();
        for s in &scan.issues {
            let removed = edits.get(&s.issue.id).map(|e| &e.deps);
            let deps = s
                .issue
                .dependencies
                .iter()
                .filter(|d| {
                    removed.is_none_or(|r| !r.contains(d)) && updated.contains_key(&d.as_u128())
                })
                .map(|d| d.as_u128())
                .collect();
            adj.insert(s.issue.id.as_u128(), deps);
        }
        let mut out = Vec::new();
        // Each cycle's finding is the first DEP_CYCLE finding whose cycle holds the edge.
        let cycle_findings: Vec<(usize, &Finding)> =
            findings.iter().enumerate().filter(|(_, f)| f.code == "DEP_CYCLE").collect();
        while let Some(cycle) = crate::graph::find_cycle(&adj) {
            let Some(k) = (0..cycle.len() - 1).max_by_key(|&k| updated.get(&cycle[k])) else {
                break;
            };
            let (from, to) = (cycle[k], cycle[k + 1]);
            if let Some(v) = adj.get_mut(&from) {
                v.retain(|d| *d != to);
            }
            let (from, to) = (IssueId::from_u128(from), IssueId::from_u128(to));
            edits.entry(from).or_default().deps.insert(to);
            let (i, f) = cycle_findings
                .iter()
                .find(|(_, f)| {
                    f.cycle
                        .as_ref()
                        .is_some_and(|c| c.windows(2).any(|w| w[0] == from && w[1] == to))
                })
                .copied()
                .unwrap_or((first, &findings[first]));
            out.push((i, f.clone(), from, to));
        }
        out
    }

    fn stage_edit(&mut self, id: IssueId, edit: &Edit) -> Result<()> {
        let mut issue = self.tx.load(id)?.clone();
        issue.dependencies.retain(|d| !edit.deps.contains(d));
        issue.documents.retain(|d| !edit.docs.contains(&d.path));
        for g in &edit.gates {
            if let Some(gate) = issue.gates.remove(g) {
                let kept = RemovedGate {
                    issue: id,
                    gate: g,
                    removed_at: crate::model::time::format(self.tx.now()),
                    definition: &gate,
                };
                let text = serde_json::to_string_pretty(&kept).expect("gate serialises") + "\n";
                let q = self.qdir();
                self.tx.stage_file(format!("{q}/gates/{id}.{g}.json"), text);
            }
        }
        self.tx.stage(issue)?;
        Ok(())
    }

    /// In-progress issues whose lease expired: released to ready (their expiry logged).
    fn leases(&mut self, findings: &[Finding], _offset: usize) -> Result<()> {
        for (i, f) in findings.iter().enumerate() {
            let (Some(id), "LEASE_EXPIRED") = (f.issue, f.code) else { continue };
            if !self.opts.dry_run {
                let req = ReleaseRequest { id: id.to_string(), agent: None, state: None };
                let out = ops::release::apply(self.tx, &req)?;
                if out.updated.refused.is_some() {
                    continue;
                }
                self.repo.log_expired(&out.expired);
            }
            let m = self.verb(
                "released to ready and unassigned (the expiry logged as lease_expired)",
                "would release it to ready and unassigned (the expiry logged as lease_expired)",
            );
            self.act(i, f, "release_claim", m);
        }
        Ok(())
    }

    /// Issues a merge left claimed by one of two agents: released to ready and unassigned
    /// (as `jit release`), and the claim's fencing token raised above both claims' tokens (the
    /// one kept and the one the merge dropped, from `merge_overrides`), so that neither
    /// agent's writes pass (`CLAIM_FENCED`) and the next claim of the issue gets a token above
    /// both. Which agent goes on is a person's decision; this makes sure neither does unseen.
    fn merged_claims(&mut self, findings: &[Finding]) -> Result<()> {
        for (i, f) in findings.iter().enumerate() {
            let (Some(id), "CLAIM_MERGED") = (f.issue, f.code) else { continue };
            let issue = self.tx.load(id)?.clone();
            let Some(fence) = issue.claim_token().max(dropped_claim_token(&issue)).checked_add(1)
            else {
                continue;
            };
            if !self.opts.dry_run {
                if issue.state == crate::model::State::InProgress {
                    let req = ReleaseRequest { id: id.to_string(), agent: None, state: None };
                    let out = ops::release::apply(self.tx, &req)?;
                    if out.updated.refused.is_some() {
                        continue;
                    }
                    self.repo.log_expired(&out.expired);
                }
                let mut next = self.tx.load(id)?.clone();
                if let Some(claim) = next.claim.as_mut() {
                    claim.token = fence;
                }
                self.tx.stage(next)?;
            }
            let m = self.verb(
                &format!(
                    "released to ready and unassigned, its claim token raised to {fence}: both \
                     agents' writes are fenced until one claims it again"
                ),
                &format!(
                    "would release it to ready and unassigned and raise its claim token to \
                     {fence}, fencing both agents' writes"
                ),
            );
            self.act(i, f, "release_claim", m);
        }
        Ok(())
    }

    /// Segments with bad lines: written again without them, the lines kept in quarantine.
    fn event_log(&mut self, findings: &[Finding], segments: &[events::Damaged]) {
        for (i, f) in findings.iter().enumerate() {
            if f.code != "EVENT_LINE_TORN" {
                continue;
            }
            let from = in_store(&f.path).to_string();
            let Some(d) = segments.iter().find(|d| from == format!("events/{}", d.name)) else {
                continue;
            };
            let lines = d
                .cut
                .iter()
                .map(|(n, b)| CutLine {
                    line: *n,
                    text: String::from_utf8_lossy(b).into_owned(),
                    hex: std::str::from_utf8(b)
                        .is_err()
                        .then(|| b.iter().map(|x| format!("{x:02x}")).collect()),
                })
                .collect();
            let cut = CutLines {
                from: &f.path,
                cut_at: crate::model::time::format(self.tx.now()),
                lines,
            };
            let to = format!("{}/{from}.cut.json", self.qdir());
            let text = serde_json::to_string_pretty(&cut).expect("lines serialise") + "\n";
            self.tx.stage_file(from.clone(), d.good.clone());
            self.tx.stage_file(to.clone(), text);
            let n = d.cut.len();
            let m = self.verb(
                &format!("cut {n} lines that are not events; their bytes are kept"),
                &format!("would cut {n} lines that are not events and keep their bytes"),
            );
            self.act(i, f, "cut_event_lines", m).to = Some(format!("{DIR_NAME}/{to}"));
        }
    }
}

/// The highest claim token a merge dropped from `issue` (0: none), as its overrides record
/// it: the field `claim.token`, or the whole `claim`.
fn dropped_claim_token(issue: &Issue) -> u64 {
    let token = |o: &crate::model::MergeOverride| match o.field.as_str() {
        "claim.token" => o.dropped.as_u64(),
        "claim" => o.dropped.get("token").and_then(|t| t.as_u64()),
        _ => None,
    };
    issue.merge_overrides.iter().filter_map(token).max().unwrap_or(0)
}

/// What makes `--fix` exit 6: an error or warning remains; for a dry run (which changes
/// nothing), also one a repair would settle.
pub fn has_problems(report: &FixReport) -> bool {
    report.remaining.iter().any(|f| f.severity != Severity::Info)
        || report.dry_run && report.actions.iter().any(|a| a.severity != Severity::Info)
}
