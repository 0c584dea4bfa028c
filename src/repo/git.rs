//! jit in a git repository: registering the field-wise merge driver (`jit init`,
//! `jit git-setup`) and noticing issue files an unfinished merge left unmerged. git itself is
//! run as a program (`git config`, `git ls-files`); see `docs/git.md`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, IoContext, Result};
use crate::storage::{Durability, FileBytes, Layout, atomic, gitattributes};

/// The git config entries of the driver. `jit` is found on PATH when git runs it, as git-lfs
/// is: an absolute path would break in every other clone and on every other machine.
pub const DRIVER_CONFIG: [(&str, &str); 2] = [
    ("merge.jit.name", "jit field-wise merge of issue files"),
    ("merge.jit.driver", "jit merge-driver %O %A %B %P"),
];

/// What setting up git did.
#[derive(Debug, serde::Serialize)]
pub struct GitSetupReport {
    /// The top of the git work tree.
    #[serde(serialize_with = "super::init::lossy_path")]
    pub work_tree: PathBuf,
    /// `.jit/.gitattributes`.
    #[serde(serialize_with = "super::init::lossy_path")]
    pub gitattributes: PathBuf,
    /// Whether `.gitattributes` was written (created, or the driver line appended).
    pub gitattributes_changed: bool,
    /// The config entries, each with whether it was set now (false: it already had the value).
    pub config: Vec<ConfigEntry>,
}

/// One git config entry jit sets.
#[derive(Debug, serde::Serialize)]
pub struct ConfigEntry {
    pub key: &'static str,
    pub value: &'static str,
    pub changed: bool,
}

impl GitSetupReport {
    /// Whether anything was written.
    pub fn changed(&self) -> bool {
        self.gitattributes_changed || self.config.iter().any(|c| c.changed)
    }
}

/// Run git in `dir`; `Ok(None)` when git is not installed.
fn git(dir: &Path, args: &[&str]) -> Result<Option<std::process::Output>> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).stdin(Stdio::null()).output();
    match out {
        Ok(o) => Ok(Some(o)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::GitFailed { command: args.join(" "), message: e.to_string() }),
    }
}

fn failed(args: &[&str], out: &std::process::Output) -> Error {
    let stderr = String::from_utf8_lossy(&out.stderr);
    Error::GitFailed { command: args.join(" "), message: stderr.trim().to_string() }
}

/// The bytes of `path` (relative to `dir`) as the commit `HEAD` has them, or `None` (no git,
/// not in a work tree, no commit yet, or not in it).
pub fn head_blob(dir: &Path, path: &str) -> Option<Vec<u8>> {
    let spec = format!("HEAD:./{path}");
    match git(dir, &["show", &spec]) {
        Ok(Some(o)) if o.status.success() => Some(o.stdout),
        _ => None,
    }
}

/// The top of the git work tree holding `dir`, or `None` outside one (or without git).
pub fn work_tree(dir: &Path) -> Result<Option<PathBuf>> {
    let args = ["rev-parse", "--show-toplevel"];
    match git(dir, &args)? {
        Some(o) if o.status.success() => {
            let top = String::from_utf8_lossy(&o.stdout).trim_end_matches('\n').to_string();
            Ok(Some(PathBuf::from(top)))
        }
        _ => Ok(None),
    }
}

/// Write `.jit/.gitattributes` and register the driver in the repository's git config.
/// Idempotent. `git` must be installed and `layout` inside a git work tree.
pub fn setup(layout: &Layout) -> Result<GitSetupReport> {
    let dir = layout.root();
    let args = ["rev-parse", "--show-toplevel"];
    let Some(out) = git(dir, &args)? else {
        return Err(Error::GitFailed {
            command: args.join(" "),
            message: "git is not installed (not found on PATH)".into(),
        });
    };
    if !out.status.success() {
        return Err(Error::NotGitRepo { path: layout.project().to_path_buf() });
    }
    let work_tree = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim_end_matches('\n'));
    let gitattributes = dir.join(".gitattributes");
    let gitattributes_changed = write_attributes(&gitattributes)?;
    let mut config = Vec::new();
    for (key, value) in DRIVER_CONFIG {
        let get = ["config", "--local", "--get", key];
        let current = git(dir, &get)?.filter(|o| o.status.success()).map(|o| o.stdout);
        let changed = current.as_deref() != Some(format!("{value}\n").as_bytes());
        if changed {
            let set = ["config", "--local", key, value];
            let out = git(dir, &set)?.expect("git ran just before");
            if !out.status.success() {
                return Err(failed(&set, &out));
            }
        }
        config.push(ConfigEntry { key, value, changed });
    }
    Ok(GitSetupReport { work_tree, gitattributes, gitattributes_changed, config })
}

