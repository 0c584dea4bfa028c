//! `jit issue list`

use super::Ctx;
use crate::cli::CliError;
use crate::cli::render::{Row, table, unique_prefix_len};
use crate::error::exit;

/// List issues, newest first
///
/// Reads through the index in .jit/index/, so it does not open issue files that have not
/// changed since they were indexed.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  jit issue list\n  jit issue list --json | jq '.[].title'")]
pub struct Args {}

pub fn run(ctx: &mut Ctx, _args: Args) -> Result<u8, CliError> {
    let repo = ctx.open_repo()?;
    let snap = repo.snapshot()?;
    for p in &snap.problems {
        ctx.warn(&format!("skipped {}: {} (run `jit validate`)", p.path.display(), p.message));
    }
    if ctx.out.is_json() {
        ctx.out.json_array(snap.iter().rev().map(|e| e.json))?;
        return Ok(exit::OK);
    }
    let ids: Vec<_> = snap.iter().map(|e| e.id).collect();
    let id_len = unique_prefix_len(&ids);
    let rows: Vec<Row> =
        snap.iter().rev().map(|e| Row { id: e.id, summary: e.summary() }).collect();
    if rows.is_empty() {
        ctx.status("no issues yet; create one with `jit issue create TITLE`");
        return Ok(exit::OK);
    }
    table(ctx.out.writer(), &rows, id_len)?;
    Ok(exit::OK)
}
