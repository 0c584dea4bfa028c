//! Local state: what belongs to this clone on this machine and must never be versioned
//! (trusted gate definitions today; leases and idempotency keys later). It lives under the
//! git common directory when the project is in git, so every worktree of one clone shares
//! it, else in `.jit/local/` (ignored by the `.gitignore` that `jit init` writes).
//!
//! Git is found by walking up from the project the way git does, without running git: a
//! `.git` directory, or a `.git` file (`gitdir: PATH`, a worktree or submodule) whose git dir
//! may hold a `commondir` file naming the directory the worktrees share.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use super::{Durability, Layout, atomic};
use crate::error::{IoContext, Result};

/// The git work tree that contains a directory, as found by walking up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitTree {
    /// The top of the work tree: the directory holding `.git`.
    pub top: PathBuf,
    /// This work tree's own git dir (`.git`, or what a `gitdir:` file names): where git keeps
    /// the state of a merge in progress.
    pub git_dir: Option<PathBuf>,
    /// The directory every worktree of the clone shares, when `.git` could be read.
    pub common_dir: Option<PathBuf>,
}

/// The nearest directory at or above `start` that holds a `.git` entry (a directory or a
/// `gitdir:` file), with its common dir. `None` outside any git work tree. Like git, the
/// walk never moves up into a directory named in `GIT_CEILING_DIRECTORIES`, so jit and the
/// git it runs (`jit init` asks `git rev-parse`) agree on whether a project is in git.
pub fn find_git(start: &Path) -> Option<GitTree> {
    find_git_below(start, &git_ceilings())
}

fn find_git_below(start: &Path, ceilings: &[PathBuf]) -> Option<GitTree> {
    for dir in start.ancestors() {
        if let Some(tree) = git_top(dir) {
            return Some(tree);
        }
        if dir.parent().is_some_and(|up| ceilings.iter().any(|c| c == up)) {
            return None;
        }
    }
    None
}

/// `GIT_CEILING_DIRECTORIES`, read as [`ceiling_list`] reads it.
fn git_ceilings() -> Vec<PathBuf> {
    std::env::var_os("GIT_CEILING_DIRECTORIES").map_or_else(Vec::new, |v| ceiling_list(&v))
}

/// A ceiling list as git reads `GIT_CEILING_DIRECTORIES` (and jit `JIT_CEILING_DIRECTORIES`):
/// colon-separated absolute directories (relative and empty entries are ignored), each also
/// with its symbolic links resolved, since the directories walked have theirs resolved.
pub fn ceiling_list(v: &std::ffi::OsStr) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in std::env::split_paths(v).filter(|p| p.is_absolute()) {
        if let Ok(real) = std::fs::canonicalize(&p) {
            out.push(real);
        }
        out.push(p);
    }
    out
}

/// `dir` as the top of a git work tree, if it holds a `.git` entry. Repository discovery
/// stops at such a directory; local state goes in its common dir.
pub fn git_top(dir: &Path) -> Option<GitTree> {
    let dot_git = dir.join(".git");
    let meta = std::fs::metadata(&dot_git).ok()?;
    let git_dir = if meta.is_dir() { Some(dot_git) } else { read_gitdir_file(&dot_git) };
    let common_dir = git_dir.as_deref().map(common_dir_of);
    Some(GitTree { top: dir.to_path_buf(), git_dir, common_dir })
}

/// The git dir a `.git` file names (`gitdir: PATH`, relative to the file's directory).
fn read_gitdir_file(dot_git: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dot_git).ok()?;
    let target = text.lines().next()?.strip_prefix("gitdir:")?.trim();
    if target.is_empty() {
        return None;
    }
    let path = dot_git.parent()?.join(target);
    path.is_dir().then_some(path)
}

/// The common dir of a git dir: what its `commondir` file names (relative to the git dir),
/// else the git dir itself.
fn common_dir_of(git_dir: &Path) -> PathBuf {
    match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(text) if !text.trim().is_empty() => {
            let common = git_dir.join(text.trim());
            if common.is_dir() { common } else { git_dir.to_path_buf() }
        }
        _ => git_dir.to_path_buf(),
    }
}

/// Name of jit's folder inside the git common dir.
const GIT_DIR_NAME: &str = "jit";

/// Name of the local-state folder inside `.jit/` outside git.
pub const JIT_LOCAL_DIR: &str = "local";

/// The local-state folder of one tracker.
#[derive(Clone, Debug)]
pub struct LocalState {
    dir: PathBuf,
}

impl LocalState {
    /// Where `layout`'s local state lives. In git, several trackers may share one clone (a
    /// `.jit/` at the top and one in a subfolder): each gets its own folder, keyed by its
    /// project's path relative to the work tree top, so the key is the same in every
    /// worktree: `<common dir>/jit/trackers/root` for a tracker at the top,
    /// `<common dir>/jit/trackers/root%2Fsub%2Fdir` for one in `sub/dir`.
    pub fn for_layout(layout: &Layout) -> LocalState {
        let project = std::fs::canonicalize(layout.project())
            .unwrap_or_else(|_| layout.project().to_path_buf());
        if let Some(GitTree { top, common_dir: Some(common), .. }) = find_git(&project) {
            let rel = project.strip_prefix(&top).unwrap_or(Path::new(""));
            let dir = common.join(GIT_DIR_NAME).join("trackers").join(tracker_key(rel));
            return LocalState { dir };
        }
        LocalState { dir: layout.root().join(JIT_LOCAL_DIR) }
    }

