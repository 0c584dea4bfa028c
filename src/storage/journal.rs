//! All-or-nothing changes of several files. A checksummed intent record is made durable in
//! `.jit/journal/` first, then every file is written, then the record is moved to `index/`,
//! where the last few are kept for readers (see [`changes_between`]).
//! Whoever next takes the writers' lock rolls a complete record forward; a record that never
//! became complete (a temp file) is discarded. So a crash at any instant leaves every file old
//! or new.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Access, Durability, FileBytes, Layout, Opened, atomic, open_regular, read_regular};
use crate::error::{Error, IoContext, Result};

const FORMAT: u32 = 1;

/// Prefix of the records of finished commits kept in `index/` for readers.
const DONE_PREFIX: &str = "journal.";
/// Finished records kept: at most this many, and no more bytes than [`DONE_KEEP_BYTES`]
/// (the newest is always kept). A reader whose read overlapped more commits than are kept
/// reads again.
const DONE_KEEP: usize = 16;
const DONE_KEEP_BYTES: u64 = 64 << 20;

/// One file operation, with a path relative to `.jit/`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Replace (or create) the file with `content`.
    Write { path: String, content: String },
    /// Remove the file (absent already is fine).
    Remove { path: String },
    /// Move the entry `path` (a file of any kind, a directory) to `to`, which must not exist,
    /// making `to`'s directory if it is missing (`validate --fix` moving things aside into
    /// `quarantine/`). Applying it again is a no-op once `path` is gone.
    Move { path: String, to: String },
}

impl Op {
    /// The path the op changes, relative to `.jit/` (for a move, the entry moved away).
    pub fn path(&self) -> &str {
        match self {
            Op::Write { path, .. } | Op::Remove { path } | Op::Move { path, .. } => path,
        }
    }

