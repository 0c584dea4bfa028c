//! The derived read index in `.jit/index/`: for each issue file, its stat stamp (size, mtime,
//! ctime, inode), the issue's compact JSON, and a binary summary of the fields queries use.
//! Listing reads the index and stats the files; it opens an issue file only when its stamp
//! no longer matches (git, an editor, a copy changed it) or is too recent to trust.
//!
//! Files: `issues.idx` (a compacted base) and `issues.log` (records appended since), both a
//! 16-byte header (magic + generation) then records `[len u32][crc32 u32][payload]`. A later
//! record for an id supersedes an earlier one; the directory listing decides which issues
//! exist, so the index can be stale, truncated or deleted without changing any result.
//!
//! Racy stamps (git's "racy clean" problem): a file changed twice within one timestamp tick
//! keeps its stamp. A record is trusted only if the file's mtime is older than the moment the
//! stamp was taken by more than [`RACY_WINDOW_NS`]. jit's own writes set the new file's mtime
//! [`atomic::BACKDATE`] in the past, so their records are trusted at once, while any later change by
//! anyone else gets a current mtime and so a different stamp.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

mod stat;

pub use stat::FileStamp;
#[cfg(test)]
use stat::PARALLEL_STAT_MIN;
use stat::{stat_all, stat_one};

use super::{Durability, Layout, atomic, lock::RepoLock};
use crate::error::{IoContext, Result};
use crate::model::{Issue, IssueId};

const MAGIC: &[u8; 8] = b"JITIDX\x00\x04"; // the last byte is the format version
const HEADER: usize = 16;
const FIXED: usize = 16 + 8 * 5 + 4;
/// Minimum age of an mtime, at the moment its stamp is taken, for the stamp to be trusted.
pub const RACY_WINDOW_NS: i64 = 100_000_000;
/// Same, for files whose mtime has no sub-second part (filesystems with coarse timestamps).
const RACY_WINDOW_COARSE_NS: i64 = 2_000_000_000;
const BASE: &str = "issues.idx";
const LOG: &str = "issues.log";

/// Is a stamp with this mtime, taken at `recorded_ns`, too recent to trust?
pub fn racy(mtime_ns: i64, recorded_ns: i64) -> bool {
    let window = if mtime_ns % 1_000_000_000 == 0 { RACY_WINDOW_COARSE_NS } else { RACY_WINDOW_NS };
    recorded_ns - mtime_ns <= window
}

/// Wall-clock nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// The fields queries and tables use, stored in binary beside the JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary<'a> {
    // The graph fields come first, so that graph walks decode only them (see [`Head`]).
    pub dependencies: Vec<u128>,
    pub state: u8,
    pub title: &'a str,
    pub priority: u8,
    pub version: u64,
    pub created_us: i64,
    pub updated_us: i64,
    pub closed_us: Option<i64>,
    pub assignee: Option<&'a str>,
    #[serde(borrow)]
    pub labels: Vec<&'a str>,
    #[serde(borrow)]
    pub gates: Vec<(&'a str, &'a str)>,
    /// Raw UTF-8, checked only when a text search reads it (descriptions are the bulk of the
    /// summary, and most queries never look at them).
    #[serde(borrow, with = "serde_bytes")]
    pub description: &'a [u8],
}

/// The leading fields of a [`Summary`]: what graph walks need, decoded without the rest.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Head {
    pub dependencies: Vec<u128>,
    pub state: u8,
}

/// The first three fields of a [`Summary`]: enough for a one-line listing of an issue.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Headline<'a> {
    pub dependencies: Vec<u128>,
    pub state: u8,
    pub title: &'a str,
}

