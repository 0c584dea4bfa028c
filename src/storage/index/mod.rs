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

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

mod stat;

pub use stat::FileStamp;
#[cfg(test)]
use stat::PARALLEL_STAT_MIN;
use stat::{stat_all, stat_one};

use super::{Durability, FileBytes, Layout, atomic, lock::RepoLock, read_regular, read_regular_at};
use crate::error::{Error, IoContext, Result};
use crate::model::{Issue, IssueId};

const MAGIC: &[u8; 8] = b"JITIDX\x00\x05"; // the last byte is the format version
/// Magic and generation: the whole header of the log, the start of the base's.
const HEADER: usize = 16;
/// The base's header: [`HEADER`], the lengths of its three sections, and their CRC.
const BASE_HEADER: usize = 48;
/// Id and stamp: the start of every record.
const STAMPED: usize = 16 + 8 * 5;
/// A log record: stamped, then the lengths of its JSON and its description.
const FIXED_INLINE: usize = STAMPED + 8;
/// A base record: stamped, then where its JSON and its description are ([`BlobRef`]s).
const FIXED_BASE: usize = STAMPED + 2 * 16;
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

/// The fields queries and tables use, stored in binary beside the JSON. The description is
/// stored apart and read only when asked for (see [`Text`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    #[serde(skip)]
    pub description: Text<'a>,
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

/// An issue's description, fetched only when read: most queries never look at it, and it is
/// the bulk of what the index holds besides the JSON.
#[derive(Clone, Copy, Debug, Default)]
pub enum Text<'a> {
    #[default]
    Empty,
    /// In memory already (an issue just parsed, or a log record).
    Inline(&'a [u8]),
    /// In the base's description section.
    Stored(Entry<'a>),
}

impl<'a> Text<'a> {
    pub fn get(&self) -> Cow<'a, str> {
        match self {
            Text::Empty => Cow::Borrowed(""),
            Text::Inline(b) => Cow::Borrowed(utf8(b)),
            Text::Stored(e) => e.description(),
        }
    }
}

