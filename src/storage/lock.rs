//! The writers' lock: an exclusive fs4 lock on the `.jit` directory itself, taken with a
//! timeout and exponential backoff with jitter. `lock.info` names the holder so that a
//! waiting process can say whom it waits for. A shared mode lets checkers (`validate`) read
//! every file while no writer runs; shared holders record themselves in `lock.info` too.
//!
//! Why the directory and not a lock file: `.jit/lock` is git-ignored, so `git clean -fdX` or a
//! cleanup script deletes it, and a writer that opens the path afterwards locks a new file
//! while the holder still has the old one: two writers at once. Checking after locking that
//! the path still names the locked file does not close that: the file can be deleted a moment
//! later, while it is held. The directory holds the tracked files, so it cannot be removed
//! under a running command (short of removing the whole repository), and every process locks
//! the same inode. `.jit/lock` remains as the home of the commit sequence
//! (see `journal::commit_seq`), made again when it is missing, and of the ticket queue
//! ([`super::queue`]) that makes waiters take the directory lock in arrival order.

use std::fs::File;
use std::time::{Duration, Instant};

use fs4::{FileExt, TryLockError};
use serde::{Deserialize, Serialize};

use super::queue::{Next, Ticket, Turn};
use super::{Access, FileBytes, Layout, Opened, open_regular};
use crate::error::{Error, IoContext, Result};

/// After this long, a waiting process reports who holds the lock (once).
const NOTIFY_AFTER: Duration = Duration::from_millis(1000);
const FIRST_BACKOFF: Duration = Duration::from_micros(500);
/// Between attempts of a waiter outside the queue (none could be joined).
const MAX_BACKOFF: Duration = Duration::from_millis(100);
/// Between attempts of the queue's head: it alone tries, so it may try often.
const HEAD_MAX_BACKOFF: Duration = Duration::from_millis(10);
/// How often a queued waiter looks at the directory lock, and how long it must find it free
/// at every look before it takes the queue ahead of it to be stuck (a waiter stopped by a
/// signal keeps its ticket) and tries the lock as a head. A healthy queue hands the lock on
/// within milliseconds, so it is never free at five looks in a row over a second.
const STALL_CHECK: Duration = Duration::from_millis(250);
const STALL_AFTER: Duration = Duration::from_millis(1000);

/// Who holds (or last held) the lock, as written to `lock.info`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HolderInfo {
    pub pid: u32,
    pub host: String,
    pub command: String,
    pub since: jiff::Timestamp,
}

impl HolderInfo {
    /// The holder as a phrase, saying so when the recorded process is known to be gone (then
    /// something else, not jit, holds the lock).
    pub fn describe(&self) -> String {
        let here = gethostname::gethostname().to_string_lossy() == self.host.as_str();
        if here && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists() {
            return format!("another program (the last jit holder, pid {}, has exited)", self.pid);
        }
        self.to_string()
    }
}

impl std::fmt::Display for HolderInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} on {} running `{}` since {}",
            self.pid, self.host, self.command, self.since
        )
    }
}

/// A held lock; dropping it releases the lock, then the holder's place in the queue (fields
/// drop in order), so the successor woken by the latter finds the lock free.
#[derive(Debug)]
pub struct RepoLock {
    _dir: File,
    _ticket: Option<Ticket>,
}

impl RepoLock {
    /// Take the exclusive lock, waiting at most `timeout`. `on_wait` is called once, with the
    /// holder if known, when the wait gets long.
    pub fn acquire(
        layout: &Layout,
        timeout: Duration,
        command: &str,
        on_wait: &mut dyn FnMut(Option<&HolderInfo>),
    ) -> Result<RepoLock> {
        let file = open(layout)?;
        let queue = check_lock_file(layout)?;
        Self::wait_for(layout, file, Some(queue), false, timeout, command, on_wait)
    }

    /// Take the lock in shared mode, waiting at most `timeout` as [`RepoLock::acquire`] does:
    /// any number of shared holders at once, and no writer while one holds it. For checks
    /// that must see the files stand still (`validate`). `.jit/lock` is not checked or made:
    /// a checker reports what is there rather than refusing to start.
    pub fn acquire_shared(
        layout: &Layout,
        timeout: Duration,
        command: &str,
        on_wait: &mut dyn FnMut(Option<&HolderInfo>),
    ) -> Result<RepoLock> {
        let file = open(layout)?;
        let queue = match open_regular(&layout.lock_path(), Access::ReadWrite) {
            Ok(Opened::File(f)) => Some(f),
            _ => None,
        };
        Self::wait_for(layout, file, queue, true, timeout, command, on_wait)
    }