impl<'a> Summary<'a> {
    pub fn of(issue: &'a Issue) -> Summary<'a> {
        Summary {
            title: &issue.title,
            description: issue.description.as_bytes(),
            state: issue.state.to_u8(),
            priority: issue.priority.to_u8(),
            assignee: issue.assignee.as_deref(),
            labels: issue.labels.iter().map(String::as_str).collect(),
            dependencies: issue.dependencies.iter().map(|d| d.as_u128()).collect(),
            gates: issue.gates.iter().map(|(k, g)| (k.as_str(), g.status.as_str())).collect(),
            version: issue.version,
            created_us: issue.created_at.as_microsecond(),
            updated_us: issue.updated_at.as_microsecond(),
            closed_us: issue.closed_at.map(|t| t.as_microsecond()),
        }
    }
}

/// One indexed issue, borrowed from a [`Snapshot`].
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub id: IssueId,
    /// The issue as compact JSON, exactly as `--json` prints it. (UTF-8, guarded by the
    /// record's CRC; not re-validated on every read.)
    pub json: &'a [u8],
    summary: &'a [u8],
}

impl<'a> Entry<'a> {
    /// Dependencies and state only (cheaper than [`Entry::summary`]).
    pub fn head(&self) -> Head {
        postcard::from_bytes(self.summary).expect("summary checked when the snapshot was built")
    }

    /// Dependencies, state and title only.
    pub fn headline(&self) -> Headline<'a> {
        postcard::from_bytes(self.summary).expect("summary checked when the snapshot was built")
    }

    pub fn summary(&self) -> Summary<'a> {
        postcard::from_bytes(self.summary).expect("summary checked when the snapshot was built")
    }

    /// The full issue, parsed from its JSON.
    pub fn issue(&self) -> Issue {
        serde_json::from_slice(self.json).expect("index JSON checked when the snapshot was built")
    }
}

/// A file the snapshot could not use (unparseable issue, id/name mismatch).
#[derive(Clone, Debug)]
pub struct Problem {
    pub path: PathBuf,
    pub message: String,
}

#[derive(Clone, Copy)]
struct Slot {
    id: u128,
    buf: u32,
    start: u32,
    end: u32,
}

/// Every issue in the repository at one moment, read through the index.
pub struct Snapshot {
    bufs: Vec<Vec<u8>>,
    slots: Vec<Slot>,
    pub problems: Vec<Problem>,
}

impl Snapshot {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Entries in id order (oldest first, ids being time-ordered).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Entry<'_>> + ExactSizeIterator {
        self.slots.iter().map(|s| self.entry(s))
    }

    pub fn get(&self, id: IssueId) -> Option<Entry<'_>> {
        let i = self.slots.binary_search_by_key(&id.as_u128(), |s| s.id).ok()?;
        Some(self.entry(&self.slots[i]))
    }

    fn entry(&self, s: &Slot) -> Entry<'_> {
        let p = &self.bufs[s.buf as usize][s.start as usize..s.end as usize];
        let rec = RecordRef::parse(p).expect("records checked when the snapshot was built");
        Entry { id: IssueId::from_u128(s.id), json: rec.json, summary: rec.summary }
    }
}

/// A decoded record payload (the stamp fields are read by [`RecordRef::stamp`]).
struct RecordRef<'a> {
    json: &'a [u8],
    summary: &'a [u8],
}

