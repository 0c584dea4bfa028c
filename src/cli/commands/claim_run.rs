//! `jit claim run`: claim an issue, run a command on it, end the claim by how it ended.

use std::ffi::OsString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};

use super::Ctx;
use crate::api::{ClaimRequest, RunOutcome, RunResult};
use crate::cli::CliError;
use crate::cli::exit;
use crate::error::Error;
use crate::model::{State, parse_duration};
use crate::repo::supervise::RunSpec;

/// Claim an issue and run a command on it, renewing the lease while it runs
///
/// Claims as `jit claim` does, runs COMMAND (no shell) with JIT_ISSUE_ID, JIT_CLAIM_TOKEN and
/// JIT_AGENT set, in the current directory, and renews the lease every third of its length.
/// Exit 0: the issue moves to done (or --on-success), through its postchecks (a refusal
/// leaves it gated). Non-zero or killed by a signal: it goes back to ready, with the exit
/// status in its context key `claim_run`. SIGINT and SIGTERM are passed on to the command.
/// If the supervisor itself dies, nothing renews the lease and the issue becomes claimable
/// when it expires.
///
/// Exit status: 0 when every run succeeded; 1 when a command failed or a postcheck refused;
/// 4 when the claim was over at the end (CLAIM_FENCED: nothing written); 5 when nothing was
/// claimable at all; 128+N after signal N was passed on.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  jit claim run --agent agent:coder-1 -- ./work-on-issue.sh
  jit claim run --agent agent:coder-1 --filter 'label:area:auth' --lease 10m --loop -- make fix
  jit claim run --agent ci --on-success review --json -- sh -c 'jit issue show \"$JIT_ISSUE_ID\"'")]
pub struct Args {
    /// Who takes the issues (they become the assignee)
    #[arg(long, value_name = "NAME")]
    pub agent: String,
    /// Only issues matching this query (`jit help filters`)
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// The lease's length, renewed every third of it [default: config claims.lease_default]
    #[arg(long, value_name = "DURATION")]
    pub lease: Option<String>,
    /// While nothing is claimable, wait up to DURATION (for each claim of --loop)
    #[arg(long, value_name = "DURATION")]
    pub wait: Option<String>,
    /// The state an issue goes to when the command exits 0 [default: done]
    #[arg(long, value_name = "STATE")]
    pub on_success: Option<String>,
    /// Take the next issue when one is finished, until none is claimable
    #[arg(long = "loop")]
    pub repeat: bool,
    /// The program to run and its arguments, after `--`
    #[arg(last = true, required = true, num_args = 1.., value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    let wait = args.wait.as_deref().map(|w| parse_duration("--wait", w)).transpose()?;
    let on_success = args.on_success.as_deref().map(str::parse::<State>).transpose()?;
    let on_success = on_success.unwrap_or(State::Done);
    if on_success == State::InProgress {
        return Err(Error::InvalidArgument(
            "--on-success in_progress would leave the issue claimed with nobody renewing it".into(),
        )
        .into());
    }
    let mut repo = ctx.open_repo()?;
    let first = ClaimRequest {
        agent: args.agent.clone(),
        filter: args.filter.clone(),
        lease: args.lease.clone(),
        ..Default::default()
    };
    // The agent, the filter and the lease are checked before anything is claimed.
    repo.check_claim(&first)?;
    let extra_env = match &ctx.global.repo {
        Some(dir) => vec![("JIT_DIR".into(), dir.clone().into_os_string())],
        None => Vec::new(),
    };
    let spec = RunSpec {
        command: args.command,
        base_env: ctx.inv.child_env(),
        extra_env,
        cwd: ctx.inv.cwd()?,
        lease: args.lease.clone(),
        on_success,
    };
    let (idle, signals) = supervise_signals()?;
    // Issues whose run failed in this loop: not taken again by it.
    let mut failed: Vec<String> = Vec::new();
    let mut code = exit::OK;
    let mut ran = 0usize;
    loop {
        let req =
            ClaimRequest { filter: exclude(args.filter.as_deref(), &failed), ..first.clone() };
        // Until a claim is made, SIGINT and SIGTERM stop the supervisor as they would any
        // program: there is nothing to pass them on to, and nothing to release.
        idle.store(true, Ordering::SeqCst);
        let claimed = match wait {
            Some(w) => repo.claim_waiting(&req, w.unsigned_abs(), None),
            None => repo.claim(&req, None),
        };
        idle.store(false, Ordering::SeqCst);
        let claimed = match claimed {
            Ok(c) => c,
            Err(Error::NoIssueAvailable { .. }) if ran > 0 => break,
            Err(e) => return Err(e.into()),
        };
        let err = ctx.inv.stderr();
        let notice = move |m: &str| {
            use std::io::Write;
            let _ = writeln!(&err, "warning: {}", crate::model::terminal_safe(m));
        };
        let result = repo.run_claimed(&claimed, &spec, &signals, &notice)?;
        ran += 1;
        print_result(ctx, &result)?;
        code = code.max(match result.outcome {
            RunOutcome::Succeeded => exit::OK,
            RunOutcome::Gated | RunOutcome::Released => exit::USER,
            RunOutcome::Fenced => exit::CONFLICT,
        });
        if result.outcome == RunOutcome::Released {
            failed.push(result.id.clone());
        }
        if let Some(sig) = result.interrupted {
            return Ok(128u8.saturating_add(u8::try_from(sig).unwrap_or(0)));
        }
        if !args.repeat {
            break;
        }
    }
    Ok(code)
}

/// The filter of the next claim: the one given, without the issues in `failed`.
fn exclude(filter: Option<&str>, failed: &[String]) -> Option<String> {
    let not: Vec<String> = failed.iter().map(|id| format!("NOT id:{id}")).collect();
    match (filter, not.is_empty()) {
        (f, true) => f.map(str::to_string),
        (Some(f), false) => Some(format!("({f}) AND {}", not.join(" AND "))),
        (None, false) => Some(not.join(" AND ")),
    }
}

/// SIGINT and SIGTERM: while `idle` is true they do what they always do (end the process);
/// otherwise they arrive on the receiver, for the supervisor to pass on to its command.
fn supervise_signals() -> Result<(Arc<AtomicBool>, Receiver<i32>), CliError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let io = |e: std::io::Error| Error::Io { path: "<signals>".into(), source: e };
    let idle = Arc::new(AtomicBool::new(true));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_default(sig, idle.clone()).map_err(io)?;
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(io)?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if tx.send(sig).is_err() {
                break;
            }
        }
    });
    Ok((idle, rx))
}

fn print_result(ctx: &mut Ctx, r: &RunResult) -> Result<(), CliError> {
    if ctx.out.is_json() {
        ctx.out.json(r)?;
    } else {
        let how = match (r.exit_code, r.signal) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(s)) => format!("signal {s}"),
            (None, None) => String::new(),
        };
        let outcome = match r.outcome {
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Gated => "gated (a postcheck refused)",
            RunOutcome::Released => "released",
            RunOutcome::Fenced => "fenced (the claim was over; nothing written)",
        };
        let state = r.state.map(|s| format!(", now {s}")).unwrap_or_default();
        let short = r.id.get(..10).unwrap_or(&r.id);
        ctx.out.text(&format!(
            "{short}  {how}: {outcome}{state}  (token {}) {}\n",
            r.token, r.title
        ))?;
    }
    // One line per issue as it ends, not all at the end of a loop.
    ctx.out.flush()?;
    Ok(())
}
