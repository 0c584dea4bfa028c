//! The ticket queue in front of the writers' lock, so that waiters are served in arrival
//! order: only the head of the queue tries the directory lock ([`super::lock`]), which stays
//! the one mutex. The queue orders who tries it; a broken or deleted queue can cost fairness,
//! never safety.
//!
//! The queue is made of open-file-description byte-range locks (`F_OFD_SETLK`) on
//! `.jit/lock`, one byte per ticket: byte `t` is ticket `t`'s *slot*. Nothing is written to
//! the file (its bytes are the commit sequence's); a lock on a byte range needs no byte there.
//! A newcomer locks the slot after the highest one held (found by a few `F_OFD_GETLK` probes),
//! holds it while it waits, and waits until no slot before its own is held: first for its
//! predecessor's slot (blocking in `F_OFD_SETLKW` on a helper thread, so that the caller
//! keeps its timeout), then for any other still held below it. The kernel releases the locks
//! of a process however it ends, so a waiter killed in the queue holds nobody up. A holder
//! keeps its slot until it has released the directory lock, so its successor, woken by the
//! slot's release, finds the directory lock free. When nobody waits, tickets start at 0 again.
//!
//! A waiter stopped by a signal (`SIGSTOP`, `^Z`) keeps its slot: the ones behind it would
//! wait for it until continued. So a waiter that finds the directory lock free at every check
//! for [`super::lock`]'s stall time (nobody is being served, yet someone before it holds a
//! ticket) stops waiting for the ones before it and tries the lock as a head ([`Next::Skip`]),
//! costing fairness for as long as the stall lasts, never safety. Deleting `.jit/lock` while processes wait splits the queue in two
//! (those who opened the old file, those who open the new one): two heads then compete for
//! the directory lock. A file system without OFD locks leaves every waiter unqueued, competing
//! with backoff as before.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, fcntl};
use nix::libc;

/// Tickets stay below this (2^40 arrivals without one moment of an empty queue: centuries).
const SLOT_LIMIT: i64 = 1 << 40;

/// A place in the queue; dropping it leaves the queue (the successor's turn comes).
#[derive(Debug)]
pub struct Ticket {
    file: Arc<File>,
    slot: i64,
}

/// What waiting for one's turn gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Turn {
    /// No ticket before this one is held (or the caller said to stop waiting for them): the
    /// caller is the head of the queue.
    Head,
    /// The caller said to give up.
    GaveUp,
}

/// What the caller of [`Ticket::wait_turn`] says at each check.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Wait at most this long before asking again.
    Wait(Duration),
    /// Give up the turn (the timeout ran out).
    GiveUp,
    /// Stop waiting for the tickets before this one (they seem stuck) and act as the head.
    Skip,
}

fn range(kind: libc::c_int, start: i64, len: i64) -> libc::flock {
    libc::flock {
        l_type: kind as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: start,
        l_len: len,
        l_pid: 0,
    }
}

/// The start of a lock held by someone else over `[start, start + len)` (`len` 0: to the
/// end), if any.
fn held_in(file: &File, start: i64, len: i64) -> io::Result<Option<i64>> {
    let mut probe = range(libc::F_WRLCK, start, len);
    fcntl(file, FcntlArg::F_OFD_GETLK(&mut probe))?;
    Ok((probe.l_type != libc::F_UNLCK as libc::c_short).then_some(probe.l_start.max(start)))
}