    /// The folder (it may not exist yet).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bytes of `name`, or `None` if there is no such file.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.dir.join(name);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).at(path),
        }
    }

    /// Replace `name` atomically (temp file, fsync, rename, fsync the folder).
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        std::fs::create_dir_all(&self.dir).at(&self.dir)?;
        atomic::write(&self.dir.join(name), bytes, Durability::Full)
    }

    /// An exclusive lock on the folder's `lock` file for a read-modify-write of its files.
    /// Local state is shared by every worktree of a clone, each with its own `.jit/lock`, so
    /// it has its own lock; it is held only for the few milliseconds of such an update.
    pub fn lock(&self) -> Result<LocalLock> {
        self.lock_named("lock")
    }

    /// An exclusive lock on the folder's file `name`: for local state that is held across a
    /// change of the tracked files (idempotency keys, from the lookup until the reply is
    /// recorded), so that the few-millisecond updates under [`LocalState::lock`] (leases,
    /// which that change may make) are not held up by it, nor wait for it.
    pub fn lock_named(&self, name: &str) -> Result<LocalLock> {
        use fs4::FileExt;
        std::fs::create_dir_all(&self.dir).at(&self.dir)?;
        let path = self.dir.join(name);
        let file =
            OpenOptions::new().create(true).truncate(false).write(true).open(&path).at(&path)?;
        FileExt::lock(&file).at(&path)?;
        Ok(LocalLock { _file: file })
    }
}

/// Held while local state is updated; released on drop.
pub struct LocalLock {
    _file: File,
}

/// `root`, then each byte of the relative path that is not `[A-Za-z0-9._-]` as `%XX`
/// (so `/` is `%2F`): one flat, unambiguous folder name per tracker.
fn tracker_key(rel: &Path) -> String {
    let mut key = String::from("root");
    let bytes = rel.as_os_str().as_encoded_bytes();
    if bytes.is_empty() {
        return key;
    }
    key.push_str("%2F");
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
            key.push(b as char);
        } else {
            key.push_str(&format!("%{b:02X}"));
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_keys_are_flat_and_unambiguous() {
        assert_eq!(tracker_key(Path::new("")), "root");
        assert_eq!(tracker_key(Path::new("sub/dir")), "root%2Fsub%2Fdir");
        assert_eq!(tracker_key(Path::new("a%2Fb")), "root%2Fa%252Fb");
        assert_eq!(tracker_key(Path::new("two words")), "root%2Ftwo%20words");
    }

    #[test]
    fn git_is_found_through_directories_and_worktree_files() {
        let t = tempfile::tempdir().unwrap();
        let main = t.path().join("main");
        std::fs::create_dir_all(main.join(".git/worktrees/wt")).unwrap();
        std::fs::write(main.join(".git/worktrees/wt/commondir"), "../..\n").unwrap();
        std::fs::create_dir_all(main.join("src/deep")).unwrap();
        let found = find_git(&main.join("src/deep")).unwrap();
        let dot_git = Some(main.join(".git"));
        assert_eq!(
            found,
            GitTree { top: main.clone(), git_dir: dot_git.clone(), common_dir: dot_git }
        );

        let wt = t.path().join("wt");
        std::fs::create_dir_all(wt.join("x")).unwrap();
        let gitdir = main.join(".git/worktrees/wt");
        std::fs::write(wt.join(".git"), format!("gitdir: {}\n", gitdir.display())).unwrap();
        let found = find_git(&wt.join("x")).unwrap();
        assert_eq!(found.top, wt);
        assert_eq!(found.git_dir.as_deref(), Some(gitdir.as_path()), "the worktree's own");
        assert_eq!(
            std::fs::canonicalize(found.common_dir.unwrap()).unwrap(),
            std::fs::canonicalize(main.join(".git")).unwrap()
        );

        // A `.git` file naming nothing still marks a work tree's top, with no common dir.
        let broken = t.path().join("broken");
        std::fs::create_dir_all(&broken).unwrap();
        std::fs::write(broken.join(".git"), "not a gitdir line\n").unwrap();
        assert_eq!(
            find_git(&broken),
            Some(GitTree { top: broken.clone(), git_dir: None, common_dir: None })
        );
        assert_eq!(find_git(t.path()), None);
    }

    #[test]
    fn the_walk_for_git_stops_below_a_ceiling() {
        let t = tempfile::tempdir().unwrap();
        let top = t.path().join("clone");
        std::fs::create_dir_all(top.join(".git")).unwrap();
        std::fs::create_dir_all(top.join("target/scratch/repo")).unwrap();
        let start = top.join("target/scratch/repo");
        assert_eq!(find_git_below(&start, &[]).unwrap().top, top);
        assert_eq!(find_git_below(&start, &[top.join("target/scratch")]), None);
        assert_eq!(find_git_below(&start, &[top.join("target")]), None);
        // The ceiling itself is never entered, but a start at or below a `.git` finds it.
        assert_eq!(find_git_below(&top, &[t.path().to_path_buf()]).unwrap().top, top);
        assert_eq!(find_git_below(&start, &[t.path().to_path_buf()]).unwrap().top, top);
    }
}