/// Index text is UTF-8 (written from a `String`, guarded by a CRC); damage reads as empty.
fn utf8(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

impl<'a> Summary<'a> {
    pub fn of(issue: &'a Issue) -> Summary<'a> {
        Summary {
            title: &issue.title,
            description: Text::Inline(issue.description.as_bytes()),
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

/// Where a base record's JSON or description is: offset in its section, length, CRC-32.
#[derive(Clone, Copy, Debug, PartialEq)]
struct BlobRef {
    off: u64,
    len: u32,
    crc: u32,
}

impl BlobRef {
    fn read(b: &[u8]) -> BlobRef {
        BlobRef {
            off: u64::from_le_bytes(b[0..8].try_into().unwrap()),
            len: u32::from_le_bytes(b[8..12].try_into().unwrap()),
            crc: u32::from_le_bytes(b[12..16].try_into().unwrap()),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.off.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.crc.to_le_bytes());
    }

    /// The blob within a whole section, if it is there and its CRC holds.
    fn within<'s>(&self, section: &'s [u8]) -> Option<&'s [u8]> {
        let start = usize::try_from(self.off).ok()?;
        let b = section.get(start..start.checked_add(self.len as usize)?)?;
        (crc32fast::hash(b) == self.crc).then_some(b)
    }
}

/// A decoded record payload.
#[derive(Clone, Copy, Debug)]
enum RecordRef<'a> {
    /// A log record, or one just made from a file.
    Inline { json: &'a [u8], desc: &'a [u8], summary: &'a [u8] },
    /// A base record, whose JSON and description are in the base's other sections.
    Based { json: BlobRef, desc: BlobRef, summary: &'a [u8] },
}

impl<'a> RecordRef<'a> {
    fn parse(p: &'a [u8], based: bool) -> Option<RecordRef<'a>> {
        Self::stamp(p)?; // checks the length of the stamped part
        if based {
            let fixed = p.get(STAMPED..FIXED_BASE)?;
            return Some(RecordRef::Based {
                json: BlobRef::read(&fixed[..16]),
                desc: BlobRef::read(&fixed[16..]),
                summary: &p[FIXED_BASE..],
            });
        }
        let fixed = p.get(STAMPED..FIXED_INLINE)?;
        let json_len = u32::from_le_bytes(fixed[..4].try_into().unwrap()) as usize;
        let desc_len = u32::from_le_bytes(fixed[4..].try_into().unwrap()) as usize;
        let json_end = FIXED_INLINE.checked_add(json_len)?;
        let desc_end = json_end.checked_add(desc_len)?;
        Some(RecordRef::Inline {
            json: p.get(FIXED_INLINE..json_end)?,
            desc: p.get(json_end..desc_end)?,
            summary: &p[desc_end..],
        })
    }

    fn summary(&self) -> &'a [u8] {
        match self {
            RecordRef::Inline { summary, .. } | RecordRef::Based { summary, .. } => summary,
        }
    }

    /// Only the file stamp and when it was taken: what the freshness check needs.
    fn stamp(p: &[u8]) -> Option<(FileStamp, i64)> {
        if p.len() < STAMPED {
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

/// One indexed issue, borrowed from a [`Snapshot`].
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    pub id: IssueId,
    snap: &'a Snapshot,
    rec: RecordRef<'a>,
}

impl std::fmt::Debug for Entry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("id", &self.id).finish_non_exhaustive()
    }
}

impl<'a> Entry<'a> {
    /// Dependencies and state only (cheaper than [`Entry::summary`]).
    pub fn head(&self) -> Head {
        postcard::from_bytes(self.rec.summary()).unwrap_or_else(|_| {
            let s = self.summary_from_file();
            Head { dependencies: s.dependencies, state: s.state }
        })
    }

    /// Dependencies, state and title only.
    pub fn headline(&self) -> Headline<'a> {
        postcard::from_bytes(self.rec.summary()).unwrap_or_else(|_| {
            let s = self.summary_from_file();
            Headline { dependencies: s.dependencies, state: s.state, title: s.title }
        })
    }

    pub fn summary(&self) -> Summary<'a> {
        let Ok(mut s) = postcard::from_bytes::<Summary<'a>>(self.rec.summary()) else {
            return self.summary_from_file();
        };
        s.description = match self.rec {
            RecordRef::Inline { desc, .. } => Text::Inline(desc),
            RecordRef::Based { .. } => Text::Stored(*self),
        };
        s
    }

    /// The summary of the issue's file, for a record whose summary does not decode. jit
    /// encodes every summary it writes and each record's CRC held, so only crafted bytes get
    /// here. The issue read is leaked, to live as long as the snapshot's borrows: once per
    /// such issue and snapshot. An unreadable file gives an empty summary with an unknown
    /// state.
    #[cold]
    fn summary_from_file(&self) -> Summary<'a> {
        match self.snap.fallback_issue(self.id) {
            Some(issue) => Summary::of(issue),
            None => Summary {
                dependencies: Vec::new(),
                state: u8::MAX,
                title: "",
                priority: u8::MAX,
                version: 0,
                created_us: 0,
                updated_us: 0,
                closed_us: None,
                assignee: None,
                labels: Vec::new(),
                gates: Vec::new(),
                description: Text::Empty,
            },
        }
    }

    /// The description. From the base: the first 64 (`SINGLE_READS`) are read one by one,
    /// then the whole section at once (a text search over many issues reads them all). One
    /// that fails its CRC or is not UTF-8 is read from the issue's file (and the index
    /// repaired by [`Snapshot::repair`]); if that file is gone too, the description is empty.
    pub fn description(&self) -> Cow<'a, str> {
        let r = match self.rec {
            RecordRef::Inline { desc, .. } => return Cow::Borrowed(utf8(desc)),
            RecordRef::Based { desc, .. } => desc,
        };
        let stored = self.snap.base.as_ref().and_then(|b| b.text.blob(&b.file, r, SINGLE_READS));
        let text = match stored {
            Some(Cow::Borrowed(b)) => std::str::from_utf8(b).ok().map(Cow::Borrowed),
            Some(Cow::Owned(b)) => String::from_utf8(b).ok().map(Cow::Owned),
            None => None,
        };
        match text {
            Some(t) => t,
            None => {
                self.snap.note_damage(self.id);
                Cow::Owned(self.snap.read_issue(self.id).map(|i| i.description).unwrap_or_default())
            }
        }
    }

    /// The issue as compact JSON, exactly as `--json` prints it. From the base: a slice of
    /// the JSON section if it has been read whole (see [`Snapshot::json_of`]), else one
    /// positioned read; JSON that fails its CRC is replaced by the issue's file (and the
    /// index repaired by [`Snapshot::repair`]).
    pub fn json(&self) -> Result<Cow<'a, [u8]>> {
        let r = match self.rec {
            RecordRef::Inline { json, .. } => return Ok(Cow::Borrowed(json)),
            RecordRef::Based { json, .. } => json,
        };
        if let Some(b) = self.snap.base.as_ref().and_then(|b| b.json.blob(&b.file, r, usize::MAX)) {
            return Ok(b);
        }
        self.snap.note_damage(self.id);
        let path = self.snap.layout.issue_path(self.id);
        let message = match read_issue_file(&path)? {
            FileRead::Issue(i) if i.id == self.id => {
                return Ok(Cow::Owned(i.to_compact_json().into_bytes()));
            }
            FileRead::Issue(i) => {
                format!("file name says {} but the issue inside is {}", self.id, i.id)
            }
            FileRead::Invalid(message) => message,
            FileRead::Gone => return Err(Error::IssueNotFound(self.id.to_string())),
        };
        Err(Error::Corrupt { path, message })
    }

    /// The full issue, parsed from its JSON.
    pub fn issue(&self) -> Result<Issue> {
        let json = self.json()?;
        Issue::from_slice(&json).map_err(|e| Error::Corrupt {
            path: self.snap.layout.issue_path(self.id),
            message: format!("index JSON does not parse: {e}"),
        })
    }
}

