//! Reading through the index: a [`Snapshot`] of every issue, its [`Entry`]s and their
//! summaries, descriptions and JSON, read lazily from the base's sections.

use std::borrow::Cow;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use super::format::{BlobRef, RecordRef};
use super::record_written;
use crate::error::{Error, Result};
use crate::model::{Issue, IssueId};
use crate::storage::lock::RepoLock;
use crate::storage::{FileBytes, Layout, read_regular};

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

/// The state and priority of a [`Summary`], decoded without allocating or checking text (the
/// dependencies are counted past, the title skipped as bytes): what lets a filter that needs
/// them rule most issues out before their whole summary is decoded
/// ([`crate::query::Expr::ruled_out`]). `None` from [`Entry::lead`] if it does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lead {
    pub state: u8,
    pub priority: u8,
}

#[derive(Deserialize)]
struct LeadRecord<'a> {
    _dependencies: Skipped,
    state: u8,
    #[serde(borrow)]
    _title: &'a [u8],
    priority: u8,
}

/// A sequence of `u128` read and dropped.
struct Skipped;

impl<'de> Deserialize<'de> for Skipped {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Skipped;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a sequence of ids")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Skipped, A::Error> {
                while seq.next_element::<u128>()?.is_some() {}
                Ok(Skipped)
            }
        }
        d.deserialize_seq(V)
    }
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
pub(super) fn utf8(b: &[u8]) -> &str {
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

/// One indexed issue, borrowed from a [`Snapshot`].
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    pub id: IssueId,
    pub(super) snap: &'a Snapshot,
    pub(super) rec: RecordRef<'a>,
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

    /// State and priority only, if the record's summary decodes that far ([`Lead`]).
    pub fn lead(&self) -> Option<Lead> {
        let r: LeadRecord = postcard::from_bytes(self.rec.summary()).ok()?;
        Some(Lead { state: r.state, priority: r.priority })
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
    /// here. The issue read is kept by the snapshot (freed with it), to live as long as the
    /// snapshot's borrows. An unreadable file gives an empty summary with an unknown state.
    #[cold]
    pub(super) fn summary_from_file(&self) -> Summary<'a> {
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
pub(super) struct Section {
    pub(super) at: u64,
    pub(super) len: u64,
    pub(super) bytes: OnceLock<Option<Vec<u8>>>,
    /// Blobs read one by one so far.
    pub(super) singles: AtomicUsize,
}

/// How many descriptions are read one by one before the whole section is read instead: a
/// filter that looks at the descriptions of a few issues (after narrower terms) reads only
/// those, one that searches many reads the section once.
pub(super) const SINGLE_READS: usize = 64;

impl Section {
    pub(super) fn new(at: u64, len: u64) -> Section {
        Section { at, len, bytes: OnceLock::new(), singles: AtomicUsize::new(0) }
    }

    /// One blob: a slice of the section if it has been read whole; else a positioned read,
    /// while fewer than `singles` have been made; else the whole section is read now.
    /// `None` if it cannot be read or fails its CRC.
    pub(super) fn blob(&self, file: &File, r: BlobRef, singles: usize) -> Option<Cow<'_, [u8]>> {
        if self.bytes.get().is_none() && self.singles.fetch_add(1, Ordering::Relaxed) < singles {
            return self.read(file, r).map(Cow::Owned);
        }
        self.whole(file).and_then(|s| r.within(s)).map(Cow::Borrowed)
    }

    /// The whole section, read on first use (`None` if it could not be read).
    pub(super) fn whole(&self, file: &File) -> Option<&[u8]> {
        self.bytes
            .get_or_init(|| {
                let mut b = vec![0; usize::try_from(self.len).ok()?];
                read_exact_at_parallel(file, &mut b, self.at).ok().map(|()| b)
            })
            .as_deref()
    }

    /// One blob, by a positioned read, if it is within the section and its CRC holds.
    pub(super) fn read(&self, file: &File, r: BlobRef) -> Option<Vec<u8>> {
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
pub(super) const PARALLEL_READ_MIN: usize = 4 << 20;

/// `file.read_exact_at(buf, at)`, split over two threads for large reads.
pub(super) fn read_exact_at_parallel(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
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
pub(super) struct BaseFile {
    pub(super) file: File,
    pub(super) text: Section,
    pub(super) json: Section,
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
pub(super) struct Slot {
    pub(super) id: u128,
    pub(super) buf: u32,
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Slot {
    pub(super) fn based(&self) -> bool {
        self.buf == 0
    }
}

/// Every issue in the repository at one moment, read through the index. Its buffers and the
/// base file are shared (`Arc`), so the warm index ([`super::warm`]) makes the next snapshot
/// from this one by replacing only the records of the files that changed.
pub struct Snapshot {
    pub(super) bufs: Vec<Arc<Vec<u8>>>,
    pub(super) slots: Vec<Slot>,
    pub problems: Vec<Problem>,
    pub(super) base: Option<Arc<BaseFile>>,
    pub(super) layout: Layout,
    /// Issues whose summary, description or JSON failed its check and was read from the
    /// file instead: [`Snapshot::repair`] records them again.
    pub(super) damaged: Mutex<Vec<IssueId>>,
    /// Issues read from their files because their summary did not decode (see
    /// [`Entry::summary`]); `None` if the file could not be read either. Append-only, so a
    /// borrow of an issue in it lives as long as the snapshot, and freed with it.
    pub(super) fallbacks: elsa::sync::FrozenMap<u128, Box<Option<Issue>>>,
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

    pub(super) fn payload(&self, s: &Slot) -> &[u8] {
        &self.bufs[s.buf as usize][s.start..s.end]
    }

    pub(super) fn entry(&self, s: &Slot) -> Entry<'_> {
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
    pub(super) fn read_issue(&self, id: IssueId) -> Option<Issue> {
        match read_issue_file(&self.layout.issue_path(id)).ok()? {
            FileRead::Issue(i) if i.id == id => Some(*i),
            _ => None,
        }
    }

    /// The issue read from its file in place of a record whose summary does not decode:
    /// read, noted as damage and kept once per issue (graph walks ask again and again).
    pub(super) fn fallback_issue(&self, id: IssueId) -> Option<&Issue> {
        if let Some(found) = self.fallbacks.get(&id.as_u128()) {
            return found.as_ref();
        }
        self.note_damage(id);
        self.fallbacks.insert(id.as_u128(), Box::new(self.read_issue(id))).as_ref()
    }

    /// Once per issue: a snapshot shared by a long-running process's requests (the warm
    /// index) is read again and again, and must not grow with each read.
    pub(super) fn note_damage(&self, id: IssueId) {
        if let Ok(mut d) = self.damaged.lock()
            && !d.contains(&id)
        {
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
    pub(super) fn blobs(&self, s: &Slot) -> Option<(&[u8], &[u8])> {
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

/// What reading an issue file gave.
pub(super) enum FileRead {
    Issue(Box<Issue>),
    /// Not a valid issue; why.
    Invalid(String),
    /// Removed since it was listed.
    Gone,
}

/// Read an issue file for a listing. A file that cannot be read (no permission, an I/O
/// error) is skipped with its reason like one that does not parse: one bad file must not
/// hide every other issue.
pub(super) fn read_issue_file(path: &Path) -> Result<FileRead> {
    let read = match read_regular(path) {
        Ok(r) => r,
        Err(e) => return Ok(FileRead::Invalid(format!("cannot be read: {e}"))),
    };
    let bytes = match read {
        FileBytes::Regular(b) => b,
        FileBytes::Missing => return Ok(FileRead::Gone),
        FileBytes::NotRegular => return Ok(FileRead::Invalid("not a regular file".into())),
    };
    Ok(match Issue::from_slice(&bytes) {
        Ok(i) => FileRead::Issue(Box::new(i)),
        Err(e) => FileRead::Invalid(format!("not a valid issue: {e}")),
    })
}
