//! The daemon of `jit serve`: listens on the repository's socket and runs each client's
//! command on a thread of its own, through the same dispatch as a direct run. It holds no
//! state shared between commands but the warm index of its repository: every command opens
//! its own `Repo` (through `Ctx::open_repo`, which calls the hook `repo_hook` makes, which
//! attaches the warm index), takes the same lock, writes the same journal and presents the
//! same fencing tokens as a process of its own, so served and direct commands mix safely.

use std::io::{IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

use super::{MAGIC, Request, build_id, os, read_frame, write_frame};
use crate::cli::invocation::{Gone, Invocation, RepoHook};
use crate::error::{Error, IoContext, Result};
use crate::repo::Repo;
use crate::storage::Layout;
use crate::storage::index::warm::WarmIndex;
use crate::storage::serve::{ServeInfo, ServeLock, ServePlace};

/// How long a connection may take to send its hello and its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Commands run at once; a client beyond this is turned away (and runs its command itself).
const MAX_CONNECTIONS: usize = 256;

/// A daemon that has its socket and lock, ready to serve.
pub struct Daemon {
    place: ServePlace,
    listener: UnixListener,
    info: ServeInfo,
    build: String,
    hook: Option<RepoHook>,
    stopping: Arc<AtomicBool>,
    _lock: ServeLock,
}

impl Daemon {
    /// Take the repository's daemon lock (`SERVE_RUNNING` if another daemon holds it),
    /// remove what a killed daemon left, and listen on a fresh socket (0600, in a 0700
    /// folder).
    pub fn start(layout: &Layout) -> Result<Daemon> {
        let build = build_id()
            .ok_or_else(|| Error::InvalidArgument("cannot read this jit executable".into()))?
            .to_string();
        let place = ServePlace::of(layout);
        place.create()?;
        let lock = lock_or_running(&place)?;
        place.remove_leftovers(&lock);
        let sock = place.socket();
        let listener = UnixListener::bind(&sock).at(&sock)?;
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).at(&sock)?;
        let root = std::fs::canonicalize(layout.root()).unwrap_or(layout.root().to_path_buf());
        let info = ServeInfo {
            pid: std::process::id(),
            build: build.clone(),
            repo: root.to_string_lossy().into_owned(),
            socket: sock.to_string_lossy().into_owned(),
            since: crate::model::time::format(jiff::Timestamp::now()),
        };
        place.write_info(&info, &lock)?;
        Ok(Daemon {
            place,
            listener,
            info,
            build,
            hook: repo_hook(layout, root),
            stopping: Arc::new(AtomicBool::new(false)),
            _lock: lock,
        })
    }

    pub fn info(&self) -> &ServeInfo {
        &self.info
    }

    /// A handle that stops [`Daemon::serve`] from another thread (a signal).
    pub fn stopper(&self) -> Stopper {
        Stopper { stopping: self.stopping.clone(), socket: self.place.socket() }
    }

    /// Serve until stopped; then remove the socket at once (new commands run directly), let
    /// the commands in progress finish, and remove the info file. The lock goes last.
    pub fn serve(self) {
        let running = Arc::new((Mutex::new(0usize), Condvar::new()));
        let count = Arc::new(AtomicUsize::new(0));
        for conn in self.listener.incoming() {
            if self.stopping.load(Ordering::SeqCst) {
                break;
            }
            let Ok(conn) = conn else { continue };
            if count.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                count.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            *running.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            let (on_end, count_end) = (running.clone(), count.clone());
            let (build, hook) = (self.build.clone(), self.hook.clone());
            let spawned = std::thread::Builder::new().name("jit-serve".into()).spawn(move || {
                handle(conn, &build, hook);
                count_end.fetch_sub(1, Ordering::SeqCst);
                let (n, done) = &*on_end;
                *n.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
                done.notify_all();
            });
            if spawned.is_err() {
                count.fetch_sub(1, Ordering::SeqCst);
                *running.0.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
            }
        }
        let _ = std::fs::remove_file(self.place.socket());
        let (n, done) = &*running;
        let mut left = n.lock().unwrap_or_else(|e| e.into_inner());
        while *left > 0 {
            left = done.wait(left).unwrap_or_else(|e| e.into_inner());
        }
        self.place.remove_leftovers(&self._lock);
    }
}

/// Stops a serving daemon.
#[derive(Clone)]
pub struct Stopper {
    stopping: Arc<AtomicBool>,
    socket: PathBuf,
}

