//! Prefix lookup without listing the issues directory: `.jit/index/ids` keeps the sorted ids
//! and the stamp (mtime, ctime, inode) of `issues/` they were read under. Adding, removing or
//! renaming a file in a directory changes its mtime and ctime, and only the mtime can be set
//! back (`tar -x`, `rsync -a`, `cp -a` do), so while the stamp matches, the set of ids is
//! known and a prefix is a binary search. The stamp is trusted only when the directory's
//! mtime and ctime are older than the moment it was taken by more than the racy window (as for
//! the read index); otherwise the directory is listed and the file rewritten.

use std::fs;
use std::os::unix::fs::MetadataExt;

use super::{
    Access, Durability, FileBytes, Layout, Opened, atomic, index, open_regular, read_regular,
};
use crate::error::{IoContext, Result};
use crate::model::{IssueId, Prefix};

const MAGIC: &[u8; 8] = b"JITIDS\x00\x02";
const HEADER: usize = 8 + 8 + 8 + 8 + 8;
const FILE: &str = "ids";

/// The directory's mtime, ctime (nanoseconds) and inode.
type DirStamp = (i64, i64, u64);

fn dir_stamp(m: &fs::Metadata) -> DirStamp {
    (index::time_ns(m.mtime(), m.mtime_nsec()), index::time_ns(m.ctime(), m.ctime_nsec()), m.ino())
}

/// The ids whose text starts with `prefix`, sorted.
pub fn lookup(layout: &Layout, prefix: &Prefix) -> Result<Vec<IssueId>> {
    let dir = layout.issues_dir();
    let recorded_ns = index::now_ns();
    let stamp = dir_stamp(&fs::metadata(&dir).at(&dir)?);
    let path = layout.index_dir().join(FILE);
    if let Some(found) = lookup_cached(&path, stamp, prefix) {
        return Ok(found);
    }
    Ok(in_range(&list(layout, stamp, recorded_ns)?, prefix))
}

/// Every issue id in `issues/`, sorted: from the cache when its stamp can be trusted, else by
/// listing the directory (and refreshing the cache).
pub fn all(layout: &Layout) -> Result<Vec<u128>> {
    Ok(all_and_misnamed(layout)?.0)
}

/// [`all`], and the names in `issues/` that look meant as issue files but are not named
/// `<id>.json` ([`is_misnamed`]), sorted. A listing that finds such a name is never cached, so
/// a trusted cache means there is none.
pub fn all_and_misnamed(layout: &Layout) -> Result<(Vec<u128>, Vec<String>)> {
    let dir = layout.issues_dir();
    let recorded_ns = index::now_ns();
    let stamp = dir_stamp(&fs::metadata(&dir).at(&dir)?);
    if let Some(ids) = read_all_cached(&layout.index_dir().join(FILE), stamp) {
        return Ok((ids, Vec::new()));
    }
    list_all(layout, stamp, recorded_ns)
}