    /// Every path the op touches: its path, and a move's destination.
    fn paths(&self) -> Vec<&str> {
        match self {
            Op::Move { path, to } => vec![path, to],
            other => vec![other.path()],
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Record {
    format: u32,
    checksum: u32,
    /// The (odd) commit sequence number this commit ran under: lets a reader tell which
    /// commits it has the record of. Absent in records of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    ops: Vec<Op>,
}

/// What recovery found.
#[derive(Debug, Default, PartialEq)]
pub struct Recovery {
    pub rolled_forward: usize,
    pub discarded: usize,
}

fn checksum(ops: &[Op]) -> u32 {
    crc32fast::hash(&serde_json::to_vec(ops).expect("ops serialise"))
}

/// Apply `ops` as one all-or-nothing change. Call with the writers' lock held.
pub fn commit(layout: &Layout, ops: &[Op], durability: Durability) -> Result<()> {
    for path in ops.iter().flat_map(Op::paths) {
        resolve(layout, path)?;
    }
    let dir = layout.journal_dir();
    fs::create_dir_all(&dir).at(&dir)?;
    // Odd while the files change (see `commit_seq`); left odd if this fails half-way, until
    // the next writer's recovery.
    let seq = commit_seq(layout).unwrap_or(0) | 1;
    let record =
        Record { format: FORMAT, checksum: checksum(ops), seq: Some(seq), ops: ops.to_vec() };
    let bytes = serde_json::to_vec(&record).expect("record serialises");
    let name = format!("{}.json", jiff::Timestamp::now().as_nanosecond());
    let path = dir.join(name);
    set_commit_seq(layout, seq)?;
    atomic::write(&path, &bytes, durability)?;
    apply(layout, ops, durability)?;
    // Even again before the record leaves `journal/`: a reader that finds no record while the
    // number is odd knows the commit has not touched a file yet (see `changes_between`).
    set_commit_seq(layout, seq + 1)?;
    retire(layout, &[(path, Some(seq))], durability)
}

/// Move the records of finished commits into `index/` (named by their sequence number, so a
/// reader finds the one it needs without reading the others) and drop the oldest there. The
/// index is the place for them: local, git-ignored, and nothing but a help for readers, who
/// read again when one they need is gone. A record that cannot be moved there (the index is
/// damaged) is removed: it must leave `journal/` either way.
fn retire(
    layout: &Layout,
    records: &[(PathBuf, Option<u64>)],
    durability: Durability,
) -> Result<()> {
    let done = super::index::index_dir_ready(layout).ok();
    for (path, seq) in records {
        let stem = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // Records without a number (older versions) sort first and go first.
        let moved = done.as_ref().is_some_and(|d| {
            let to = d.join(format!("{DONE_PREFIX}{:020}.{stem}.json", seq.unwrap_or(0)));
            fs::rename(path, to).is_ok()
        });
        if !moved {
            fs::remove_file(path).at(path)?;
        }
    }
    // The record's leaving `journal/` must be durable before any later write is acknowledged:
    // recovery would otherwise apply it again over that write after a power loss.
    atomic::sync_dir(&layout.journal_dir(), durability)?;
    if let Some(d) = done {
        prune_done(&d);
    }
    Ok(())
}

/// Keep the newest [`DONE_KEEP`] finished records within [`DONE_KEEP_BYTES`]. Best effort:
/// a record left over costs space, and readers only ever read the ones they need.
fn prune_done(done: &Path) {
    let Ok(entries) = fs::read_dir(done) else { return };
    let mut names: Vec<(String, u64)> = entries
        .filter_map(|e| e.ok())
        .map(|e| {
            (e.file_name().to_string_lossy().into_owned(), e.metadata().map_or(0, |m| m.len()))
        })
        .filter(|(n, _)| n.starts_with(DONE_PREFIX))
        .collect();
    names.sort();
    let mut bytes = 0u64;
    for (kept, (name, len)) in names.iter().rev().enumerate() {
        bytes += len;
        if kept > 0 && (kept >= DONE_KEEP || bytes > DONE_KEEP_BYTES) {
            let _ = fs::remove_file(done.join(name));
        }
    }
}

/// The commit sequence number, kept in the lock file (which exists in every repository and is
/// never replaced): even when no multi-file change is being applied, odd while one is (or
/// after one failed or was killed half-way, until the next writer recovers). A reader of many
/// files that sees the same even number before and after its read saw no commit in
/// progress, so it saw each multi-file change whole or not at all; otherwise it reads again.
/// `None` if the number is being written as it is read (or is damaged).
/// Stored as the number and its complement, so that a torn read shows.
pub fn commit_seq(layout: &Layout) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    // No lock file, or something else than a file there (writers then refuse to start): no
    // writer can be committing through it. Opened without blocking, so a FIFO cannot hang.
    let Ok(Opened::File(file)) = open_regular(&layout.lock_path(), Access::Read) else {
        return Some(0);
    };
    let mut b = [0u8; 16];
    match file.read_at(&mut b, 0) {
        Ok(0) => return Some(0), // never written: no commit yet
        Ok(16) => {}
        _ => return None,
    }
    let seq = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    (!seq == u64::from_le_bytes(b[8..].try_into().expect("8 bytes"))).then_some(seq)
}

/// Write the commit sequence number (call with the lock held). Not fsynced: after a power
/// loss the next writer's recovery sets it again.
fn set_commit_seq(layout: &Layout, seq: u64) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let path = layout.lock_path();
    let Opened::File(file) = open_regular(&path, Access::ReadWriteCreate).at(&path)? else {
        return Err(Error::NotRegularFile { path });
    };
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&seq.to_le_bytes());
    b[8..].copy_from_slice(&(!seq).to_le_bytes());
    file.write_all_at(&b, 0).at(&path)
}

/// From this many files on, a record's files are made durable by one `syncfs` of the
/// filesystem instead of an fsync each (100 fsyncs cost ~0.35–0.6 s on the measured disk, one
/// `syncfs` ~40–120 ms). Below it the per-file fsyncs stay: their cost does not depend on what
/// else on the filesystem is waiting to be written.
const SYNCFS_FROM: usize = 8;

