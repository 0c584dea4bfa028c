//! `jit issue …`: the issue subcommands.

use clap::Subcommand;

use super::{
    Ctx, issue_bulk_update, issue_create, issue_delete, issue_list, issue_show, issue_update,
};
use crate::cli::CliError;

/// Create, show, list, update and delete issues
#[derive(Debug, Subcommand)]
#[command(
    after_help = "Examples:\n  jit issue create \"Fix the login page\" -p high\n  jit issue list --filter 'state:ready'\n  jit issue update 01jx5k --state in_progress"
)]
pub enum IssueCommand {
    Create(issue_create::Args),
    Show(issue_show::Args),
    List(issue_list::Args),
    Update(issue_update::Args),
    Delete(issue_delete::Args),
    BulkUpdate(issue_bulk_update::Args),
}

pub fn run(ctx: &mut Ctx, cmd: IssueCommand) -> Result<u8, CliError> {
    match cmd {
        IssueCommand::Create(a) => issue_create::run(ctx, a),
        IssueCommand::Show(a) => issue_show::run(ctx, a),
        IssueCommand::List(a) => issue_list::run(ctx, a),
        IssueCommand::Update(a) => issue_update::run(ctx, a),
        IssueCommand::Delete(a) => issue_delete::run(ctx, a),
        IssueCommand::BulkUpdate(a) => issue_bulk_update::run(ctx, a),
    }
}

/// Print one issue: JSON object or card.
pub fn print_issue(ctx: &mut Ctx, issue: &crate::model::Issue) -> Result<(), CliError> {
    if ctx.out.is_json() {
        ctx.out.json(issue)?;
    } else {
        ctx.out.human(|w| crate::cli::render::card(w, issue))?;
    }
    Ok(())
}
