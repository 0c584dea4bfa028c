//! `jit serve`, the CLI's fast path: a per-repository daemon on a Unix socket that runs CLI
//! commands for short-lived client processes (`daemon.rs`), and the client side every
//! `jit` command tries first (`client.rs`). See docs/serve.md.
//!
//! The client sends its argument vector, current directory and environment, and its own
//! stdout and stderr as file descriptors (SCM_RIGHTS); the daemon runs the same dispatch on
//! an [`Invocation`](super::invocation::Invocation) made of them, writing straight to the
//! client's descriptors, and answers with the exit code. So output, terminal detection,
//! a closed pipe and exit codes are those of a direct run by construction.
//!
//! The conversation, on one connection:
//!
//! 1. client → daemon: `JIT1`, then the client's build id as a frame (u32 length, bytes);
//! 2. daemon → client: `Y` (same build), or `N` and its build id as a frame; the client
//!    waits [`ANSWER_TIMEOUT`] for this, then runs the command itself;
//! 3. client → daemon: one byte `F` carrying two descriptors (stdout, stderr), then the
//!    [`Request`] as a frame (postcard);
//! 4. daemon → client: `X` and the exit code, when the command has ended.
//!
//! Until step 3 nothing has been asked of the daemon, so falling back to a direct run is
//! always safe; after it, the client waits for the answer however long the command takes.

pub mod client;
pub mod daemon;

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::OnceLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// What the client says first.
const MAGIC: &[u8; 4] = b"JIT1";

/// How long a client waits for the daemon's first answer before it runs the command itself
/// (a daemon that is stopped, swapped out or overloaded).
pub const ANSWER_TIMEOUT: Duration = Duration::from_millis(500);

/// The largest frame either side reads (a request is an argument vector and an environment).
const MAX_FRAME: u32 = 16 << 20;

/// A command for the daemon to run: the client's arguments, directory and environment
/// (byte strings, as Unix has them).
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub args: Vec<ByteBuf>,
    pub cwd: ByteBuf,
    pub env: Vec<(ByteBuf, ByteBuf)>,
}

impl Request {
    pub fn args(&self) -> Vec<OsString> {
        self.args.iter().map(os).collect()
    }

    pub fn env(&self) -> Vec<(OsString, OsString)> {
        self.env.iter().map(|(k, v)| (os(k), os(v))).collect()
    }
}

fn os(b: &ByteBuf) -> OsString {
    OsString::from_vec(b.to_vec())
}

/// `s` as bytes (Unix paths and variables are byte strings).
fn bytes(s: &std::ffi::OsStr) -> ByteBuf {
    ByteBuf::from(s.as_bytes().to_vec())
}

/// This binary's build id: the version and the executable's size, modification time and
/// inode, so that a rebuilt or reinstalled binary never talks to a daemon of the old one.
/// `None` if the executable cannot be looked at (then this process neither serves nor is
/// served).
pub fn build_id() -> Option<&'static str> {
    static ID: OnceLock<Option<String>> = OnceLock::new();
    ID.get_or_init(|| {
        use std::os::unix::fs::MetadataExt;
        let exe = std::env::current_exe().ok()?;
        let m = std::fs::metadata(exe).ok()?;
        Some(format!(
            "{}+{}.{}.{}.{}",
            env!("CARGO_PKG_VERSION"),
            m.len(),
            m.mtime(),
            m.mtime_nsec(),
            m.ino()
        ))
    })
    .as_deref()
}

fn write_frame(w: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| io::Error::other("frame too large"))?;
    let mut buf = Vec::with_capacity(4 + bytes.len());
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(bytes);
    w.write_all(&buf)
}

fn read_frame(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too large"));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf)?;
    Ok(buf)
}
