//! Dependency edits: `dep add` refuses self-dependencies, missing issues and cycles (naming
//! the whole cycle); the check runs under the writers' lock, so two processes adding A→B and
//! B→A at once can never both succeed.

use super::Repo;
use crate::error::{Error, Result};
use crate::graph;
use crate::model::{Issue, IssueId};
use crate::storage::index;

impl Repo {
    /// Resolve a dependency argument, refusing a missing issue with `DEP_MISSING`.
    fn resolve_dep(&self, input: &str) -> Result<IssueId> {
        match self.resolve(input) {
            Err(Error::IssueNotFound(_)) => Err(Error::Dependency {
                code: "DEP_MISSING",
                message: format!("cannot depend on `{input}`: no such issue"),
                cycle: vec![],
            }),
            other => other,
        }
    }

    /// Check the ids a new issue will depend on (used by `issue create --depends-on`).
    pub(super) fn resolve_deps(&self, inputs: &[String]) -> Result<Vec<IssueId>> {
        let mut ids = Vec::new();
        for i in inputs {
            let id = self.resolve_dep(i)?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Make `input` depend on each of `deps`, all or nothing. Returns the issue and the
    /// dependencies that were new.
    pub fn dep_add(&self, input: &str, deps: &[String]) -> Result<(Issue, Vec<IssueId>)> {
        let id = self.resolve(input)?;
        let _lock = self.lock()?;
        let mut issue = self.load(id)?;
        let mut added = Vec::new();
        let wanted = self.resolve_deps(deps)?;
        // The cycle check visits only what the new dependencies lead to: read through the
        // index, each visited issue checked against its own file.
        let records = index::Records::open(&self.layout)?;
        for dep in wanted {
            if dep == id {
                return Err(Error::Dependency {
                    code: "DEP_SELF",
                    message: format!("issue {id} cannot depend on itself"),
                    cycle: vec![],
                });
            }
            if issue.dependencies.contains(&dep) {
                continue;
            }
            let own = issue.dependencies.iter().map(|d| d.as_u128()).collect::<Vec<_>>();
            let deps_of = |n: graph::Node| {
                if n == id.as_u128() { own.clone() } else { records.deps(n).unwrap_or_default() }
            };
            if let Some(cycle) = graph::cycle_if_added(id.as_u128(), dep.as_u128(), deps_of) {
                let names: Vec<String> =
                    cycle.iter().map(|n| IssueId::from_u128(*n).to_string()).collect();
                return Err(Error::Dependency {
                    code: "DEP_CYCLE",
                    message: format!(
                        "{id} cannot depend on {dep}: that closes the cycle {}",
                        names.join(" → ")
                    ),
                    cycle: names,
                });
            }
            issue.dependencies.push(dep);
            added.push(dep);
        }
        if !added.is_empty() {
            issue.bump(self.clock.now())?;
            self.write_issue(&issue)?;
        }
        Ok((issue, added))
    }

    /// Remove dependencies. A full id that no longer names an issue can still be removed (to
    /// clean up after a hand edit). Returns the issue and what was removed.
    pub fn dep_rm(&self, input: &str, deps: &[String]) -> Result<(Issue, Vec<IssueId>)> {
        let id = self.resolve(input)?;
        let _lock = self.lock()?;
        let mut issue = self.load(id)?;
        let mut removed = Vec::new();
        for d in deps {
            let dep = match self.resolve(d) {
                Ok(x) => x,
                Err(Error::IssueNotFound(_)) => match d.to_ascii_lowercase().parse::<IssueId>() {
                    Ok(x) => x,
                    Err(_) => return Err(Error::IssueNotFound(d.clone())),
                },
                Err(e) => return Err(e),
            };
            if issue.dependencies.contains(&dep) {
                issue.dependencies.retain(|x| *x != dep);
                removed.push(dep);
            }
        }
        if !removed.is_empty() {
            issue.bump(self.clock.now())?;
            self.write_issue(&issue)?;
        }
        Ok((issue, removed))
    }
}
