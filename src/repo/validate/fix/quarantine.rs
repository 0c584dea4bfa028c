//! The repairs of files: moves into quarantine (with a note beside each), renames of
//! misnamed issue files, restores from git.

use super::*;

impl Planner<'_, '_> {
    /// The quarantine folder of this fix (relative to `.jit/`): `quarantine/fix-<time>`.
    pub(super) fn qdir(&mut self) -> String {
        if let Some(q) = &self.qdir {
            return q.clone();
        }
        let t = self.tx.now().strftime("%Y%m%dT%H%M%S%.6fZ").to_string();
        let base = format!("quarantine/fix-{t}");
        let mut q = base.clone();
        let mut n = 1;
        while std::fs::symlink_metadata(self.repo.layout.root().join(&q)).is_ok() {
            n += 1;
            q = format!("{base}-{n}");
        }
        self.qdir = Some(q.clone());
        q
    }

    /// Move the finding's path into quarantine, with a note.
    pub(super) fn quarantine(&mut self, i: usize, f: &Finding) -> Result<()> {
        let from = in_store(&f.path).to_string();
        let to = format!("{}/{from}", self.qdir());
        self.stage_quarantine(&from, &to, f)?;
        let m = self.verb("moved into quarantine", "would move into quarantine");
        let shown = format!("{DIR_NAME}/{to}");
        let message = format!("{m}: {shown} (a note beside it says why)");
        self.act(i, f, "quarantine", message).to = Some(shown);
        Ok(())
    }

    pub(super) fn stage_quarantine(&mut self, from: &str, to: &str, f: &Finding) -> Result<()> {
        self.moved.insert(from.to_string());
        if let Some(id) = from.strip_prefix("issues/").and_then(IssueId::from_file_name) {
            self.gone.insert(id);
        }
        let note = Note {
            from: &f.path,
            code: f.code,
            reason: &f.message,
            moved_at: crate::model::time::format(self.tx.now()),
            restore: format!("mv {DIR_NAME}/{to} {}", f.path),
        };
        let text = serde_json::to_string_pretty(&note).expect("note serialises") + "\n";
        self.tx.stage_move(from.to_string(), to.to_string());
        self.tx.stage_file(format!("{to}.note.json"), text);
        Ok(())
    }

    /// The version of an issue file `HEAD` has, if it is a valid issue of that id.
    pub(super) fn head_version(&mut self, f: &Finding) -> Option<String> {
        let id = f.issue?;
        let project = self.repo.layout.project();
        if *self
            .git
            .get_or_insert_with(|| crate::repo::git::work_tree(project).ok().flatten().is_some())
        {
            let bytes = crate::repo::git::head_blob(project, &f.path)?;
            let issue = Issue::from_slice(&bytes).ok().filter(|i| i.id == id)?;
            let _ = issue;
            String::from_utf8(bytes).ok()
        } else {
            None
        }
    }

    /// Issue files that are not issues, and entries that are not issue files.
    pub(super) fn files(&mut self, findings: &[Finding]) -> Result<()> {
        let unmerged: HashSet<&str> = findings
            .iter()
            .filter(|f| f.code == "ISSUE_UNMERGED")
            .map(|f| f.path.as_str())
            .collect();
        for (i, f) in findings.iter().enumerate() {
            let path = in_store(&f.path).to_string();
            if self.moved.contains(&path) {
                if matches!(f.code, "ISSUE_CONFLICT_MARKERS" | "ISSUE_SCHEMA") {
                    self.settled.insert(i);
                }
                continue;
            }
            match f.code {
                "ISSUE_UNPARSEABLE"
                | "ISSUE_TRUNCATED"
                | "ISSUE_SCHEMA"
                | "ISSUE_CONFLICT_MARKERS" => {
                    // During a merge, git settles it: moving it would confuse the merge.
                    if unmerged.contains(f.path.as_str()) {
                        continue;
                    }
                    match self.head_version(f) {
                        Some(head) if self.opts.restore_from_git => {
                            let to = format!("{}/{path}", self.qdir());
                            self.stage_quarantine(&path, &to, f)?;
                            self.tx.stage_file(path.clone(), head);
                            if let Some(id) = f.issue {
                                self.gone.remove(&id);
                            }
                            let m = self.verb(
                                "restored from git's HEAD; the damaged file is in quarantine",
                                "would restore it from git's HEAD and keep the damaged file in \
                                 quarantine",
                            );
                            self.act(i, f, "restore_from_git", m).to =
                                Some(format!("{DIR_NAME}/{to}"));
                        }
                        Some(_) => {
                            self.quarantine(i, f)?;
                            let a = self.actions.last_mut().expect("just pushed");
                            a.message.push_str(
                                "; git's HEAD has a valid version of it: `jit validate --fix \
                                 --restore-from-git` puts that back",
                            );
                        }
                        None => self.quarantine(i, f)?,
                    }
                }
                "ISSUE_NOT_REGULAR" | "FOREIGN_FILE" | "ISSUE_DUPLICATE_ID" => {
                    self.quarantine(i, f)?;
                }
                "ISSUE_ID_MISMATCH" => self.rename(i, f, &path)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// A file whose issue is not its name, and no file has that issue's name: renamed.
    pub(super) fn rename(&mut self, i: usize, f: &Finding, path: &str) -> Result<()> {
        let full = self.repo.layout.root().join(path);
        let inner = std::fs::read(&full).ok().and_then(|b| Issue::from_slice(&b).ok());
        let Some(inner) = inner else { return Ok(()) };
        let name = inner.id.file_name();
        if self.repo.layout.issue_path(inner.id).exists() {
            return self.quarantine(i, f);
        }
        let to = format!("issues/{name}");
        self.moved.insert(path.to_string());
        if let Some(id) = f.issue {
            self.gone.insert(id);
        }
        self.gone.remove(&inner.id);
        self.tx.stage_move(path.to_string(), to.clone());
        let m = self.verb("renamed to", "would rename to");
        let shown = format!("{DIR_NAME}/{to}");
        let message = format!("{m} {shown}, the name of the issue inside");
        self.act(i, f, "rename", message).to = Some(shown);
        Ok(())
    }
}
