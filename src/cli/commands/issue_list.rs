//! `jit issue list`

use super::Ctx;
use super::select_args::{SelectArgs, print_selection};
use crate::cli::CliError;
use crate::repo::read::Selection;

/// List issues, newest first, optionally filtered
///
/// Reads through the index in .jit/index/, so it does not open issue files that have not
/// changed since they were indexed. --filter takes the language of `jit query`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  jit issue list
  jit issue list --filter 'state:ready AND label:area:*' --sort priority:desc
  jit issue list --json --fields id,title,state | jq -r '.[].title'")]
pub struct Args {
    /// Only issues matching this filter (see `jit query --help`)
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    #[command(flatten)]
    pub select: SelectArgs,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    // Checked before the repository is opened: a bad option fails fast.
    let sel = Selection::new(&args.select.request(args.filter))?;
    let repo = ctx.open_repo()?;
    print_selection(ctx, &repo, &sel)
}
