//! `jit claim`, `jit release` and `jit renew`

use super::Ctx;
use crate::api::{ClaimRequest, ReleaseRequest, RenewRequest};
use crate::cli::CliError;
use crate::cli::exit;
use crate::model::{State, parse_duration};
use crate::repo::remote::RefRelease;

/// Take an issue to work on, with a lease and a fencing token
///
/// Without an ID: the best claimable issue matching --filter (ready, unblocked, prechecks
/// passed, or in progress with an expired lease; highest priority, then oldest). With an ID:
/// that issue, unless another agent holds a live lease on it (ALREADY_CLAIMED, exit 4;
/// --steal takes it over). Nothing claimable: NO_ISSUE_AVAILABLE, exit 5. The reply names
/// the token; present it on every write (--claim-token, JIT_CLAIM_TOKEN).
///
/// With --remote NAME the claim holds across clones: it must also create the ref
/// refs/jit/claims/<id> on that git remote (a push that fails if the ref exists, or takes
/// over an expired claim there); a lost race is ALREADY_CLAIMED (or, without an ID, the
/// next best issue), and then nothing local changes.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  jit claim --agent agent:coder-1 --json
  jit claim --agent agent:coder-1 --filter 'label:area:auth' --lease 1h --wait 5m
  jit claim 01jx5k --agent alice --steal
  jit claim --agent agent:coder-1 --remote origin
  jit claim run --agent agent:coder-1 --loop -- ./work-on-issue.sh")]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ClaimArgs {
    #[command(subcommand)]
    pub sub: Option<ClaimCommand>,
    /// The issue to claim (id or unique prefix); absent: the best claimable one
    #[arg(value_name = "ID")]
    pub id: Option<String>,
    /// Who takes the issue (it becomes the assignee)
    #[arg(long, value_name = "NAME", required = true)]
    pub agent: Option<String>,
    /// Only issues matching this query (`jit help filters`)
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// The lease's length, e.g. 30m or 2h [default: config claims.lease_default]
    #[arg(long, value_name = "DURATION")]
    pub lease: Option<String>,
    /// While nothing is claimable, wait up to DURATION for an issue to become claimable
    #[arg(long, value_name = "DURATION")]
    pub wait: Option<String>,
    /// Take the named issue over from another agent's live lease (the old holder is fenced)
    #[arg(long, requires = "id")]
    pub steal: bool,
    /// Also hold the claim on this git remote, across clones (docs/git.md, "Remote claims")
    #[arg(long, value_name = "REMOTE")]
    pub remote: Option<String>,
    #[command(flatten)]
    pub key: super::key_arg::KeyArg,
}

/// What `jit claim` takes besides its own arguments.
#[derive(Debug, clap::Subcommand)]
pub enum ClaimCommand {
    Run(Box<super::claim_run::Args>),
}

/// End the claim of an issue: its lease ends and it moves (default: back to ready)
///
/// Back to ready or backlog, the issue is unassigned; to another state (done, say) it keeps
/// its assignee, and the move passes the same gates as `issue update`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  jit release 01jx5k --agent agent:coder-1
  jit release 01jx5k --state done --claim-token 7
  jit release 01jx5k --remote origin")]
pub struct ReleaseArgs {
    /// Issue id or unique prefix
    #[arg(value_name = "ID")]
    pub id: String,
    /// Refuse unless this agent holds the lease (when one is live)
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// The state to leave the issue in
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Also delete the claim's ref on this git remote (only while it is this claim's)
    #[arg(long, value_name = "REMOTE")]
    pub remote: Option<String>,
    #[command(flatten)]
    pub key: super::key_arg::KeyArg,
}

/// Extend the live lease of a claimed issue
///
/// Only local state changes: no issue file, no index, no git diff. With --remote NAME, the
/// claim's ref on that remote (of a claim --remote) gets the new expiry too.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  jit renew 01jx5k\n  jit renew 01jx5k --lease 1h --agent agent:coder-1"
)]
pub struct RenewArgs {
    /// Issue id or unique prefix
    #[arg(value_name = "ID")]
    pub id: String,
    /// Refuse unless this agent holds the lease
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// The new lease's length from now [default: config claims.lease_default]
    #[arg(long, value_name = "DURATION")]
    pub lease: Option<String>,
    /// Also give the claim's ref on this git remote the new expiry (a claim --remote)
    #[arg(long, value_name = "REMOTE")]
    pub remote: Option<String>,
}