/// A name in `issues/` that is not `<id>.json` but looks meant as an issue file: it holds
/// `.json` in any case (`x (copy).json`, `<id>.json.bak`, `<ID>.JSON`), or starts with an id
/// in any case (`<ID>.json`, `<id>.bak`). Hidden names (jit's own temporary files, editors'
/// swap files) and other files (`notes.txt`) are not: `jit validate` reports foreign files.
pub fn is_misnamed(name: &str) -> bool {
    if name.starts_with('.') || IssueId::from_file_name(name).is_some() {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    let stem = lower.split('.').next().unwrap_or("");
    lower.contains(".json") || stem.parse::<IssueId>().is_ok()
}

/// Is a cache file of `len` bytes with this header well-formed, and its stamp that of the
/// directory now, and old enough to trust?
fn trusted(head: &[u8], len: usize, stamp: DirStamp) -> bool {
    let at = |o: usize| i64::from_le_bytes(head[o..o + 8].try_into().expect("8 bytes"));
    len >= HEADER
        && &head[..8] == MAGIC
        && (len - HEADER).is_multiple_of(16)
        && (at(8), at(16), at(24) as u64) == stamp
        && !racy(stamp, at(32))
}

fn racy(stamp: DirStamp, recorded_ns: i64) -> bool {
    index::racy(stamp.0, recorded_ns) || index::racy(stamp.1, recorded_ns)
}

fn read_all_cached(path: &std::path::Path, stamp: DirStamp) -> Option<Vec<u128>> {
    let FileBytes::Regular(buf) = cache_file(path, |p| read_regular(p).ok())? else {
        return None;
    };
    if buf.len() < HEADER || !trusted(&buf[..HEADER], buf.len(), stamp) {
        return None;
    }
    Some(
        buf[HEADER..]
            .chunks_exact(16)
            .map(|c| u128::from_be_bytes(c.try_into().expect("16")))
            .collect(),
    )
}

/// List `issues/` (the stamp was taken before) and cache the result when it can be trusted.
fn list(layout: &Layout, stamp: DirStamp, recorded_ns: i64) -> Result<Vec<u128>> {
    Ok(list_all(layout, stamp, recorded_ns)?.0)
}

/// [`list`], with the misnamed files.
fn list_all(
    layout: &Layout,
    stamp: DirStamp,
    recorded_ns: i64,
) -> Result<(Vec<u128>, Vec<String>)> {
    let dir = layout.issues_dir();
    let path = layout.index_dir().join(FILE);
    let mut ids = Vec::new();
    let mut misnamed = Vec::new();
    for e in fs::read_dir(&dir).at(&dir)? {
        let name = e.at(&dir)?.file_name();
        let name = name.to_string_lossy();
        match IssueId::from_file_name(&name) {
            Some(id) => ids.push(id.as_u128()),
            None if is_misnamed(&name) => misnamed.push(name.into_owned()),
            None => {}
        }
    }
    ids.sort_unstable();
    misnamed.sort_unstable();
    if misnamed.is_empty() && !racy(stamp, recorded_ns) {
        // Best effort: the file is a cache, and a listing that raced a change is caught by the
        // stamp next time.
        let mut out = Vec::with_capacity(HEADER + ids.len() * 16);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&stamp.0.to_le_bytes());
        out.extend_from_slice(&stamp.1.to_le_bytes());
        out.extend_from_slice(&stamp.2.to_le_bytes());
        out.extend_from_slice(&recorded_ns.to_le_bytes());
        for id in &ids {
            out.extend_from_slice(&id.to_be_bytes());
        }
        // Never through something else than a real `index/` directory (a symbolic link could
        // point anywhere); writers repair that, under the lock.
        let index_dir = layout.index_dir();
        if fs::symlink_metadata(&index_dir).map_or(true, |m| m.is_dir()) {
            let _ = fs::create_dir_all(&index_dir);
            let _ = atomic::write(&path, &out, Durability::Relaxed);
        }
    }
    Ok((ids, misnamed))
}

/// With a trusted cache, the matching ids, found by binary search with positioned reads (a
/// few small reads, whatever the number of issues); `None` when the cache cannot be trusted.
fn lookup_cached(path: &std::path::Path, stamp: DirStamp, prefix: &Prefix) -> Option<Vec<IssueId>> {
    use std::os::unix::fs::FileExt;
    let Opened::File(file) = cache_file(path, |p| open_regular(p, Access::Read).ok())? else {
        return None;
    };
    let len = file.metadata().ok()?.len() as usize;
    let mut head = [0u8; HEADER];
    file.read_exact_at(&mut head, 0).ok()?;
    if !trusted(&head, len, stamp) {
        return None;
    }
    let count = (len - HEADER) / 16;
    let id_at = |i: usize| -> Option<u128> {
        let mut b = [0u8; 16];
        file.read_exact_at(&mut b, (HEADER + i * 16) as u64).ok()?;
        Some(u128::from_be_bytes(b))
    };
    // First index whose id is not below `bound` (or above it, with `inclusive`).
    let partition = |bound: u128, inclusive: bool| -> Option<usize> {
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let v = id_at(mid)?;
            if v < bound || (inclusive && v == bound) { lo = mid + 1 } else { hi = mid }
        }
        Some(lo)
    };
    let Some((lo, hi)) = bounds(prefix) else { return Some(Vec::new()) };
    let (start, end) = (partition(lo, false)?, partition(hi, true)?);
    (start..end).map(|i| id_at(i).map(IssueId::from_u128)).collect()
}

/// Open the cache file, only in a real `index/` directory and only if it is a regular file
/// (no symbolic link followed, no blocking on a FIFO): anything else is no cache.
fn cache_file<T>(
    path: &std::path::Path,
    open: impl FnOnce(&std::path::Path) -> Option<T>,
) -> Option<T> {
    index::index_dir_usable(path.parent()?).then(|| open(path))?
}

