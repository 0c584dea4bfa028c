//! The rest of `.jit/`: the config and its gate registry, journal records left by a crash,
//! the lock files, temp files and unknown entries, free space, the index, and issue files an
//! unfinished git merge left unmerged.

use std::fs;
use std::path::Path;

use super::files::Scan;
use super::{Finding, Repo, rel};
use crate::error::{Error, Result};
use crate::model::{IssueId, Mode};
use crate::repo::git::{DRIVER_MISSING, Unmerged, unmerged_issue_files};
use crate::storage::config::Config;
use crate::storage::journal::{self, Op, Pending};
use crate::storage::{FileBytes, Layout, atomic, index, read_regular};

/// The config, or `None` (and a finding) if it cannot be read.
pub fn check_config(layout: &Layout, findings: &mut Vec<Finding>) -> Option<Config> {
    match Config::load(&layout.config_path()) {
        Ok(c) => Some(c),
        Err(e) => {
            let why = match &e {
                Error::ConfigInvalid { message, .. } => message.clone(),
                Error::NotRegularFile { .. } => "not a regular file".into(),
                other => other.to_string(),
            };
            let msg = format!(
                "config.json cannot be read: {why}; every command fails until it is fixed or \
                 restored (e.g. with git); gates and label namespaces were not checked"
            );
            findings.push(Finding::new("CONFIG_INVALID", rel("config.json"), msg));
            None
        }
    }
}

/// Gate definitions that cannot run, and auto gates this machine has not trusted.
pub fn check_gate_defs(repo: &Repo, config: &Config, findings: &mut Vec<Finding>) {
    let store = repo.trust_store().ok();
    for (name, def) in &config.gates {
        if let Some(problem) = crate::repo::definition_problem(name, def) {
            let msg = format!(
                "gate `{name}` cannot run: {problem}; fix it in .jit/config.json or redefine it \
                 with `jit gate define --replace`"
            );
            findings.push(Finding::new("GATE_DEF_INVALID", rel("config.json"), msg));
        } else if def.mode == Mode::Auto
            && !store.as_ref().is_some_and(|s| repo.is_trusted(s, name, def))
        {
            let msg = format!(
                "auto gate `{name}` is not trusted on this machine, so `jit gate run` will not \
                 run it; read it (`jit gate show {name}`), then `jit gate trust {name}`"
            );
            findings.push(Finding::new("GATE_UNTRUSTED", rel("config.json"), msg));
        }
    }
}

/// Records in `journal/`: none should be there while no writer runs (the shared lock is
/// held). Returns how many there were.
pub fn check_journal(layout: &Layout, findings: &mut Vec<Finding>) -> Result<usize> {
    for name in journal::quarantined(layout) {
        let msg = "a damaged journal record that recovery set aside unapplied: the multi-file \
                   change it held may be half made (some of its issues changed, others not); \
                   check the issues it names against what was meant, then settle it; every \
                   command warns until then";
        findings.push(
            Finding::new("JOURNAL_QUARANTINED", rel(&format!("quarantine/{name}")), msg)
                .fix("settle_record", None),
        );
    }
    let dir = layout.journal_dir();
    match fs::symlink_metadata(&dir) {
        Err(_) => return Ok(0),
        Ok(m) if !m.is_dir() => {
            let msg = "journal/ is not a directory: every multi-file change (delete, \
                       bulk-update) fails until it is moved aside";
            findings.push(Finding::new("JOURNAL_BLOCKED", rel("journal"), msg));
            return Ok(0);
        }
        Ok(_) => {}
    }
    let records = journal::inspect(layout)?;
    for (name, pending) in &records {
        let path = rel(&format!("journal/{name}"));
        let f = match pending {
            Pending::Incomplete => Finding::new(
                "JOURNAL_INCOMPLETE",
                path,
                "a journal record whose writing never finished (its writer was killed before \
                 the change began): no file was changed; the next write discards it",
            )
            .fix("discard_record", None),
            Pending::Damaged(why) => Finding::new(
                "JOURNAL_DAMAGED",
                path,
                format!(
                    "a journal record that cannot be applied: {why}; the next write moves it to \
                     .jit/quarantine/ unapplied, where it can be read"
                ),
            )
            .fix("quarantine", None),
            Pending::Complete(ops) => {
                blocked(layout, &path, ops, findings);
                Finding::new(
                    "JOURNAL_PENDING",
                    path,
                    format!(
                        "a multi-file change of {} files was interrupted (a crash or a kill) and \
                         is not finished: readers already see it whole; the next write rolls it \
                         forward",
                        ops.len()
                    ),
                )
                .fix("roll_forward", None)
            }
        };
        findings.push(f);
    }
    Ok(records.len())
}