/// Apply a record whose own bytes are already durable. The files only have to be durable
/// before the record leaves `journal/` (until then a crash is recovered by applying the record
/// again, whatever state the files were left in), so with many files each is written without
/// its own fsync and one `syncfs` makes them all durable at the end.
fn apply(layout: &Layout, ops: &[Op], durability: Durability) -> Result<()> {
    let one_sync =
        durability == Durability::Full && ops.len() >= SYNCFS_FROM && cfg!(target_os = "linux");
    let per_file = if one_sync { Durability::Relaxed } else { durability };
    let mut dirs = BTreeSet::new();
    for op in ops {
        let path = resolve(layout, op.path())?;
        match op {
            Op::Write { content, path: rel } => {
                // Notes of `validate --fix` go into a folder of `quarantine/` made for them.
                if rel.starts_with("quarantine/") {
                    if let Some(parent) = path.parent().filter(|p| !p.exists()) {
                        fs::create_dir_all(parent).at(parent)?;
                    }
                }
                atomic::write_no_dir_sync(&path, content.as_bytes(), per_file)?
            }
            Op::Remove { .. } => match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).at(&path),
                _ => {}
            },
            Op::Move { to, .. } => {
                let to = resolve(layout, to)?;
                move_entry(&path, &to, durability)?;
                if let Some(parent) = to.parent() {
                    dirs.insert(parent.to_path_buf());
                }
            }
        }
        if let Some(parent) = path.parent() {
            dirs.insert(parent.to_path_buf());
        }
    }
    if one_sync {
        sync_filesystem(layout.root())?;
    }
    for d in dirs {
        atomic::sync_dir(&d, durability)?;
    }
    Ok(())
}

/// Move `from` to `to` (see [`Op::Move`]): nothing to do once `from` is gone, and never over
/// an existing `to`.
fn move_entry(from: &Path, to: &Path, durability: Durability) -> Result<()> {
    // Moved already (the record is applied again after a crash; the record may even have
    // written a new file at `from` since, as a restore does), or nothing to move.
    if fs::symlink_metadata(to).is_ok() || fs::symlink_metadata(from).is_err() {
        return Ok(());
    }
    if let Some(parent) = to.parent().filter(|p| !p.exists()) {
        fs::create_dir_all(parent).at(parent)?;
        if let Some(grand) = parent.parent() {
            atomic::sync_dir(grand, durability)?;
        }
    }
    fs::rename(from, to).at(from)
}

/// `syncfs` of the filesystem holding `dir`: every file written on it is durable afterwards
/// (Linux reports write-back errors since 5.8).
#[cfg(target_os = "linux")]
fn sync_filesystem(dir: &Path) -> Result<()> {
    let d = super::open_dir(dir).at(dir)?;
    rustix::fs::syncfs(&d).map_err(std::io::Error::from).at(dir)
}

#[cfg(not(target_os = "linux"))]
fn sync_filesystem(_dir: &Path) -> Result<()> {
    unreachable!("only used on Linux (see `apply`)")
}

/// Keep every journal path inside `.jit/`: a damaged or hostile record cannot write elsewhere.
fn resolve(layout: &Layout, rel: &str) -> Result<PathBuf> {
    let p = Path::new(rel);
    if rel.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(Error::Corrupt {
            path: layout.journal_dir(),
            message: format!("journal path `{rel}` leaves the repository"),
        });
    }
    Ok(layout.root().join(p))
}

/// Roll forward complete records and discard incomplete ones. Call with the writers' lock held.
pub fn recover(layout: &Layout, durability: Durability) -> Result<Recovery> {
    let (report, applied) = recover_records(layout, durability)?;
    // A commit that failed or was killed half-way left the sequence odd (or it was damaged):
    // every record is settled now, so readers may trust what they read again. As in
    // `commit`, the number is even before the records leave `journal/`.
    // Past every recovered record's number, too (after a power loss the number may be older
    // than a durable record), so that no later commit reuses one.
    let floor = applied.iter().filter_map(|(_, s)| *s).max().map_or(0, |s| (s | 1) + 1);
    match commit_seq(layout) {
        Some(seq) if seq % 2 == 0 && seq >= floor => {}
        Some(seq) if seq % 2 == 0 => set_commit_seq(layout, floor)?,
        seq => set_commit_seq(layout, seq.map_or(2, |s| s + 1).max(floor))?,
    }
    if !applied.is_empty() {
        retire(layout, &applied, durability)?;
    }
    Ok(report)
}

