//! One run of the CLI as the CLI sees it: the arguments, the current directory, the
//! environment variables and the output streams. A direct run takes them from this process;
//! `jit serve` builds one from what a client sent (its arguments, directory, environment and
//! its own stdout and stderr, passed as file descriptors), so the same dispatch gives the
//! same bytes on the same streams. Nothing in `cli/` reads them from the process otherwise.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;

use crate::repo::Repo;

/// Where the environment variables come from.
enum Env {
    Process,
    Given(HashMap<OsString, OsString>),
}

/// Says whether the client of a served run has gone away (then output fails as a closed
/// pipe would, and the command stops at its next write).
pub type Gone = Arc<dyn Fn() -> bool + Send + Sync>;

/// Called on every repository a served command opens (the daemon attaches its warm index).
pub type RepoHook = Arc<dyn Fn(&mut Repo) + Send + Sync>;

/// One output stream: this process's stdout or stderr, or a client's.
#[derive(Clone)]
pub struct Stream {
    file: Arc<File>,
    gone: Option<Gone>,
}

impl Stream {
    fn new(fd: OwnedFd, gone: Option<Gone>) -> Stream {
        Stream { file: Arc::new(File::from(fd)), gone }
    }

    /// This process's descriptor `fd` (a duplicate of it), or `None` if it is closed.
    fn of_process(fd: BorrowedFd<'_>) -> Option<Stream> {
        fd.try_clone_to_owned().ok().map(|fd| Stream::new(fd, None))
    }

    pub fn is_terminal(&self) -> bool {
        self.file.is_terminal()
    }
}

impl Stream {
    fn write_some(&self, buf: &[u8]) -> io::Result<usize> {
        if self.gone.as_ref().is_some_and(|g| g()) {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        (&*self.file).write(buf)
    }
}

/// A stream that may be missing (this process started with descriptor 1 or 2 closed): then
/// what is written is dropped, as the standard library does for a closed stdout or stderr.
#[derive(Clone)]
pub struct Out(Option<Stream>);

impl Out {
    pub fn is_terminal(&self) -> bool {
        self.0.as_ref().is_some_and(Stream::is_terminal)
    }
}

impl Write for &Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &self.0 {
            Some(s) => s.write_some(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Everything a run of the CLI reads from its surroundings.
pub struct Invocation {
    /// The arguments, the first being the program name.
    pub args: Vec<OsString>,
    cwd: Result<PathBuf, io::ErrorKind>,
    env: Env,
    stdout: Out,
    stderr: Out,
    /// Run by `jit serve` for a client (stdin is not the client's: commands that read it are
    /// not served).
    served: bool,
    hook: Option<RepoHook>,
}

impl Invocation {
    /// This process: its arguments, directory, environment, stdout and stderr.
    pub fn from_process() -> Invocation {
        Invocation {
            args: std::env::args_os().collect(),
            cwd: std::env::current_dir().map_err(|e| e.kind()),
            env: Env::Process,
            stdout: Out(Stream::of_process(io::stdout().as_fd())),
            stderr: Out(Stream::of_process(io::stderr().as_fd())),
            served: false,
            hook: None,
        }
    }

    /// A client's run, for `jit serve`: its stdout and stderr are the descriptors it sent.
    pub fn served(
        args: Vec<OsString>,
        cwd: PathBuf,
        env: Vec<(OsString, OsString)>,
        stdout: OwnedFd,
        stderr: OwnedFd,
        gone: Gone,
        hook: Option<RepoHook>,
    ) -> Invocation {
        Invocation {
            args,
            cwd: Ok(cwd),
            env: Env::Given(env.into_iter().collect()),
            stdout: Out(Some(Stream::new(stdout, Some(gone.clone())))),
            stderr: Out(Some(Stream::new(stderr, Some(gone)))),
            served: true,
            hook,
        }
    }

    /// Whether `jit serve` runs this for a client.
    pub fn is_served(&self) -> bool {
        self.served
    }

    /// The current directory.
    pub fn cwd(&self) -> crate::Result<PathBuf> {
        self.cwd.clone().map_err(|kind| crate::Error::Io { path: ".".into(), source: kind.into() })
    }

    /// An environment variable, as `std::env::var_os`.
    pub fn var_os(&self, name: &str) -> Option<OsString> {
        match &self.env {
            Env::Process => std::env::var_os(name),
            Env::Given(map) => map.get(OsStr::new(name)).cloned(),
        }
    }

    /// An environment variable that is set and valid UTF-8, as `std::env::var(..).ok()`.
    pub fn var(&self, name: &str) -> Option<String> {
        self.var_os(name).and_then(|v| v.into_string().ok())
    }

    /// The environment as a list, for commands jit starts (gate commands): `None` for this
    /// process's own, which they inherit.
    pub fn child_env(&self) -> Option<Vec<(OsString, OsString)>> {
        match &self.env {
            Env::Process => None,
            Env::Given(map) => Some(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        }
    }

    pub fn stdout(&self) -> Out {
        self.stdout.clone()
    }

    pub fn stderr(&self) -> Out {
        self.stderr.clone()
    }

    /// Whether stdin is a terminal (never for a served run: stdin is not the client's).
    pub fn stdin_is_terminal(&self) -> bool {
        !self.served && io::stdin().is_terminal()
    }

    /// stdin (empty for a served run, which commands that read stdin never are).
    pub fn stdin(&self) -> Box<dyn io::Read> {
        if self.served { Box::new(io::empty()) } else { Box::new(io::stdin().lock()) }
    }

    /// Called on each repository the command opens.
    pub fn hook(&self) -> Option<&RepoHook> {
        self.hook.as_ref()
    }
}
