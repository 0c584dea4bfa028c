//! `jit ready` and `jit blocked`

use super::Ctx;
use crate::api::{NodeRef, ReadyRequest};
use crate::cli::CliError;
use crate::cli::render::{Row, one_line, table, unique_prefix_len};
use crate::model::IssueId;
use crate::repo::read;

/// List the issues ready to work on: state ready, every dependency done, no precheck failed,
/// no manual precheck pending (a pending auto precheck trusted here runs at the start, so it
/// does not hold an issue back); highest priority first, then oldest
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  jit ready\n  jit ready --json --limit 1")]
pub struct ReadyArgs {
    /// Print at most N issues (0 prints none)
    #[arg(long, value_name = "N", value_parser = super::select_args::limit_arg)]
    #[arg(allow_hyphen_values = true)]
    pub limit: Option<usize>,
}

/// List open issues blocked by dependencies that are not done, with what blocks them
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  jit blocked\n  jit blocked --json")]
pub struct BlockedArgs {}

pub fn run_ready(ctx: &mut Ctx, args: ReadyArgs) -> Result<u8, CliError> {
    let repo = ctx.open_repo()?;
    let snap = ctx.snapshot(&repo)?;
    let view = repo.graph_view(&snap);
    let ready = read::ready(&view, &ReadyRequest { limit: args.limit });
    if ctx.out.is_json() {
        ctx.out.json_array(snap.json_of(&ready)?.iter().map(|j| &**j))?;
    } else if args.limit == Some(0) {
        // None by request, as `issue list --limit 0`: not "nothing is ready".
    } else if ready.is_empty() {
        ctx.status("nothing is ready");
    } else {
        let ids: Vec<IssueId> = snap.iter().map(|e| e.id).collect();
        let rows: Vec<Row> = ready.iter().map(|e| Row { id: e.id, summary: e.summary() }).collect();
        ctx.out.human(|w| table(w, &rows, unique_prefix_len(&ids)))?;
    }
    snap.repair();
    Ok(ctx.read_outcome(&snap))
}

pub fn run_blocked(ctx: &mut Ctx, _args: BlockedArgs) -> Result<u8, CliError> {
    let repo = ctx.open_repo()?;
    let snap = ctx.snapshot(&repo)?;
    let view = repo.graph_view(&snap);
    let blocked = read::blocked(&view);
    if ctx.out.is_json() {
        ctx.out.json(&blocked)?;
    } else if blocked.is_empty() {
        ctx.status("nothing is blocked");
    } else {
        let ids: Vec<IssueId> = snap.iter().map(|e| e.id).collect();
        let id_len = unique_prefix_len(&ids);
        for b in &blocked {
            let title = match &b.issue {
                NodeRef::Issue { title, .. } => title.as_str(),
                NodeRef::Missing { .. } => "",
            };
            ctx.out.text(&format!("{}  {}\n", b.issue.id().short(id_len), one_line(title)))?;
            for by in &b.blocked_by {
                let line = match by {
                    NodeRef::Issue { id, title, state, .. } => {
                        let state = state.map_or("?", |s| s.as_str());
                        format!("{} [{state}] {}", id.short(id_len), one_line(title))
                    }
                    // Missing: the full id, as no issue has it.
                    NodeRef::Missing { id, .. } => format!("{id} [missing] (no such issue)"),
                };
                ctx.out.text(&format!("    blocked by {line}\n"))?;
            }
        }
    }
    snap.repair();
    Ok(ctx.read_outcome(&snap))
}