/// Why a complete record cannot be rolled forward now, if it cannot: then every write fails,
/// as each one first rolls it forward.
fn blocked(layout: &Layout, path: &str, ops: &[Op], findings: &mut Vec<Finding>) {
    let mut need = 0u64;
    // A move takes a thing away (a directory too) and makes its destination's directory.
    for op in ops.iter().filter(|op| !matches!(op, Op::Move { .. })) {
        let target = layout.root().join(op.path());
        let parent_ok = target.parent().is_some_and(|p| fs::metadata(p).is_ok_and(|m| m.is_dir()));
        let why = if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            Some(format!("its target .jit/{} is a directory", op.path()))
        } else if !parent_ok {
            Some(format!("the directory of its target .jit/{} is missing", op.path()))
        } else {
            None
        };
        if let Some(why) = why {
            let msg = format!(
                "the interrupted change cannot be finished: {why}; every write fails until \
                 that is moved aside"
            );
            findings.push(Finding::new("JOURNAL_BLOCKED", path, msg));
        }
        if let Op::Write { content, .. } = op {
            need += content.len() as u64;
        }
    }
    if let Some(free) = free_bytes(layout)
        && free < need
    {
        let msg = format!(
            "the interrupted change needs {need} bytes to finish and the filesystem has \
                 {free} free: every write fails until space is freed outside .jit/"
        );
        findings.push(Finding::new("JOURNAL_BLOCKED", path, msg));
    }
}

