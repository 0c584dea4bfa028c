//! `jit query`

use super::Ctx;
use super::select_args::{SelectArgs, print_selection};
use crate::cli::CliError;
use crate::cli::exit;
use crate::repo::read::Selection;

/// Find issues with a filter expression
///
/// The language: `field:value` terms, comparisons on priority and dates, free text, AND / OR /
/// NOT and parentheses. `jit query --help` and `jit help filters` print its whole reference.
#[derive(Debug, clap::Args)]
#[command(after_long_help = long_help())]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The filter
    #[arg(value_name = "EXPR")]
    pub expr: String,
    /// Print the parsed filter (normalised text and its tree) instead of running it
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub select: SelectArgs,
}

const EXAMPLES: &str = "\
Examples:
  jit query 'state:ready AND priority>=high'
  jit query '(state:ready AND label:epic:foo) OR priority:critical' --json
  jit query 'is:open updated<24h' --sort updated:desc --limit 10
  jit query 'label:type:bug' --count
  jit query --explain 'a b OR NOT c'

`jit query --help` (or `jit help filters`) prints the language reference.";

/// `--help`: the examples, then the language reference.
fn long_help() -> String {
    format!("{EXAMPLES}\n\n{}", super::help::FILTERS)
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    let expr = crate::query::parse(&args.expr).map_err(crate::Error::from)?;
    if args.explain {
        if ctx.out.is_json() {
            ctx.out.json(&crate::api::Explain { ast: expr.to_json(), query: expr.to_string() })?;
        } else {
            ctx.out.text(&format!("query: {expr}\n{}", expr.tree()))?;
        }
        return Ok(exit::OK);
    }
    let sel = Selection::new(&args.select.request(Some(args.expr)))?;
    let repo = ctx.open_repo()?;
    print_selection(ctx, &repo, &sel)
}
