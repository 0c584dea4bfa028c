//! `jit dep add|rm`

use clap::Subcommand;

use super::Ctx;
use super::key_arg::KeyArg;
use crate::api;
use crate::cli::CliError;
use crate::cli::exit;

/// Add or remove dependencies (`A depends on B`: A is blocked until B is done)
#[derive(Debug, Subcommand)]
#[command(after_help = "Examples:\n  jit dep add 01jx5k 01jx7m\n  jit dep rm 01jx5k 01jx7m")]
pub enum DepCommand {
    /// Make ID depend on each DEP; refused (exit 4) for a self-dependency, a missing issue, or
    /// an edge that would close a cycle (the error names the whole cycle)
    #[command(
        after_help = "Examples:\n  jit dep add 01jx5k 01jx7m 01jx9p\n  jit dep add 01jx5k 01jx7m --json"
    )]
    Add {
        /// The issue that depends
        #[arg(value_name = "ID")]
        id: String,
        /// What it depends on
        #[arg(value_name = "DEP", required = true)]
        deps: Vec<String>,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Remove dependencies of ID (a full id of a deleted issue works too)
    #[command(after_help = "Examples:\n  jit dep rm 01jx5k 01jx7m")]
    Rm {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(value_name = "DEP", required = true)]
        deps: Vec<String>,
        #[command(flatten)]
        key: KeyArg,
    },
}

pub fn run(ctx: &mut Ctx, cmd: DepCommand) -> Result<u8, CliError> {
    let (DepCommand::Add { id, deps, key } | DepCommand::Rm { id, deps, key }) = &cmd;
    let (req, key) = (api::DepEdit { id: id.clone(), deps: deps.clone() }, key.parse()?);
    let repo = ctx.open_repo()?;
    let (done, verb) = match cmd {
        DepCommand::Add { .. } => (repo.dep_add(&req, key.as_ref())?, "added"),
        DepCommand::Rm { .. } => (repo.dep_rm(&req, key.as_ref())?, "removed"),
    };
    let (issue, changed) = (done.issue, done.changed);
    if ctx.out.is_json() {
        ctx.out.json(&issue)?;
    } else {
        let list = |ids: &[crate::model::IssueId]| {
            if ids.is_empty() {
                "nothing".to_string()
            } else {
                ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
            }
        };
        ctx.out.text(&format!(
            "{verb} {}\n{} depends on: {}\n",
            list(&changed),
            issue.id,
            list(&issue.dependencies)
        ))?;
    }
    Ok(exit::OK)
}