/// Apply the complete records (returned, with their sequence numbers, for [`retire`]),
/// remove the incomplete ones and quarantine the damaged ones.
#[allow(clippy::type_complexity)]
fn recover_records(
    layout: &Layout,
    durability: Durability,
) -> Result<(Recovery, Vec<(PathBuf, Option<u64>)>)> {
    let mut report = Recovery::default();
    let mut applied = Vec::new();
    let names = record_names(layout)?;
    if names.is_empty() {
        return Ok((report, applied));
    }
    let dir = layout.journal_dir();
    for name in names {
        let path = dir.join(&name);
        if name.starts_with(atomic::TEMP_PREFIX) {
            fs::remove_file(&path).at(&path)?;
            report.discarded += 1;
            continue;
        }
        match read_record(layout, &path)? {
            Some(rec) => {
                apply(layout, &rec.ops, durability)?;
                applied.push((path, rec.seq));
                report.rolled_forward += 1;
            }
            None => {
                // Damaged beyond use: keep it for inspection, out of the way.
                let q = layout.quarantine_dir();
                fs::create_dir_all(&q).at(&q)?;
                fs::rename(&path, q.join(format!("journal-{name}"))).at(&path)?;
                report.discarded += 1;
            }
        }
    }
    atomic::sync_dir(&dir, durability)?;
    Ok((report, applied))
}

/// The names in `journal/`, in order (records are named by creation time).
fn record_names(layout: &Layout) -> Result<Vec<String>> {
    let dir = layout.journal_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at(&dir),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// Whether any record (complete or not) is waiting in the journal.
pub fn pending(layout: &Layout) -> bool {
    fs::read_dir(layout.journal_dir()).is_ok_and(|mut d| d.next().is_some())
}

/// The changes a reader must lay over what it read of the files, so that every multi-file
/// commit its read overlapped is seen whole. Call after reading, with `before` the commit
/// sequence number read before reading and `after` the one read just after; `None` when that
/// cannot be told (the read must be made again).
///
/// Why this is enough. A commit numbered k (odd) touches files only between its record
/// becoming complete in `journal/` and the number becoming k + 1, and its record leaves
/// `journal/` only after that, for `index/`. So the commits that can have changed a
/// file during the read are the odd k from `before` to `after`. For each, the record is found
/// in `journal/` (complete: the commit will be rolled forward if it is not finished) or in
/// `index/`, except for k = `after` when no record is found and the number is still `after`
/// once both places have been looked at: then the record was not written yet, and no file
/// has been touched. Laying every such record's files over what was read (keeping, for each
/// issue, the higher version, since a file may since have changed again) gives each of these
/// commits whole. A record that cannot be found (pruned from `index/`, or the number went
/// backwards because the lock file was deleted) means: read again.
pub fn changes_between(layout: &Layout, before: u64, after: u64) -> Result<Option<Vec<Vec<Op>>>> {
    if after < before || after - before > 2 * DONE_KEEP as u64 {
        return Ok(None);
    }
    let mut found: Vec<(Option<u64>, Vec<Op>)> = Vec::new();
    let dir = layout.journal_dir();
    for name in record_names(layout)? {
        if name.starts_with(atomic::TEMP_PREFIX) {
            continue; // not complete: that commit has touched no file
        }
        // Gone since listed: it was retired, and is found in `index/` below.
        if let Ok(Some(rec)) = read_record(layout, &dir.join(&name)) {
            found.push((rec.seq, rec.ops));
        }
    }
    let done = layout.index_dir();
    let first = before | 1;
    for k in (first..=after).step_by(2) {
        if found.iter().any(|(s, _)| *s == Some(k)) {
            continue;
        }
        let prefix = format!("{DONE_PREFIX}{k:020}.");
        let name = super::index::index_dir_usable(&done)
            .then(|| fs::read_dir(&done).ok())
            .flatten()
            .and_then(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .find(|n| n.starts_with(&prefix))
            });
        match name.and_then(|n| read_record(layout, &done.join(n)).ok().flatten()) {
            Some(rec) => found.push((rec.seq, rec.ops)),
            // Not written yet, if the number still says so now (the files were read before
            // `after` was, so a record written since has touched none of them).
            None if k == after && commit_seq(layout) == Some(after) => {}
            None => return Ok(None),
        }
    }
    found.sort_by_key(|(s, _)| *s);
    Ok(Some(found.into_iter().map(|(_, ops)| ops).collect()))
}