/// One of the base's lazily read sections.
struct Section {
    at: u64,
    len: u64,
    bytes: OnceLock<Option<Vec<u8>>>,
    /// Blobs read one by one so far.
    singles: AtomicUsize,
}

/// How many descriptions are read one by one before the whole section is read instead: a
/// filter that looks at the descriptions of a few issues (after narrower terms) reads only
/// those, one that searches many reads the section once.
const SINGLE_READS: usize = 64;

impl Section {
    fn new(at: u64, len: u64) -> Section {
        Section { at, len, bytes: OnceLock::new(), singles: AtomicUsize::new(0) }
    }

    /// One blob: a slice of the section if it has been read whole; else a positioned read,
    /// while fewer than `singles` have been made; else the whole section is read now.
    /// `None` if it cannot be read or fails its CRC.
    fn blob(&self, file: &File, r: BlobRef, singles: usize) -> Option<Cow<'_, [u8]>> {
        if self.bytes.get().is_none() && self.singles.fetch_add(1, Ordering::Relaxed) < singles {
            return self.read(file, r).map(Cow::Owned);
        }
        self.whole(file).and_then(|s| r.within(s)).map(Cow::Borrowed)
    }

    /// The whole section, read on first use (`None` if it could not be read).
    fn whole(&self, file: &File) -> Option<&[u8]> {
        self.bytes
            .get_or_init(|| {
                let mut b = vec![0; usize::try_from(self.len).ok()?];
                read_exact_at_parallel(file, &mut b, self.at).ok().map(|()| b)
            })
            .as_deref()
    }

    /// One blob, by a positioned read, if it is within the section and its CRC holds.
    fn read(&self, file: &File, r: BlobRef) -> Option<Vec<u8>> {
        if r.off.checked_add(u64::from(r.len))? > self.len {
            return None;
        }
        let mut b = vec![0; r.len as usize];
        file.read_exact_at(&mut b, self.at + r.off).ok()?;
        (crc32fast::hash(&b) == r.crc).then_some(b)
    }
}

