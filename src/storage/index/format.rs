//! The bytes of the index files: headers, records and the references from base records to
//! the base's description and JSON sections (see docs/storage-format.md, "The index").

use super::FileStamp;
use super::snapshot::Summary;
use crate::model::Issue;

pub(super) const MAGIC: &[u8; 8] = b"JITIDX\x00\x06"; // the last byte is the format version

/// Magic and generation: the whole header of the log, the start of the base's.
pub(super) const HEADER: usize = 16;

/// The base's header: [`HEADER`], the lengths of its three sections, and their CRC.
pub(super) const BASE_HEADER: usize = 48;

/// Id and stamp: the start of every record.
pub(super) const STAMPED: usize = 16 + 8 * 5;

/// A log record: stamped, then the lengths of its JSON and its description.
pub(super) const FIXED_INLINE: usize = STAMPED + 8;

/// A base record: stamped, then where its JSON and its description are ([`BlobRef`]s).
pub(super) const FIXED_BASE: usize = STAMPED + 2 * 16;

pub(super) const BASE: &str = "issues.idx";

pub(super) const LOG: &str = "issues.log";

/// Where a base record's JSON or description is: offset in its section, length, CRC-32.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct BlobRef {
    pub(super) off: u64,
    pub(super) len: u32,
    pub(super) crc: u32,
}

impl BlobRef {
    pub(super) fn read(b: &[u8]) -> BlobRef {
        BlobRef {
            off: u64::from_le_bytes(b[0..8].try_into().unwrap()),
            len: u32::from_le_bytes(b[8..12].try_into().unwrap()),
            crc: u32::from_le_bytes(b[12..16].try_into().unwrap()),
        }
    }

    pub(super) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.off.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.crc.to_le_bytes());
    }

    /// The blob within a whole section, if it is there and its CRC holds.
    pub(super) fn within<'s>(&self, section: &'s [u8]) -> Option<&'s [u8]> {
        let start = usize::try_from(self.off).ok()?;
        let b = section.get(start..start.checked_add(self.len as usize)?)?;
        (crc32fast::hash(b) == self.crc).then_some(b)
    }
}

/// A decoded record payload.
#[derive(Clone, Copy, Debug)]
pub(super) enum RecordRef<'a> {
    /// A log record, or one just made from a file.
    Inline { json: &'a [u8], desc: &'a [u8], summary: &'a [u8] },
    /// A base record, whose JSON and description are in the base's other sections.
    Based { json: BlobRef, desc: BlobRef, summary: &'a [u8] },
}

impl<'a> RecordRef<'a> {
    pub(super) fn parse(p: &'a [u8], based: bool) -> Option<RecordRef<'a>> {
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

    pub(super) fn summary(&self) -> &'a [u8] {
        match self {
            RecordRef::Inline { summary, .. } | RecordRef::Based { summary, .. } => summary,
        }
    }

    /// Only the file stamp and when it was taken: what the freshness check needs.
    pub(super) fn stamp(p: &[u8]) -> Option<(FileStamp, i64)> {
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

/// Append one record — `[len][crc][payload]`, the payload written by `payload` — to `out`;
/// returns where its payload is.
pub(super) fn frame(out: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>)) -> (usize, usize) {
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
pub(super) fn encode(
    out: &mut Vec<u8>,
    issue: &Issue,
    stamp: FileStamp,
    recorded_ns: i64,
) -> (usize, usize) {
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
pub(super) fn records(
    buf: &[u8],
    mut pos: usize,
    based: bool,
) -> impl Iterator<Item = (usize, usize)> + '_ {
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

pub(super) fn header(generation: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..].copy_from_slice(&generation.to_le_bytes());
    h
}

/// The base's header: the common [`header`], the lengths of the record, description and JSON
/// sections (which follow in that order), and a CRC-32 of all that.
pub(super) fn base_header(generation: u64, lens: [usize; 3]) -> [u8; BASE_HEADER] {
    let mut h = [0u8; BASE_HEADER];
    h[..HEADER].copy_from_slice(&header(generation));
    for (i, len) in lens.into_iter().enumerate() {
        h[HEADER + 8 * i..HEADER + 8 * (i + 1)].copy_from_slice(&(len as u64).to_le_bytes());
    }
    let crc = crc32fast::hash(&h[..40]);
    h[40..44].copy_from_slice(&crc.to_le_bytes());
    h
}

pub(super) fn generation_of(buf: &[u8]) -> Option<u64> {
    (buf.len() >= HEADER && &buf[..8] == MAGIC)
        .then(|| u64::from_le_bytes(buf[8..16].try_into().unwrap()))
}
