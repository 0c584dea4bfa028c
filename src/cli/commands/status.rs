//! `jit status`

use super::Ctx;
use crate::cli::CliError;
use crate::cli::exit;
use crate::cli::render::one_line;

/// One screen for a supervisor: issues per state, the ready queue, leases, stuck work
///
/// Shows the claimed issues with agent, token, lease age and expiry, expired leases, the
/// least recently updated in-progress work and the slowest operations of the last hour.
/// Exits 6 when something is stuck (an in-progress issue whose lease expired), else 0.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  jit status\n  jit status --json || echo stuck")]
pub struct Args {}

pub fn run(ctx: &mut Ctx, _args: Args) -> Result<u8, CliError> {
    let repo = ctx.open_repo()?;
    let snap = ctx.snapshot(&repo)?;
    let status = repo.status(&snap)?;
    if ctx.out.is_json() {
        ctx.out.json(&status)?;
    } else {
        let mut text = String::new();
        let states: Vec<String> = status.states.iter().map(|(s, n)| format!("{s} {n}")).collect();
        text += &format!("issues    {}\n", states.join(", "));
        text += &format!("ready     {}\n", status.ready);
        text += &format!("leases    {}\n", status.leases.len());
        for l in &status.leases {
            let mark = if l.expired { "EXPIRED" } else { "until" };
            let state = l.state.map_or("-", |s| s.as_str());
            text += &format!(
                "  {}  {} [{state}] token {} age {}s {mark} {}  {}\n",
                l.id,
                one_line(&l.agent),
                l.token,
                l.age_s,
                l.lease_expires_at,
                one_line(&l.title)
            );
        }
        if !status.oldest_in_progress.is_empty() {
            text += "oldest in progress\n";
            for w in &status.oldest_in_progress {
                let who = w.assignee.as_deref().map_or("-".into(), one_line);
                text += &format!("  {}  {who} idle {}s  {}\n", w.id, w.idle_s, one_line(&w.title));
            }
        }
        if !status.slowest.is_empty() {
            text += "slowest operations of the last hour\n";
            for s in &status.slowest {
                text += &format!(
                    "  {} ms (lock wait {} ms)  {} by {} at {}\n",
                    s.duration_ms,
                    s.lock_wait_ms,
                    s.op,
                    one_line(&s.actor),
                    s.at
                );
            }
        }
        if status.stuck {
            text += "stuck: an in-progress issue's lease expired (claim it again or release it)\n";
        }
        ctx.out.text(&text)?;
    }
    snap.repair();
    Ok(if status.stuck { exit::INVALID_REPO } else { ctx.read_outcome(&snap) })
}