/// From this many bytes up, a section is read by two threads, one half each: the copy from
/// the page cache (and the page faults of the fresh buffer) is most of the cost of reading it.
const PARALLEL_READ_MIN: usize = 4 << 20;

/// `file.read_exact_at(buf, at)`, split over two threads for large reads.
fn read_exact_at_parallel(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    if buf.len() < PARALLEL_READ_MIN {
        return file.read_exact_at(buf, at);
    }
    let half = buf.len() / 2;
    let (a, b) = buf.split_at_mut(half);
    let split = std::thread::scope(|s| {
        let second = std::thread::Builder::new()
            .spawn_scoped(s, move || file.read_exact_at(b, at + half as u64))
            .ok()?;
        let first = file.read_exact_at(a, at);
        let second = second.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        Some(first.and(second))
    });
    // A thread that cannot be started leaves the whole read to this one.
    split.unwrap_or_else(|| file.read_exact_at(buf, at))
}

/// The open base file and its description and JSON sections.
struct BaseFile {
    file: File,
    text: Section,
    json: Section,
}

/// A file the snapshot could not use (unparseable issue, id/name mismatch).
#[derive(Clone, Debug)]
pub struct Problem {
    pub path: PathBuf,
    pub message: String,
}

/// Where a record's payload is: `bufs[buf][start..end]`. Buffer 0 is the base's record
/// section (records pointing into its other sections), 1 the log, 2 records just made.
#[derive(Clone, Copy)]
struct Slot {
    id: u128,
    buf: u32,
    start: usize,
    end: usize,
}

impl Slot {
    fn based(&self) -> bool {
        self.buf == 0
    }
}

/// Every issue in the repository at one moment, read through the index.
pub struct Snapshot {
    bufs: Vec<Vec<u8>>,
    slots: Vec<Slot>,
    pub problems: Vec<Problem>,
    base: Option<BaseFile>,
    layout: Layout,
    /// Issues whose summary, description or JSON failed its check and was read from the
    /// file instead: [`Snapshot::repair`] records them again.
    damaged: Mutex<Vec<IssueId>>,
    /// Issues read from their files because their summary did not decode (see
    /// [`Entry::summary`]); `None` if the file could not be read either.
    fallbacks: Mutex<IdMap<Option<&'static Issue>>>,
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

    fn payload(&self, s: &Slot) -> &[u8] {
        &self.bufs[s.buf as usize][s.start..s.end]
    }

