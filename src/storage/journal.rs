//! All-or-nothing changes of several files. A checksummed intent record is made durable in
//! `.jit/journal/` first, then every file is written, then the record is removed. Whoever next
//! takes the writers' lock rolls a complete record forward; a record that never became
//! complete (a temp file) is discarded. So a crash at any instant leaves every file old or new.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Durability, Layout, atomic};
use crate::error::{Error, IoContext, Result};

const FORMAT: u32 = 1;

/// One file operation, with a path relative to `.jit/`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Replace (or create) the file with `content`.
    Write { path: String, content: String },
    /// Remove the file (absent already is fine).
    Remove { path: String },
}

impl Op {
    fn path(&self) -> &str {
        match self {
            Op::Write { path, .. } | Op::Remove { path } => path,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Record {
    format: u32,
    checksum: u32,
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
    for op in ops {
        resolve(layout, op.path())?;
    }
    let dir = layout.journal_dir();
    fs::create_dir_all(&dir).at(&dir)?;
    let record = Record { format: FORMAT, checksum: checksum(ops), ops: ops.to_vec() };
    let bytes = serde_json::to_vec(&record).expect("record serialises");
    let name = format!("{}.json", jiff::Timestamp::now().as_nanosecond());
    let path = dir.join(name);
    // Odd while the files change (see `commit_seq`); left odd if this fails half-way, until
    // the next writer's recovery.
    let seq = commit_seq(layout).unwrap_or(0);
    set_commit_seq(layout, seq | 1)?;
    atomic::write(&path, &bytes, durability)?;
    apply(layout, ops, durability)?;
    fs::remove_file(&path).at(&path)?;
    atomic::sync_dir(&dir, durability)?;
    set_commit_seq(layout, (seq | 1) + 1)
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
    // No lock file (or none readable): no writer can be committing through it.
    let Ok(file) = fs::File::open(layout.lock_path()) else { return Some(0) };
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
    let file =
        fs::OpenOptions::new().write(true).create(true).truncate(false).open(&path).at(&path)?;
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&seq.to_le_bytes());
    b[8..].copy_from_slice(&(!seq).to_le_bytes());
    file.write_all_at(&b, 0).at(&path)
}

fn apply(layout: &Layout, ops: &[Op], durability: Durability) -> Result<()> {
    let mut dirs = BTreeSet::new();
    for op in ops {
        let path = resolve(layout, op.path())?;
        match op {
            Op::Write { content, .. } => {
                atomic::write_no_dir_sync(&path, content.as_bytes(), durability)?
            }
            Op::Remove { .. } => match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).at(&path),
                _ => {}
            },
        }
        if let Some(parent) = path.parent() {
            dirs.insert(parent.to_path_buf());
        }
    }
    for d in dirs {
        atomic::sync_dir(&d, durability)?;
    }
    Ok(())
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
    let report = recover_records(layout, durability)?;
    // A commit that failed or was killed half-way left the sequence odd (or it was damaged):
    // every record is settled now, so readers may trust what they read again.
    match commit_seq(layout) {
        Some(seq) if seq % 2 == 0 => {}
        seq => set_commit_seq(layout, seq.map_or(2, |s| s + 1))?,
    }
    Ok(report)
}

fn recover_records(layout: &Layout, durability: Durability) -> Result<Recovery> {
    let dir = layout.journal_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Recovery::default()),
        Err(e) => return Err(e).at(&dir),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names.is_empty() {
        return Ok(Recovery::default());
    }
    names.sort(); // records are named by creation time: replay in order
    let mut report = Recovery::default();
    for name in names {
        let path = dir.join(&name);
        if name.starts_with(atomic::TEMP_PREFIX) {
            fs::remove_file(&path).at(&path)?;
            report.discarded += 1;
            continue;
        }
        match read_record(layout, &path)? {
            Some(ops) => {
                apply(layout, &ops, durability)?;
                fs::remove_file(&path).at(&path)?;
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
    Ok(report)
}

/// Whether any record (complete or not) is waiting in the journal.
pub fn pending(layout: &Layout) -> bool {
    fs::read_dir(layout.journal_dir()).is_ok_and(|mut d| d.next().is_some())
}

/// A record's operations, or `None` when it is damaged or names a path outside `.jit/`.
fn read_record(layout: &Layout, path: &Path) -> Result<Option<Vec<Op>>> {
    let bytes = fs::read(path).at(path)?;
    let Ok(rec) = serde_json::from_slice::<Record>(&bytes) else { return Ok(None) };
    let sound = rec.format == FORMAT
        && rec.checksum == checksum(&rec.ops)
        && rec.ops.iter().all(|op| resolve(layout, op.path()).is_ok());
    Ok(sound.then_some(rec.ops))
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
        let rec = Record { format: FORMAT, checksum: checksum(&ops), ops };
        fs::write(jdir.join("1.json"), serde_json::to_vec(&rec).unwrap()).unwrap();
        fs::write(jdir.join(".tmp.1.0.2.json"), b"{\"format\":1,").unwrap();
        let bad = Record { format: FORMAT, checksum: 0, ops: rec.ops.clone() };
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
        let rec = Record { format: FORMAT, checksum: checksum(&ops), ops };
        fs::write(jdir.join("1.json"), serde_json::to_vec(&rec).unwrap()).unwrap();
        let r = recover(&layout, Durability::Relaxed).unwrap();
        assert_eq!(r, Recovery { rolled_forward: 0, discarded: 1 });
        assert!(!layout.root().parent().unwrap().join("escaped.json").exists());
        assert!(layout.quarantine_dir().join("journal-1.json").exists());
        assert!(!pending(&layout));
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
