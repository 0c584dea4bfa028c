//! `jit init`: create `.jit/` or put back its missing pieces. It writes files before there
//! is a repository to lock, so it is the one writer outside the transaction.

use std::fs;
use std::path::{Path, PathBuf};

use super::Repo;
use super::git;
use crate::error::{IoContext, Result};
use crate::storage::FileBytes;
use crate::storage::config::Config;
use crate::storage::{Durability, Layout, atomic};

/// What `init` did.
#[derive(Debug, serde::Serialize)]
pub struct InitReport {
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    pub created: bool,
    /// In an existing repository: the missing pieces `init` put back.
    pub repaired: Vec<String>,
    /// In a git work tree: the merge driver's setup (`null` outside one).
    pub git: Option<git::GitSetupReport>,
}

/// A path as JSON text even when it is not UTF-8 (serde refuses such paths outright).
pub(super) fn lossy_path<S: serde::Serializer>(
    path: &Path,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

const GITIGNORE: &str = "\
# jit: local, derived or in-flight files; never commit these
/lock
/lock.info
/journal/
/index/
.tmp.*
/local/
";

/// The line of [`GITIGNORE`] that keeps local state (outside git: trusted gates) out of git.
const GITIGNORE_LOCAL: &str = "/local/";

impl Repo {
    /// Create `.jit/` in `project` (or repair missing pieces of one). Never touches issues,
    /// nor an existing config: one that does not load is refused (`ConfigInvalid`) before
    /// anything is created, as replacing it with the defaults would lose the user's settings.
    pub fn init(project: &Path) -> Result<InitReport> {
        let layout = Layout::for_new(project);
        let config = layout.config_path();
        if fs::symlink_metadata(&config).is_ok() {
            Config::load(&config)?;
        }
        // New: no `.jit/` yet, or one without a config (e.g. a directory made by hand). A
        // `.jit/` that already holds issues is being repaired, not created.
        let created = !config.exists()
            && !layout.issues_dir().read_dir().is_ok_and(|mut d| d.next().is_some());
        let mut repaired = Vec::new();
        // Each new directory's entry is made durable (its parent fsynced): the files written
        // in it would otherwise be lost with it on a power loss.
        if let Some(project) = layout.root().parent() {
            fs::create_dir_all(project).at(project)?;
        }
        atomic::create_dir(layout.root(), Durability::Full)?;
        let issues = layout.issues_dir();
        if !issues.is_dir() {
            atomic::create_dir(&issues, Durability::Full)?;
            repaired.push("issues/".to_string());
        }
        if !config.exists() {
            atomic::write(&config, &Config::default().to_bytes(), Durability::Full)?;
            repaired.push("config.json".to_string());
        }
        let gi = layout.root().join(".gitignore");
        match crate::storage::read_regular(&gi).at(&gi)? {
            FileBytes::Missing => {
                atomic::write(&gi, GITIGNORE.as_bytes(), Durability::Full)?;
                repaired.push(".gitignore".to_string());
            }
            // Written by an older jit: local state would be committed. Add the line, keep the rest.
            FileBytes::Regular(mut old)
                if !String::from_utf8_lossy(&old).lines().any(|l| l.trim() == GITIGNORE_LOCAL) =>
            {
                if !old.is_empty() && !old.ends_with(b"\n") {
                    old.push(b'\n');
                }
                old.extend_from_slice(format!("{GITIGNORE_LOCAL}\n").as_bytes());
                atomic::write(&gi, &old, Durability::Full)?;
                repaired.push(".gitignore (/local/)".to_string());
            }
            _ => {}
        }
        // In a git work tree, `git::setup` writes `.gitattributes` (and says so in its
        // report) with the driver's config; elsewhere `init` writes it itself, so a project
        // put in git later merges its files right from the first commit (the driver's config,
        // which git does not version, then comes from `jit git-setup`). Outside git or
        // without git, nothing is said about git.
        let in_git = git::work_tree(layout.root())?.is_some();
        if !in_git && git::write_attributes(&layout.root().join(".gitattributes"))? {
            repaired.push(".gitattributes".to_string());
        }
        if created {
            repaired.clear(); // all new, nothing repaired
        }
        let git = if in_git { Some(git::setup(&layout)?) } else { None };
        Ok(InitReport { path: layout.root().to_path_buf(), created, repaired, git })
    }
}