impl<'a> RecordRef<'a> {
    fn parse(p: &'a [u8]) -> Option<RecordRef<'a>> {
        Self::stamp(p)?; // checks the length of the fixed part
        let json_len = u32::from_le_bytes(p[56..60].try_into().unwrap()) as usize;
        let json = p.get(FIXED..FIXED + json_len)?;
        Some(RecordRef { json, summary: &p[FIXED + json_len..] })
    }

    /// Only the file stamp and when it was taken: what the freshness check needs, without
    /// the UTF-8 check of the JSON that [`RecordRef::parse`] makes.
    fn stamp(p: &[u8]) -> Option<(FileStamp, i64)> {
        if p.len() < FIXED {
            return None;
        }
        let u64_at = |o: usize| u64::from_le_bytes(p[o..o + 8].try_into().unwrap());
        let stamp = FileStamp {
            size: u64_at(16),
            mtime_ns: u64_at(24) as i64,
            ctime_ns: u64_at(32) as i64,
            ino: u64_at(40),
        };
        Some((stamp, u64_at(48) as i64))
    }
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

fn encode(out: &mut Vec<u8>, issue: &Issue, stamp: FileStamp, recorded_ns: i64) -> (u32, u32) {
    let json = issue.to_compact_json();
    let summary = postcard::to_allocvec(&Summary::of(issue)).expect("summary serialises");
    let len = FIXED + json.len() + summary.len();
    out.extend_from_slice(&(len as u32).to_le_bytes());
    let crc_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let start = out.len();
    out.extend_from_slice(&issue.id.as_u128().to_le_bytes());
    for v in
        [stamp.size, stamp.mtime_ns as u64, stamp.ctime_ns as u64, stamp.ino, recorded_ns as u64]
    {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(&summary);
    let crc = crc32fast::hash(&out[start..]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
    (start as u32, out.len() as u32)
}

/// Walk the records of an index file; stops at the first damaged one.
fn records(buf: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut pos = HEADER;
    std::iter::from_fn(move || {
        let head = buf.get(pos..pos + 8)?;
        let len = u32::from_le_bytes(head[0..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(head[4..8].try_into().unwrap());
        let start = pos + 8;
        let payload = buf.get(start..start.checked_add(len)?)?;
        if crc32fast::hash(payload) != crc || RecordRef::parse(payload).is_none() {
            return None;
        }
        pos = start + len;
        Some((start, pos))
    })
}

fn header(generation: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..].copy_from_slice(&generation.to_le_bytes());
    h
}

fn generation_of(buf: &[u8]) -> Option<u64> {
    (buf.len() >= HEADER && &buf[..8] == MAGIC)
        .then(|| u64::from_le_bytes(buf[8..16].try_into().unwrap()))
}

fn read_opt(path: &Path) -> Result<Vec<u8>> {
    match fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).at(path),
    }
}

/// The index without the full check of every file: for walks that visit a few issues (the
/// cycle check of `dep add`). Each visited issue's file is statted and its record used only if
/// the stamp matches and is not racy; otherwise the file itself is read. A missing file is a
/// missing issue. Cost: reading the index plus a stat per visited issue.
pub struct Records {
    loaded: Loaded,
    dir: File,
}

impl Records {
    pub fn open(layout: &Layout) -> Result<Records> {
        let issues = layout.issues_dir();
        let dir = File::open(&issues).at(&issues)?;
        Ok(Records { loaded: load(&layout.index_dir())?, dir })
    }

    /// The dependencies of `id`, or `None` if there is no such issue (or it cannot be read).
    pub fn deps(&self, id: u128) -> Option<Vec<u128>> {
        let stamp = stat_one(&self.dir, id)?;
        if let Some(slot) = self.loaded.known.get(&id) {
            let p = &self.loaded.bufs[slot.buf as usize][slot.start as usize..slot.end as usize];
            let (rec_stamp, rec_ns) = RecordRef::stamp(p)?;
            if rec_stamp == stamp && !racy(rec_stamp.mtime_ns, rec_ns) {
                let rec = RecordRef::parse(p)?;
                let head: Head = postcard::from_bytes(rec.summary).ok()?;
                return Some(head.dependencies);
            }
        }
        let name = IssueId::from_u128(id).file_name();
        let bytes =
            rustix::fs::openat(&self.dir, name.as_str(), rustix::fs::OFlags::RDONLY, 0.into())
                .ok()
                .and_then(|fd| {
                    let mut f = File::from(fd);
                    let mut b = Vec::new();
                    f.read_to_end(&mut b).ok().map(|_| b)
                })?;
        let issue = Issue::from_slice(&bytes).ok().filter(|i| i.id.as_u128() == id)?;
        Some(issue.dependencies.iter().map(|d| d.as_u128()).collect())
    }
}

/// The index files as read: their bytes and where each id's latest record is.
struct Loaded {
    bufs: Vec<Vec<u8>>,
    known: IdMap<Slot>,
    base_gen: Option<u64>,
    base_records: usize,
    log_records: usize,
    /// Whether bytes follow the last readable record of the base / the log: damage, or a log
    /// append torn by a killed writer. Records after such a tail can never be read, so the
    /// index must be compacted.
    tail_damaged: [bool; 2],
    log_len: u64,
}

fn load(dir: &Path) -> Result<Loaded> {
    let base = read_opt(&dir.join(BASE))?;
    let log = read_opt(&dir.join(LOG))?;
    let base_gen = generation_of(&base);
    let log_usable = base_gen.is_some() && generation_of(&log) == base_gen;
    let bufs = vec![base, if log_usable { log } else { Vec::new() }, Vec::new()];
    let mut known: IdMap<Slot> = IdMap::default();
    let mut counts = [0usize; 2];
    let mut tail_damaged = [false; 2];
    for (b, buf) in bufs.iter().enumerate().take(2) {
        if generation_of(buf).is_none() {
            continue;
        }
        let mut valid_end = HEADER;
        for (start, end) in records(buf) {
            let id = u128::from_le_bytes(buf[start..start + 16].try_into().unwrap());
            known.insert(id, Slot { id, buf: b as u32, start: start as u32, end: end as u32 });
            counts[b] += 1;
            valid_end = end;
        }
        tail_damaged[b] = valid_end != buf.len();
    }
    let log_len = bufs[1].len() as u64;
    Ok(Loaded {
        bufs,
        known,
        base_gen,
        base_records: counts[0],
        log_records: counts[1],
        tail_damaged,
        log_len,
    })
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
    let dir = layout.index_dir();
    let recorded_ns = now_ns();
    let issues_dir = layout.issues_dir();
    let ids = super::ids::all(layout)?;
    let dir_fd = File::open(&issues_dir).at(&issues_dir)?;
    let (loaded, stats) = std::thread::scope(|s| {
        let worker = std::thread::Builder::new().spawn_scoped(s, || stat_all(&dir_fd, &ids));
        let loaded = load(&dir);
        let stats = match worker {
            Ok(w) => w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            Err(_) => stat_all(&dir_fd, &ids),
        };
        (loaded, stats)
    });
    let Loaded { mut bufs, known, base_gen, base_records, log_records, tail_damaged, log_len } =
        loaded?;
    let mut slots = Vec::with_capacity(known.len());
    let mut fresh_trusted = Vec::new();
    let mut problems = Vec::new();
    let mut live_known = 0usize;
    for (&raw, stat) in ids.iter().zip(stats) {
        let Some(stamp) = stat else { continue }; // vanished, or not a regular file
        let id = IssueId::from_u128(raw);
        if let Some(slot) = known.get(&id.as_u128()) {
            live_known += 1;
            let p = &bufs[slot.buf as usize][slot.start as usize..slot.end as usize];
            let (rec_stamp, rec_ns) = RecordRef::stamp(p).expect("checked by records()");
            if rec_stamp == stamp && !racy(rec_stamp.mtime_ns, rec_ns) {
                slots.push(*slot);
                continue;
            }
        }
        let path = issues_dir.join(id.file_name());
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).at(&path),
        };
        let issue = match Issue::from_slice(&bytes) {
            Ok(i) if i.id == id => i,
            Ok(i) => {
                let message = format!("file name says {id} but the issue inside is {}", i.id);
                problems.push(Problem { path, message });
                continue;
            }
            Err(e) => {
                problems.push(Problem { path, message: format!("not a valid issue: {e}") });
                continue;
            }
        };
        let (start, end) = encode(&mut bufs[2], &issue, stamp, recorded_ns);
        let slot = Slot { id: id.as_u128(), buf: 2, start, end };
        if !racy(stamp.mtime_ns, recorded_ns) {
            fresh_trusted.push(slot);
        }
        slots.push(slot);
    }
    slots.sort_unstable_by_key(|s| s.id);
    let snap = Snapshot { bufs, slots, problems };

    let dead = known.len() - live_known;
    let mut needs_compaction = base_gen.is_none()
        || tail_damaged[0]
        || log_records > 1024.max(base_records / 2)
        || dead > 256.max(base_records / 4);
    if needs_compaction || tail_damaged[1] || !fresh_trusted.is_empty() {
        // Upkeep is best effort: a busy lock or a failed write only costs speed next time.
        let taken = match held {
            Some(_) => None,
            None => RepoLock::try_acquire(layout, "index upkeep").ok().flatten(),
        };
        if held.is_some() || taken.is_some() {
            // A log tail that did not parse may only have been an append in flight while we
            // read; under the lock, the log still ending where we stopped reading says torn.
            needs_compaction |=
                tail_damaged[1] && fs::metadata(dir.join(LOG)).is_ok_and(|m| m.len() == log_len);
            let _ = if needs_compaction {
                compact(layout, &snap)
            } else {
                append_slots(layout, &snap, &fresh_trusted)
            };
        }
    }
    Ok(snap)
}

/// Rewrite the base from `snap` (only trusted records) and start an empty log.
fn compact(layout: &Layout, snap: &Snapshot) -> Result<()> {
    let dir = layout.index_dir();
    fs::create_dir_all(&dir).at(&dir)?;
    let generation = crate::clock::Clock::system().rng().next_u64();
    let mut out = Vec::with_capacity(snap.bufs.iter().map(Vec::len).sum());
    out.extend_from_slice(&header(generation));
    for s in &snap.slots {
        let p = &snap.bufs[s.buf as usize][s.start as usize..s.end as usize];
        let (stamp, recorded_ns) = RecordRef::stamp(p).expect("checked");
        if racy(stamp.mtime_ns, recorded_ns) {
            continue; // will be re-read anyway; recording it would only cost space
        }
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(p).to_le_bytes());
        out.extend_from_slice(p);
    }
    atomic::write(&dir.join(BASE), &out, Durability::Relaxed)?;
    atomic::write(&dir.join(LOG), &header(generation), Durability::Relaxed)
}