/// A record, or `None` when it is damaged or names a path outside `.jit/`.
/// One entry of `journal/` as the next writer's recovery will see it (for `validate`).
#[derive(Debug)]
pub enum Pending {
    /// A temp file: a record whose writing never finished; recovery deletes it.
    Incomplete,
    /// A sound record: recovery rolls it forward, applying these ops.
    Complete(Vec<Op>),
    /// Not a record recovery can apply (why): it is moved to `quarantine/`.
    Damaged(String),
}

/// Every entry of `journal/`, by name in recovery order, and what recovery will do with it.
/// Read only: nothing is applied or moved.
pub fn inspect(layout: &Layout) -> Result<Vec<(String, Pending)>> {
    let dir = layout.journal_dir();
    let mut out = Vec::new();
    for name in record_names(layout)? {
        let path = dir.join(&name);
        if name.starts_with(atomic::TEMP_PREFIX) {
            out.push((name, Pending::Incomplete));
            continue;
        }
        let bytes = match read_regular(&path) {
            Ok(FileBytes::Regular(b)) => b,
            Ok(FileBytes::Missing) => continue,
            Ok(FileBytes::NotRegular) => {
                out.push((name, Pending::Damaged("not a regular file".into())));
                continue;
            }
            Err(e) => {
                out.push((name, Pending::Damaged(format!("cannot be read: {e}"))));
                continue;
            }
        };
        let found = match serde_json::from_slice::<Record>(&bytes) {
            Err(e) => Pending::Damaged(format!("not a journal record: {e}")),
            Ok(rec) if rec.format != FORMAT => {
                Pending::Damaged(format!("unknown format {}", rec.format))
            }
            Ok(rec) if rec.checksum != checksum(&rec.ops) => {
                Pending::Damaged("checksum mismatch".into())
            }
            Ok(rec) => {
                match rec.ops.iter().flat_map(Op::paths).find(|p| resolve(layout, p).is_err()) {
                    Some(p) => Pending::Damaged(format!("path `{p}` leaves the repository")),
                    None => Pending::Complete(rec.ops),
                }
            }
        };
        out.push((name, found));
    }
    Ok(out)
}