/// Is jit's merge driver registered for the clone holding `layout`? `None` outside a git
/// work tree, or when git cannot be asked. The clone's own config file is read first (where
/// `jit init` and `jit git-setup` register it): one small read on the common path. Only when
/// it is not there is git asked, which also sees the global and system configs and includes.
pub fn driver_registered(layout: &Layout) -> Option<bool> {
    let tree = crate::storage::local::find_git(layout.project())?;
    let common = tree.common_dir?;
    let text = std::fs::read(common.join("config")).unwrap_or_default();
    if config_declares_driver(&String::from_utf8_lossy(&text)) {
        return Some(true);
    }
    let out = git(layout.project(), &["config", "--get", "merge.jit.driver"]).ok()??;
    Some(out.status.success() && !out.stdout.trim_ascii().is_empty())
}

/// Does this git config text set `merge.jit.driver` (`[merge "jit"]` then `driver = ...`, or
/// the old `[merge.jit]` form)? Section names are case-insensitive, the subsection is not.
fn config_declares_driver(text: &str) -> bool {
    let mut in_section = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            let Some(header) = header.split(']').next() else { continue };
            in_section = match header.split_once(char::is_whitespace) {
                Some((name, sub)) => name.eq_ignore_ascii_case("merge") && sub.trim() == "\"jit\"",
                None => header.eq_ignore_ascii_case("merge.jit"),
            };
            continue;
        }
        if !in_section {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        if key.trim().eq_ignore_ascii_case("driver") && !value.trim().is_empty() {
            return true;
        }
    }
    false
}

/// The warning every write (once) and `jit validate` give when the driver is missing.
pub const DRIVER_MISSING: &str = "this clone has not registered jit's merge driver, so git \
    would merge issue files line by line (conflict markers, lost fields): run `jit git-setup` \
    (git config is not cloned)";

