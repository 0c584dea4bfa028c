//! Stamps of issue files: what identifies one version of a file without reading it, taken
//! with `statat` relative to the open `issues/` directory, on several threads when there are
//! many files.

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;

use crate::model::IssueId;

/// What identifies one version of a file without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
}

impl FileStamp {
    pub fn of(m: &fs::Metadata) -> FileStamp {
        FileStamp {
            size: m.size(),
            mtime_ns: time_ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: time_ns(m.ctime(), m.ctime_nsec()),
            ino: m.ino(),
        }
    }
}

/// A file time in nanoseconds since the epoch. With the test hook `JIT_TEST_COARSE_STAMPS=1`
/// the sub-second part is dropped, as on a filesystem with whole-second timestamps, so that
/// tests can show the index stays correct there.
pub fn time_ns(secs: i64, nsecs: i64) -> i64 {
    static COARSE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let coarse = *COARSE.get_or_init(|| std::env::var_os("JIT_TEST_COARSE_STAMPS").is_some());
    secs * 1_000_000_000 + if coarse { 0 } else { nsecs }
}

/// Below this many files, statting them on one thread is as fast as spreading the work.
pub(super) const PARALLEL_STAT_MIN: usize = 2048;

/// The stamp of each issue file (`None`: gone, or not a regular file), by `statat` relative
/// to the open directory. From [`PARALLEL_STAT_MIN`] files up the work is spread over scoped
/// threads (one per core, at most 8); a thread that cannot start leaves its share to this one.
pub(super) fn stat_all(dir: &File, ids: &[u128]) -> Vec<Option<FileStamp>> {
    let one = |raw: &u128| stat_one(dir, *raw);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads < 2 || ids.len() < PARALLEL_STAT_MIN {
        return ids.iter().map(one).collect();
    }
    let chunk = ids.len().div_ceil(threads);
    std::thread::scope(|s| {
        let mut workers = Vec::new();
        let mut out = Vec::with_capacity(ids.len());
        for c in ids.chunks(chunk).skip(1) {
            match std::thread::Builder::new()
                .spawn_scoped(s, move || c.iter().map(one).collect::<Vec<_>>())
            {
                Ok(w) => workers.push(Ok(w)),
                Err(_) => workers.push(Err(c)),
            }
        }
        out.extend(ids[..chunk.min(ids.len())].iter().map(one));
        for w in workers {
            match w {
                Ok(w) => out.extend(w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))),
                Err(c) => out.extend(c.iter().map(one)),
            }
        }
        out
    })
}

/// The stamp of one issue file, by `statat` relative to the open directory; `None` if it is
/// missing or not a regular file.
pub(super) fn stat_one(dir: &File, raw: u128) -> Option<FileStamp> {
    use rustix::fs::{AtFlags, FileType, statat};
    let mut name = [0u8; 32];
    name[..26].copy_from_slice(&IssueId::from_u128(raw).to_bytes());
    name[26..31].copy_from_slice(b".json");
    let name = std::ffi::CStr::from_bytes_until_nul(&name).expect("NUL-terminated");
    let st = statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    (FileType::from_raw_mode(st.st_mode as _) == FileType::RegularFile).then(|| FileStamp {
        size: st.st_size as u64,
        mtime_ns: time_ns(st.st_mtime as i64, st.st_mtime_nsec as i64),
        ctime_ns: time_ns(st.st_ctime as i64, st.st_ctime_nsec as i64),
        ino: st.st_ino as u64,
    })
}
