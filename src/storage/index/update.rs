//! A snapshot brought up to date without a new full read: the journal records of commits a
//! read overlapped laid over it, or the files inotify named read again (the warm index).

use super::*;

impl Snapshot {
    /// Lay the files of journal records over this snapshot (see `journal::changes_between`):
    /// an issue a record writes replaces the one read if the record's version is higher (the
    /// file may have changed again since, and versions only go up), and one it removes is
    /// gone. Records in commit order; paths outside `issues/` (config.json) are not issues.
    /// A move (`validate --fix` renaming a misnamed file) takes its source out of `issues/`,
    /// and its destination, if in `issues/`, is read where the move put it (a move carries no
    /// content): an issue renamed while this read ran is not missed.
    pub fn overlay(&mut self, changes: &[Vec<crate::storage::journal::Op>]) {
        use crate::storage::journal::Op;
        let mut latest: IdMap<Option<Issue>> = IdMap::default();
        let mut laid_ops: Vec<(&str, Option<Issue>)> = Vec::new();
        for op in changes.iter().flatten() {
            match op {
                Op::Write { path, content } => {
                    laid_ops.push((path, Issue::from_slice(content.as_bytes()).ok()))
                }
                Op::Remove { path } => laid_ops.push((path, None)),
                Op::Move { path, to } => {
                    laid_ops.push((path, None));
                    if to.starts_with("issues/") {
                        let moved = fs::read(self.layout.root().join(to)).ok();
                        let moved = moved.and_then(|b| Issue::from_slice(&b).ok());
                        let named = to.strip_prefix("issues/").and_then(IssueId::from_file_name);
                        if let Some(issue) = moved.filter(|i| Some(i.id) == named) {
                            laid_ops.push((to, Some(issue)));
                        }
                    }
                }
            }
        }
        for (path, issue) in laid_ops {
            let Some(id) = path.strip_prefix("issues/").and_then(IssueId::from_file_name) else {
                continue;
            };
            match (issue, latest.get(&id.as_u128())) {
                (Some(i), Some(Some(seen))) if seen.version >= i.version => {}
                (Some(i), Some(None)) => drop(i), // removed for good: ids are never reused
                (Some(i), _) => drop(latest.insert(id.as_u128(), Some(i))),
                (None, _) => drop(latest.insert(id.as_u128(), None)),
            }
        }
        if latest.is_empty() {
            return;
        }
        let no_stamp = FileStamp { size: 0, mtime_ns: 0, ctime_ns: 0, ino: 0 };
        let mut slots: IdMap<Slot> = self.slots.iter().map(|s| (s.id, *s)).collect();
        // The records laid over go into a buffer of their own: the others may be shared.
        let buf = self.bufs.len() as u32;
        let mut laid = Vec::new();
        for (raw, issue) in latest {
            let read_version = self.get(IssueId::from_u128(raw)).map(|e| e.summary().version);
            match issue {
                None => drop(slots.remove(&raw)),
                Some(i) if read_version.is_none_or(|v| v < i.version) => {
                    // Never trusted (a zero stamp is racy), so never kept by index upkeep.
                    let (start, end) = encode(&mut laid, &i, no_stamp, 0);
                    slots.insert(raw, Slot { id: raw, buf, start, end });
                }
                Some(_) => {}
            }
            let path = self.layout.issue_path(IssueId::from_u128(raw));
            self.problems.retain(|p| p.path != path);
        }
        self.bufs.push(Arc::new(laid));
        self.slots = slots.into_values().collect();
        self.slots.sort_unstable_by_key(|s| s.id);
    }
}

impl Snapshot {
    /// A snapshot of its own with the same records (sharing their buffers): for a reader that
    /// lays journal records over a snapshot others share.
    pub fn detached(&self) -> Snapshot {
        Snapshot {
            bufs: self.bufs.clone(),
            slots: self.slots.clone(),
            problems: self.problems.clone(),
            base: self.base.clone(),
            layout: self.layout.clone(),
            damaged: Mutex::new(Vec::new()),
            fallbacks: Default::default(),
        }
    }

