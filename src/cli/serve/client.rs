//! The client side of `jit serve`: every `jit` command first looks for a daemon serving its
//! repository and, if one answers in time with the same build, has it run the command.
//! Anything else (no daemon, a stale socket, no answer, another build, a command that is not
//! served, `JIT_NO_SERVE=1`) runs the command in this process, as if there were no daemon.

use std::io::{IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use super::{ANSWER_TIMEOUT, MAGIC, Request, build_id, bytes, write_frame};
use crate::cli::invocation::Invocation;
use crate::cli::output::Printer;
use crate::cli::{Cli, CliError};
use crate::error::Error;
use crate::storage::Layout;
use crate::storage::serve::ServePlace;

/// Run the command through the repository's daemon, if one can serve it: `Some(exit code)`
/// when it did (or took it and then went away: `SERVE_INTERRUPTED`), `None` to run it here.
pub fn try_serve(inv: &Invocation, cli: &Cli) -> Option<u8> {
    if forced_direct(inv) || !cli.command.servable(inv) {
        return None;
    }
    let place = ServePlace::of(&layout(inv, cli)?);
    let sock = match UnixStream::connect(place.socket()) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            // A socket nobody listens on: its daemon was killed. Removed with the daemon's
            // lock held, so that a daemon starting now is not robbed of its new socket.
            if let Ok(Some(held)) = place.try_lock() {
                place.remove_leftovers(&held);
            }
            return None;
        }
        Err(_) => return None,
    };
    if !handshake(&sock, build_id()?) || send(&sock, inv).is_err() {
        return None;
    }
    // The daemon has the command: from here on it is its to run, however long it takes.
    let _ = sock.set_read_timeout(None);
    let mut answer = [0u8; 2];
    match (&sock).read_exact(&mut answer) {
        Ok(()) if answer[0] == b'X' => Some(answer[1]),
        _ => Some(interrupted(inv)),
    }
}

/// `JIT_NO_SERVE` set to anything but empty or `0`, or a test-only variable that a daemon
/// reads once for its whole life (`JIT_TEST_FAULT`, `JIT_TEST_COARSE_STAMPS`).
fn forced_direct(inv: &Invocation) -> bool {
    let set = |name: &str| inv.var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    set("JIT_NO_SERVE") || set("JIT_TEST_FAULT") || inv.var_os("JIT_TEST_COARSE_STAMPS").is_some()
}

/// The repository the command would open, found the way it finds it (`--repo`, `JIT_DIR`,
/// else upwards from the current directory within the ceilings).
fn layout(inv: &Invocation, cli: &Cli) -> Option<Layout> {
    let cwd = inv.cwd().ok()?;
    match &cli.global.repo {
        Some(p) => Layout::at(&cwd.join(p)).ok(),
        None => Layout::discover(&cwd, &crate::cli::commands::ceilings_from_env(inv)).ok(),
    }
}

/// Steps 1 and 2: whether the daemon answered in time that it is of this build.
fn handshake(sock: &UnixStream, build: &str) -> bool {
    let timeouts = sock.set_read_timeout(Some(ANSWER_TIMEOUT)).is_ok()
        && sock.set_write_timeout(Some(ANSWER_TIMEOUT)).is_ok();
    let mut hello = MAGIC.to_vec();
    if !timeouts || write_frame(&mut hello, build.as_bytes()).is_err() {
        return false;
    }
    let mut answer = [0u8; 1];
    (&*sock).write_all(&hello).is_ok()
        && (&*sock).read_exact(&mut answer).is_ok()
        && answer[0] == b'Y'
}

/// Step 3: the descriptors, then the request. A failure here leaves the daemon without a
/// whole request, which it never runs.
fn send(sock: &UnixStream, inv: &Invocation) -> std::io::Result<()> {
    let cwd = inv.cwd().map_err(std::io::Error::other)?;
    let req = Request {
        args: inv.args.iter().map(|a| bytes(a)).collect(),
        cwd: bytes(cwd.as_os_str()),
        env: std::env::vars_os().map(|(k, v)| (bytes(&k), bytes(&v))).collect(),
    };
    let body = postcard::to_allocvec(&req).map_err(std::io::Error::other)?;
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    let fds = [stdout.as_fd(), stderr.as_fd()];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other("no room for the descriptors"));
    }
    let sent = rustix::net::sendmsg(sock, &[IoSlice::new(b"F")], &mut control, SendFlags::empty())?;
    if sent != 1 {
        return Err(std::io::ErrorKind::WriteZero.into());
    }
    let mut frame = Vec::new();
    write_frame(&mut frame, &body)?;
    (&*sock).write_all(&frame)
}

/// The daemon took the command and went away before saying how it ended.
fn interrupted(inv: &Invocation) -> u8 {
    let json = inv.args.iter().skip(1).take_while(|a| *a != "--").any(|a| a == "--json");
    let mut printer = Printer::on(inv.stdout(), json);
    let code = crate::cli::report(&CliError::Jit(Error::ServeInterrupted), &mut printer, inv);
    let _ = printer.finish();
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_survives_the_wire() {
        let req = Request {
            args: vec![bytes("jit".as_ref()), bytes("issue".as_ref())],
            cwd: bytes("/x".as_ref()),
            env: vec![(bytes("A".as_ref()), bytes("\u{e9}".as_ref()))],
        };
        let back: Request = postcard::from_bytes(&postcard::to_allocvec(&req).unwrap()).unwrap();
        assert_eq!(back.args(), vec!["jit", "issue"]);
        assert_eq!(back.env(), vec![("A".into(), "\u{e9}".into())]);
        assert!(super::super::read_frame(&mut &[0u8, 0, 0, 0][..]).unwrap().is_empty());
    }
}
