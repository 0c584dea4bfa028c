//! The on-disk store: where things live in `.jit/`, the lock, atomic writes, the journal of
//! multi-file changes, and the derived read index.

pub mod atomic;
pub mod config;
pub mod ids;
pub mod index;
pub mod journal;
pub mod lock;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::IssueId;

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
