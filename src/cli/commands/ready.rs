//! `jit ready` and `jit blocked`

use serde_json::{Value, json};

use super::Ctx;
use crate::cli::CliError;
use crate::cli::render::{Row, one_line, table, unique_prefix_len};
use crate::error::exit;
use crate::graph::GraphView;
use crate::model::{IssueId, Priority, State};
use crate::storage::index::Entry;

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
    let mut ready: Vec<Entry> = snap
        .iter()
        .filter(|e| e.head().state == State::Ready.to_u8() && view.is_ready(&e.summary()))
        .collect();
    // Claim order: priority (highest first), then age (oldest first).
    ready.sort_by_cached_key(|e| (std::cmp::Reverse(e.summary().priority), e.id));
    ready.truncate(args.limit.unwrap_or(usize::MAX));
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
    Ok(exit::OK)
}

/// `{id, title, state, priority}` of an issue, or `{id, missing: true}`.
pub fn node_json(view: &GraphView, id: u128) -> Value {
    let iid = IssueId::from_u128(id);
    match view.snap.get(iid) {
        Some(e) => {
            let s = e.summary();
            json!({
                "id": iid,
                "title": s.title,
                "state": State::from_u8(s.state).map(State::as_str),
                "priority": Priority::from_u8(s.priority).map(Priority::as_str),
            })
        }
        None => json!({ "id": iid, "missing": true }),
    }
}

pub fn run_blocked(ctx: &mut Ctx, _args: BlockedArgs) -> Result<u8, CliError> {
    let repo = ctx.open_repo()?;
    let snap = ctx.snapshot(&repo)?;
    let view = repo.graph_view(&snap);
    let blocked: Vec<(Entry, Vec<u128>)> = snap
        .iter()
        .rev()
        .filter_map(|e| {
            let s = e.summary();
            view.is_blocked(&s).then(|| (e, view.blockers(&s)))
        })
        .collect();
    if ctx.out.is_json() {
        let out: Vec<Value> = blocked
            .iter()
            .map(|(e, by)| {
                let mut v = node_json(&view, e.id.as_u128());
                v["blocked_by"] = by.iter().map(|b| node_json(&view, *b)).collect();
                v
            })
            .collect();
        ctx.out.json(&out)?;
    } else if blocked.is_empty() {
        ctx.status("nothing is blocked");
    } else {
        let ids: Vec<IssueId> = snap.iter().map(|e| e.id).collect();
        let id_len = unique_prefix_len(&ids);
        for (e, by) in &blocked {
            let s = e.summary();
            ctx.out.text(&format!("{}  {}\n", e.id.short(id_len), one_line(s.title)))?;
            for b in by {
                let d = node_json(&view, *b);
                let id = IssueId::from_u128(*b);
                let line = match (d["state"].as_str(), d["title"].as_str()) {
                    (Some(state), Some(title)) => {
                        format!("{} [{state}] {}", id.short(id_len), one_line(title))
                    }
                    // Missing: the full id, as no issue has it.
                    _ => format!("{id} [missing] (no such issue)"),
                };
                ctx.out.text(&format!("    blocked by {line}\n"))?;
            }
        }
    }
    snap.repair();
    Ok(exit::OK)
}