fn read_record(layout: &Layout, path: &Path) -> Result<Option<Record>> {
    let bytes = match read_regular(path).at(path)? {
        FileBytes::Regular(b) => b,
        FileBytes::Missing => {
            return Err(std::io::Error::from(std::io::ErrorKind::NotFound)).at(path);
        }
        FileBytes::NotRegular => return Ok(None),
    };
    let Ok(rec) = serde_json::from_slice::<Record>(&bytes) else { return Ok(None) };
    let sound = rec.format == FORMAT
        && rec.checksum == checksum(&rec.ops)
        && rec.ops.iter().flat_map(Op::paths).all(|p| resolve(layout, p).is_ok());
    Ok(sound.then_some(rec))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::for_new(dir.path());
        fs::create_dir_all(layout.issues_dir()).unwrap();
        (dir, layout)
    }

    #[test]
    fn the_commit_sequence_is_even_between_commits_and_recovery_makes_it_so() {
        let (_dir, layout) = setup();
        assert_eq!(commit_seq(&layout), Some(0), "no lock file: no commit in progress");
        fs::write(layout.lock_path(), b"").unwrap();
        assert_eq!(commit_seq(&layout), Some(0));
        let op = |c: &str| vec![Op::Write { path: "issues/a.json".into(), content: c.into() }];
        commit(&layout, &op("one"), Durability::Relaxed).unwrap();
        assert_eq!(commit_seq(&layout), Some(2));
        commit(&layout, &op("two"), Durability::Relaxed).unwrap();
        assert_eq!(commit_seq(&layout), Some(4));
        // A commit that died half-way leaves it odd; recovery settles it.
        set_commit_seq(&layout, 5).unwrap();
        assert_eq!(commit_seq(&layout), Some(5));
        recover(&layout, Durability::Relaxed).unwrap();
        assert_eq!(commit_seq(&layout), Some(6));
        // A damaged (or torn) number reads as unknown, and recovery replaces it.
        fs::write(layout.lock_path(), [7u8; 16]).unwrap();
        assert_eq!(commit_seq(&layout), None);
        recover(&layout, Durability::Relaxed).unwrap();
        assert_eq!(commit_seq(&layout), Some(2));
    }

    #[test]
    fn readers_find_the_record_of_every_commit_their_read_overlapped() {
        let (_dir, layout) = setup();
        let op = |c: &str| vec![Op::Write { path: "issues/a.json".into(), content: c.into() }];
        assert_eq!(changes_between(&layout, 0, 0).unwrap(), Some(vec![]), "nothing ran");
        commit(&layout, &op("one"), Durability::Relaxed).unwrap();
        assert_eq!(commit_seq(&layout), Some(2));
        assert!(!pending(&layout), "the finished record is kept out of the way");
        assert_eq!(changes_between(&layout, 0, 2).unwrap(), Some(vec![op("one")]));
        assert_eq!(changes_between(&layout, 2, 2).unwrap(), Some(vec![]));
        commit(&layout, &op("two"), Durability::Relaxed).unwrap();
        assert_eq!(changes_between(&layout, 0, 4).unwrap(), Some(vec![op("one"), op("two")]));
        // A commit started (odd) whose record is not written yet has touched no file.
        set_commit_seq(&layout, 5).unwrap();
        assert_eq!(changes_between(&layout, 4, 5).unwrap(), Some(vec![]));
        // ... and one whose complete record is pending (its writer died) is laid over.
        let ops = op("three");
        let rec = Record { format: FORMAT, checksum: checksum(&ops), seq: Some(5), ops };
        fs::write(layout.journal_dir().join("9.json"), serde_json::to_vec(&rec).unwrap()).unwrap();
        assert_eq!(changes_between(&layout, 4, 5).unwrap(), Some(vec![op("three")]));
        assert_eq!(changes_between(&layout, 2, 5).unwrap(), Some(vec![op("two"), op("three")]));
        // The number read after must still hold when the records have been looked at.
        assert_eq!(changes_between(&layout, 4, 7).unwrap(), None);
        recover(&layout, Durability::Relaxed).unwrap();
        assert_eq!(commit_seq(&layout), Some(6));
        assert_eq!(changes_between(&layout, 4, 6).unwrap(), Some(vec![op("three")]), "retired");
        // Going backwards (the lock file deleted), or past what is kept: read again.
        assert_eq!(changes_between(&layout, 6, 2).unwrap(), None);
        for n in 0..DONE_KEEP + 2 {
            commit(&layout, &op(&format!("n{n}")), Durability::Relaxed).unwrap();
        }
        let now = commit_seq(&layout).unwrap();
        assert_eq!(changes_between(&layout, 6, now).unwrap(), None, "pruned");
        let kept = fs::read_dir(layout.index_dir()).unwrap().count();
        assert_eq!(kept, DONE_KEEP);
        let last = changes_between(&layout, now - 2, now).unwrap().unwrap();
        assert_eq!(last, vec![op(&format!("n{}", DONE_KEEP + 1))]);
    }

    #[test]
    fn commit_writes_and_removes_and_leaves_no_record() {
        let (_d, layout) = setup();
        fs::write(layout.issues_dir().join("b.json"), "old").unwrap();
        let ops = vec![
            Op::Write { path: "issues/a.json".into(), content: "new".into() },
            Op::Remove { path: "issues/b.json".into() },
        ];
        commit(&layout, &ops, Durability::Full).unwrap();
        assert_eq!(fs::read_to_string(layout.issues_dir().join("a.json")).unwrap(), "new");
        assert!(!layout.issues_dir().join("b.json").exists());
        assert!(!pending(&layout));
    }

    #[test]
    fn recovery_rolls_complete_records_forward_and_drops_the_rest() {
        let (_d, layout) = setup();
        let jdir = layout.journal_dir();
        fs::create_dir_all(&jdir).unwrap();
        let ops = vec![Op::Write { path: "issues/a.json".into(), content: "rolled".into() }];
        let rec = Record { format: FORMAT, checksum: checksum(&ops), seq: None, ops };
        fs::write(jdir.join("1.json"), serde_json::to_vec(&rec).unwrap()).unwrap();
        fs::write(jdir.join(".tmp.1.0.2.json"), b"{\"format\":1,").unwrap();
        let bad = Record { format: FORMAT, checksum: 0, seq: None, ops: rec.ops.clone() };
        fs::write(jdir.join("3.json"), serde_json::to_vec(&bad).unwrap()).unwrap();
        let r = recover(&layout, Durability::Full).unwrap();
        assert_eq!(r, Recovery { rolled_forward: 1, discarded: 2 });
        assert_eq!(fs::read_to_string(layout.issues_dir().join("a.json")).unwrap(), "rolled");
        assert!(!pending(&layout));
        assert!(layout.quarantine_dir().join("journal-3.json").exists());
    }

    #[test]
    fn a_record_naming_a_path_outside_the_store_is_quarantined_not_applied() {
        let (_d, layout) = setup();
        let jdir = layout.journal_dir();
        fs::create_dir_all(&jdir).unwrap();
        let ops = vec![Op::Write { path: "../escaped.json".into(), content: "x".into() }];
        let rec = Record { format: FORMAT, checksum: checksum(&ops), seq: None, ops };
        fs::write(jdir.join("1.json"), serde_json::to_vec(&rec).unwrap()).unwrap();
        let r = recover(&layout, Durability::Relaxed).unwrap();
        assert_eq!(r, Recovery { rolled_forward: 0, discarded: 1 });
        assert!(!layout.root().parent().unwrap().join("escaped.json").exists());
        assert!(layout.quarantine_dir().join("journal-1.json").exists());
        assert!(!pending(&layout));
    }

    #[test]
    fn a_move_makes_its_folder_never_replaces_and_applies_again_as_a_no_op() {
        let (_d, layout) = setup();
        fs::write(layout.issues_dir().join("a.json"), "damaged").unwrap();
        let ops = vec![
            Op::Move { path: "issues/a.json".into(), to: "quarantine/f/issues/a.json".into() },
            Op::Write { path: "quarantine/f/issues/a.json.note.json".into(), content: "n".into() },
            Op::Write { path: "issues/a.json".into(), content: "restored".into() },
        ];
        commit(&layout, &ops, Durability::Full).unwrap();
        let q = layout.quarantine_dir().join("f/issues");
        assert_eq!(fs::read_to_string(q.join("a.json")).unwrap(), "damaged");
        assert_eq!(fs::read_to_string(q.join("a.json.note.json")).unwrap(), "n");
        assert_eq!(fs::read_to_string(layout.issues_dir().join("a.json")).unwrap(), "restored");
        // Applied again (a crash before the record left the journal): nothing moves over.
        apply(&layout, &ops, Durability::Relaxed).unwrap();
        assert_eq!(fs::read_to_string(q.join("a.json")).unwrap(), "damaged");
        assert_eq!(fs::read_to_string(layout.issues_dir().join("a.json")).unwrap(), "restored");
        let out = vec![Op::Move { path: "issues/a.json".into(), to: "../escaped".into() }];
        assert!(commit(&layout, &out, Durability::Relaxed).is_err());
        assert!(layout.issues_dir().join("a.json").exists());
    }

    #[test]
    fn paths_outside_the_store_are_refused() {
        let (_d, layout) = setup();
        for p in ["../x", "/etc/passwd", "", "issues/../../x"] {
            let ops = vec![Op::Write { path: p.into(), content: String::new() }];
            assert!(commit(&layout, &ops, Durability::Relaxed).is_err(), "{p}");
        }
    }
}
