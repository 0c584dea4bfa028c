//! The on-disk store: where things live in `.jit/`, the lock, atomic writes, the journal of
//! multi-file changes, and the derived read index.

pub mod atomic;
pub mod config;
pub mod documents;
pub mod events;
pub mod fault;
pub mod gitattributes;
pub mod idempotency;
pub mod ids;
pub mod index;
pub mod journal;
pub mod leases;
pub mod local;
pub mod lock;
pub mod queue;
pub mod rates;
pub mod refusals;
pub mod serve;
pub mod trust;

use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, SearchStop};
use crate::model::IssueId;

/// What reading a file that should hold an issue gave.
pub enum FileBytes {
    Regular(Vec<u8>),
    Missing,
    /// A symbolic link, directory, FIFO, socket or device: never an issue.
    NotRegular,
}

/// What opening a path that should be a regular file gave.
pub enum Opened {
    File(std::fs::File),
    Missing,
    /// A symbolic link, directory, FIFO, socket or device.
    NotRegular,
}

/// How [`open_regular_at`] opens a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    /// Read, following a symbolic link to a regular file (`config.json` may be one).
    ReadFollowingLinks,
    /// Read and write, creating the file if it is missing.
    ReadWriteCreate,
    /// Read and write an existing file.
    ReadWrite,
    /// Read and append, creating the file if it is missing.
    AppendCreate,
}

/// Open `path` (relative to `dir`, or absolute) only if it is a regular file: a symbolic link
/// is not followed, and a FIFO or device is opened without blocking and then refused, so a
/// file planted where jit expects one of its own can neither redirect a read or write nor
/// hang a command (which may hold the writers' lock). Every file jit opens in `.jit/`, other
/// than by creating a new temp file, is opened through here.
pub fn open_regular_at(dir: impl AsFd, path: &Path, access: Access) -> std::io::Result<Opened> {
    use rustix::fs::{Mode, OFlags};
    let mut base = OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let flags = match access {
        Access::Read => OFlags::RDONLY,
        Access::ReadFollowingLinks => {
            base.remove(OFlags::NOFOLLOW);
            OFlags::RDONLY
        }
        Access::ReadWriteCreate => OFlags::RDWR | OFlags::CREATE,
        Access::ReadWrite => OFlags::RDWR,
        Access::AppendCreate => OFlags::RDWR | OFlags::APPEND | OFlags::CREATE,
    };
    let fd = match rustix::fs::openat(dir, path, base | flags, Mode::from_raw_mode(0o666)) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(Opened::Missing),
        // A symbolic link (not followed), a directory opened for writing, a FIFO opened for
        // writing with no reader, a socket.
        Err(
            rustix::io::Errno::LOOP
            | rustix::io::Errno::ISDIR
            | rustix::io::Errno::NXIO
            | rustix::io::Errno::OPNOTSUPP,
        ) => return Ok(Opened::NotRegular),
        Err(e) => return Err(e.into()),
    };
    let file = std::fs::File::from(fd);
    if !file.metadata()?.is_file() {
        return Ok(Opened::NotRegular);
    }
    Ok(Opened::File(file))
}

/// Open a directory (to list it relative to its descriptor, or to fsync it). `O_DIRECTORY`:
/// a FIFO put in the directory's place is refused instead of blocking the open.
pub fn open_dir(path: &Path) -> std::io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    Ok(std::fs::File::from(rustix::fs::open(path, flags, Mode::empty())?))
}

/// [`open_regular_at`] for a path from the current directory (or an absolute one).
pub fn open_regular(path: &Path, access: Access) -> std::io::Result<Opened> {
    open_regular_at(rustix::fs::CWD, path, access)
}

/// Read `path` (relative to `dir`, or absolute) only if it is a regular file, opened as
/// [`open_regular_at`] does. Every read of an issue file goes through here.
pub fn read_regular_at(dir: impl AsFd, path: &Path) -> std::io::Result<FileBytes> {
    let mut file = match open_regular_at(dir, path, Access::Read)? {
        Opened::File(f) => f,
        Opened::Missing => return Ok(FileBytes::Missing),
        Opened::NotRegular => return Ok(FileBytes::NotRegular),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(FileBytes::Regular(bytes))
}

/// The bytes of a regular file at `path`; a missing file is empty, anything else that is not
/// a regular file is an error of kind `InvalidData` naming what it is not.
pub fn read_regular_or_empty(path: &Path) -> std::io::Result<Vec<u8>> {
    match read_regular(path)? {
        FileBytes::Regular(b) => Ok(b),
        FileBytes::Missing => Ok(Vec::new()),
        FileBytes::NotRegular => Err(not_regular()),
    }
}

/// The error for a path that should be a regular file and is not.
pub fn not_regular() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, "not a regular file")
}

