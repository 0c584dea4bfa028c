//! Where `jit serve` keeps its daemon's files, in the tracker's local state
//! ([`LocalState`]): a folder `serve/` (owner only, 0700) holding the Unix socket `sock`
//! (0600), the file `lock` that the running daemon holds locked for as long as it runs (the
//! one truth about whether a daemon runs: the kernel releases it when the process ends,
//! however it ends), and `info.json`, who it is (pid, build, since when).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use fs4::{FileExt, TryLockError};
use serde::{Deserialize, Serialize};

use super::Layout;
use super::local::LocalState;
use crate::error::{IoContext, Result};

/// The daemon's folder of one tracker.
#[derive(Clone, Debug)]
pub struct ServePlace {
    dir: PathBuf,
}

/// What a running daemon says about itself (`info.json`, `jit serve --status`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct ServeInfo {
    pub pid: u32,
    /// The build of jit it runs: a client of another build does not use it.
    pub build: String,
    /// The `.jit` directory it was started for.
    pub repo: String,
    /// The socket clients connect to.
    pub socket: String,
    /// When it started (RFC 3339).
    pub since: String,
}

/// Held by the running daemon; released when it ends.
pub struct ServeLock {
    _file: File,
}

impl ServePlace {
    pub fn of(layout: &Layout) -> ServePlace {
        ServePlace { dir: LocalState::for_layout(layout).dir().join("serve") }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("sock")
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join("lock")
    }

    fn info_path(&self) -> PathBuf {
        self.dir.join("info.json")
    }

    /// Make the folder (and the local-state folders above it), owner only.
    pub fn create(&self) -> Result<()> {
        if let Some(parent) = self.dir.parent() {
            std::fs::create_dir_all(parent).at(parent)?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).at(&self.dir),
        }
        // A folder made by hand (or before a umask change) is made owner-only too.
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700)).at(&self.dir)
    }

    /// The daemon's lock, if no daemon holds it now. `Ok(None)`: one runs.
    pub fn try_lock(&self) -> Result<Option<ServeLock>> {
        let path = self.lock_path();
        let file = match OpenOptions::new().create(true).truncate(false).write(true).open(&path) {
            Ok(f) => f,
            // No folder: no daemon has ever run here.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.create()?;
                OpenOptions::new().create(true).truncate(false).write(true).open(&path).at(&path)?
            }
            Err(e) => return Err(e).at(&path),
        };
        match FileExt::try_lock(&file) {
            Ok(()) => Ok(Some(ServeLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e).at(&path),
        }
    }

    /// Whether a daemon runs now (holds the lock), without making any file.
    pub fn running(&self) -> bool {
        let Ok(file) = OpenOptions::new().write(true).open(self.lock_path()) else {
            return false;
        };
        matches!(FileExt::try_lock(&file), Err(TryLockError::WouldBlock))
    }

    /// What the running daemon wrote about itself (`None` if nothing readable).
    pub fn info(&self) -> Option<ServeInfo> {
        serde_json::from_slice(&std::fs::read(self.info_path()).ok()?).ok()
    }

    /// Record `info` (with the lock held).
    pub fn write_info(&self, info: &ServeInfo, _held: &ServeLock) -> Result<()> {
        let path = self.info_path();
        std::fs::write(&path, serde_json::to_vec_pretty(info).unwrap_or_default()).at(&path)
    }

    /// Remove the socket and info of a daemon that is gone (with the lock held, so no daemon
    /// is binding a new socket meanwhile).
    pub fn remove_leftovers(&self, _held: &ServeLock) {
        let _ = std::fs::remove_file(self.socket());
        let _ = std::fs::remove_file(self.info_path());
    }
}
