//! The derived read index in `.jit/index/`: for each issue file, its stat stamp (size, mtime,
//! ctime, inode), a binary summary of the fields queries use, the issue's description and its
//! compact JSON. Listing reads the summaries and stats the files; it opens an issue file only
//! when its stamp no longer matches (git, an editor, a copy changed it) or is too recent to
//! trust.
//!
//! Files: `issues.idx` (a compacted base) and `issues.log` (records appended since). The base
//! keeps its records in one section and the descriptions and JSON they point to in two more,
//! so a listing reads only the summaries: descriptions are read when a filter searches text,
//! and JSON only for the issues printed (whole, or one positioned read each for a few). The
//! log keeps all of a record in one place. A later record for an id supersedes an earlier
//! one; the directory listing decides which issues exist, so the index can be stale,
//! truncated or deleted without changing any result.
//!
//! Racy stamps (git's "racy clean" problem): a file changed twice within one timestamp tick
//! keeps its stamp. A record is trusted only if the file's mtime is older than the moment the
//! stamp was taken by more than [`RACY_WINDOW_NS`]. jit's own writes set the new file's mtime
//! [`atomic::BACKDATE`] in the past, so their records are trusted at once, while any later change by
//! anyone else gets a current mtime and so a different stamp.

use std::collections::HashMap;
use std::fs::{self, File};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

mod format;
mod snapshot;
mod stat;
pub mod warm;

use format::*;
use snapshot::{BaseFile, FileRead, Section, Slot, read_issue_file};
pub use snapshot::{Entry, Head, Headline, Lead, Problem, Snapshot, Summary, Text};
#[cfg(test)]
use snapshot::{PARALLEL_READ_MIN, SINGLE_READS, read_exact_at_parallel};
#[cfg(test)]
use stat::PARALLEL_STAT_MIN;
pub use stat::{FileStamp, time_ns};
use stat::{stat_all, stat_one};

use super::{
    Access, Durability, FileBytes, Layout, Opened, atomic, lock::RepoLock, open_regular,
    read_regular_at,
};
use crate::error::{Error, IoContext, Result};
use crate::model::{Issue, IssueId};

/// Minimum age of an mtime, at the moment its stamp is taken, for the stamp to be trusted.
pub const RACY_WINDOW_NS: i64 = 100_000_000;
/// Same, for files whose mtime has no sub-second part (filesystems with coarse timestamps).
const RACY_WINDOW_COARSE_NS: i64 = 2_000_000_000;

/// Is a file time (an mtime or a ctime), seen in a stamp taken at `recorded_ns`, too recent
/// for the stamp to be trusted? A time with no sub-second part is taken to come from a
/// filesystem with whole-second timestamps, whose tick is a whole second.
pub fn racy(time_ns: i64, recorded_ns: i64) -> bool {
    let window = if time_ns % 1_000_000_000 == 0 { RACY_WINDOW_COARSE_NS } else { RACY_WINDOW_NS };
    recorded_ns - time_ns <= window
}

/// Is this stamp, taken at `recorded_ns`, too recent to trust? Its mtime and its ctime are
/// both checked: the mtime can be set back by anyone (`touch -r`, `tar -x`, and jit itself,
/// see [`atomic::BACKDATE`]), the ctime cannot, and every change of a file's content or mtime
/// sets its ctime to the current tick. So a stamp whose ctime is older than one tick when it
/// is taken can only match a file that has not changed since.
pub fn racy_stamp(stamp: &FileStamp, recorded_ns: i64) -> bool {
    racy(stamp.mtime_ns, recorded_ns) || racy(stamp.ctime_ns, recorded_ns)
}

/// Wall-clock nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// Hasher for the id → record map: ids are ULIDs whose low 80 bits are random, so a multiply
/// of the folded halves spreads them well, at a fraction of SipHash's cost (the map is built
/// and probed once per issue on every listing).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn write_u128(&mut self, v: u128) {
        let folded = (v as u64) ^ ((v >> 64) as u64).rotate_left(32);
        self.0 = (self.0 ^ folded).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap<V> = HashMap<u128, V, BuildHasherDefault<IdHasher>>;

/// The bytes of an index file; empty if it is missing or cannot be used in any way (not a
/// regular file, unreadable, `index` itself not a directory): a damaged index of any shape
/// only costs speed, so its failures are never errors.
fn read_opt(path: &Path) -> Vec<u8> {
    super::read_regular_or_empty(path).unwrap_or_default()
}

