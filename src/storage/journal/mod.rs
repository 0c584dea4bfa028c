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

use super::fault::{self, Step};
use super::{Access, Durability, FileBytes, Layout, Opened, atomic, open_regular, read_regular};
use crate::error::{Error, IoContext, Result};

/// Format 2 records name, for each op, what its file held before (see [`Record::before`]);
/// format 1 records (older versions) do not, and are still rolled forward. Format 3 is
/// format 2 with moves ([`Op::Move`], of `validate --fix`): only records that move an entry
/// are written in it (see `format_for`), so that versions that know no moves quarantine
/// those as of an unknown format and still roll the others forward.
const FORMAT: u32 = 3;

/// Prefix of the records of finished commits kept in `index/` for readers.
const DONE_PREFIX: &str = "journal.";
/// Finished records kept: at most this many, and no more bytes than [`DONE_KEEP_BYTES`]
/// (the newest is always kept). A reader whose read overlapped more commits than are kept
/// reads again.
const DONE_KEEP: usize = 16;
const DONE_KEEP_BYTES: u64 = 64 << 20;

/// Prefix of a damaged record moved to `quarantine/` by recovery.
pub const QUARANTINE_PREFIX: &str = "journal-";
/// Suffix of the note beside a quarantined record that says it has been settled.
pub const SETTLED_SUFFIX: &str = ".settled";

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

    /// The digest of what the file holds once the op is applied (`None`: no file).
    fn after(&self) -> Option<String> {
        match self {
            Op::Write { content, .. } => Some(digest(content.as_bytes())),
            // A move's path is left with nothing (its destination is not this path).
            Op::Remove { .. } | Op::Move { .. } => None,
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
    /// For each op, the SHA-256 (hex) of the file it replaces as it was when the record was
    /// written (`None`: there was no file). Recovery applies an op only to a file that still
    /// holds exactly that, so a record that comes back (a power loss with `relaxed`
    /// durability can undo its removal) never rolls a later change back. Absent in format 1.
    /// "Before" is as the ops before it in the record leave it (a record may move a file away
    /// and write a new one in its place); for a move, what it moves, an entry that is not a
    /// regular file named by its kind (`directory:`, `symlink:`, `special:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    before: Option<Vec<Option<String>>>,
}

impl Record {
    fn checksum(&self) -> u32 {
        match &self.before {
            Some(before) if self.format >= 2 => {
                crc32fast::hash(&serde_json::to_vec(&(&self.ops, before)).expect("serialises"))
            }
            _ => crc32fast::hash(&serde_json::to_vec(&self.ops).expect("ops serialise")),
        }
    }

    /// Why the record cannot be applied, if it cannot.
    fn damage(&self, layout: &Layout) -> Option<String> {
        if !(1..=FORMAT).contains(&self.format) {
            return Some(format!("unknown format {}", self.format));
        }
        if self.checksum != self.checksum() {
            return Some("checksum mismatch".into());
        }
        if self.format >= 2 && self.before.as_ref().is_none_or(|b| b.len() != self.ops.len()) {
            return Some("its list of files as they were does not match its operations".into());
        }
        if self.format < 3 && self.ops.iter().any(|op| matches!(op, Op::Move { .. })) {
            return Some(format!("a move in a record of format {} (moves need 3)", self.format));
        }
        let p = self.ops.iter().flat_map(Op::paths).find(|p| resolve(layout, p).is_err())?;
        Some(format!("path `{p}` leaves the repository"))
    }
}

/// What recovery found.
#[derive(Debug, Default, PartialEq)]
pub struct Recovery {
    pub rolled_forward: usize,
    pub discarded: usize,
    /// Damaged records moved to `quarantine/` (their names there).
    pub quarantined: Vec<String>,
    /// Operations of rolled-forward records not applied because their file had changed
    /// since (a later change, never rolled back).
    pub superseded: usize,
}

fn digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a file holds now: its bytes, `None` when there is none; an error when something
/// else than a regular file is there.
fn current(path: &Path) -> Result<Option<Vec<u8>>> {
    match read_regular(path).at(path)? {
        FileBytes::Regular(b) => Ok(Some(b)),
        FileBytes::Missing => Ok(None),
        FileBytes::NotRegular => Err(Error::NotRegularFile { path: path.to_path_buf() }),
    }
}

/// What is at a path, for the journal: a regular file's bytes, nothing, or an entry of
/// another kind (a directory, a symlink, a FIFO: only a move may take one).
#[derive(Clone, Debug, PartialEq)]
enum Entry {
    Missing,
    File(Vec<u8>),
    Other(&'static str),
}

impl Entry {
    /// How a record names it in [`Record::before`]: a regular file by the SHA-256 of its
    /// bytes; an entry of another kind by its kind, with a `:` no hex digest has.
    fn digest(&self) -> Option<String> {
        match self {
            Entry::Missing => None,
            Entry::File(b) => Some(digest(b)),
            Entry::Other(kind) => Some(format!("{kind}:")),
        }
    }
}

/// What is at `path` now (see [`Entry`]).
fn entry(path: &Path) -> Result<Entry> {
    match read_regular(path).at(path)? {
        FileBytes::Regular(b) => Ok(Entry::File(b)),
        FileBytes::Missing => Ok(Entry::Missing),
        FileBytes::NotRegular => {
            let kind = match fs::symlink_metadata(path) {
                Ok(m) if m.is_dir() => "directory",
                Ok(m) if m.file_type().is_symlink() => "symlink",
                _ => "special",
            };
            Ok(Entry::Other(kind))
        }
    }
}

/// Make the directory of `path` if it is missing (with its own entry durable): the notes and
/// the entries `validate --fix` moves into a folder of `quarantine/` made for them.
fn make_parent(layout: &Layout, path: &Path) -> Result<()> {
    let Some(parent) = path.parent() else { return Ok(()) };
    if parent.exists() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut d = parent;
    while !d.exists() && d.starts_with(layout.root()) && d != layout.root() {
        missing.push(d.to_path_buf());
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    for dir in missing.iter().rev() {
        atomic::create_dir(dir, Durability::Full)?;
    }
    Ok(())
}

/// The paths of each op (and of a move's destination), resolved inside `.jit/`.
#[allow(clippy::type_complexity)]
fn resolve_all(layout: &Layout, ops: &[Op]) -> Result<(Vec<PathBuf>, Vec<Option<PathBuf>>)> {
    let mut paths = Vec::with_capacity(ops.len());
    let mut tos = Vec::with_capacity(ops.len());
    for op in ops {
        paths.push(resolve(layout, op.path())?);
        tos.push(match op {
            Op::Move { to, .. } => Some(resolve(layout, to)?),
            _ => None,
        });
    }
    Ok((paths, tos))
}

/// What each op's path holds just before the op is applied, the ops before it in the record
/// applied (a record may move a file away and then write a new one in its place, as
/// `validate --fix --restore-from-git` does). Refuses, before anything is written, a write
/// or removal of an entry that is not a regular file and a move onto an existing entry.
fn befores(ops: &[Op], paths: &[PathBuf], tos: &[Option<PathBuf>]) -> Result<Vec<Entry>> {
    use std::collections::HashMap;
    /// The state after an earlier op of the record: an entry, or the content of write `i`.
    enum Sim {
        Is(Entry),
        Written(usize),
    }
    let mut sim: HashMap<&Path, Sim> = HashMap::new();
    let state = |sim: &HashMap<&Path, Sim>, p: &Path| -> Result<Entry> {
        match sim.get(p) {
            None => entry(p),
            Some(Sim::Is(e)) => Ok(e.clone()),
            Some(Sim::Written(j)) => match &ops[*j] {
                Op::Write { content, .. } => Ok(Entry::File(content.as_bytes().to_vec())),
                _ => unreachable!("only writes are recorded as written"),
            },
        }
    };
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let p = paths[i].as_path();
        let now = if sim.contains_key(p) { state(&sim, p)? } else { entry(p)? };
        match op {
            Op::Write { .. } | Op::Remove { .. } => {
                if let Entry::Other(_) = now {
                    return Err(Error::NotRegularFile { path: p.to_path_buf() });
                }
                let after = if matches!(op, Op::Write { .. }) {
                    Sim::Written(i)
                } else {
                    Sim::Is(Entry::Missing)
                };
                sim.insert(p, after);
            }
            Op::Move { .. } => {
                let to = tos[i].as_deref().expect("a move has a destination");
                if state(&sim, to)? != Entry::Missing {
                    let source = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
                    return Err(Error::Io { path: to.to_path_buf(), source });
                }
                let moved = match sim.remove(p) {
                    Some(s) => s,
                    None => Sim::Is(now.clone()),
                };
                sim.insert(to, moved);
                sim.insert(p, Sim::Is(Entry::Missing));
            }
        }
        out.push(now);
    }
    Ok(out)
}

/// From this many files on, a record's files are made durable by one `syncfs` of the
/// filesystem instead of an fsync each (100 fsyncs cost ~0.35–0.6 s on the measured disk, one
/// `syncfs` ~40–120 ms). Below it the per-file fsyncs stay: their cost does not depend on what
/// else on the filesystem is waiting to be written.
const SYNCFS_FROM: usize = 8;

/// Apply `ops` as one all-or-nothing change. Call with the writers' lock held.
///
/// 1. Every new file is written beside its target first (a temp file, fsynced unless the
///    record is large, see `SYNCFS_FROM`), and the folders a move or a note into
///    `quarantine/` needs are made: a full disk or a directory jit may not write stops the
///    change here, with nothing changed and no record.
/// 2. The record (each op, and a digest of what its file holds just before the op) is made
///    durable, in `relaxed` durability too: from here on, a crash is recovered by rolling it
///    forward.
/// 3. Each temp file is renamed over its target, each removal and move made; the
///    directories are fsynced (or the filesystem synced once).
/// 4. The commit sequence is made even and the record retired.
///
/// If a step of 3 fails, the files already changed are put back as they were (in reverse
/// order; a move is moved back) and the record is removed: the error then means that nothing
/// was changed. If even that fails, the record stays for the next command to finish, and the
/// error says so ([`Error::ChangePending`]).
pub fn commit(layout: &Layout, ops: &[Op], durability: Durability) -> Result<()> {
    let (paths, tos) = resolve_all(layout, ops)?;
    let dir = layout.journal_dir();
    // The record must not vanish with a directory whose entry never reached the disk.
    atomic::create_dir(&dir, Durability::Full)?;
    let olds = befores(ops, &paths, &tos)?;
    let one_sync =
        durability == Durability::Full && ops.len() >= SYNCFS_FROM && cfg!(target_os = "linux");
    let per_file = if one_sync { Durability::Relaxed } else { durability };
    let mut temps = Temps(Vec::with_capacity(ops.len()));
    for (i, op) in ops.iter().enumerate() {
        let p = &paths[i];
        temps.0.push(match op {
            Op::Write { content, path: rel } => {
                if rel.starts_with("quarantine/") {
                    make_parent(layout, p)?;
                }
                Some(atomic::prepare(p, content.as_bytes(), per_file)?)
            }
            Op::Remove { .. } => None,
            Op::Move { .. } => {
                make_parent(layout, tos[i].as_deref().expect("a move has a destination"))?;
                None
            }
        });
    }
    // Odd while the files change (see `commit_seq`).
    let seq = commit_seq(layout).unwrap_or(0) | 1;
    let before = olds.iter().map(Entry::digest).collect();
    let mut record = Record {
        format: format_for(ops),
        checksum: 0,
        seq: Some(seq),
        ops: ops.to_vec(),
        before: Some(before),
    };
    record.checksum = record.checksum();
    let bytes = serde_json::to_vec(&record).expect("record serialises");
    let path = dir.join(format!("{}.json", jiff::Timestamp::now().as_nanosecond()));
    set_commit_seq(layout, seq)?;
    if let Err(e) = atomic::write(&path, &bytes, Durability::Full) {
        // No file was touched. The record may be in place all the same (its rename went
        // through, the fsync after it failed): remove it, so that the error is true.
        let _ = fs::remove_file(&path);
        let _ = set_commit_seq(layout, seq + 1);
        return Err(e);
    }
    let applied = match fault::reach(Step::JournalRecord).at(&path) {
        Err(e) => Err((0, e)),
        Ok(()) => install(layout, ops, (&paths, &tos), &olds, &mut temps, one_sync, durability),
    };
    if let Err((done, e)) = applied {
        let done = Done { ops: &ops[..done], paths: &paths, tos: &tos, olds: &olds };
        return Err(undo(layout, &path, seq, done, durability, e));
    }
    // Even again before the record leaves `journal/`: a reader that finds no record while the
    // number is odd knows the commit has not touched a file yet (see `changes_between`).
    let pending = |e: Error| Error::ChangePending { record: path.clone(), source: Box::new(e) };
    set_commit_seq(layout, seq + 1).map_err(pending)?;
    match retire(layout, &[(path.clone(), Some(seq))], durability) {
        // Every file is made and durable; only the record's leaving `journal/` may not be.
        // Should it come back, recovery finds each file as the record makes it and leaves
        // it alone (see `roll_forward`): the change is made, as reported.
        Err(_) if !path.exists() => Ok(()),
        Err(e) => Err(pending(e)),
        Ok(()) => Ok(()),
    }
}

/// The format a record of `ops` is written in: 3 when it moves an entry (older versions,
/// which know no moves, then quarantine it as of an unknown format rather than misread it),
/// 2 otherwise, so that they still roll the others forward.
fn format_for(ops: &[Op]) -> u32 {
    if ops.iter().any(|op| matches!(op, Op::Move { .. })) { FORMAT } else { 2 }
}

/// Temp files made for a commit and not yet renamed: removed when dropped.
struct Temps(Vec<Option<PathBuf>>);

impl Drop for Temps {
    fn drop(&mut self) {
        for t in self.0.iter_mut().filter_map(Option::take) {
            let _ = fs::remove_file(t);
        }
    }
}

/// Step 3 of [`commit`]: rename the temp files into place, make the removals and the moves,
/// then make it all durable. On failure, how many ops were applied.
fn install(
    layout: &Layout,
    ops: &[Op],
    (paths, tos): (&[PathBuf], &[Option<PathBuf>]),
    olds: &[Entry],
    temps: &mut Temps,
    one_sync: bool,
    durability: Durability,
) -> std::result::Result<(), (usize, Error)> {
    let mut dirs = BTreeSet::new();
    for (i, (op, p)) in ops.iter().zip(paths).enumerate() {
        let result = match (op, temps.0[i].take()) {
            (Op::Write { .. }, Some(tmp)) => {
                let r = fs::rename(&tmp, p).at(p);
                if r.is_err() {
                    let _ = fs::remove_file(&tmp);
                }
                r
            }
            (Op::Move { .. }, _) => {
                let to = tos[i].as_deref().expect("a move has a destination");
                if let Some(parent) = to.parent() {
                    dirs.insert(parent.to_path_buf());
                }
                // Nothing there to move: nothing to do (see `befores`).
                if olds[i] == Entry::Missing { Ok(()) } else { fs::rename(p, to).at(p) }
            }
            _ => remove(p),
        };
        if let Err(e) = result {
            return Err((i, e));
        }
        if let Err(e) = fault::reach(Step::Renamed).and_then(|()| fault::reach(Step::JournalApply))
        {
            return Err((i + 1, Error::Io { path: p.clone(), source: e }));
        }
        if let Some(parent) = p.parent() {
            dirs.insert(parent.to_path_buf());
        }
    }
    let synced = (|| {
        if one_sync {
            sync_filesystem(layout.root())?;
        }
        for d in &dirs {
            atomic::sync_dir(d, durability)?;
        }
        Ok(())
    })();
    synced.map_err(|e| (ops.len(), e))
}

fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).at(path),
        _ => Ok(()),
    }
}

