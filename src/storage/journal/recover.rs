//! Recovery: what the next writer does with the records an interrupted commit left, and
//! what readers and `validate` learn from them.

use super::*;

/// Roll a sound record forward (recovery): apply each op whose file still holds what it held
/// just before the op when the record was written (format 2 and 3), skipping one already
/// applied and one whose file changed since (a later change: counted as superseded, never
/// rolled back). A file that is not a regular file blocks the record
/// ([`Error::JournalBlocked`]), unless a move takes it. A file that is gone is written again
/// only by the record of the commit in flight (`in_flight`: the commit sequence still names
/// it), as after a blocked recovery whose obstacle was moved aside; a record that came back
/// after later commits (see [`Record::before`]) leaves it gone, as a later delete made it.
/// The ops are applied in order, each seeing what the ones before it made, as in [`commit`].
fn roll_forward(
    layout: &Layout,
    record: &Path,
    rec: &Record,
    in_flight: bool,
    durability: Durability,
) -> Result<usize> {
    let mut superseded = 0;
    let mut dirs = BTreeSet::new();
    for (i, op) in rec.ops.iter().enumerate() {
        let path = resolve(layout, op.path())?;
        if let Op::Move { to, .. } = op {
            let to = resolve(layout, to)?;
            let now = entry(&path)?;
            // Moved already, or nothing to move: a move never goes over an existing entry.
            // When the entry is still there as it was, something else took its place.
            if fs::symlink_metadata(&to).is_ok() || now == Entry::Missing {
                let waiting = rec.before.as_ref().is_some_and(|b| b[i] == now.digest());
                if waiting && now != Entry::Missing {
                    superseded += 1;
                }
                continue;
            }
            if rec.before.as_ref().is_some_and(|b| b[i] != now.digest()) {
                superseded += 1;
                continue;
            }
            make_parent(layout, &to)?;
            fs::rename(&path, &to).at(&path)?;
            fault::reach(Step::JournalApply).at(&path)?;
            for p in [&path, &to] {
                if let Some(parent) = p.parent() {
                    dirs.insert(parent.to_path_buf());
                }
            }
            continue;
        }
        let now = match current(&path) {
            Err(Error::NotRegularFile { path }) => {
                return Err(Error::JournalBlocked { record: record.to_path_buf(), path });
            }
            now => now?.as_deref().map(digest),
        };
        if now == op.after() {
            continue;
        }
        let gone = now.is_none() && in_flight;
        if rec.before.as_ref().is_some_and(|b| b[i] != now) && !gone {
            superseded += 1;
            continue;
        }
        match op {
            Op::Write { content, path: rel } => {
                // Notes of `validate --fix` go into a folder of `quarantine/` made for them.
                if rel.starts_with("quarantine/") {
                    make_parent(layout, &path)?;
                }
                atomic::write_no_dir_sync(&path, content.as_bytes(), durability).map_err(|e| {
                    match &e {
                        Error::Io { source, .. }
                            if source.kind() == std::io::ErrorKind::IsADirectory =>
                        {
                            Error::JournalBlocked {
                                record: record.to_path_buf(),
                                path: path.clone(),
                            }
                        }
                        _ => e,
                    }
                })?
            }
            Op::Remove { .. } => remove(&path)?,
            Op::Move { .. } => unreachable!("applied above"),
        }
        fault::reach(Step::JournalApply).at(&path)?;
        if let Some(parent) = path.parent() {
            dirs.insert(parent.to_path_buf());
        }
    }
    for d in dirs {
        atomic::sync_dir(&d, durability)?;
    }
    Ok(superseded)
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
    let seq_now = commit_seq(layout);
    for name in names {
        let path = dir.join(&name);
        if name.starts_with(atomic::TEMP_PREFIX) {
            fs::remove_file(&path).at(&path)?;
            report.discarded += 1;
            continue;
        }
        match read_record(layout, &path)? {
            Some(rec) => {
                let in_flight = rec.seq.is_some() && rec.seq == seq_now;
                report.superseded += roll_forward(layout, &path, &rec, in_flight, durability)?;
                applied.push((path, rec.seq));
                report.rolled_forward += 1;
            }
            None => {
                // Damaged beyond use: keep it for inspection, out of the way, and have every
                // command say so until it is settled (see `quarantined`).
                let q = layout.quarantine_dir();
                fs::create_dir_all(layout.root()).at(layout.root())?;
                atomic::create_dir(&q, Durability::Full)?;
                let to = format!("{QUARANTINE_PREFIX}{name}");
                fs::rename(&path, q.join(&to)).at(&path)?;
                atomic::sync_dir(&q, Durability::Full)?;
                report.discarded += 1;
                report.quarantined.push(to);
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
        let name = crate::storage::index::index_dir_usable(&done)
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
            Ok(rec) => match rec.damage(layout) {
                Some(why) => Pending::Damaged(why),
                None => Pending::Complete(rec.ops),
            },
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
    Ok(rec.damage(layout).is_none().then_some(rec))
}

/// Damaged journal records recovery moved to `quarantine/` and nobody has settled yet (names
/// in `quarantine/`, in order). Each may be a multi-file change that was half made before
/// its record was damaged, so every command reports them until they are settled.
pub fn quarantined(layout: &Layout) -> Vec<String> {
    let Ok(entries) = fs::read_dir(layout.quarantine_dir()) else { return Vec::new() };
    let names: BTreeSet<String> =
        entries.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()).collect();
    names
        .iter()
        .filter(|n| n.starts_with(QUARANTINE_PREFIX) && !n.ends_with(SETTLED_SUFFIX))
        .filter(|n| !names.contains(&format!("{n}{SETTLED_SUFFIX}")))
        .cloned()
        .collect()
}

/// Mark a quarantined record (`name`, as [`quarantined`] lists it) as settled, with a note
/// saying how: it stays in `quarantine/`, and commands stop reporting it. Call with the
/// writers' lock held (for `validate --fix`).
pub fn settle(layout: &Layout, name: &str, note: &str) -> Result<()> {
    let path = layout.quarantine_dir().join(format!("{name}{SETTLED_SUFFIX}"));
    atomic::write(&path, note.as_bytes(), Durability::Full)
}
