//! The event log: `.jit/events/YYYY-MM.jsonl`, one JSON line per committed operation,
//! one segment per UTC month so that no file grows without bound. Appending is one write of
//! one line; reading goes newest first, from the newest segment backwards and each segment
//! backwards from its end, so the last N events cost in proportion to N, not to the history.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{Durability, Layout, atomic};
use crate::error::{Error, IoContext, Result};
use crate::model::{Event, EventId, IssueId};

/// How much of a segment is read at a time, from its end.
const BLOCK: usize = 64 * 1024;
/// A line longer than this is not an event (events are a few hundred bytes): it is skipped
/// without being held in memory.
const MAX_LINE: usize = 1 << 20;

/// The segment an event committed at `at` belongs to: `YYYY-MM.jsonl` of its UTC month.
pub fn segment_name(at: jiff::Timestamp) -> String {
    let d = at.to_zoned(jiff::tz::TimeZone::UTC).date();
    format!("{:04}-{:02}.jsonl", d.year(), d.month())
}

/// Is `name` a segment's name (`YYYY-MM.jsonl`)? Other files in `events/` are not read.
pub fn is_segment_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 13
        && name.ends_with(".jsonl")
        && b[4] == b'-'
        && b[..4].iter().chain(&b[5..7]).all(u8::is_ascii_digit)
        && matches!(&b[5..7], [b'0', b'1'..=b'9'] | [b'1', b'0'..=b'2'])
}

/// Append `event` to its month's segment. Call with the writers' lock held, after the change
/// it records has committed.
///
/// The line goes out in one `write` on a file opened with `O_APPEND`, so two appenders could
/// never interleave their lines. If the segment does not end with a line feed (a line torn by
/// a crash or a full disk), the same write starts with one, so the torn line stays a line of
/// its own (which readers skip) and the new one is whole. With [`Durability::Full`] the
/// segment is fdatasynced after the write, and a directory entry made by this append
/// (`events/` itself, or a new month's segment) is fsynced too.
pub fn append(layout: &Layout, event: &Event, durability: Durability) -> Result<()> {
    append_in(&layout.events_dir(), layout.root(), event, durability)
}

/// [`append`] to the segments of the log in `dir` (whose parent is `parent`): the tracked
/// log, or the local log of refusals (`storage::refusals`).
pub fn append_in(dir: &Path, parent: &Path, event: &Event, durability: Durability) -> Result<()> {
    let dir = dir.to_path_buf();
    ensure_dir(&dir, parent, durability)?;
    let path = dir.join(segment_name(event.at));
    let file = open_append(&path)?;
    let len = file.metadata().at(&path)?.len();
    let mut line = Vec::with_capacity(512);
    if len > 0 {
        let mut last = [0u8; 1];
        file.read_exact_at(&mut last, len - 1).at(&path)?;
        if last[0] != b'\n' {
            line.push(b'\n');
        }
    }
    line.extend_from_slice(&event.to_line());
    // One call for a regular file; `write_all` only loops on a short write (a full disk).
    (&file).write_all(&line).at(&path)?;
    if durability == Durability::Full {
        file.sync_data().at(&path)?;
        if len == 0 {
            atomic::sync_dir(&dir, durability)?;
        }
    }
    Ok(())
}

/// Create `events/` on first use, and make its entry in `.jit/` durable.
fn ensure_dir(dir: &Path, root: &Path, durability: Durability) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::Corrupt {
            path: dir.to_path_buf(),
            message: "not a directory (the event log needs it to be one)".into(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match fs::create_dir(dir) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e).at(dir),
                _ => {}
            }
            atomic::sync_dir(root, durability)
        }
        Err(e) => Err(e).at(dir),
    }
}

/// Open a segment for appending: a regular file only (a symbolic link is not followed, and a
/// FIFO is opened without blocking and refused).
fn open_append(path: &Path) -> Result<File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDWR
        | OFlags::APPEND
        | OFlags::CREATE
        | OFlags::NOFOLLOW
        | OFlags::NONBLOCK
        | OFlags::CLOEXEC;
    let not_regular = || Error::Corrupt {
        path: path.to_path_buf(),
        message: "not a regular file (an event log segment must be one)".into(),
    };
    let fd = match rustix::fs::openat(rustix::fs::CWD, path, flags, Mode::from_raw_mode(0o644)) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::LOOP | rustix::io::Errno::NXIO) => return Err(not_regular()),
        Err(e) => return Err(io::Error::from(e)).at(path),
    };
    let file = File::from(fd);
    if !file.metadata().at(path)?.is_file() {
        return Err(not_regular());
    }
    Ok(file)
}