/// Create `.gitattributes` or add the lines it lacks ([`gitattributes::LINES`]; a user's own
/// lines are kept). A link or other odd file there is the user's business: left alone.
/// Returns whether the file changed. Used by `init` and `git-setup` alike.
pub(super) fn write_attributes(path: &Path) -> Result<bool> {
    let current = match crate::storage::read_regular(path).at(path)? {
        FileBytes::Regular(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        FileBytes::Missing => None,
        FileBytes::NotRegular => return Ok(false),
    };
    match gitattributes::complete(current.as_deref()) {
        Some(new) => {
            atomic::write(path, new.as_bytes(), Durability::Full)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// How git left an issue file in an unfinished merge (or rebase, cherry-pick, revert).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmerged {
    /// Deleted on our side, edited on theirs (`git status`: deleted by us).
    DeletedByUs,
    /// Edited on our side, deleted on theirs (`git status`: deleted by them).
    DeletedByThem,
    /// Changed on both sides and not merged by jit's driver (not set up, or it refused).
    BothChanged,
}

/// One issue file left unmerged.
#[derive(Clone, Debug, serde::Serialize)]
pub struct UnmergedFile {
    /// The path as git names it, relative to the project directory.
    pub path: String,
    pub kind: Unmerged,
}

impl UnmergedFile {
    /// What to tell the user: what happened and the git commands that settle it.
    pub fn advice(&self) -> String {
        let p = &self.path;
        match self.kind {
            Unmerged::DeletedByUs | Unmerged::DeletedByThem => {
                let by = if self.kind == Unmerged::DeletedByUs { "us" } else { "them" };
                format!(
                    "{p} was deleted on one side of the merge and edited on the other \
                     (git status: deleted by {by}); keep the edited issue: `git add {p}`, \
                     or accept the delete: `git rm {p}`"
                )
            }
            Unmerged::BothChanged => format!(
                "{p} is unmerged: git did not merge it with jit's merge driver; run \
                 `jit git-setup` if this clone lacks it and make sure `jit` is on PATH, then \
                 `git checkout -m -- {p}` and `git add {p}`"
            ),
        }
    }
}

/// The issue files an unfinished merge left unmerged. Cheap when there is none: a few
/// `stat`s find the git directory and see no merge in progress, and only then is git run.
pub fn unmerged_issue_files(layout: &Layout) -> Vec<UnmergedFile> {
    let Some(git_dir) = crate::storage::local::find_git(layout.project()).and_then(|t| t.git_dir)
    else {
        return Vec::new();
    };
    let busy = ["MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply"];
    if !busy.iter().any(|f| git_dir.join(f).exists()) {
        return Vec::new();
    }
    let issues = layout.issues_dir();
    let args = ["ls-files", "-u", "-z", "--"];
    let out = Command::new("git")
        .arg("-C")
        .arg(layout.project())
        .args(args)
        .arg(&issues)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let Ok(out) = out.map_err(drop).and_then(|o| o.status.success().then_some(o).ok_or(())) else {
        return Vec::new();
    };
    parse_unmerged(&out.stdout)
}

/// `git ls-files -u -z` output: `<mode> <object> <stage>\t<path>\0` per index entry, stage 1
/// the base, 2 ours, 3 theirs.
fn parse_unmerged(out: &[u8]) -> Vec<UnmergedFile> {
    let mut files: Vec<(String, [bool; 3])> = Vec::new();
    for entry in out.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let entry = String::from_utf8_lossy(entry);
        let Some((meta, path)) = entry.split_once('\t') else { continue };
        let Some(stage) = meta.rsplit(' ').next().and_then(|s| s.parse::<usize>().ok()) else {
            continue;
        };
        if !(1..=3).contains(&stage) {
            continue;
        }
        match files.iter_mut().find(|(p, _)| p == path) {
            Some((_, s)) => s[stage - 1] = true,
            None => {
                let mut s = [false; 3];
                s[stage - 1] = true;
                files.push((path.to_string(), s));
            }
        }
    }
    files
        .into_iter()
        .map(|(path, [_, ours, theirs])| {
            let kind = match (ours, theirs) {
                (false, _) => Unmerged::DeletedByUs,
                (_, false) => Unmerged::DeletedByThem,
                _ => Unmerged::BothChanged,
            };
            UnmergedFile { path, kind }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_sections_are_recognised() {
        let yes = [
            "[merge \"jit\"]\n\tname = x\n\tdriver = jit merge-driver %O %A %B %P\n",
            "[core]\n\tbare = false\n[MERGE \"jit\"]\n  Driver=jit merge-driver\n",
            "[merge.jit]\ndriver = jit\n",
        ];
        for t in yes {
            assert!(config_declares_driver(t), "{t}");
        }
        let no = [
            "",
            "[merge \"jit\"]\n\tname = x\n",
            "[merge \"other\"]\n\tdriver = x\n",
            "[merge \"JIT\"]\n\tdriver = x\n",
            "[merge \"jit\"]\n[core]\n\tdriver = x\n",
            "[merge \"jit\"]\n\tdriver =\n",
        ];
        for t in no {
            assert!(!config_declares_driver(t), "{t}");
        }
    }

    #[test]
    fn unmerged_entries_are_read_by_stage() {
        let out = b"100644 aaa 1\t.jit/issues/a.json\x00100644 bbb 2\t.jit/issues/a.json\x00\
                    100644 aaa 1\t.jit/issues/b.json\x00100644 ccc 3\t.jit/issues/b.json\x00\
                    100644 aaa 1\t.jit/issues/c.json\x00100644 bbb 2\t.jit/issues/c.json\x00\
                    100644 ccc 3\t.jit/issues/c.json\x00";
        let kinds: Vec<_> = parse_unmerged(out).into_iter().map(|f| (f.path, f.kind)).collect();
        assert_eq!(
            kinds,
            [
                (".jit/issues/a.json".to_string(), Unmerged::DeletedByThem),
                (".jit/issues/b.json".to_string(), Unmerged::DeletedByUs),
                (".jit/issues/c.json".to_string(), Unmerged::BothChanged),
            ]
        );
    }
}
