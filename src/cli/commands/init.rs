//! `jit init`

use std::path::PathBuf;

use super::Ctx;
use crate::cli::CliError;
use crate::cli::exit;
use crate::repo::Repo;
use crate::storage::Layout;

/// Create a jit repository (.jit/) in the current directory or in --repo PATH
///
/// Running it again in an existing repository changes nothing and says so.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  jit init\n  jit init --repo ../other-project")]
pub struct Args {}

pub fn run(ctx: &mut Ctx, _args: Args) -> Result<u8, CliError> {
    let cwd = ctx.inv.cwd()?;
    let target: PathBuf = match &ctx.global.repo {
        Some(p) => cwd.join(p),
        None => cwd,
    };
    let report = Repo::init(&target)?;
    if report.created {
        let project = Layout::for_new(&target).project().to_path_buf();
        if let Some(outer) = Layout::enclosing(&project) {
            ctx.warn(&format!(
                "this tracker is inside the one in {}; commands run in {} and below now use \
                 the new one",
                outer.display(),
                project.display()
            ));
        }
    }
    if ctx.out.is_json() {
        ctx.out.json(&report)?;
    } else if report.created {
        ctx.out.text(&format!("Initialized jit repository in {}\n", report.path.display()))?;
    } else if report.repaired.is_empty() {
        ctx.out.text(&format!(
            "jit repository already exists in {}; nothing to do\n",
            report.path.display()
        ))?;
    } else {
        ctx.out.text(&format!(
            "jit repository already exists in {}; re-created the missing {}\n",
            report.path.display(),
            report.repaired.join(", ")
        ))?;
    }
    if let Some(git) = report.git.as_ref().filter(|g| !ctx.out.is_json() && g.changed()) {
        ctx.out.text(&super::git_setup::describe(git))?;
    }
    Ok(exit::OK)
}
