//! `jit claim run`: claim an issue, run a command on it, end the claim by how it ended.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;

use super::Ctx;
use crate::api::{ClaimRunRequest, RunOutcome, RunResult};
use crate::cli::CliError;
use crate::cli::exit;
use crate::error::Error;
use crate::model::State;
use crate::repo::supervise::{RunSpec, Signals};

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
    pub command: Vec<String>,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    let on_success = args.on_success.as_deref().map(str::parse::<State>).transpose()?;
    let req = ClaimRunRequest {
        agent: args.agent,
        filter: args.filter,
        lease: args.lease,
        wait: args.wait,
        on_success,
        repeat: args.repeat,
        command: args.command,
    };
    let mut repo = ctx.open_repo()?;
    let extra_env = match &ctx.global.repo {
        Some(dir) => vec![("JIT_DIR".into(), dir.clone().into_os_string())],
        None => Vec::new(),
    };
    let spec = RunSpec { base_env: ctx.inv.child_env(), extra_env, cwd: ctx.inv.cwd()? };
    let signals = supervise_signals()?;
    let err = ctx.inv.stderr();
    let notice = move |m: &str| {
        use std::io::Write;
        let _ = writeln!(&err, "warning: {}", crate::model::terminal_safe(m));
    };
    let mut printed: Result<(), CliError> = Ok(());
    let ended = repo.claim_run(&req, &spec, &signals, &notice, &mut |r| {
        printed = print_result(ctx, r);
        // Output that cannot be written (a closed pipe) stops the loop.
        match &printed {
            Ok(()) => Ok(()),
            Err(_) => Err(Error::InvalidArgument("stdout was closed".into())),
        }
    });
    printed?;
    let ended = ended?;
    Ok(match ended.interrupted {
        Some(sig) => 128u8.saturating_add(u8::try_from(sig).unwrap_or(0)),
        None if ended.fenced > 0 => exit::CONFLICT,
        None if ended.failed > 0 => exit::USER,
        None => exit::OK,
    })
}

/// SIGINT and SIGTERM: while `idle` is true they do what they always do (end the process);
/// otherwise they arrive on the receiver, for the supervisor to pass on to its command.
fn supervise_signals() -> Result<Signals, CliError> {
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
    Ok(Signals { idle, caught: rx })
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