/// Bytes free for this user on the filesystem of `.jit/`. The test hook
/// `JIT_TEST_FAULT=enospc` (a full disk, see `storage::fault`) makes it 0.
fn free_bytes(layout: &Layout) -> Option<u64> {
    if crate::storage::fault::disk_full() {
        return Some(0);
    }
    let st = rustix::fs::statvfs(layout.root()).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Least free space a write needs: a temp copy of what it writes, so twice the largest issue
/// file, and at least this.
const MIN_FREE: u64 = 1 << 20;

/// Too little free space for the next write (a full disk fails every write, `delete` too).
pub fn check_space(layout: &Layout, largest: u64, findings: &mut Vec<Finding>) {
    let Some(free) = free_bytes(layout) else { return };
    let need = MIN_FREE.max(largest.saturating_mul(2));
    if free < need {
        let msg = format!(
            "the filesystem holding .jit/ has {free} bytes free, less than the {need} a write \
             may need: writes fail with DISK_FULL (and change nothing) until space is freed \
             outside .jit/"
        );
        findings.push(Finding::new("DISK_FULL", rel(""), msg));
    }
}

/// The names jit keeps in `.jit/`.
const KNOWN: &[&str] = &[
    "config.json",
    "issues",
    "events",
    "lock",
    "lock.info",
    "journal",
    "index",
    "quarantine",
    "local",
    ".gitignore",
    ".gitattributes",
];

/// `lock.info`, as the last holder left it (read before `validate` takes the lock, which
/// rewrites it).
pub fn check_lock_info(layout: &Layout, findings: &mut Vec<Finding>) {
    let info = layout.lock_info_path();
    let why = match read_regular(&info) {
        Ok(FileBytes::Regular(b)) => serde_json::from_slice::<crate::storage::lock::HolderInfo>(&b)
            .err()
            .map(|e| format!("not the holder record jit writes: {e}")),
        Ok(FileBytes::NotRegular) => Some("not a regular file".into()),
        Ok(FileBytes::Missing) => None,
        Err(e) => Some(format!("cannot be read: {e}")),
    };
    if let Some(why) = why {
        let msg = format!(
            "lock.info {why}; it only names the last holder of the lock, so a waiting command \
             cannot say whom it waits for; the next command that takes the lock rewrites it"
        );
        findings.push(Finding::new("LOCK_INFO_INVALID", rel("lock.info"), msg));
    }
}

/// `.jit/lock`, which must be a regular file (or missing: the next writer makes it).
pub fn check_lock_file(layout: &Layout, findings: &mut Vec<Finding>) {
    let lock = layout.lock_path();
    if fs::symlink_metadata(&lock).is_ok_and(|m| !m.is_file()) {
        let msg = "the lock file is not a regular file (a directory, FIFO or symbolic link): \
                   every write fails with NOT_A_REGULAR_FILE until it is moved aside (the next \
                   writer makes it again)";
        findings.push(Finding::new("LOCK_FILE_INVALID", rel("lock"), msg));
    }
}

/// The entries of `.jit/` itself: the lock files, temp files, and names jit does not know.
pub fn check_root(layout: &Layout, findings: &mut Vec<Finding>) {
    check_lock_file(layout, findings);
    let Ok(entries) = fs::read_dir(layout.root()) else { return };
    let mut names: Vec<String> =
        entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for name in names {
        if KNOWN.contains(&name.as_str()) {
            continue;
        }
        let path = rel(&name);
        if name.starts_with(atomic::TEMP_PREFIX) {
            let msg = "a temp file left by a killed writer (of config.json or .gitignore): the \
                       file it was for is unchanged; nothing reads it, and it can be removed";
            findings.push(Finding::new("TEMP_FILE", path, msg).fix("remove_temp_file", None));
        } else {
            let msg = "an entry jit does not know in .jit/; jit leaves it alone";
            findings.push(Finding::new("STORE_FOREIGN_ENTRY", path, msg));
        }
    }
}

/// The index against the files, without rebuilding it.
pub fn check_index(layout: &Layout, scan: &Scan, findings: &mut Vec<Finding>) -> Result<()> {
    let files: Vec<_> =
        scan.stamps.iter().copied().zip(scan.issues.iter().map(|s| &s.issue)).collect();
    let check = index::verify(layout, &files)?;
    for id in &check.wrong {
        let path = rel(&format!("issues/{}", id.file_name()));
        let msg = format!(
            "the index's record of this issue does not hold what its file holds, yet its stamp \
             says the file has not changed: listings and queries show the record, not the file \
             (`issue show` reads the file); `touch {path}` makes the next listing read the file \
             and record it again"
        );
        findings.push(Finding::new("INDEX_WRONG", path, msg).issue(*id).fix("rebuild_index", None));
    }
    if check.unreadable > 0 {
        let msg = format!(
            "{} records cannot be read or fail their checksum: listings read those issue files \
             instead (slower, never wrong) and the next listing writes the index again",
            check.unreadable
        );
        findings.push(Finding::new("INDEX_DAMAGED", rel("index"), msg).fix("rebuild_index", None));
    }
    for why in check.damaged {
        let msg = format!(
            "{why}: listings read the issue files instead (slower, never wrong) and the next \
             listing writes the index again"
        );
        findings.push(Finding::new("INDEX_DAMAGED", rel("index"), msg).fix("rebuild_index", None));
    }
    let (stale, missing, dead) = (check.stale, check.missing, check.dead);
    if stale + missing + dead > 0 {
        let mut msg = String::new();
        if stale + missing > 0 {
            msg = format!(
                "the index is behind the files ({stale} changed, {missing} not recorded): \
                 listings re-read those files, so results are right, and the next listing \
                 brings the index up to date"
            );
        }
        if dead > 0 {
            if !msg.is_empty() {
                msg.push_str("; ");
            }
            // Listings go by the files, so such records are never shown; they cost only
            // space until a compaction (see `needs_compaction`) leaves them out.
            msg.push_str(&format!(
                "{dead} {} of issues whose file is gone (deleted): never shown, and left out \
                 when the index is next compacted",
                if dead == 1 { "record" } else { "records" }
            ));
        }
        // Not a repair for `--fix`: the index heals itself, and a file just written stays
        // unrecorded for a moment (racy), so a fix would find it again at once.
        findings.push(Finding::new("INDEX_STALE", rel("index"), msg));
    }
    Ok(())
}

/// Issue files an unfinished git merge (or rebase, cherry-pick, revert) left unmerged, with
/// the git commands that settle each.
/// A tracker in a git clone whose config lacks jit's merge driver (a fresh clone: git config
/// is not cloned). Info: nothing is wrong until the next merge, and CI's clones never have it.
pub fn check_merge_driver(layout: &Layout, findings: &mut Vec<Finding>) {
    if crate::repo::git::driver_registered(layout) == Some(false) {
        let mut finding = Finding::new("GIT_DRIVER_MISSING", ".jit/.gitattributes", DRIVER_MISSING);
        finding.git_commands = Some(vec!["jit git-setup".to_string()]);
        findings.push(finding);
    }
}

pub fn check_unmerged(layout: &Layout, findings: &mut Vec<Finding>) {
    for f in unmerged_issue_files(layout) {
        let p = &f.path;
        let commands = match f.kind {
            Unmerged::DeletedByUs | Unmerged::DeletedByThem => {
                vec![format!("git add {p}"), format!("git rm {p}")]
            }
            Unmerged::BothChanged => vec![
                "jit git-setup".to_string(),
                format!("git checkout -m -- {p}"),
                format!("git add {p}"),
            ],
        };
        let id =
            Path::new(p).file_name().and_then(|n| n.to_str()).and_then(IssueId::from_file_name);
        let mut finding = Finding::new("ISSUE_UNMERGED", p.clone(), f.advice());
        finding.issue = id;
        finding.git_commands = Some(commands);
        findings.push(finding);
    }
}

/// In-progress issues whose claim's lease has expired with nobody releasing or claiming
/// them again (the agent died): they are stuck until someone does.
pub fn check_leases(repo: &Repo, scan: &Scan, findings: &mut Vec<Finding>) {
    let Ok(store) = crate::storage::leases::LeaseStore::load(repo.local()) else { return };
    if store.leases.is_empty() {
        return;
    }
    let now = repo.clock().now();
    for s in &scan.issues {
        let issue = &s.issue;
        let (Some(claim), crate::model::State::InProgress) = (&issue.claim, issue.state) else {
            continue;
        };
        let Some(lease) = store.leases.get(&issue.id.to_string()) else { continue };
        if lease.is_live(now) || lease.token != claim.token {
            continue;
        }
        let msg = format!(
            "in progress, but the lease of its claim by {} (token {}) expired at {}: its agent \
             stopped without releasing it; `jit claim` can take it over, and `jit validate \
             --fix` releases it to ready (logged as lease_expired)",
            lease.agent,
            lease.token,
            crate::model::time::format(lease.expires_at)
        );
        findings.push(
            Finding::new("LEASE_EXPIRED", s.path.clone(), msg)
                .issue(issue.id)
                .fix("release_claim", None),
        );
    }
}