pub fn run_claim(ctx: &mut Ctx, args: ClaimArgs) -> Result<u8, CliError> {
    if let Some(ClaimCommand::Run(a)) = args.sub {
        return super::claim_run::run(ctx, *a);
    }
    // clap requires --agent unless a subcommand is given.
    let Some(agent) = args.agent else {
        return Err(CliError::Usage { code: "USAGE", message: "--agent NAME is required".into() });
    };
    let key = args.key.parse()?;
    let wait = args.wait.as_deref().map(|w| parse_duration("--wait", w)).transpose()?;
    let req = ClaimRequest {
        agent,
        id: args.id,
        filter: args.filter,
        lease: args.lease,
        steal: args.steal,
    };
    let remote = args.remote.as_deref();
    let repo = ctx.open_repo()?;
    let claimed = match wait {
        Some(w) => repo.claim_waiting(&req, w.unsigned_abs(), remote, key.as_ref())?,
        None => repo.claim_on(&req, remote, key.as_ref())?,
    };
    if ctx.out.is_json() {
        ctx.out.json(&claimed)?;
    } else {
        ctx.out.human(|w| crate::cli::render::card(w, &claimed.issue))?;
        if let Some(from) = &claimed.stolen_from {
            ctx.status(&format!("taken over from {from}, whose token is now fenced"));
        }
        if let Some(from) = claimed.remote.as_ref().and_then(|r| r.taken_over_from.as_ref()) {
            ctx.status(&format!("took the remote claim over from {from}"));
        }
        let l = &claimed.lease;
        ctx.out.text(&format!(
            "  token     {}\n  lease     until {}\n",
            l.token, l.lease_expires_at
        ))?;
        if let Some(r) = &claimed.remote {
            let short = r.object.get(..12).unwrap_or(&r.object);
            ctx.out.text(&format!("  remote    {} on {} ({short})\n", r.refname, r.remote))?;
        }
    }
    Ok(exit::OK)
}

pub fn run_release(ctx: &mut Ctx, args: ReleaseArgs) -> Result<u8, CliError> {
    let key = args.key.parse()?;
    let state = args.state.as_deref().map(str::parse::<State>).transpose()?;
    let req = ReleaseRequest { id: args.id, agent: args.agent, state };
    let repo = ctx.open_repo()?;
    let (done, remote) = repo.release_on(&req, args.remote.as_deref(), key.as_ref())?;
    let name = args.remote.as_deref().unwrap_or_default();
    match remote {
        Some(RefRelease::Deleted(_)) => ctx.status(&format!("deleted the claim ref on {name}")),
        Some(RefRelease::Absent) => ctx.status(&format!("{name} had no claim ref of the issue")),
        Some(RefRelease::LeftExpired(who)) => ctx.status(&format!(
            "the claim ref on {name} is {who}'s, expired: left for whoever takes it over"
        )),
        None => {}
    }
    if let Some(refused) = done.refused {
        return Err(crate::Error::from(refused).into());
    }
    super::issue::print_issue(ctx, &done.issue)?;
    Ok(exit::OK)
}

pub fn run_renew(ctx: &mut Ctx, args: RenewArgs) -> Result<u8, CliError> {
    let req = RenewRequest { id: args.id, agent: args.agent, lease: args.lease };
    let repo = ctx.open_repo()?;
    let renewed = repo.renew_on(&req, args.remote.as_deref())?;
    if ctx.out.is_json() {
        ctx.out.json(&renewed)?;
    } else {
        let l = &renewed.lease;
        ctx.out.text(&format!(
            "{}  lease of {} (token {}) until {}\n",
            renewed.id, l.agent, l.token, l.lease_expires_at
        ))?;
        if let Some(r) = &renewed.remote {
            let short = r.object.get(..12).unwrap_or(&r.object);
            ctx.out.text(&format!("  remote    {} on {} ({short})\n", r.refname, r.remote))?;
        }
    }
    Ok(exit::OK)
}
