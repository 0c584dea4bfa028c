//! `jit issue update`

use super::Ctx;
use super::change_args::FieldChanges;
use super::issue::print_issue;
use super::issue_create::description_arg;
use crate::api;
use crate::cli::CliError;
use crate::cli::exit;
use crate::error::Error;
use crate::model::IssueChanges;

/// Change fields of an issue
///
/// Only the fields given change; a change that is already in place writes nothing and keeps
/// the version. With --if-version N the update is a compare-and-swap: it fails with
/// VERSION_CONFLICT (exit 4) unless the issue is at version N.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  jit issue update 01jx5k --state in_progress --assignee agent:coder
  jit issue update 01jx5k --add-label area:auth --remove-label triage:new
  jit issue update 01jx5k --context 'pr=\"https://example.com/pr/7\"' --if-version 3")]
pub struct Args {
    /// Issue id or unique prefix
    #[arg(value_name = "ID")]
    pub id: String,
    /// New title
    #[arg(long)]
    pub title: Option<String>,
    /// New description; `-` reads it from stdin
    #[arg(short, long, value_name = "TEXT", allow_hyphen_values = true)]
    pub description: Option<String>,
    #[command(flatten)]
    pub fields: FieldChanges,
    /// Set a context key to a JSON value (KEY=JSON); repeat for several
    #[arg(long = "context", value_name = "KEY=JSON")]
    pub context: Vec<String>,
    /// Apply only if the issue is at this version
    #[arg(long, value_name = "N")]
    pub if_version: Option<u64>,
    #[command(flatten)]
    pub key: super::key_arg::KeyArg,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    let key = args.key.parse()?;
    let context = args.context.iter().map(|kv| parse_context(kv)).collect::<Result<_, _>>()?;
    let changes = IssueChanges {
        title: args.title,
        description: description_arg(args.description, ctx.inv)?,
        context,
        ..args.fields.into_changes()?
    };
    if changes.is_empty() {
        return Err(Error::InvalidArgument(
            "nothing to change: give at least one of --title, --description, --state, \
             --priority, --add-label, --remove-label, --assignee, --unassign, --context"
                .into(),
        )
        .into());
    }
    let req =
        api::UpdateIssue { id: args.id, changes: changes.into(), if_version: args.if_version };
    let repo = ctx.open_repo()?;
    let done = repo.update_issue(&req, key.as_ref())?;
    if let Some(refused) = done.refused {
        // Committed as the outcome (the issue may now be gated), reported as the error.
        return Err(Error::from(refused).into());
    }
    let (issue, changed) = (done.issue, done.changed);
    if !changed {
        ctx.status("nothing changed: the issue already had these values");
    }
    print_issue(ctx, &issue)?;
    Ok(exit::OK)
}

fn parse_context(kv: &str) -> Result<(String, serde_json::Value), Error> {
    let (k, v) = kv
        .split_once('=')
        .ok_or_else(|| Error::InvalidArgument(format!("--context takes KEY=JSON, got `{kv}`")))?;
    let value = serde_json::from_str(v).map_err(|e| {
        Error::InvalidArgument(format!(
            "--context {k}: `{v}` is not JSON ({e}); quote strings, e.g. {k}='\"text\"'"
        ))
    })?;
    Ok((k.to_string(), value))
}
