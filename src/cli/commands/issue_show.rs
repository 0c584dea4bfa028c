//! `jit issue show`

use super::Ctx;
use super::issue::print_issue;
use crate::cli::CliError;
use crate::error::exit;

/// Show issues by id or unique prefix (4+ characters)
///
/// With --json, one id prints the issue object; several print an array.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  jit issue show 01jx5k\n  jit issue show 01jx5k 01jx7m --json")]
pub struct Args {
    /// Issue ids or unique prefixes
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    let repo = ctx.open_repo()?;
    ctx.warn_unmerged(&repo);
    let issues = args.ids.iter().map(|i| repo.show(i)).collect::<Result<Vec<_>, _>>()?;
    if ctx.out.is_json() && issues.len() > 1 {
        ctx.out.json(&issues)?;
        return Ok(exit::OK);
    }
    for (n, issue) in issues.iter().enumerate() {
        if n > 0 && !ctx.out.is_json() {
            ctx.out.text("\n")?;
        }
        print_issue(ctx, issue)?;
    }
    Ok(exit::OK)
}