/// An index file opened for reading, if it is a regular file that can be opened.
fn open_index_file(path: &Path) -> Option<File> {
    match open_regular(path, Access::Read) {
        Ok(Opened::File(f)) => Some(f),
        _ => None,
    }
}

/// Make `.jit/index/` a real directory for a writer: something else in its place (a file, a
/// FIFO, a symbolic link, which could send writes outside the repository) is removed first.
/// The index is jit's own derived cache, so nothing of value is lost.
pub(crate) fn index_dir_ready(layout: &Layout) -> Result<std::path::PathBuf> {
    let dir = layout.index_dir();
    match fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => return Ok(dir),
        Ok(_) => fs::remove_file(&dir).at(&dir)?,
        Err(_) => {}
    }
    fs::create_dir_all(&dir).at(&dir)?;
    Ok(dir)
}

/// Before an index file is replaced by rename: a directory in its place would make the
/// rename fail for good, so it goes (FIFOs and symbolic links are replaced by the rename).
fn clear_odd(path: &Path) {
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        let _ = fs::remove_dir_all(path);
    }
}

/// Is `.jit/index/` a real directory (not a symbolic link, which readers do not follow)?
pub(crate) fn index_dir_usable(dir: &Path) -> bool {
    fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir())
}

/// The base, opened: its generation, its record section (read), and its other sections
/// (read when needed). `None` if there is no base or its header does not hold.
fn open_base(path: &Path) -> Result<Option<(u64, Vec<u8>, BaseFile)>> {
    let Some(file) = open_index_file(path) else { return Ok(None) };
    let Ok(meta) = file.metadata() else { return Ok(None) };
    let size = meta.len();
    let mut head = [0u8; BASE_HEADER];
    if file.read_exact_at(&mut head, 0).is_err() {
        return Ok(None);
    }
    let u64_at = |o: usize| u64::from_le_bytes(head[o..o + 8].try_into().unwrap());
    let crc = u32::from_le_bytes(head[40..44].try_into().unwrap());
    let (core_len, text_len, json_len) = (u64_at(16), u64_at(24), u64_at(32));
    let Some(generation) = generation_of(&head) else { return Ok(None) };
    let total = core_len.checked_add(text_len).and_then(|n| n.checked_add(json_len));
    if crc32fast::hash(&head[..40]) != crc || total != size.checked_sub(BASE_HEADER as u64) {
        return Ok(None);
    }
    let Ok(core_len) = usize::try_from(core_len) else { return Ok(None) };
    let mut core = vec![0; core_len];
    if file.read_exact_at(&mut core, BASE_HEADER as u64).is_err() {
        return Ok(None); // shortened since its size was read: rewritten in place by someone
    }
    let core_len = core_len as u64;
    let text_at = BASE_HEADER as u64 + core_len;
    let base = BaseFile {
        text: Section::new(text_at, text_len),
        json: Section::new(text_at + text_len, json_len),
        file,
    };
    Ok(Some((generation, core, base)))
}

/// The index without the full check of every file: for walks that visit a few issues (the
/// cycle check of `dep add`). Each visited issue's file is statted and its record used only if
/// the stamp matches and is not racy; otherwise the file itself is read. A missing file is a
/// missing issue. Cost: reading the index's records plus a stat per visited issue.
pub struct Records {
    loaded: Loaded,
    dir: File,
}

impl Records {
    pub fn open(layout: &Layout) -> Result<Records> {
        let issues = layout.issues_dir();
        let dir = super::open_dir(&issues).at(&issues)?;
        Ok(Records { loaded: load(&layout.index_dir())?, dir })
    }