/// Which issue's events to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IssueFilter {
    /// Exactly this id.
    Id(IssueId),
    /// Any id starting with this (lowercase) prefix: the events of deleted issues too.
    Prefix(String),
}

/// What events to read. Every condition given must hold.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub issue: Option<IssueFilter>,
    pub actor: Option<String>,
    pub op: Option<String>,
    /// Only events at or after this instant, in nanoseconds since the Unix epoch.
    pub since_ns: Option<i128>,
}

impl Filter {
    fn matches(&self, e: &Event) -> bool {
        let issue_ok = match &self.issue {
            None => true,
            Some(IssueFilter::Id(id)) => e.issues.iter().any(|i| i.id == *id),
            Some(IssueFilter::Prefix(p)) => {
                e.issues.iter().any(|i| i.id.to_string().starts_with(p.as_str()))
            }
        };
        issue_ok
            && self.actor.as_ref().is_none_or(|a| *a == e.actor)
            && self.op.as_ref().is_none_or(|o| *o == e.op)
            && self.since_ns.is_none_or(|t| e.at.as_nanosecond() >= t)
    }

    /// The first segment name that can hold an event at or after `since_ns`.
    fn oldest_segment(&self) -> Option<String> {
        let t = jiff::Timestamp::from_nanosecond(self.since_ns?).ok()?;
        Some(segment_name(t))
    }
}

/// What a read found.
#[derive(Debug, Default)]
pub struct Page {
    /// Newest first (see [`read`] for the order after a merge).
    pub events: Vec<Event>,
    /// More events match than the limit let through.
    pub more: bool,
    /// Lines that are not events (torn by a crash, damaged, overlong): skipped.
    pub skipped_lines: usize,
    /// Entries named like segments that are not regular files (a symbolic link, a FIFO, a
    /// directory): not read.
    pub skipped_files: Vec<PathBuf>,
}

/// Read the events that pass `filter`, newest first, at most `limit` of them.
///
/// Segments are read from the newest month back, each from its end back, so events come in
/// the reverse of the order they were appended: on one machine, the reverse of commit order.
/// After a git union merge, the lines both sides appended sit one side's after the other's,
/// and come out in that (file) order. With `since_ns`, reading stops at the first segment of
/// a month before it; the segment of its own month is read to its start (after a merge an
/// older line can precede a newer one, so the first older event is no place to stop), so the
/// cost is at most that month plus what is newer. A line seen twice (a union merge can
/// double one) is shown once, by its event id, at its last place in the log.
pub fn read(layout: &Layout, filter: &Filter, limit: Option<usize>) -> Result<Page> {
    read_in(&layout.events_dir(), filter, limit)
}

/// [`read`] the log whose segments are in `dir`.
pub fn read_in(dir: &Path, filter: &Filter, limit: Option<usize>) -> Result<Page> {
    let mut page = Page::default();
    let oldest = filter.oldest_segment();
    let mut seen: HashSet<EventId> = HashSet::new();
    let dir = dir.to_path_buf();
    match fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(page),
        Err(e) => return Err(e).at(&dir),
        // A link (which could lead anywhere) or a file where the directory should be.
        Ok(_) => {
            page.skipped_files.push(dir);
            return Ok(page);
        }
    }
    for name in segments(&dir)? {
        if oldest.as_ref().is_some_and(|o| name < *o) {
            break;
        }
        let path = dir.join(&name);
        let Some(mut lines) = RevLines::open(&path, &mut page)? else { continue };
        // The first piece read is the text after the last line feed: empty, or a line not
        // terminated (torn by a crash, or being appended right now).
        let mut tail = true;
        while let Some(line) = lines.next().at(&path)? {
            let is_tail = std::mem::take(&mut tail);
            let Some(line) = line else {
                page.skipped_lines += 1;
                continue;
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Ok(event) = Event::from_line(&line) else {
                // A segment that grew since it was opened had an append under way: its
                // unfinished line is no damage (the next read sees it whole).
                if !(is_tail && lines.grew()) {
                    page.skipped_lines += 1;
                }
                continue;
            };
            if !seen.insert(event.id) || !filter.matches(&event) {
                continue;
            }
            if limit.is_some_and(|n| page.events.len() >= n) {
                page.more = true;
                return Ok(page);
            }
            page.events.push(event);
        }
    }
    Ok(page)
}