/// [`read_regular_at`] for a path from the current directory (or an absolute one).
pub fn read_regular(path: &Path) -> std::io::Result<FileBytes> {
    read_regular_at(rustix::fs::CWD, path)
}

/// Name of the store directory inside a project.
pub const DIR_NAME: &str = ".jit";

/// Paths of one repository's `.jit/` directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The store at `dir`, which is either a `.jit` directory or a project containing one.
    pub fn at(dir: &Path) -> Result<Layout> {
        if dir.file_name().is_some_and(|n| n == DIR_NAME) && dir.is_dir() {
            return Ok(Layout { root: dir.to_path_buf() });
        }
        let inner = dir.join(DIR_NAME);
        if inner.is_dir() {
            return Ok(Layout { root: inner });
        }
        Err(Error::RepoNotFound { searched: dir.to_path_buf(), upwards: false })
    }

    /// Walk up from `start` to the first directory holding `.jit/`, the way git finds `.git`,
    /// and as git does, never past a boundary: the top of the git work tree that contains
    /// `start` (a tracker above a git repository belongs to another project, even if that
    /// repository is nested in it), nor into a directory of `ceilings`
    /// (`JIT_CEILING_DIRECTORIES`; `start` itself is always searched).
    pub fn discover(start: &Path, ceilings: &[PathBuf]) -> Result<Layout> {
        let mut cur = Some(start);
        while let Some(dir) = cur {
            let candidate = dir.join(DIR_NAME);
            if candidate.is_dir() {
                return Ok(Layout { root: candidate });
            }
            let stop = if local::git_top(dir).is_some() {
                Some(SearchStop::GitWorkTree)
            } else {
                dir.parent()
                    .filter(|p| ceilings.iter().any(|c| c == p))
                    .map(|_| SearchStop::Ceiling)
            };
            if let Some(why) = stop {
                return Err(Error::RepoNotFoundBelow {
                    searched: start.to_path_buf(),
                    stopped_at: dir.to_path_buf(),
                    why,
                });
            }
            cur = dir.parent();
        }
        Err(Error::RepoNotFound { searched: start.to_path_buf(), upwards: true })
    }

    /// The nearest tracker strictly above `project` (its `.jit` directory), whatever the
    /// boundaries: `init` warns when it makes a tracker inside another.
    pub fn enclosing(project: &Path) -> Option<PathBuf> {
        project.ancestors().skip(1).map(|d| d.join(DIR_NAME)).find(|c| c.is_dir())
    }

    /// The layout a new store at `project` will have (used by `init`).
    pub fn for_new(project: &Path) -> Layout {
        if project.file_name().is_some_and(|n| n == DIR_NAME) {
            Layout { root: project.to_path_buf() }
        } else {
            Layout { root: project.join(DIR_NAME) }
        }
    }

    /// The `.jit` directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The project directory (the parent of `.jit`).
    pub fn project(&self) -> &Path {
        self.root.parent().unwrap_or(&self.root)
    }

    pub fn issues_dir(&self) -> PathBuf {
        self.root.join("issues")
    }

    pub fn issue_path(&self, id: IssueId) -> PathBuf {
        self.issues_dir().join(id.file_name())
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.json")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
    }

    pub fn lock_info_path(&self) -> PathBuf {
        self.root.join("lock.info")
    }

    pub fn journal_dir(&self) -> PathBuf {
        self.root.join("journal")
    }

    pub fn index_dir(&self) -> PathBuf {
        self.root.join("index")
    }

    pub fn events_dir(&self) -> PathBuf {
        self.root.join("events")
    }

    pub fn quarantine_dir(&self) -> PathBuf {
        self.root.join("quarantine")
    }
}

/// How hard writes push data to stable storage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// fsync every file and directory before acknowledging: survives power loss.
    #[default]
    Full,
    /// No fsync: survives a killed process (renames are atomic), not a power loss.
    Relaxed,
}

impl std::str::FromStr for Durability {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "full" => Ok(Durability::Full),
            "relaxed" => Ok(Durability::Relaxed),
            _ => Err(Error::InvalidValue {
                what: "durability",
                value: s.to_string(),
                allowed: vec!["full".into(), "relaxed".into()],
                suggestion: None,
            }),
        }
    }
}