    /// The dependencies of `id`, or `None` if there is no such issue (or it cannot be read).
    pub fn deps(&self, id: u128) -> Option<Vec<u128>> {
        let stamp = stat_one(&self.dir, id)?;
        if let Some(slot) = self.loaded.known.get(&id) {
            let p = &self.loaded.bufs[slot.buf as usize][slot.start..slot.end];
            let (rec_stamp, rec_ns) = RecordRef::stamp(p)?;
            if rec_stamp == stamp && !racy_stamp(&rec_stamp, rec_ns) {
                let head = RecordRef::parse(p, slot.based())
                    .and_then(|rec| postcard::from_bytes::<Head>(rec.summary()).ok());
                if let Some(head) = head {
                    return Some(head.dependencies);
                }
                // A summary that does not decode (crafted bytes): the file decides.
            }
        }
        let name = IssueId::from_u128(id).file_name();
        let FileBytes::Regular(bytes) = read_regular_at(&self.dir, Path::new(&name)).ok()? else {
            return None;
        };
        let issue = Issue::from_slice(&bytes).ok().filter(|i| i.id.as_u128() == id)?;
        Some(issue.dependencies.iter().map(|d| d.as_u128()).collect())
    }
}

/// The index files as read: their bytes and where each id's latest record is.
struct Loaded {
    bufs: Vec<Vec<u8>>,
    base: Option<BaseFile>,
    known: IdMap<Slot>,
    health: Health,
}

/// What the upkeep after a listing needs to know about the index files as they were read.
struct Health {
    base_gen: Option<u64>,
    base_records: usize,
    log_records: usize,
    /// Whether bytes follow the last readable record of the base / the log: damage, or a log
    /// append torn by a killed writer. Records after such a tail can never be read, so the
    /// index must be compacted.
    tail_damaged: [bool; 2],
    log_len: u64,
}

impl Health {
    /// Must the index be rewritten, with `dead` records of issues that no longer exist?
    /// (A torn log tail is decided under the lock, see [`upkeep`].)
    fn needs_compaction(&self, dead: usize) -> bool {
        self.base_gen.is_none()
            || self.tail_damaged[0]
            || self.log_records > 1024.max(self.base_records / 2)
            || dead > 256.max(self.base_records / 4)
    }
}

fn load(dir: &Path) -> Result<Loaded> {
    let usable = index_dir_usable(dir);
    let opened = if usable { open_base(&dir.join(BASE))? } else { None };
    let (base_gen, core, base) = match opened {
        Some((g, core, base)) => (Some(g), core, Some(base)),
        None => (None, Vec::new(), None),
    };
    let log = if usable { read_opt(&dir.join(LOG)) } else { Vec::new() };
    let log_usable = base_gen.is_some() && generation_of(&log) == base_gen;
    let bufs = vec![core, if log_usable { log } else { Vec::new() }, Vec::new()];
    let mut known: IdMap<Slot> = IdMap::default();
    let mut counts = [0usize; 2];
    let mut tail_damaged = [false; 2];
    for (b, from) in [(0, 0), (1, HEADER)] {
        let buf = &bufs[b];
        if base_gen.is_none() || buf.len() < from {
            continue;
        }
        let mut valid_end = from;
        for (start, end) in records(buf, from, b == 0) {
            let id = u128::from_le_bytes(buf[start..start + 16].try_into().unwrap());
            known.insert(id, Slot { id, buf: b as u32, start, end });
            counts[b] += 1;
            valid_end = end;
        }
        tail_damaged[b] = valid_end != buf.len();
    }
    let log_len = bufs[1].len() as u64;
    let health =
        Health { base_gen, base_records: counts[0], log_records: counts[1], tail_damaged, log_len };
    Ok(Loaded { bufs, base, known, health })
}

/// The index compared with the issue files, for `validate`: read, never changed.
#[derive(Debug, Default)]
pub struct IndexCheck {
    /// Why the index files cannot be used whole (no base, a damaged tail, ...).
    pub damaged: Vec<String>,
    /// Issue files whose record no longer matches their stamp (re-read by the next listing).
    pub stale: usize,
    /// Issue files the index has no record of.
    pub missing: usize,
    /// Records of issues whose file is gone.
    pub dead: usize,
    /// Issues whose record is trusted (its stamp matches the file, not racy), so listings
    /// show it without reading the file, but whose data differ from the file's.
    pub wrong: Vec<IssueId>,
    /// Trusted records whose JSON cannot be read or fails its checksum (listings then read
    /// the file: slower, not wrong).
    pub unreadable: usize,
}

