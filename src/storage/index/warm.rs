//! The warm index: a [`Snapshot`] kept in memory by a long-running process (`jit mcp`,
//! `jit serve`) and kept fresh by inotify, so that a read re-reads only the issue files that
//! changed instead of statting every one.
//!
//! Freshness. The kernel queues an inotify event before the system call that changed the file
//! returns, so every change that completed before a read starts is in the queue when the read
//! drains it (without blocking). The queue is drained at the start of every read, on the
//! reading thread: a background thread (the `notify` crate's model) could not tell a read
//! whether the events of changes that already completed had been delivered to it, which is why
//! this uses inotify directly (through rustix, already a dependency).
//!
//! Watched: `.jit/issues/` (files created, deleted, moved in or out, written, changed in
//! place, their attributes changed) and `.jit/` (the issues directory created, removed or
//! replaced, config.json). Anything the events cannot settle exactly is answered by a full
//! re-check, today's [`super::snapshot`]: the queue overflowed (`IN_Q_OVERFLOW`), a watch was
//! lost (`IN_IGNORED`, the directory moved or removed), a name in `issues/` that listings
//! report as a problem (`ids::is_misnamed`), or a watch that could not be set.
//!
//! Multi-file commits are made consistent by the caller ([`crate::repo::Repo::snapshot`]
//! wraps each read in `read_consistent` and lays overlapping journal records over a detached
//! copy), exactly as for a cold read: the warm snapshot holds the files as read.

use std::collections::BTreeSet;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::io::Errno;

use super::Snapshot;
use crate::error::{IoContext, Result};
use crate::model::IssueId;
use crate::storage::{Layout, atomic, ids};

/// A snapshot kept warm in memory, shared by every request of a long-running process.
pub struct WarmIndex {
    layout: Layout,
    inner: Mutex<Inner>,
}

struct Inner {
    fd: OwnedFd,
    issues_wd: Option<i32>,
    jit_wd: Option<i32>,
    current: Option<Arc<Snapshot>>,
    /// Issue files with events not yet read again.
    dirty: BTreeSet<u128>,
    /// A full re-check is needed before the next answer.
    full: bool,
    /// config.json changed since [`WarmIndex::take_config_changed`] last said so.
    config_changed: bool,
    stats: WarmStats,
}

/// What the warm index has done, for tests and measurements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WarmStats {
    /// Snapshots built by a full re-check (the first, overflows, lost watches).
    pub full_rechecks: u64,
    /// Snapshots made by reading again only the files that changed.
    pub patches: u64,
    /// Issue files read again by patches.
    pub files_reread: u64,
}

const ISSUE_EVENTS: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::DELETE)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::CLOSE_WRITE)
    .union(WatchFlags::MODIFY)
    .union(WatchFlags::ATTRIB)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::ONLYDIR);

impl WarmIndex {
    /// Start watching the repository. Nothing is read until the first snapshot.
    pub fn open(layout: &Layout) -> Result<Arc<WarmIndex>> {
        if crate::storage::fault::inotify_refused() {
            return Err(std::io::Error::from_raw_os_error(24)).at(layout.root()); // EMFILE
        }
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
            .map_err(std::io::Error::from)
            .at(layout.root())?;
        let inner = Inner {
            fd,
            issues_wd: None,
            jit_wd: None,
            current: None,
            dirty: BTreeSet::new(),
            full: true,
            config_changed: false,
            stats: WarmStats::default(),
        };
        Ok(Arc::new(WarmIndex { layout: layout.clone(), inner: Mutex::new(inner) }))
    }

