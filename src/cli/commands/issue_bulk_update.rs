//! `jit issue bulk-update`

use super::Ctx;
use super::change_args::FieldChanges;
use crate::api;
use crate::cli::CliError;
use crate::cli::exit;
use crate::error::Error;

/// Change every issue a filter matches, in one crash-atomic write
///
/// The issues that can change are written as ONE journal commit: a crash leaves either all of
/// them changed or none. Refusal is per issue, not all or nothing: issues the change cannot
/// apply to (a refused transition, a blocked issue, unpassed gates) are left alone and listed
/// as errors, the others are still changed, and the exit code is 1. Issues already in the
/// target shape are skipped. Use --dry-run to see the report first. A change matching more
/// issues than the config's bulk_confirm (default 100) needs --yes.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  jit issue bulk-update --filter 'state:backlog AND label:epic:login' --state ready
  jit issue bulk-update --filter 'assignee:agent:old' --assignee agent:new --dry-run --json
  jit issue bulk-update --filter 'label:triage:*' --remove-label triage:new --yes")]
pub struct Args {
    /// Which issues (see `jit query --help`)
    #[arg(long, value_name = "EXPR")]
    pub filter: String,
    #[command(flatten)]
    pub fields: FieldChanges,
    /// Report what would change and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Allow a change of more issues than bulk_confirm
    #[arg(short, long)]
    pub yes: bool,
    #[command(flatten)]
    pub key: super::key_arg::KeyArg,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    let key = args.key.parse()?;
    // Parsed here too, so that a bad filter is reported before the repository is opened.
    crate::query::parse(&args.filter).map_err(Error::from)?;
    let changes = args.fields.into_changes()?;
    if changes.is_empty() {
        return Err(Error::InvalidArgument(
            "nothing to change: give at least one of --state, --priority, --add-label, \
             --remove-label, --assignee, --unassign"
                .into(),
        )
        .into());
    }
    let repo = ctx.open_repo()?;
    let req = api::BulkUpdate {
        filter: args.filter,
        changes: changes.into(),
        dry_run: args.dry_run,
        yes: args.yes,
    };
    let report = repo.bulk(&req, key.as_ref())?;
    ctx.warn_unreadable(&report.unreadable);
    if ctx.out.is_json() {
        ctx.out.json(&report)?;
    } else {
        let verb = if report.dry_run { "would modify" } else { "modified" };
        ctx.out.text(&format!(
            "matched {}, {verb} {}, skipped {} (already so), failed {}\n",
            report.matched,
            report.modified,
            report.skipped,
            report.errors.len()
        ))?;
        for e in &report.errors {
            ctx.out.text(&format!("  {}: {}\n", e.code, e.message))?;
        }
    }
    Ok(if report.errors.is_empty() { exit::OK } else { exit::USER })
}
