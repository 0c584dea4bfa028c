//! `jit issue delete`

use std::io::{BufRead, Write};

use super::Ctx;
use crate::api;
use crate::cli::CliError;
use crate::cli::exit;
use crate::cli::render::one_line;
use crate::error::Error;

/// Delete an issue, and remove every reference to it from other issues
///
/// The deletion and the removal of the references are one all-or-nothing change. On a
/// terminal it asks first (naming the issue and how many issues depend on it); elsewhere
/// it needs --yes.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  jit issue delete 01jx5k\n  jit issue delete 01jx5k --yes --json"
)]
pub struct Args {
    /// Issue id or unique prefix
    #[arg(value_name = "ID")]
    pub id: String,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub yes: bool,
    #[command(flatten)]
    pub key: super::key_arg::KeyArg,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    let key = args.key.parse()?;
    let repo = ctx.open_repo()?;
    let req = api::DeleteIssue { id: args.id.clone() };
    let keyed = repo.keyed(key.as_ref(), "delete", &req);
    let mut warned = false;
    // A retry of a delete that committed is answered without asking again (the issue is gone).
    let replay: Option<api::Deleted> = repo.replayed(keyed.as_ref())?;
    if !args.yes && replay.is_none() {
        let plan = repo.delete_plan(&args.id)?;
        if ctx.inv.stdin_is_terminal() && ctx.inv.stderr().is_terminal() {
            // Before the question: files that could not be checked may refer to the issue.
            ctx.warn_unreadable(&plan.unreadable);
            warned = true;
        }
        let question = format!(
            "Delete issue {} \"{}\"?{} [y/N] ",
            plan.issue.id,
            one_line(&plan.issue.title),
            match plan.referrers.len() {
                0 => String::new(),
                n => format!(
                    " {n} issue(s) depend on it; that dependency will be removed from them."
                ),
            }
        );
        if !ctx.inv.stdin_is_terminal() || !ctx.inv.stderr().is_terminal() {
            return Err(Error::ConfirmationRequired(format!(
                "refusing to delete {} without confirmation (not a terminal)",
                plan.issue.id
            ))
            .into());
        }
        let _ = write!(ctx.inv.stderr(), "{question}");
        let mut answer = String::new();
        let _ = std::io::BufReader::new(ctx.inv.stdin()).read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            ctx.status("not deleted");
            return Ok(exit::USER);
        }
    }
    let done = match replay {
        Some(done) => done,
        None => repo.delete(&req, key.as_ref())?,
    };
    if !warned {
        ctx.warn_unreadable(&done.unreadable);
    }
    if ctx.out.is_json() {
        ctx.out.json(&done)?;
    } else {
        ctx.out.text(&format!("Deleted {} \"{}\"\n", done.deleted, one_line(&done.title)))?;
        if !done.referrers.is_empty() {
            ctx.out.text(&format!(
                "Removed the dependency from {} issue(s)\n",
                done.referrers.len()
            ))?;
        }
    }
    Ok(exit::OK)
}