/// Compare the index with `files` (every issue file that is an issue, with its stamp now and
/// the issue read from it): which records are behind, and whether a record listings would
/// trust holds the file's data (its JSON and summary). An index that is not there at all is
/// not damage: it is made by the next listing.
pub fn verify(layout: &Layout, files: &[(FileStamp, &Issue)]) -> Result<IndexCheck> {
    let dir = layout.index_dir();
    let mut check = IndexCheck::default();
    if fs::symlink_metadata(&dir).is_err() {
        return Ok(check);
    }
    if !index_dir_usable(&dir) {
        check.damaged.push("index/ is not a directory".into());
    }
    let loaded = load(&dir)?;
    let h = &loaded.health;
    if index_dir_usable(&dir) && h.base_gen.is_none() && !files.is_empty() {
        check.damaged.push(format!("{BASE} is missing or its header is damaged"));
    }
    for (damaged, name) in h.tail_damaged.iter().zip([BASE, LOG]) {
        if *damaged {
            check.damaged.push(format!("{name} has bytes after its last readable record"));
        }
    }
    let mut seen = 0usize;
    for (stamp, issue) in files {
        let Some(slot) = loaded.known.get(&issue.id.as_u128()) else {
            check.missing += 1;
            continue;
        };
        seen += 1;
        let p = &loaded.bufs[slot.buf as usize][slot.start..slot.end];
        match RecordRef::stamp(p) {
            Some((rec, ns)) if rec == *stamp && !racy_stamp(&rec, ns) => {}
            Some((rec, _)) if rec == *stamp => continue, // racy: listings re-read the file
            _ => {
                check.stale += 1;
                continue;
            }
        }
        let Some(rec) = RecordRef::parse(p, slot.based()) else {
            check.unreadable += 1;
            continue;
        };
        let json = match rec {
            RecordRef::Inline { json, .. } => Some(json),
            RecordRef::Based { json, .. } => loaded
                .base
                .as_ref()
                .and_then(|b| b.json.whole(&b.file))
                .and_then(|section| json.within(section)),
        };
        let Some(json) = json else {
            check.unreadable += 1;
            continue;
        };
        let summary = postcard::to_allocvec(&Summary::of(issue)).expect("summary serialises");
        if json != issue.to_compact_json().as_bytes() || rec.summary() != summary {
            check.wrong.push(issue.id);
        }
    }
    check.dead = loaded.known.len() - seen;
    Ok(check)
}

/// Remove the index (`validate --fix`, to rebuild a damaged or wrong one, or to free space on
/// a full disk): it is derived, and the next listing writes it again. Call with the writers'
/// lock held. An entry in its place that is not a directory (a file, a symbolic link) is
/// removed itself, never followed. Returns the bytes freed.
pub fn clear(layout: &Layout, _held: &RepoLock) -> Result<u64> {
    let dir = layout.index_dir();
    let Ok(meta) = fs::symlink_metadata(&dir) else { return Ok(0) };
    if !meta.is_dir() {
        fs::remove_file(&dir).at(&dir)?;
        return Ok(meta.len());
    }
    let mut freed = 0;
    for e in fs::read_dir(&dir).at(&dir)?.flatten() {
        freed += e.metadata().map_or(0, |m| m.len());
    }
    fs::remove_dir_all(&dir).at(&dir)?;
    Ok(freed)
}

/// Read every issue through the index, re-reading files whose stamps do not match, and keep
/// the index up to date when the writers' lock is free. The index is read on this thread
/// while the files are statted on others: both are most of the cost of a listing.
pub fn snapshot(layout: &Layout) -> Result<Snapshot> {
    snapshot_inner(layout, None)
}

/// [`snapshot`] for a caller that holds the writers' lock (the `RepoLock` is the proof): the
/// index upkeep is done under that lock instead of being skipped.
pub fn snapshot_locked(layout: &Layout, held: &RepoLock) -> Result<Snapshot> {
    snapshot_inner(layout, Some(held))
}