    fn entry(&self, s: &Slot) -> Entry<'_> {
        let rec = RecordRef::parse(self.payload(s), s.based())
            .expect("records checked when the snapshot was built");
        Entry { id: IssueId::from_u128(s.id), snap: self, rec }
    }

    /// The JSON of `entries`, in order. When they are a good part of the snapshot, the base's
    /// JSON section is read whole, at once, instead of one positioned read per issue.
    pub fn json_of<'a>(&'a self, entries: &[Entry<'a>]) -> Result<Vec<Cow<'a, [u8]>>> {
        if let Some(b) = &self.base {
            let based = |n: usize| n.saturating_mul(8);
            let wanted = entries.iter().filter(|e| matches!(e.rec, RecordRef::Based { .. }));
            let wanted = wanted.count();
            if wanted > 0 && based(wanted) >= self.slots.iter().filter(|s| s.based()).count() {
                b.json.whole(&b.file);
            }
        }
        entries.iter().map(Entry::json).collect()
    }

    /// The issue as its file holds it now, if it can be read and is the issue named.
    fn read_issue(&self, id: IssueId) -> Option<Issue> {
        match read_issue_file(&self.layout.issue_path(id)).ok()? {
            FileRead::Issue(i) if i.id == id => Some(*i),
            _ => None,
        }
    }

    /// The issue read from its file in place of a record whose summary does not decode:
    /// read, noted as damage and leaked once per issue (graph walks ask again and again).
    fn fallback_issue(&self, id: IssueId) -> Option<&'static Issue> {
        let mut read = self.fallbacks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = read.get(&id.as_u128()) {
            return *found;
        }
        self.note_damage(id);
        let issue: Option<&'static Issue> = self.read_issue(id).map(|i| &*Box::leak(Box::new(i)));
        read.insert(id.as_u128(), issue);
        issue
    }

    fn note_damage(&self, id: IssueId) {
        if let Ok(mut d) = self.damaged.lock() {
            d.push(id);
        }
    }

    /// Record again, from their files, the issues whose summary, description or JSON failed
    /// its check while this snapshot was read, so that later reads find them whole. Best
    /// effort, like all index upkeep: done only if the writers' lock is free.
    pub fn repair(&self) {
        let mut ids = match self.damaged.lock() {
            Ok(d) if !d.is_empty() => d.clone(),
            _ => return,
        };
        ids.sort_unstable();
        ids.dedup();
        let Ok(Some(_lock)) = RepoLock::try_acquire(&self.layout, "index upkeep") else { return };
        let issues: Vec<Issue> = ids.iter().filter_map(|id| self.read_issue(*id)).collect();
        let _ = record_written(&self.layout, &issues.iter().collect::<Vec<_>>());
    }

    /// A record's JSON and description, wherever they are (`None`: a base section could
    /// not be read or failed its CRC).
    fn blobs(&self, s: &Slot) -> Option<(&[u8], &[u8])> {
        match RecordRef::parse(self.payload(s), s.based())? {
            RecordRef::Inline { json, desc, .. } => Some((json, desc)),
            RecordRef::Based { json, desc, .. } => {
                let base = self.base.as_ref()?;
                let j = json.within(base.json.whole(&base.file)?)?;
                let d = desc.within(base.text.whole(&base.file)?)?;
                Some((j, d))
            }
        }
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

/// Append one record — `[len][crc][payload]`, the payload written by `payload` — to `out`;
/// returns where its payload is.
fn frame(out: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>)) -> (usize, usize) {
    let len_at = out.len();
    out.extend_from_slice(&[0; 8]);
    let start = out.len();
    payload(out);
    let len = (out.len() - start) as u32;
    let crc = crc32fast::hash(&out[start..]);
    out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
    out[len_at + 4..start].copy_from_slice(&crc.to_le_bytes());
    (start, out.len())
}