/// Lock one slot without waiting; `false` if someone else holds it.
fn try_lock_slot(file: &File, slot: i64) -> io::Result<bool> {
    match fcntl(file, FcntlArg::F_OFD_SETLK(&range(libc::F_WRLCK, slot, 1))) {
        Ok(_) => Ok(true),
        Err(Errno::EAGAIN | Errno::EACCES) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn unlock_slot(file: &File, slot: i64) -> io::Result<()> {
    fcntl(file, FcntlArg::F_OFD_SETLK(&range(libc::F_UNLCK, slot, 1)))?;
    Ok(())
}

/// Block until whoever holds `slot` lets it go (a shared lock taken and dropped at once).
fn wait_released(file: &File, slot: i64) -> io::Result<()> {
    loop {
        match fcntl(file, FcntlArg::F_OFD_SETLKW(&range(libc::F_RDLCK, slot, 1))) {
            Ok(_) => break,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    unlock_slot(file, slot)
}

/// The highest slot someone holds, if any: a gallop up from one held slot, then a binary
/// search, so a few probes however long the queue. Slots taken or left meanwhile can make it
/// low or high by those, never lower than a slot held all along.
fn highest_held(file: &File) -> io::Result<Option<i64>> {
    let Some(mut lo) = held_in(file, 0, 0)? else { return Ok(None) };
    // lo is held; find hi with nothing held from hi on.
    let mut step = 1;
    let mut hi = loop {
        let from = lo.saturating_add(step).min(SLOT_LIMIT);
        match held_in(file, from, 0)? {
            None => break from,
            Some(s) if s >= SLOT_LIMIT => break SLOT_LIMIT,
            Some(s) => lo = s,
        }
        step = step.saturating_mul(2);
    };
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match held_in(file, mid, hi - mid)? {
            Some(s) => lo = s,
            None => hi = mid,
        }
    }
    Ok(Some(lo))
}

impl Ticket {
    /// Join the queue through `file` (an open `.jit/lock`, readable and writable): take the
    /// slot after the highest one held. An error means the queue cannot be used here (no OFD
    /// locks on this file system, say): the caller then competes for the lock unqueued.
    pub fn take(file: File) -> io::Result<Ticket> {
        for _ in 0..1000 {
            let slot = highest_held(&file)?.map_or(0, |s| s + 1);
            if slot >= SLOT_LIMIT {
                break;
            }
            if try_lock_slot(&file, slot)? {
                return Ok(Ticket { file: Arc::new(file), slot });
            }
            // Another newcomer took it between the probe and the lock: probe again.
        }
        Err(io::Error::other("no free slot in the lock queue"))
    }

    /// This ticket's number (0 when it joined an empty queue).
    pub fn number(&self) -> u64 {
        self.slot as u64
    }

    /// Wait until no ticket before this one is held. `check` is asked what to do next (see
    /// [`Next`]); it is called at once and again after each wait it asked for, so it can keep
    /// a timeout, say when a wait gets long, and watch for a stuck queue.
    pub fn wait_turn(&self, check: &mut dyn FnMut() -> Next) -> io::Result<Turn> {
        if self.slot == 0 || held_in(&self.file, 0, self.slot)?.is_none() {
            return Ok(Turn::Head);
        }
        // The blocking waits run on a helper thread: F_OFD_SETLKW has no timeout.
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let (file, slot, halt) = (self.file.clone(), self.slot, stop.clone());
        std::thread::Builder::new().name("jit-lock-queue".into()).spawn(move || {
            let _ = tx.send(wait_for_predecessors(&file, slot, &halt));
        })?;
        loop {
            let wait = match check() {
                Next::Wait(wait) => wait,
                // The helper may still be blocked on a slot before ours: it stops when that
                // one is released, and ours is released by this ticket's drop, not by it.
                Next::GiveUp => {
                    stop.store(true, Ordering::Relaxed);
                    return Ok(Turn::GaveUp);
                }
                Next::Skip => {
                    stop.store(true, Ordering::Relaxed);
                    return Ok(Turn::Head);
                }
            };
            match rx.recv_timeout(wait) {
                Ok(done) => return done.map(|()| Turn::Head),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(io::Error::other("the lock queue's helper thread ended"));
                }
            }
        }
    }
}

/// The helper's wait: the predecessor's slot first (so each waiter is woken by one release),
/// then whatever is still held before `slot` (a predecessor that gave up or died left the
/// ones before it), until nothing is.
fn wait_for_predecessors(file: &File, slot: i64, stop: &AtomicBool) -> io::Result<()> {
    let mut next = Some(slot - 1);
    while let Some(before) = next {
        wait_released(file, before)?;
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        next = held_in(file, 0, slot)?;
    }
    Ok(())
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // Explicitly: a helper thread still waiting keeps the file open, and with it the lock.
        let _ = unlock_slot(&self.file, self.slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock_file(dir: &std::path::Path) -> File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("lock"))
            .unwrap()
    }

    #[test]
    fn tickets_follow_the_highest_held_and_start_again_when_the_queue_empties() {
        let dir = tempfile::tempdir().unwrap();
        let a = Ticket::take(lock_file(dir.path())).unwrap();
        let b = Ticket::take(lock_file(dir.path())).unwrap();
        let c = Ticket::take(lock_file(dir.path())).unwrap();
        assert_eq!((a.number(), b.number(), c.number()), (0, 1, 2));
        drop(b);
        // A gap left by one who went: the next comes after the last, not into the gap.
        let d = Ticket::take(lock_file(dir.path())).unwrap();
        assert_eq!(d.number(), 3);
        drop((a, c, d));
        assert_eq!(Ticket::take(lock_file(dir.path())).unwrap().number(), 0);
    }

    #[test]
    fn the_highest_held_slot_is_found_far_from_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let holders: Vec<File> = [0, 5, 6, 1000, 123_456_789]
            .iter()
            .map(|&s| {
                let f = lock_file(dir.path());
                assert!(try_lock_slot(&f, s).unwrap());
                f
            })
            .collect();
        let probe = lock_file(dir.path());
        assert_eq!(highest_held(&probe).unwrap(), Some(123_456_789));
        drop(holders);
        assert_eq!(highest_held(&probe).unwrap(), None);
    }

    #[test]
    fn a_waiter_is_head_once_every_ticket_before_it_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let first = Ticket::take(lock_file(dir.path())).unwrap();
        let second = Ticket::take(lock_file(dir.path())).unwrap();
        let third = Ticket::take(lock_file(dir.path())).unwrap();
        assert_eq!(first.wait_turn(&mut || Next::GiveUp).unwrap(), Turn::Head);
        assert_eq!(third.wait_turn(&mut || Next::GiveUp).unwrap(), Turn::GaveUp);
        assert_eq!(third.wait_turn(&mut || Next::Skip).unwrap(), Turn::Head);
        // The second leaves before its turn: the third then waits for the first only.
        drop(second);
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(first);
        });
        let turn = third.wait_turn(&mut || Next::Wait(Duration::from_millis(5))).unwrap();
        assert_eq!(turn, Turn::Head);
        releaser.join().unwrap();
    }
}