fn snapshot_inner(layout: &Layout, held: Option<&RepoLock>) -> Result<Snapshot> {
    let recorded_ns = now_ns();
    let issues_dir = layout.issues_dir();
    let (ids, misnamed) = super::ids::all_and_misnamed(layout)?;
    let (loaded, stats) = load_and_stat(layout, &ids)?;
    let Loaded { mut bufs, base, known, health } = loaded;
    let mut slots = Vec::with_capacity(known.len());
    let mut fresh_trusted = Vec::new();
    let mut problems: Vec<Problem> = misnamed
        .into_iter()
        .map(|name| Problem {
            path: issues_dir.join(name),
            message: "not an issue file name (issue files are <id>.json, the id in lowercase)"
                .into(),
        })
        .collect();
    let mut live_known = 0usize;
    for (&raw, stat) in ids.iter().zip(stats) {
        let id = IssueId::from_u128(raw);
        let path = || issues_dir.join(id.file_name());
        let Some(stamp) = stat else {
            // Vanished since it was listed, or not a regular file (a symbolic link, a
            // directory): only the second is worth a word.
            if fs::symlink_metadata(path()).is_ok() {
                let message = "not a regular file (a symbolic link or a directory)".into();
                problems.push(Problem { path: path(), message });
            }
            continue;
        };
        if let Some(slot) = known.get(&raw) {
            live_known += 1;
            let (rec_stamp, rec_ns) =
                RecordRef::stamp(&bufs[slot.buf as usize][slot.start..slot.end])
                    .expect("checked by records()");
            if rec_stamp == stamp && !racy_stamp(&rec_stamp, rec_ns) {
                slots.push(*slot);
                continue;
            }
        }
        let issue = match read_issue_file(&path())? {
            FileRead::Issue(i) if i.id == id => *i,
            FileRead::Issue(i) => {
                let message = format!("file name says {id} but the issue inside is {}", i.id);
                problems.push(Problem { path: path(), message });
                continue;
            }
            FileRead::Invalid(message) => {
                problems.push(Problem { path: path(), message });
                continue;
            }
            FileRead::Gone => continue,
        };
        let (start, end) = encode(&mut bufs[2], &issue, stamp, recorded_ns);
        let slot = Slot { id: raw, buf: 2, start, end };
        if !racy_stamp(&stamp, recorded_ns) {
            fresh_trusted.push(slot);
        }
        slots.push(slot);
    }
    slots.sort_unstable_by_key(|s| s.id);
    let snap = Snapshot {
        bufs: bufs.into_iter().map(Arc::new).collect(),
        slots,
        problems,
        base: base.map(Arc::new),
        layout: layout.clone(),
        damaged: Mutex::new(Vec::new()),
        fallbacks: Default::default(),
    };
    upkeep(layout, held, &snap, &health, known.len() - live_known, &fresh_trusted);
    Ok(snap)
}

/// Read the index on this thread while the issue files are statted on others (both are most
/// of the cost of a listing).
fn load_and_stat(layout: &Layout, ids: &[u128]) -> Result<(Loaded, Vec<Option<FileStamp>>)> {
    let issues_dir = layout.issues_dir();
    let dir_fd = super::open_dir(&issues_dir).at(&issues_dir)?;
    let (loaded, stats) = std::thread::scope(|s| {
        let worker = std::thread::Builder::new().spawn_scoped(s, || stat_all(&dir_fd, ids));
        let loaded = load(&layout.index_dir());
        let stats = match worker {
            Ok(w) => w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            Err(_) => stat_all(&dir_fd, ids),
        };
        (loaded, stats)
    });
    Ok((loaded?, stats))
}

/// Keep the index up to date after a listing: append the records just made from files, or
/// compact when the index needs it. Only with the writers' lock: the one the caller holds, or
/// one taken without waiting. Best effort: a busy lock or a failed write only costs speed
/// next time.
fn upkeep(
    layout: &Layout,
    held: Option<&RepoLock>,
    snap: &Snapshot,
    health: &Health,
    dead: usize,
    fresh_trusted: &[Slot],
) {
    let mut needs_compaction = health.needs_compaction(dead);
    if !needs_compaction && !health.tail_damaged[1] && fresh_trusted.is_empty() {
        return;
    }
    let taken = match held {
        Some(_) => None,
        None => RepoLock::try_acquire(layout, "index upkeep").ok().flatten(),
    };
    if held.is_none() && taken.is_none() {
        return;
    }
    // A log tail that did not parse may only have been an append in flight while we read;
    // under the lock, the log still ending where we stopped reading says torn.
    let log = layout.index_dir().join(LOG);
    needs_compaction |=
        health.tail_damaged[1] && fs::metadata(log).is_ok_and(|m| m.len() == health.log_len);
    let _ = if needs_compaction {
        compact(layout, snap)
    } else {
        append_slots(layout, snap, fresh_trusted)
    };
}

