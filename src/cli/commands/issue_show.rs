//! `jit issue show`

use super::Ctx;
use super::issue::print_issue;
use crate::api::ShowRequest;
use crate::cli::CliError;
use crate::cli::exit;

/// Show issues by id or unique prefix (4+ characters)
///
/// Each issue is shown once, in the order first named, however many ids name it. With --json,
/// every issue is one JSON object on a line of its own (JSON Lines): one id prints exactly one
/// object, several print one per line, the same shape either way.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  jit issue show 01jx5k
  jit issue show 01jx5k 01jx7m --json | jq -r .title")]
pub struct Args {
    /// Issue ids or unique prefixes
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    let repo = ctx.open_repo()?;
    ctx.warn_unmerged(&repo);
    let issues = crate::repo::read::show(&repo, &ShowRequest { ids: args.ids })?;
    for (n, issue) in issues.iter().enumerate() {
        if n > 0 && !ctx.out.is_json() {
            ctx.out.text("\n")?;
        }
        print_issue(ctx, issue)?;
    }
    Ok(exit::OK)
}