/// The ops of a failed commit that were applied, with the record's paths and what each op's
/// path held just before it (see [`befores`]).
struct Done<'a> {
    ops: &'a [Op],
    paths: &'a [PathBuf],
    tos: &'a [Option<PathBuf>],
    olds: &'a [Entry],
}

/// A commit failed after its record became durable, with `done.ops` applied: put them back
/// as they were, the last first (a write or removal gets its file's old bytes back, a move
/// is moved back), then remove the record, so that the error `e` is true when it says
/// nothing was changed. If they cannot all be put back, the record stays (the next command
/// rolls it forward) and the error says the change is pending.
fn undo(
    layout: &Layout,
    record: &Path,
    seq: u64,
    done: Done<'_>,
    durability: Durability,
    e: Error,
) -> Error {
    let restored = (|| {
        for (i, op) in done.ops.iter().enumerate().rev() {
            let p = &done.paths[i];
            match (op, &done.olds[i]) {
                (Op::Move { .. }, Entry::Missing) => {}
                (Op::Move { .. }, _) => {
                    let to = done.tos[i].as_deref().expect("a move has a destination");
                    if fs::symlink_metadata(p).is_err() && fs::symlink_metadata(to).is_ok() {
                        fs::rename(to, p).at(to)?;
                        atomic::sync_parent(to, durability)?;
                        atomic::sync_parent(p, durability)?;
                    }
                }
                (_, Entry::File(bytes)) => atomic::write(p, bytes, durability)?,
                (_, Entry::Missing) => {
                    remove(p)?;
                    atomic::sync_parent(p, durability)?;
                }
                // Refused before anything was written (see `befores`).
                (_, Entry::Other(_)) => {}
            }
        }
        fs::remove_file(record).at(record)?;
        atomic::sync_dir(&layout.journal_dir(), Durability::Full)?;
        set_commit_seq(layout, seq + 1)
    })();
    match restored {
        Ok(()) => e,
        // Every file is back and the record is gone: nothing was changed, as `e` says.
        Err(_) if !record.exists() => {
            let _ = set_commit_seq(layout, seq + 1);
            e
        }
        Err(_) => Error::ChangePending { record: record.to_path_buf(), source: Box::new(e) },
    }
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

mod recover;
pub use recover::{Pending, changes_between, inspect, pending, quarantined, recover, settle};

#[cfg(test)]
mod tests;