    /// Every issue as the files hold them now: the events queued so far are read, and only
    /// the files they name are read again (or everything, when they cannot settle it).
    pub fn snapshot(&self) -> Result<Arc<Snapshot>> {
        let mut inner = self.lock();
        inner.drain();
        if inner.full || inner.current.is_none() {
            return self.recheck(&mut inner);
        }
        let current = inner.current.clone().expect("checked above");
        if inner.dirty.is_empty() {
            return Ok(current);
        }
        let ids: Vec<u128> = std::mem::take(&mut inner.dirty).into_iter().collect();
        let next = match current.patched(&ids) {
            Ok(next) => Arc::new(next),
            Err(e) => {
                inner.full = true;
                return Err(e);
            }
        };
        inner.stats.patches += 1;
        inner.stats.files_reread += ids.len() as u64;
        inner.current = Some(next.clone());
        Ok(next)
    }

    /// Whether config.json changed (was written, replaced or removed) since the last call
    /// that said so. Reads the queued events first.
    pub fn take_config_changed(&self) -> bool {
        let mut inner = self.lock();
        inner.drain();
        std::mem::take(&mut inner.config_changed)
    }

    pub fn stats(&self) -> WarmStats {
        self.lock().stats
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Set the watches again, then read everything: a change made after a watch is set is
    /// queued, so nothing can fall between the read and the next request.
    fn recheck(&self, inner: &mut Inner) -> Result<Arc<Snapshot>> {
        inner.current = None;
        inner.dirty.clear();
        let jit_events = WatchFlags::CREATE
            | WatchFlags::DELETE
            | WatchFlags::MOVED_FROM
            | WatchFlags::MOVED_TO
            | WatchFlags::CLOSE_WRITE
            | WatchFlags::MODIFY
            | WatchFlags::ATTRIB
            | WatchFlags::DELETE_SELF
            | WatchFlags::MOVE_SELF
            | WatchFlags::ONLYDIR;
        inner.jit_wd = inotify::add_watch(&inner.fd, self.layout.root(), jit_events).ok();
        inner.issues_wd =
            inotify::add_watch(&inner.fd, self.layout.issues_dir(), ISSUE_EVENTS).ok();
        // Events queued before the watches were set again are settled by this read.
        inner.drain();
        inner.dirty.clear();
        inner.full = inner.jit_wd.is_none() || inner.issues_wd.is_none();
        let snap = Arc::new(super::snapshot(&self.layout)?);
        inner.stats.full_rechecks += 1;
        if !inner.full {
            inner.current = Some(snap.clone());
        }
        Ok(snap)
    }
}

impl Inner {
    /// Read every queued event (without blocking) into `dirty`, `full` and `config_changed`.
    fn drain(&mut self) {
        let mut buf = [MaybeUninit::<u8>::uninit(); 8192];
        let mut reader = inotify::Reader::new(&self.fd, &mut buf);
        loop {
            let event = match reader.next() {
                Ok(e) => e,
                Err(Errno::AGAIN) => break,
                Err(Errno::INTR) => continue,
                Err(_) => {
                    self.full = true;
                    break;
                }
            };
            let flags = event.events();
            let name = event.file_name().map(|n| n.to_string_lossy().into_owned());
            if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
                self.full = true;
            } else if Some(event.wd()) == self.issues_wd {
                if flags
                    .intersects(ReadFlags::IGNORED | ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF)
                {
                    self.full = true;
                    continue;
                }
                let Some(name) = name else { continue };
                if let Some(id) = IssueId::from_file_name(&name) {
                    self.dirty.insert(id.as_u128());
                } else if !name.starts_with(atomic::TEMP_PREFIX) && ids::is_misnamed(&name) {
                    self.full = true; // listings report such a name: read it as they do
                }
            } else if Some(event.wd()) == self.jit_wd {
                if flags
                    .intersects(ReadFlags::IGNORED | ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF)
                {
                    self.full = true;
                    self.config_changed = true;
                    continue;
                }
                match name.as_deref() {
                    Some("issues") => self.full = true,
                    Some("config.json") => self.config_changed = true,
                    Some(n) if n.starts_with(atomic::TEMP_PREFIX) => {}
                    _ => {}
                }
            }
            // Events of a watch replaced since (an old `issues/`) need nothing: the full
            // re-check that replaced it read everything after setting the new one.
        }
    }
}

#[cfg(test)]
mod tests;