    /// Wait in the queue (through `queue`, the open `.jit/lock`, if any), then, as its head,
    /// try the directory lock with backoff until it is taken or `timeout` runs out. A queue
    /// that cannot be joined or waited in leaves the waiter competing unqueued: it costs
    /// fairness, never the lock. A shared holder leaves the queue as soon as it holds the
    /// lock, so that checkers queued one after another hold it side by side.
    fn wait_for(
        layout: &Layout,
        file: File,
        queue: Option<File>,
        shared: bool,
        timeout: Duration,
        command: &str,
        on_wait: &mut dyn FnMut(Option<&HolderInfo>),
    ) -> Result<RepoLock> {
        let mut wait = Wait { layout, start: Instant::now(), timeout, notified: false, on_wait };
        let mut ticket = queue.and_then(|f| Ticket::take(f).ok());
        if let Some(t) = &ticket {
            let mut free_since: Option<Instant> = None;
            let mut check = || {
                if !wait.keep_waiting() {
                    return Next::GiveUp;
                }
                // Free for anyone (a checker must not skip a writer waiting on checkers).
                if is_free(&file) {
                    if free_since.get_or_insert_with(Instant::now).elapsed() >= STALL_AFTER {
                        return Next::Skip;
                    }
                } else {
                    free_since = None;
                }
                Next::Wait(wait.next_check().min(STALL_CHECK))
            };
            match t.wait_turn(&mut check) {
                Ok(Turn::Head) => {}
                Ok(Turn::GaveUp) => return Err(wait.timed_out()),
                Err(_) => ticket = None,
            }
        }
        let mut backoff = FIRST_BACKOFF;
        let max_backoff = if ticket.is_some() { HEAD_MAX_BACKOFF } else { MAX_BACKOFF };
        let mut jitter = Jitter::new();
        loop {
            let tried =
                if shared { FileExt::try_lock_shared(&file) } else { FileExt::try_lock(&file) };
            match tried {
                Ok(()) => {
                    let ticket = if shared { None } else { ticket };
                    return Ok(Self::held(layout, file, ticket, command));
                }
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(e).at(layout.root()),
            }
            if !wait.keep_waiting() {
                return Err(wait.timed_out());
            }
            let left = timeout.saturating_sub(wait.start.elapsed());
            std::thread::sleep(jitter.spread(backoff).min(left));
            backoff = (backoff * 2).min(max_backoff);
        }
    }

    /// Take the lock only if it is free right now (used for opportunistic index upkeep).
    pub fn try_acquire(layout: &Layout, command: &str) -> Result<Option<RepoLock>> {
        let file = open(layout)?;
        check_lock_file(layout)?;
        match FileExt::try_lock(&file) {
            Ok(()) => Ok(Some(Self::held(layout, file, None, command))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e).at(layout.root()),
        }
    }

    fn held(layout: &Layout, file: File, ticket: Option<Ticket>, command: &str) -> RepoLock {
        let info = HolderInfo {
            pid: std::process::id(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            command: command.to_string(),
            since: jiff::Timestamp::now(),
        };
        // Informational only: a failure to record the holder must not fail the command.
        // Rewritten in place (write, then cut to length): on ext4 a truncating open costs
        // ~150 µs inside every writer's critical section, this ~10 µs.
        let _ = write_in_place(
            &layout.lock_info_path(),
            &serde_json::to_vec(&info).unwrap_or_default(),
        );
        RepoLock { _dir: file, _ticket: ticket }
    }
}

/// Whether nobody holds the directory lock now (it is taken and let go at once).
fn is_free(dir: &File) -> bool {
    FileExt::try_lock(dir).is_ok() && FileExt::unlock(dir).is_ok()
}

/// A wait for the lock: its timeout, and the notice once it gets long.
struct Wait<'a> {
    layout: &'a Layout,
    start: Instant,
    timeout: Duration,
    notified: bool,
    on_wait: &'a mut dyn FnMut(Option<&HolderInfo>),
}