fn append_slots(layout: &Layout, snap: &Snapshot, slots: &[Slot]) -> Result<()> {
    let mut out = Vec::new();
    for s in slots {
        let p = &snap.bufs[s.buf as usize][s.start as usize..s.end as usize];
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(p).to_le_bytes());
        out.extend_from_slice(p);
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
    let dir = layout.index_dir();
    let base_path = dir.join(BASE);
    let mut head = [0u8; HEADER];
    let base_gen = File::open(&base_path)
        .and_then(|mut f| f.read_exact(&mut head))
        .ok()
        .and_then(|()| generation_of(&head));
    let generation = match base_gen {
        Some(g) => g,
        None => {
            fs::create_dir_all(&dir).at(&dir)?;
            let g = crate::clock::Clock::system().rng().next_u64();
            atomic::write(&base_path, &header(g), Durability::Relaxed)?;
            g
        }
    };
    let log_path = dir.join(LOG);
    let mut log =
        OpenOptions::new().read(true).append(true).create(true).open(&log_path).at(&log_path)?;
    let mut log_head = [0u8; HEADER];
    if log.read_exact(&mut log_head).is_err() || generation_of(&log_head) != Some(generation) {
        log.set_len(0).at(&log_path)?;
        log.write_all(&header(generation)).at(&log_path)?;
    }
    log.write_all(records).at(&log_path)
}

#[cfg(test)]
mod tests;
