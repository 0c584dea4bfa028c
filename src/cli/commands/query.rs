//! `jit query`

use super::Ctx;
use super::select_args::{SelectArgs, print_selection};
use crate::cli::CliError;
use crate::error::exit;

/// Find issues with a filter expression
///
/// The language is described in docs/query-language.md: `field:value` terms, comparisons on
/// priority and dates, free text, AND / OR / NOT and parentheses.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  jit query 'state:ready AND priority>=high'
  jit query '(state:ready AND label:epic:foo) OR priority:critical' --json
  jit query 'is:open updated<24h' --sort updated:desc --limit 10
  jit query 'label:type:bug' --count
  jit query --explain 'a b OR NOT c'")]
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

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    let expr = crate::query::parse(&args.expr).map_err(crate::Error::from)?;
    if args.explain {
        if ctx.out.is_json() {
            ctx.out
                .json(&serde_json::json!({ "query": expr.to_string(), "ast": expr.to_json() }))?;
        } else {
            ctx.out.text(&format!("query: {expr}\n{}", expr.tree()))?;
        }
        return Ok(exit::OK);
    }
    let repo = ctx.open_repo()?;
    print_selection(ctx, &repo, Some(&expr), &args.select)?;
    Ok(exit::OK)
}