/// Rewrite the base from `snap` (only trusted records whose parts can be read) and start an
/// empty log.
fn compact(layout: &Layout, snap: &Snapshot) -> Result<()> {
    let dir = index_dir_ready(layout)?;
    clear_odd(&dir.join(BASE));
    clear_odd(&dir.join(LOG));
    // A compaction killed half-way leaves its temp base behind; the next one clears it.
    atomic::remove_stale_temps(&dir);
    let generation = crate::clock::Clock::system().rng().next_u64();
    let (mut core, mut text, mut json) = (Vec::new(), Vec::new(), Vec::new());
    for s in &snap.slots {
        let p = snap.payload(s);
        let (stamp, recorded_ns) = RecordRef::stamp(p).expect("checked");
        if racy_stamp(&stamp, recorded_ns) {
            continue; // will be re-read anyway; recording it would only cost space
        }
        let Some((j, d)) = snap.blobs(s) else { continue }; // re-read from its file next time
        let Some(rec) = RecordRef::parse(p, s.based()) else { continue };
        let blob = |section: &mut Vec<u8>, b: &[u8]| {
            let r =
                BlobRef { off: section.len() as u64, len: b.len() as u32, crc: crc32fast::hash(b) };
            section.extend_from_slice(b);
            r
        };
        let (jr, dr) = (blob(&mut json, j), blob(&mut text, d));
        frame(&mut core, |out| {
            out.extend_from_slice(&p[..STAMPED]);
            jr.write(out);
            dr.write(out);
            out.extend_from_slice(rec.summary());
        });
    }
    let mut out = Vec::with_capacity(BASE_HEADER + core.len() + text.len() + json.len());
    out.extend_from_slice(&base_header(generation, [core.len(), text.len(), json.len()]));
    for section in [core, text, json] {
        out.extend_from_slice(&section);
    }
    atomic::write(&dir.join(BASE), &out, Durability::Relaxed)?;
    atomic::write(&dir.join(LOG), &header(generation), Durability::Relaxed)
}

fn append_slots(layout: &Layout, snap: &Snapshot, slots: &[Slot]) -> Result<()> {
    let mut out = Vec::new();
    for s in slots {
        frame(&mut out, |o| o.extend_from_slice(snap.payload(s)));
    }
    append_raw(layout, &out)
}

/// Record issues a writer has just written (call with the writers' lock held, after the
/// renames). Best effort: the index is a cache.
pub fn record_written(layout: &Layout, issues: &[&Issue]) -> Result<()> {
    let recorded_ns = now_ns();
    let mut out = Vec::new();
    for issue in issues {
        let path = layout.issue_path(issue.id);
        let meta = fs::symlink_metadata(&path).at(&path)?;
        encode(&mut out, issue, FileStamp::of(&meta), recorded_ns);
    }
    append_raw(layout, &out)
}

fn append_raw(layout: &Layout, records: &[u8]) -> Result<()> {
    let dir = index_dir_ready(layout)?;
    let base_path = dir.join(BASE);
    let mut head = [0u8; HEADER];
    let base_gen = open_index_file(&base_path)
        .and_then(|mut f| f.read_exact(&mut head).ok())
        .and_then(|()| generation_of(&head));
    let generation = match base_gen {
        Some(g) => g,
        None => {
            clear_odd(&base_path);
            let g = crate::clock::Clock::system().rng().next_u64();
            atomic::write(&base_path, &base_header(g, [0; 3]), Durability::Relaxed)?;
            g
        }
    };
    let log_path = dir.join(LOG);
    let mut log = match open_regular(&log_path, Access::AppendCreate).at(&log_path)? {
        Opened::File(f) => f,
        _ => {
            // A FIFO, symbolic link or directory where the log should be: start a new one.
            clear_odd(&log_path);
            atomic::write(&log_path, &header(generation), Durability::Relaxed)?;
            match open_regular(&log_path, Access::AppendCreate).at(&log_path)? {
                Opened::File(f) => f,
                _ => return Err(Error::NotRegularFile { path: log_path }),
            }
        }
    };
    let mut log_head = [0u8; HEADER];
    if log.read_exact(&mut log_head).is_err() || generation_of(&log_head) != Some(generation) {
        log.set_len(0).at(&log_path)?;
        log.write_all(&header(generation)).at(&log_path)?;
    }
    log.write_all(records).at(&log_path)
}

#[cfg(test)]
mod tests;
mod update;