    /// This snapshot with the issues `ids` read again from their files (each now present,
    /// changed, gone or a problem), as a listing would read them; the other records are
    /// shared, not copied. The records read go into a buffer of their own, and buffers are
    /// merged so that their number and their dead records stay bounded (see `settle`).
    pub(crate) fn patched(&self, ids: &[u128]) -> Result<Snapshot> {
        let mut next = self.detached();
        let issues_dir = self.layout.issues_dir();
        let buf = next.bufs.len() as u32;
        let mut out = Vec::new();
        let mut slots: IdMap<Slot> = IdMap::default();
        let mut gone: Vec<u128> = Vec::new();
        let mut problems = Vec::new();
        for &raw in ids {
            let id = IssueId::from_u128(raw);
            let path = issues_dir.join(id.file_name());
            gone.push(raw);
            match fs::symlink_metadata(&path) {
                Err(_) => continue,
                Ok(m) if !m.is_file() => {
                    let message = "not a regular file (a symbolic link or a directory)".into();
                    problems.push(Problem { path, message });
                    continue;
                }
                Ok(_) => {}
            }
            match read_issue_file(&path)? {
                FileRead::Issue(i) if i.id == id => {
                    let no_stamp = FileStamp { size: 0, mtime_ns: 0, ctime_ns: 0, ino: 0 };
                    let (start, end) = encode(&mut out, &i, no_stamp, 0);
                    slots.insert(raw, Slot { id: raw, buf, start, end });
                }
                FileRead::Issue(i) => {
                    let message = format!("file name says {id} but the issue inside is {}", i.id);
                    problems.push(Problem { path, message });
                }
                FileRead::Invalid(message) => problems.push(Problem { path, message }),
                FileRead::Gone => {}
            }
        }
        gone.sort_unstable();
        next.slots.retain(|s| gone.binary_search(&s.id).is_err());
        next.slots.extend(slots.into_values());
        next.slots.sort_unstable_by_key(|s| s.id);
        next.bufs.push(Arc::new(out));
        let touched: Vec<std::path::PathBuf> =
            gone.iter().map(|r| issues_dir.join(IssueId::from_u128(*r).file_name())).collect();
        next.problems.retain(|p| !touched.contains(&p.path));
        next.problems.extend(problems);
        // As a listing orders them: names that are not issue files first, then by id.
        next.problems.sort_by_cached_key(|p| {
            let name = p.path.file_name().map(|n| n.to_string_lossy().into_owned());
            let id = name.as_deref().and_then(IssueId::from_file_name);
            (id.is_some(), id.map(|i| i.as_u128()), p.path.clone())
        });
        next.settle();
        Ok(next)
    }

    /// Bound the buffers of records read after the snapshot was built (buffers 2 and up):
    /// the newest is merged with the one before it while it is at least half its size, so
    /// sizes fall geometrically (a few dozen buffers at most, each byte copied a logarithmic
    /// number of times); and when those buffers hold more dead records (superseded by later
    /// ones) than live ones, plus 1 MiB, they are all merged into one holding only the live.
    fn settle(&mut self) {
        while self.bufs.len() > 4 {
            let n = self.bufs.len();
            if self.bufs[n - 2].len() > 2 * self.bufs[n - 1].len() {
                break;
            }
            self.merge_from(n - 2);
        }
        let live: usize =
            self.slots.iter().filter(|s| s.buf >= 2).map(|s| s.end - s.start + 8).sum();
        let total: usize = self.bufs.iter().skip(2).map(|b| b.len()).sum();
        if total > 2 * live + (1 << 20) {
            self.merge_from(2);
        }
    }

    /// Copy the live records of buffers `from..` into one buffer, which replaces them.
    fn merge_from(&mut self, from: usize) {
        let mut out = Vec::new();
        for s in self.slots.iter_mut().filter(|s| s.buf as usize >= from) {
            let p = &self.bufs[s.buf as usize][s.start..s.end];
            let (start, end) = frame(&mut out, |o| o.extend_from_slice(p));
            *s = Slot { id: s.id, buf: from as u32, start, end };
        }
        self.bufs.truncate(from);
        self.bufs.push(Arc::new(out));
    }

    /// Bytes held in record buffers, and how many buffers (for the warm index's tests and
    /// measurements of memory).
    pub fn buffer_bytes(&self) -> (usize, usize) {
        (self.bufs.iter().map(|b| b.len()).sum(), self.bufs.len())
    }
}