/// The segment names in `dir`, newest first; none if there is no event log yet.
fn segments(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at(dir),
    };
    let mut names = Vec::new();
    for e in entries {
        let e = e.at(dir)?;
        if let Some(name) = e.file_name().to_str().filter(|n| is_segment_name(n)) {
            names.push(name.to_string());
        }
    }
    names.sort_unstable_by(|a, b| b.cmp(a));
    Ok(names)
}

/// The lines of a file from its last to its first, read in blocks from the end.
struct RevLines {
    file: File,
    /// The length when opened: what is read.
    len: u64,
    /// Bytes before this offset are not read yet.
    pos: u64,
    /// The tail of the part read that is not returned yet (it ends a line).
    buf: Vec<u8>,
    /// The line being read is longer than [`MAX_LINE`]: drop bytes until its start.
    overlong: bool,
    done: bool,
}

impl RevLines {
    /// `None` (noted in `page`) if `path` is not a regular file, or is gone.
    fn open(path: &Path, page: &mut Page) -> Result<Option<RevLines>> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(rustix::fs::CWD, path, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::NXIO) => {
                page.skipped_files.push(path.to_path_buf());
                return Ok(None);
            }
            Err(e) => return Err(io::Error::from(e)).at(path),
        };
        let file = File::from(fd);
        let meta = file.metadata().at(path)?;
        if !meta.is_file() {
            page.skipped_files.push(path.to_path_buf());
            return Ok(None);
        }
        let pos = meta.len();
        Ok(Some(RevLines { file, len: pos, pos, buf: Vec::new(), overlong: false, done: false }))
    }

    /// Has the file grown since it was opened?
    fn grew(&self) -> bool {
        self.file.metadata().is_ok_and(|m| m.len() > self.len)
    }

    /// The previous line (without its line feed), `Some(None)` for an overlong one, or
    /// `None` at the start of the file.
    fn next(&mut self) -> io::Result<Option<Option<Vec<u8>>>> {
        loop {
            if let Some(i) = self.buf.iter().rposition(|&b| b == b'\n') {
                let line = self.buf.split_off(i + 1);
                self.buf.truncate(i);
                if std::mem::take(&mut self.overlong) {
                    return Ok(Some(None));
                }
                return Ok(Some(Some(line)));
            }
            if self.pos == 0 {
                if self.done {
                    return Ok(None);
                }
                self.done = true;
                if std::mem::take(&mut self.overlong) {
                    return Ok(Some(None));
                }
                return Ok(Some(Some(std::mem::take(&mut self.buf))));
            }
            if self.buf.len() > MAX_LINE {
                self.buf.clear();
                self.overlong = true;
            }
            let n = BLOCK.min(self.pos as usize);
            self.pos -= n as u64;
            let mut block = vec![0u8; n];
            self.file.read_exact_at(&mut block, self.pos)?;
            block.extend_from_slice(&self.buf);
            self.buf = block;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::for_new(dir.path());
        fs::create_dir_all(layout.root()).unwrap();
        (dir, layout)
    }

    fn event(at: &str, n: u128, op: &str) -> Event {
        let mut e = Event::new(at.parse().unwrap(), n, "alice", op);
        e.touch(IssueId::from_parts(1, n), Some(1), Some(2));
        e
    }

    fn ops(page: &Page) -> Vec<&str> {
        page.events.iter().map(|e| e.op.as_str()).collect()
    }

    #[test]
    fn appends_go_to_monthly_segments_and_read_back_newest_first() {
        let (_d, l) = layout();
        for (at, n, op) in [
            ("2026-01-31T23:59:59Z", 1, "a"),
            ("2026-02-01T00:00:00Z", 2, "b"),
            ("2026-02-03T00:00:00+05:00", 3, "c"),
            ("2026-12-01T00:00:00Z", 4, "d"),
        ] {
            append(&l, &event(at, n, op), Durability::Full).unwrap();
        }
        let mut names = segments(&l.events_dir()).unwrap();
        names.reverse();
        assert_eq!(names, ["2026-01.jsonl", "2026-02.jsonl", "2026-12.jsonl"]);
        let page = read(&l, &Filter::default(), None).unwrap();
        assert_eq!(ops(&page), ["d", "c", "b", "a"]);
        let page = read(&l, &Filter::default(), Some(2)).unwrap();
        assert_eq!((ops(&page), page.more), (vec!["d", "c"], true));
        let page = read(&l, &Filter::default(), Some(4)).unwrap();
        assert_eq!((ops(&page).len(), page.more), (4, false));
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_the_next_append_starts_a_new_line() {
        let (_d, l) = layout();
        append(&l, &event("2026-01-01T00:00:00Z", 1, "a"), Durability::Relaxed).unwrap();
        let seg = l.events_dir().join("2026-01.jsonl");
        let mut f = fs::OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"{\"id\":\"01kj").unwrap();
        let page = read(&l, &Filter::default(), None).unwrap();
        assert_eq!((ops(&page), page.skipped_lines), (vec!["a"], 1));
        append(&l, &event("2026-01-02T00:00:00Z", 2, "b"), Durability::Relaxed).unwrap();
        let text = fs::read_to_string(&seg).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert_eq!(text.lines().nth(1), Some("{\"id\":\"01kj"));
        let page = read(&l, &Filter::default(), None).unwrap();
        assert_eq!((ops(&page), page.skipped_lines), (vec!["b", "a"], 1));
    }

    #[test]
    fn lines_longer_than_a_block_and_overlong_lines() {
        let (_d, l) = layout();
        let mut e = event("2026-01-01T00:00:00Z", 1, "big");
        e.command = Some("x".repeat(3 * BLOCK));
        append(&l, &e, Durability::Relaxed).unwrap();
        let seg = l.events_dir().join("2026-01.jsonl");
        let mut f = fs::OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&vec![b'y'; MAX_LINE + 2 * BLOCK]).unwrap();
        f.write_all(b"\n").unwrap();
        append(&l, &event("2026-01-02T00:00:00Z", 2, "small"), Durability::Relaxed).unwrap();
        let page = read(&l, &Filter::default(), None).unwrap();
        assert_eq!((ops(&page), page.skipped_lines), (vec!["small", "big"], 1));
        assert_eq!(page.events[1], e);
    }

    #[test]
    fn filters_duplicates_and_since() {
        let (_d, l) = layout();
        let a = event("2026-01-10T00:00:00Z", 1, "create");
        let mut b = event("2026-02-10T00:00:00Z", 2, "update");
        b.actor = "bob".into();
        let c = event("2026-02-20T00:00:00Z", 3, "update");
        for e in [&a, &b, &c, &b] {
            append(&l, e, Durability::Relaxed).unwrap();
        }
        let all = read(&l, &Filter::default(), None).unwrap();
        assert_eq!(ops(&all), ["update", "update", "create"], "the doubled line shows once");
        let f = Filter { actor: Some("bob".into()), ..Filter::default() };
        assert_eq!(read(&l, &f, None).unwrap().events, [b.clone()]);
        let f = Filter { op: Some("create".into()), ..Filter::default() };
        assert_eq!(read(&l, &f, None).unwrap().events, std::slice::from_ref(&a));
        let f = Filter { issue: Some(IssueFilter::Id(c.issues[0].id)), ..Filter::default() };
        assert_eq!(read(&l, &f, None).unwrap().events, std::slice::from_ref(&c));
        let prefix = a.issues[0].id.to_string()[..10].to_string();
        let f = Filter { issue: Some(IssueFilter::Prefix(prefix)), ..Filter::default() };
        assert_eq!(read(&l, &f, None).unwrap().events.len(), 3, "ids share a long prefix");
        let since = |t: &str| Filter {
            since_ns: Some(t.parse::<jiff::Timestamp>().unwrap().as_nanosecond()),
            ..Filter::default()
        };
        // The doubled line shows at its last place in the log.
        assert_eq!(read(&l, &since("2026-02-10T00:00:00Z"), None).unwrap().events, [b, c]);
        assert_eq!(read(&l, &since("2026-03-01T00:00:00Z"), None).unwrap().events, []);
        // Segments older than the bound's month are not opened: a FIFO there cannot matter.
        let fifo = l.events_dir().join("2025-12.jsonl");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let page = read(&l, &since("2026-01-01T00:00:00Z"), None).unwrap();
        assert_eq!((page.events.len(), page.skipped_files.len()), (3, 0));
        let page = read(&l, &Filter::default(), None).unwrap();
        assert_eq!((page.events.len(), page.skipped_files), (3, vec![fifo.clone()]));
        // An append to a FIFO segment is refused, not blocked.
        let e = append(&l, &event("2025-12-01T00:00:00Z", 9, "x"), Durability::Full);
        assert_eq!(e.unwrap_err().code(), "CORRUPT_FILE");
    }

    use rustix::fs::Mode;

    #[test]
    fn concurrent_appenders_never_interleave_their_lines() {
        let (_d, l) = layout();
        std::thread::scope(|s| {
            for t in 0..8u128 {
                let l = &l;
                s.spawn(move || {
                    for i in 0..200u128 {
                        let mut e = event("2026-01-01T00:00:00Z", t << 32 | i, "w");
                        e.command = Some("x".repeat(((t * 997 + i * 31) % 3000) as usize));
                        append(l, &e, Durability::Relaxed).unwrap();
                    }
                });
            }
        });
        let text = fs::read_to_string(l.events_dir().join("2026-01.jsonl")).unwrap();
        // Each line is whole. An appender that reads the last byte while another's write is
        // under way may see it unfinished and start with a line feed: an empty line, which
        // readers ignore (under the writers' lock there is no second appender).
        let bad = text.lines().filter(|l| !l.is_empty() && Event::from_line(l.as_bytes()).is_err());
        assert_eq!(bad.count(), 0);
        let page = read(&l, &Filter::default(), None).unwrap();
        assert_eq!((page.events.len(), page.skipped_lines), (1600, 0));
    }

    #[test]
    fn an_events_entry_that_is_not_a_directory_is_skipped_or_refused() {
        let (d, l) = layout();
        let elsewhere = d.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, l.events_dir()).unwrap();
        let page = read(&l, &Filter::default(), None).unwrap();
        assert_eq!(page.skipped_files, [l.events_dir()]);
        let e = append(&l, &event("2026-01-01T00:00:00Z", 1, "a"), Durability::Full);
        assert_eq!(e.unwrap_err().code(), "CORRUPT_FILE");
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0, "nothing written through it");
        fs::remove_file(l.events_dir()).unwrap();
        fs::write(l.events_dir(), "").unwrap();
        assert_eq!(read(&l, &Filter::default(), None).unwrap().skipped_files.len(), 1);
    }

    #[test]
    fn an_unfinished_last_line_of_a_growing_segment_is_not_damage() {
        let (_d, l) = layout();
        append(&l, &event("2026-01-01T00:00:00Z", 1, "a"), Durability::Relaxed).unwrap();
        let seg = l.events_dir().join("2026-01.jsonl");
        let mut f = fs::OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"{\"id\":").unwrap();
        let mut page = Page::default();
        let mut lines = RevLines::open(&seg, &mut page).unwrap().unwrap();
        assert_eq!(lines.next().unwrap(), Some(Some(b"{\"id\":".to_vec())));
        assert!(!lines.grew(), "a torn line: nothing more is coming");
        f.write_all(b"\"01kj\"}\n").unwrap();
        assert!(lines.grew(), "an append under way: the rest came");
    }

    #[test]
    fn segment_names() {
        for ok in ["2026-01.jsonl", "0000-12.jsonl", "9999-10.jsonl"] {
            assert!(is_segment_name(ok), "{ok}");
        }
        for bad in ["2026-13.jsonl", "2026-00.jsonl", "2026-1.jsonl", "2026-01.json", "x"] {
            assert!(!is_segment_name(bad), "{bad}");
        }
    }
}
