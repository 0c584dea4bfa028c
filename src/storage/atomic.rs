//! Single-file atomic writes: temp file in the same directory (create_new) → write → fsync →
//! rename → fsync the directory. A reader sees the old file or the new one, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::Durability;
use super::fault::{self, Step};
use crate::error::{IoContext, Result};

/// Prefix of every temp file jit creates; `validate` reports leftovers by it.
pub const TEMP_PREFIX: &str = ".tmp.";

/// How far in the past jit dates the mtime of every file it writes, so that the read index
/// can trust the stamp of a file jit wrote at once (see `storage::index`).
pub const BACKDATE: Duration = Duration::from_secs(3);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Write `bytes` to `path` atomically and, with full durability, durably (file and directory
/// fsynced) before returning.
pub fn write(path: &Path, bytes: &[u8], durability: Durability) -> Result<()> {
    write_no_dir_sync(path, bytes, durability)?;
    sync_parent(path, durability)
}

/// Like [`write()`] but leaves the directory fsync to the caller, so a change of many files in
/// one directory pays for it once.
pub fn write_no_dir_sync(path: &Path, bytes: &[u8], durability: Durability) -> Result<()> {
    let tmp = prepare(path, bytes, durability)?;
    let result = rename(&tmp, path);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Create and fill a temp file for `path`, returning its name; the caller renames it.
pub fn prepare(path: &Path, bytes: &[u8], durability: Durability) -> Result<PathBuf> {
    let (tmp, file) = create_temp(path)?;
    match write_temp(&tmp, file, bytes, durability) {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Move a file made by [`prepare`] into place and make the rename durable.
pub fn install(tmp: &Path, path: &Path, durability: Durability) -> Result<()> {
    if let Err(e) = rename(tmp, path) {
        let _ = fs::remove_file(tmp);
        return Err(e);
    }
    sync_parent(path, durability)
}

/// Rename a temp file over its target (the failpoint `renamed` follows).
pub fn rename(tmp: &Path, path: &Path) -> Result<()> {
    fs::rename(tmp, path).at(path)?;
    fault::reach(Step::Renamed).at(path)
}

/// Create the directory `dir` if it is missing, and make its entry durable (fsync its
/// parent): a file made in a new directory is lost with it if the directory's own entry
/// never reached the disk. Returns whether it was created.
pub fn create_dir(dir: &Path, durability: Durability) -> Result<bool> {
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(e).at(dir),
    }
    sync_parent(dir, durability)?;
    Ok(true)
}

/// Remove the temp files in `dir` whose writer is gone: the pid in their name is not a running
/// process on this machine. Returns how many were removed. For directories only this
/// machine's jit writes to (`.jit/index/`), where a killed writer's temp file would otherwise
/// stay for good (at 100k issues a torn index base is ~100 MB). "Running" is as seen from
/// this pid namespace: a writer in another container sharing the directory would look gone,
/// which costs it no more than a failed (best-effort) index write.
pub fn remove_stale_temps(dir: &Path) -> usize {
    // Without /proc no process can be seen alive: remove nothing rather than everything.
    if !Path::new("/proc/self").exists() {
        return 0;
    }
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(TEMP_PREFIX))
            .and_then(|rest| rest.split('.').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let written = e.metadata().ok().and_then(|m| m.modified().ok());
        if !writer_running(pid, written) && fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Is the writer of a temp file still running: the process `pid` of this machine (as seen
/// from this pid namespace), unless it started after the file was last `written`, which
/// means the pid was reused by a later process and the writer is gone. (Pids wrap around
/// quickly on a busy machine: a killed writer's pid may be a compiler's a minute later.)
/// The caller checks that `/proc` is there: without it nothing can be seen running.
pub fn writer_running(pid: u32, written: Option<std::time::SystemTime>) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    match (written, process_start(&stat)) {
        // A second of slack: the boot time is in whole seconds.
        (Some(w), Some(started)) => started <= w + std::time::Duration::from_secs(1),
        _ => true,
    }
}

/// When the process of this `/proc/<pid>/stat` text started: its field 22, in clock ticks
/// after the boot time (`btime` in `/proc/stat`).
fn process_start(stat: &str) -> Option<std::time::SystemTime> {
    // The command name (field 2) is in parentheses and may hold spaces and parentheses.
    let fields = stat.rsplit_once(')')?.1;
    let ticks: u64 = fields.split_whitespace().nth(19)?.parse().ok()?;
    let boot = fs::read_to_string("/proc/stat").ok()?;
    let btime: u64 = boot.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()?;
    let per_second = rustix::param::clock_ticks_per_second().max(1);
    let after_boot = std::time::Duration::from_millis(ticks.saturating_mul(1000) / per_second);
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(btime) + after_boot)
}

/// Remove one temp file that `validate` found left over (`validate --fix`): only an entry
/// named like a temp file, and not a directory. Returns the bytes freed.
pub fn remove_temp_file(path: &Path) -> Result<u64> {
    let named =
        path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(TEMP_PREFIX));
    let meta = match fs::symlink_metadata(path) {
        Ok(m) if named && !m.is_dir() => m,
        Ok(_) => {
            return Err(crate::error::Error::Corrupt {
                path: path.to_path_buf(),
                message: "not a temp file".into(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).at(path),
    };
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e).at(path),
        _ => Ok(meta.len()),
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!("{TEMP_PREFIX}{}.{n}.{name}", std::process::id()))
}

/// Create a new, empty temp file for `path`. A name already taken is skipped rather than
/// fatal: it is a file left by a killed process whose pid has come round again (pid_max is
/// often only 32768), and it is not ours to remove.
fn create_temp(path: &Path) -> Result<(PathBuf, File)> {
    let mut attempts = 0;
    loop {
        let tmp = temp_path(path);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 1000 => {
                attempts += 1;
            }
            Err(e) => return Err(e).at(&tmp),
        }
    }
}

fn write_temp(tmp: &Path, mut f: File, bytes: &[u8], durability: Durability) -> Result<()> {
    if fault::disk_full_now() {
        f.write_all(&bytes[..bytes.len() / 2]).at(tmp)?;
        return Err(io::Error::from(io::ErrorKind::StorageFull)).at(tmp);
    }
    f.write_all(bytes).at(tmp)?;
    f.set_modified(SystemTime::now() - BACKDATE).at(tmp)?;
    fault::reach(Step::TempWritten).at(tmp)?;
    if durability == Durability::Full {
        f.sync_all().at(tmp)?;
        fault::reach(Step::TempSynced).at(tmp)?;
    }
    Ok(())
}

/// fsync the directory holding `path` (full durability only).
pub fn sync_parent(path: &Path, durability: Durability) -> Result<()> {
    match path.parent() {
        Some(dir) => sync_dir(dir, durability),
        None => Ok(()),
    }
}

/// fsync a directory so that renames and removals in it are durable.
pub fn sync_dir(dir: &Path, durability: Durability) -> Result<()> {
    if durability == Durability::Full {
        fault::reach(Step::BeforeDirSync).at(dir)?;
        super::open_dir(dir).and_then(|d| d.sync_all()).at(dir)?;
        fault::reach(Step::AfterDirSync).at(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_temp_files_of_dead_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        // pid_max is at most 2^22, so this pid cannot be running.
        for name in [
            ".tmp.999999999.0.issues.idx".to_string(),
            format!(".tmp.{me}.3.issues.idx"),
            ".tmp.notapid.1.ids".into(),
            "issues.idx".into(),
            ".tmp.1.0.ids".into(), // pid 1 is always running
        ] {
            fs::write(dir.path().join(name), "x").unwrap();
        }
        assert_eq!(remove_stale_temps(dir.path()), 1);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".tmp.1.0.ids",
                &format!(".tmp.{me}.3.issues.idx"),
                ".tmp.notapid.1.ids",
                "issues.idx"
            ]
        );
    }

    use super::*;

    /// A pid that is running but started after the temp file was last written belongs to a
    /// later process: the writer is gone (pid reuse), and its temp file is removable.
    #[test]
    fn a_running_pid_that_started_after_the_write_is_not_the_writer() {
        use std::time::{Duration, SystemTime};
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        let in_a_minute = SystemTime::now() + Duration::from_secs(60);
        let start = process_start(&fs::read_to_string(format!("/proc/{pid}/stat")).unwrap());
        let started = start.expect("start time read");
        assert!(started > hour_ago && started < in_a_minute, "{started:?}");
        assert!(!writer_running(pid, Some(hour_ago)), "started long after the write");
        assert!(writer_running(pid, Some(in_a_minute)), "running since before the write");
        assert!(writer_running(pid, None), "no time to compare: running");
        assert!(writer_running(std::process::id(), Some(hour_ago)), "this process writes");
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join(format!(".tmp.{pid}.0.issues.idx"));
        let new = dir.path().join(format!(".tmp.{pid}.1.issues.idx"));
        fs::write(&old, "x").unwrap();
        fs::write(&new, "x").unwrap();
        fs::File::options().write(true).open(&old).unwrap().set_modified(hour_ago).unwrap();
        assert_eq!(remove_stale_temps(dir.path()), 1);
        assert!(!old.exists() && new.exists());
        child.kill().unwrap();
        child.wait().unwrap();
        // Parentheses and spaces in the command name do not shift the fields.
        let odd = "77 (a) b (c) S 1 77 77 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
        assert!(process_start(odd).is_some());
    }

    #[test]
    fn writes_replace_and_leave_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write(&p, b"one", Durability::Full).unwrap();
        write(&p, b"two", Durability::Relaxed).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
    }

    #[test]
    fn temp_names_left_by_a_dead_process_with_our_pid_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        let next = COUNTER.load(Ordering::Relaxed);
        let pid = std::process::id();
        for n in next..next + 100 {
            fs::write(dir.path().join(format!("{TEMP_PREFIX}{pid}.{n}.a.json")), "torn").unwrap();
        }
        write(&p, b"new", Durability::Full).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        let left = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(left, 101, "the dead process's files are left alone");
    }

    #[test]
    fn failure_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing-dir").join("a.json");
        assert!(write(&p, b"x", Durability::Full).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