/// The smallest and largest id that start with `prefix`; `None` beyond the id space.
fn bounds(prefix: &Prefix) -> Option<(u128, u128)> {
    let p = prefix.as_str();
    let lo = format!("{p}{}", "0".repeat(26 - p.len())).parse::<IssueId>().ok()?;
    let hi = format!("{p}{}", "z".repeat(26 - p.len())).parse::<IssueId>().ok()?;
    Some((lo.as_u128(), hi.as_u128()))
}

/// The ids in `sorted` whose 26-character text starts with `prefix`.
fn in_range(sorted: &[u128], prefix: &Prefix) -> Vec<IssueId> {
    let Some((lo, hi)) = bounds(prefix) else { return Vec::new() };
    let start = sorted.partition_point(|x| *x < lo);
    let end = sorted.partition_point(|x| *x <= hi);
    sorted[start..end].iter().map(|x| IssueId::from_u128(*x)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Layout) {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::for_new(d.path());
        fs::create_dir_all(layout.issues_dir()).unwrap();
        (d, layout)
    }

    fn touch(layout: &Layout, id: IssueId) {
        fs::write(layout.issue_path(id), "{}").unwrap();
    }

    #[test]
    fn finds_by_prefix_and_notices_files_added_behind_its_back() {
        let (_d, layout) = setup();
        let a = IssueId::from_parts(1_700_000_000_000, 1);
        let b = IssueId::from_parts(1_700_000_000_000, 2);
        touch(&layout, a);
        touch(&layout, b);
        let p = |s: &str| Prefix::parse(s).unwrap();
        let common = &a.to_string()[..12];
        assert_eq!(lookup(&layout, &p(common)).unwrap(), vec![a, b]);
        assert_eq!(lookup(&layout, &p(&a.to_string())).unwrap(), vec![a]);
        assert_eq!(lookup(&layout, &p("zzzz")).unwrap(), vec![], "beyond the id space");
        // Make the directory's stamp old enough to trust, then cache it.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
        fs::File::open(layout.issues_dir()).unwrap().set_modified(old).unwrap();
        // Setting the mtime set the ctime to now: let it age past the racy window too.
        std::thread::sleep(std::time::Duration::from_millis(150));
        assert_eq!(lookup(&layout, &p(common)).unwrap(), vec![a, b]);
        assert!(layout.index_dir().join(FILE).exists(), "a trusted stamp is cached");
        let stamp = dir_stamp(&fs::metadata(layout.issues_dir()).unwrap());
        let cached = lookup_cached(&layout.index_dir().join(FILE), stamp, &p(common));
        assert_eq!(cached, Some(vec![a, b]), "answered from the cache");
        assert_eq!(lookup_cached(&layout.index_dir().join(FILE), stamp, &p("zzzz")), Some(vec![]));
        // A file copied in behind the cache's back changes the directory's mtime.
        let c = IssueId::from_parts(1_700_000_000_000, 3);
        touch(&layout, c);
        assert_eq!(lookup(&layout, &p(common)).unwrap(), vec![a, b, c]);
        fs::remove_file(layout.issue_path(a)).unwrap();
        assert_eq!(lookup(&layout, &p(common)).unwrap(), vec![b, c]);
    }

    #[test]
    fn names_meant_as_issue_files_are_told_apart() {
        let id = IssueId::from_parts(1_700_000_000_000, 1).to_string();
        let upper = id.to_uppercase();
        for name in [
            format!("{upper}.json"),
            format!("{id}.json.bak"),
            format!("{id}.bak"),
            format!("{id}.JSON"),
            "x (copy).json".into(),
        ] {
            assert!(is_misnamed(&name), "{name}");
        }
        for name in [format!("{id}.json"), format!(".tmp.1.0.{id}.json"), "notes.txt".into()] {
            assert!(!is_misnamed(&name), "{name}");
        }
    }

    #[test]
    fn a_damaged_cache_is_ignored() {
        let (_d, layout) = setup();
        let a = IssueId::from_parts(1_700_000_000_000, 1);
        touch(&layout, a);
        fs::create_dir_all(layout.index_dir()).unwrap();
        fs::write(layout.index_dir().join(FILE), b"JITIDS\x00\x01garbage").unwrap();
        let p = Prefix::parse(&a.to_string()[..8]).unwrap();
        assert_eq!(lookup(&layout, &p).unwrap(), vec![a]);
    }
}
