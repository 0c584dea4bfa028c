//! The on-disk store: where things live in `.jit/`, the lock, atomic writes, the journal of
//! multi-file changes, and the derived read index.

pub mod atomic;
pub mod config;
pub mod events;
pub mod gitattributes;
pub mod ids;
pub mod index;
pub mod journal;
pub mod lock;

use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::IssueId;

/// What reading a file that should hold an issue gave.
pub enum FileBytes {
    Regular(Vec<u8>),
    Missing,
    /// A symbolic link, directory, FIFO, socket or device: never an issue.
    NotRegular,
}

/// Read `path` (relative to `dir`, or absolute) only if it is a regular file: a symbolic link
/// is not followed, and a FIFO or device is opened without blocking and then refused, so a
/// file planted in `issues/` can neither redirect a read nor hang a command (which may hold
/// the writers' lock). Every read of an issue file goes through here.
pub fn read_regular_at(dir: impl AsFd, path: &Path) -> std::io::Result<FileBytes> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(dir, path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(FileBytes::Missing),
        Err(rustix::io::Errno::LOOP) => return Ok(FileBytes::NotRegular),
        Err(e) => return Err(e.into()),
    };
    let mut file = std::fs::File::from(fd);
    if !file.metadata()?.is_file() {
        return Ok(FileBytes::NotRegular);
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(FileBytes::Regular(bytes))
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

    /// Walk up from `start` to the first directory holding `.jit/`, the way git finds `.git`.
    pub fn discover(start: &Path) -> Result<Layout> {
        let mut cur = Some(start);
        while let Some(dir) = cur {
            let candidate = dir.join(DIR_NAME);
            if candidate.is_dir() {
                return Ok(Layout { root: candidate });
            }
            cur = dir.parent();
        }
        Err(Error::RepoNotFound { searched: start.to_path_buf(), upwards: true })
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