/// Append a log record (everything inline) for `issue` to `out`.
fn encode(out: &mut Vec<u8>, issue: &Issue, stamp: FileStamp, recorded_ns: i64) -> (usize, usize) {
    let json = issue.to_compact_json();
    let summary = postcard::to_allocvec(&Summary::of(issue)).expect("summary serialises");
    let desc = issue.description.as_bytes();
    frame(out, |out| {
        out.extend_from_slice(&issue.id.as_u128().to_le_bytes());
        for v in [
            stamp.size,
            stamp.mtime_ns as u64,
            stamp.ctime_ns as u64,
            stamp.ino,
            recorded_ns as u64,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        out.extend_from_slice(json.as_bytes());
        out.extend_from_slice(desc);
        out.extend_from_slice(&summary);
    })
}

/// Walk the records of `buf` from `pos`; stops at the first damaged one.
fn records(buf: &[u8], mut pos: usize, based: bool) -> impl Iterator<Item = (usize, usize)> + '_ {
    std::iter::from_fn(move || {
        let head = buf.get(pos..pos + 8)?;
        let len = u32::from_le_bytes(head[0..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(head[4..8].try_into().unwrap());
        let start = pos + 8;
        let end = start.checked_add(len)?;
        let payload = buf.get(start..end)?;
        if crc32fast::hash(payload) != crc || RecordRef::parse(payload, based).is_none() {
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

/// The base's header: the common [`header`], the lengths of the record, description and JSON
/// sections (which follow in that order), and a CRC-32 of all that.
fn base_header(generation: u64, lens: [usize; 3]) -> [u8; BASE_HEADER] {
    let mut h = [0u8; BASE_HEADER];
    h[..HEADER].copy_from_slice(&header(generation));
    for (i, len) in lens.into_iter().enumerate() {
        h[HEADER + 8 * i..HEADER + 8 * (i + 1)].copy_from_slice(&(len as u64).to_le_bytes());
    }
    let crc = crc32fast::hash(&h[..40]);
    h[40..44].copy_from_slice(&crc.to_le_bytes());
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

/// The base, opened: its generation, its record section (read), and its other sections
/// (read when needed). `None` if there is no base or its header does not hold.
fn open_base(path: &Path) -> Result<Option<(u64, Vec<u8>, BaseFile)>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).at(path),
    };
    let size = file.metadata().at(path)?.len();
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
        let dir = File::open(&issues).at(&issues)?;
        Ok(Records { loaded: load(&layout.index_dir())?, dir })
    }

    /// The dependencies of `id`, or `None` if there is no such issue (or it cannot be read).
    pub fn deps(&self, id: u128) -> Option<Vec<u128>> {
        let stamp = stat_one(&self.dir, id)?;
        if let Some(slot) = self.loaded.known.get(&id) {
            let p = &self.loaded.bufs[slot.buf as usize][slot.start..slot.end];
            let (rec_stamp, rec_ns) = RecordRef::stamp(p)?;
            if rec_stamp == stamp && !racy(rec_stamp.mtime_ns, rec_ns) {
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
    let (base_gen, core, base) = match open_base(&dir.join(BASE))? {
        Some((g, core, base)) => (Some(g), core, Some(base)),
        None => (None, Vec::new(), None),
    };
    let log = read_opt(&dir.join(LOG))?;
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
    let ids = super::ids::all(layout)?;
    let (loaded, stats) = load_and_stat(layout, &ids)?;
    let Loaded { mut bufs, base, known, health } = loaded;
    let mut slots = Vec::with_capacity(known.len());
    let mut fresh_trusted = Vec::new();
    let mut problems = Vec::new();
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
            if rec_stamp == stamp && !racy(rec_stamp.mtime_ns, rec_ns) {
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
        if !racy(stamp.mtime_ns, recorded_ns) {
            fresh_trusted.push(slot);
        }
        slots.push(slot);
    }
    slots.sort_unstable_by_key(|s| s.id);
    let snap = Snapshot {
        bufs,
        slots,
        problems,
        base,
        layout: layout.clone(),
        damaged: Mutex::new(Vec::new()),
        fallbacks: Mutex::new(IdMap::default()),
    };
    upkeep(layout, held, &snap, &health, known.len() - live_known, &fresh_trusted);
    Ok(snap)
}

/// Read the index on this thread while the issue files are statted on others (both are most
/// of the cost of a listing).
fn load_and_stat(layout: &Layout, ids: &[u128]) -> Result<(Loaded, Vec<Option<FileStamp>>)> {
    let issues_dir = layout.issues_dir();
    let dir_fd = File::open(&issues_dir).at(&issues_dir)?;
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

/// What reading an issue file gave.
enum FileRead {
    Issue(Box<Issue>),
    /// Not a valid issue; why.
    Invalid(String),
    /// Removed since it was listed.
    Gone,
}

fn read_issue_file(path: &Path) -> Result<FileRead> {
    let bytes = match read_regular(path).at(path)? {
        FileBytes::Regular(b) => b,
        FileBytes::Missing => return Ok(FileRead::Gone),
        FileBytes::NotRegular => return Ok(FileRead::Invalid("not a regular file".into())),
    };
    Ok(match Issue::from_slice(&bytes) {
        Ok(i) => FileRead::Issue(Box::new(i)),
        Err(e) => FileRead::Invalid(format!("not a valid issue: {e}")),
    })
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
    let dir = layout.index_dir();
    fs::create_dir_all(&dir).at(&dir)?;
    // A compaction killed half-way leaves its temp base behind; the next one clears it.
    atomic::remove_stale_temps(&dir);
    let generation = crate::clock::Clock::system().rng().next_u64();
    let (mut core, mut text, mut json) = (Vec::new(), Vec::new(), Vec::new());
    for s in &snap.slots {
        let p = snap.payload(s);
        let (stamp, recorded_ns) = RecordRef::stamp(p).expect("checked");
        if racy(stamp.mtime_ns, recorded_ns) {
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
            atomic::write(&base_path, &base_header(g, [0; 3]), Durability::Relaxed)?;
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