impl Wait<'_> {
    /// `false` once the timeout has run out; says whom it waits for once, after
    /// [`NOTIFY_AFTER`].
    fn keep_waiting(&mut self) -> bool {
        let waited = self.start.elapsed();
        if waited >= self.timeout {
            return false;
        }
        if !self.notified && waited >= NOTIFY_AFTER {
            self.notified = true;
            (self.on_wait)(read_holder(self.layout).as_ref());
        }
        true
    }

    /// How long a queued waiter may block before [`Wait::keep_waiting`] must be asked again.
    fn next_check(&self) -> Duration {
        let waited = self.start.elapsed();
        let until = if self.notified { self.timeout } else { NOTIFY_AFTER.min(self.timeout) };
        until.saturating_sub(waited).max(Duration::from_millis(1))
    }

    fn timed_out(&self) -> Error {
        Error::LockTimeout {
            waited_ms: self.start.elapsed().as_millis() as u64,
            holder: read_holder(self.layout).map(|h| h.describe()),
        }
    }
}

/// Rewrite a regular file in place (a FIFO or anything else planted there is left alone).
fn write_in_place(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let Opened::File(f) = open_regular(path, Access::ReadWriteCreate)? else {
        return Err(super::not_regular());
    };
    f.write_all_at(bytes, 0)?;
    f.set_len(bytes.len() as u64)
}

/// The directory the lock is taken on.
fn open(layout: &Layout) -> Result<File> {
    let root = layout.root();
    super::open_dir(root).at(root)
}

/// `.jit/lock` (the commit sequence's file) must be a regular file, or missing (it is then
/// made): a FIFO, directory or symbolic link there is refused with a clear error, before
/// anything is changed, rather than hanging or being followed by the commit that writes it.
/// Returns it open, for the queue.
fn check_lock_file(layout: &Layout) -> Result<File> {
    let path = layout.lock_path();
    match open_regular(&path, Access::ReadWriteCreate).at(&path)? {
        Opened::File(f) => Ok(f),
        Opened::Missing | Opened::NotRegular => Err(Error::NotRegularFile { path }),
    }
}

/// The holder recorded in `lock.info`, if readable.
pub fn read_holder(layout: &Layout) -> Option<HolderInfo> {
    let path = layout.lock_info_path();
    let FileBytes::Regular(bytes) = super::read_regular(&path).ok()? else { return None };
    serde_json::from_slice(&bytes).ok()
}

/// Cheap jitter (±50 %) so that waiting processes do not retry in lockstep.
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Jitter(t ^ ((std::process::id() as u64) << 32) | 1)
    }

    fn spread(&mut self, d: Duration) -> Duration {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let factor = 0.5 + (self.0 % 1000) as f64 / 1000.0;
        d.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_times_out_and_sees_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::for_new(dir.path());
        std::fs::create_dir_all(layout.root()).unwrap();
        let held =
            RepoLock::acquire(&layout, Duration::from_secs(1), "first", &mut |_| {}).unwrap();
        assert!(RepoLock::try_acquire(&layout, "probe").unwrap().is_none());
        let err = RepoLock::acquire(&layout, Duration::from_millis(50), "second", &mut |_| {})
            .unwrap_err();
        match err {
            Error::LockTimeout { holder, .. } => assert!(holder.unwrap().contains("`first`")),
            other => panic!("unexpected {other:?}"),
        }
        drop(held);
        // Other tests of this process spawn children; one forked at the wrong moment holds a
        // copy of the lock's descriptor until its exec closes it, so allow it a moment.
        let free = (0..200).any(|_| {
            RepoLock::try_acquire(&layout, "again").unwrap().is_some()
                || (std::thread::sleep(Duration::from_millis(10)), false).1
        });
        assert!(free, "the lock is free once its holder is dropped");
    }

    #[test]
    fn shared_holders_exclude_writers_but_not_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::for_new(dir.path());
        std::fs::create_dir_all(layout.root()).unwrap();
        let short = Duration::from_millis(50);
        let a = RepoLock::acquire_shared(&layout, short, "check a", &mut |_| {}).unwrap();
        let b = RepoLock::acquire_shared(&layout, short, "check b", &mut |_| {}).unwrap();
        assert!(RepoLock::try_acquire(&layout, "probe").unwrap().is_none());
        drop((a, b));
        // Generous waits once a lock is dropped: a child another test forked at that moment
        // holds a copy of its descriptor until its exec closes it.
        let patient = Duration::from_secs(2);
        let writer = RepoLock::acquire(&layout, patient, "writer", &mut |_| {}).unwrap();
        let err = RepoLock::acquire_shared(&layout, short, "check", &mut |_| {}).unwrap_err();
        match err {
            Error::LockTimeout { holder, .. } => assert!(holder.unwrap().contains("`writer`")),
            other => panic!("unexpected {other:?}"),
        }
        drop(writer);
        assert!(RepoLock::acquire_shared(&layout, patient, "check", &mut |_| {}).is_ok());
    }
}
