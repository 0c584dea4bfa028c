//! `jit git-setup`

use super::Ctx;
use crate::cli::CliError;
use crate::cli::exit;
use crate::repo::git::{self, GitSetupReport};

/// Set up git to merge issue files field by field (run once in every clone)
///
/// Writes .jit/.gitattributes (issue files use the `jit` merge driver) and registers the
/// driver in the repository's git config (merge.jit.name, merge.jit.driver), which git does not
/// version, so a fresh clone needs it again. `jit init` does the same in a git work tree.
/// Running it again changes nothing. git runs the driver as `jit merge-driver`, so `jit` must
/// be on PATH wherever git merges.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  git clone URL project && cd project && jit git-setup")]
pub struct Args {}

pub fn run(ctx: &mut Ctx, _args: Args) -> Result<u8, CliError> {
    let repo = ctx.open_repo()?;
    let report = git::setup(repo.layout())?;
    if ctx.out.is_json() {
        ctx.out.json(&report)?;
    } else if report.changed() {
        ctx.out.text(&describe(&report))?;
    } else {
        ctx.out.text(&format!(
            "git in {} is already set up for jit; nothing to do\n",
            report.work_tree.display()
        ))?;
    }
    Ok(exit::OK)
}

/// The lines saying what changed (also printed by `jit init`).
pub fn describe(report: &GitSetupReport) -> String {
    let mut s = String::new();
    if report.gitattributes_changed {
        s += &format!("Wrote {}\n", report.gitattributes.display());
    }
    for c in report.config.iter().filter(|c| c.changed) {
        s += &format!("Set git config {} = {}\n", c.key, c.value);
    }
    s
}