impl Stopper {
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = UnixStream::connect(&self.socket);
    }
}

/// The daemon lock; a daemon that holds it is `SERVE_RUNNING` (with its pid). A `--status`
/// or a client's stale-socket check holds it for an instant: tried a few times.
fn lock_or_running(place: &ServePlace) -> Result<ServeLock> {
    for _ in 0..5 {
        if let Some(lock) = place.try_lock()? {
            return Ok(lock);
        }
        if place.info().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    match place.try_lock()? {
        Some(lock) => Ok(lock),
        None => Err(Error::ServeRunning { pid: place.info().map_or(0, |i| i.pid) }),
    }
}

/// What every served command's repository gets: the one place where the daemon adds what
/// it keeps between commands (the warm index) to a `Repo` of its own repository (`root`,
/// canonical). Commands run for another tracker sharing the local state (another worktree
/// of the clone) get none.
///
/// The warm index is opened when the daemon starts (its watches are set by the first read);
/// if inotify cannot be had (the per-user instance limit), every command reads cold, as a
/// direct one does.
fn repo_hook(layout: &Layout, root: PathBuf) -> Option<RepoHook> {
    let warm = WarmIndex::open(layout).ok()?;
    Some(Arc::new(move |repo: &mut Repo| {
        let here = repo.layout().root();
        let ours = here == root || std::fs::canonicalize(here).is_ok_and(|c| c == root);
        if ours {
            repo.set_warm(warm.clone());
        }
    }))
}

/// One connection: the hello, the request, the run, the exit code.
fn handle(conn: UnixStream, build: &str, hook: Option<RepoHook>) {
    let _ = conn.set_read_timeout(Some(REQUEST_TIMEOUT));
    let _ = conn.set_write_timeout(Some(REQUEST_TIMEOUT));
    let Ok(Some((req, stdout, stderr))) = receive(&conn, build) else { return };
    let _ = conn.set_read_timeout(None);
    let _ = conn.set_write_timeout(None);
    let conn = Arc::new(conn);
    let watched = conn.clone();
    let gone: Gone = Arc::new(move || client_gone(&watched));
    let inv = Invocation::served(
        req.args(),
        PathBuf::from(os(&req.cwd)),
        req.env(),
        stdout,
        stderr,
        gone,
        hook,
    );
    let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::cli::run_invocation(&inv)
    })) {
        Ok(code) => code,
        Err(_) => {
            let _ = writeln!(inv.stderr(), "error: jit serve: the command failed unexpectedly");
            101
        }
    };
    let _ = (&*conn).write_all(&[b'X', code]);
}

/// Steps 1 to 3 of the conversation. `Ok(None)`: a client of another build (told so) or one
/// that broke off; `Err`: a malformed conversation.
fn receive(conn: &UnixStream, build: &str) -> std::io::Result<Option<(Request, OwnedFd, OwnedFd)>> {
    let mut r = conn;
    let mut magic = [0u8; 4];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    let theirs = read_frame(&mut r)?;
    let mut w = conn;
    if theirs != build.as_bytes() {
        let mut answer = b"N".to_vec();
        write_frame(&mut answer, build.as_bytes())?;
        w.write_all(&answer)?;
        return Ok(None);
    }
    w.write_all(b"Y")?;
    let (stdout, stderr) = receive_fds(conn)?;
    let body = read_frame(&mut r)?;
    let req: Request = postcard::from_bytes(&body).map_err(std::io::Error::other)?;
    if req.args.is_empty() {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    Ok(Some((req, stdout, stderr)))
}

/// The byte `F` and exactly two descriptors with it.
fn receive_fds(conn: &UnixStream) -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    let got = rustix::net::recvmsg(
        conn,
        &mut [IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = msg {
            fds.extend(received);
        }
    }
    if got.bytes != 1 || byte[0] != b'F' || fds.len() != 2 {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    let stderr = fds.pop().ok_or(std::io::ErrorKind::InvalidData)?;
    let stdout = fds.pop().ok_or(std::io::ErrorKind::InvalidData)?;
    Ok((stdout, stderr))
}

/// Whether the client hung up (or sent something after its request, which it never does).
fn client_gone(conn: &UnixStream) -> bool {
    let flags = PollFlags::IN | PollFlags::RDHUP | PollFlags::HUP;
    let mut fds = [PollFd::from_borrowed_fd(conn.as_fd(), flags)];
    let zero = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };
    matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
}
