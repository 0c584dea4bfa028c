//! The command tree and its dispatch. One file per command: its clap `Args` (whose doc
//! comments are the help text) and the function that runs it.

mod batch;
mod change_args;
mod claim;
mod claim_run;
mod completions;
mod dep;
mod doc;
mod events;
mod gate;
mod git_setup;
mod graph;
mod help;
mod init;
mod issue;
mod issue_bulk_update;
mod issue_create;
mod issue_delete;
mod issue_list;
mod issue_show;
mod issue_update;
mod key_arg;
mod man;
mod mcp;
mod merge_driver;
mod metrics;
mod query;
mod ready;
mod schema;
mod select_args;
mod serve;
mod status;
mod validate;

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use super::CliError;
use super::invocation::Invocation;
use super::output::Printer;
use crate::clock::Clock;
use crate::model::terminal_safe;
use crate::repo::{OpenOptions, Repo};
use crate::storage::index::{Problem, Snapshot};

/// jit — a repository-local issue tracker for teams of AI agents and the people who steer them.
#[derive(Debug, Parser)]
#[command(name = "jit", version, propagate_version = true, max_term_width = 100)]
#[command(disable_help_subcommand = true)]
#[command(after_help = "\
Examples:
  jit init
  jit issue create \"Fix the login page\" -p high -l type:bug
  jit issue list
  jit issue update 01jx --state ready --add-label area:auth
  jit help filters       the query language of `jit query` and every --filter

Every command takes --json for machine-readable output; errors then arrive on stdout as
{\"error\": {\"code\", \"message\", \"hint\", ...}} with a fixed exit code (see docs/errors.md).")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Print machine-readable JSON (errors too, as an `error` object on stdout)
    // A repeat is accepted (a wrapper that adds the flag must not break a command that has
    // it): the flag overrides itself.
    #[arg(long, global = true, overrides_with = "json")]
    pub json: bool,
    /// Use the repository at PATH (a project or its .jit directory) instead of searching
    /// upwards from the current directory
    #[arg(long, global = true, env = "JIT_DIR", value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// How long a write (or `validate`) waits for the repository lock, in milliseconds
    #[arg(long, global = true, env = "JIT_LOCK_TIMEOUT_MS", value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Who is acting, as the event log records it [default: the user name]
    #[arg(long, global = true, env = "JIT_ACTOR", value_name = "NAME")]
    pub actor: Option<String>,
    /// `--actor` was typed (not taken from `JIT_ACTOR`): `jit events` then filters by it.
    #[arg(skip)]
    pub actor_from_command_line: bool,
    /// Present this claim's fencing token on the command's writes: a write to an issue
    /// claimed again since is refused (CLAIM_FENCED, exit 4)
    #[arg(long, global = true, env = "JIT_CLAIM_TOKEN", value_name = "N")]
    pub claim_token: Option<u64>,
    /// Say nothing on stderr except errors and warnings
    #[arg(short, long, global = true, overrides_with = "quiet")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::Args),
    #[command(subcommand)]
    Issue(Box<issue::IssueCommand>),
    Query(query::Args),
    #[command(subcommand)]
    Dep(dep::DepCommand),
    #[command(subcommand)]
    Doc(doc::DocCommand),
    Ready(ready::ReadyArgs),
    Blocked(ready::BlockedArgs),
    #[command(subcommand)]
    Graph(graph::GraphCommand),
    #[command(subcommand)]
    Gate(Box<gate::GateCommand>),
    GitSetup(git_setup::Args),
    Claim(claim::ClaimArgs),
    Release(claim::ReleaseArgs),
    Renew(claim::RenewArgs),
    Status(status::Args),
    Metrics(metrics::Args),
    Events(events::Args),
    Batch(batch::Args),
    Mcp(mcp::Args),
    Schema(schema::Args),
    Validate(validate::Args),
    Completions(completions::Args),
    Man(man::Args),
    Help(help::Args),
    Serve(serve::Args),
    #[command(hide = true)]
    MergeDriver(merge_driver::Args),
}

impl Command {
    /// Whether the command changes the repository (then its output is held until it is done,
    /// so that a result that cannot be written to stdout can be reported on stderr).
    pub fn writes(&self) -> bool {
        use gate::GateCommand as G;
        use issue::IssueCommand as I;
        match self {
            Command::Init(_) | Command::Dep(_) => true,
            Command::Doc(c) => !matches!(c, doc::DocCommand::List { .. }),
            Command::Batch(a) => !a.dry_run,
            // `claim run` prints a result per issue as it goes (not held to the end).
            Command::Claim(a) => a.sub.is_none(),
            Command::Release(_) | Command::Renew(_) => true,
            Command::Issue(c) => match &**c {
                I::Create(_) | I::Update(_) | I::Delete(_) => true,
                I::BulkUpdate(a) => !a.dry_run,
                I::Show(_) | I::List(_) => false,
            },
            Command::Gate(c) => match &**c {
                G::Trust { names, all } => !names.is_empty() || *all,
                G::List | G::Show { .. } | G::History { .. } => false,
                _ => true,
            },
            _ => false,
        }
    }

    /// Whether a running `jit serve` may run this command for the client (docs/serve.md).
    /// Not served: what reads stdin (the client's stdin is not sent), what waits on its own
    /// (`claim --wait`), what sets up or serves (`init`, `git-setup`, `serve`,
    /// `merge-driver`), what renders for the client's terminal (`help`, `completions`,
    /// `man`), and `validate` (which tells a live writer's temp files from leftovers by the
    /// writer's pid, and the daemon's pid is every served writer's).
    pub fn servable(&self, inv: &Invocation) -> bool {
        use issue::IssueCommand as I;
        let stdin = |description: &Option<String>| description.as_deref() == Some("-");
        match self {
            Command::Init(_)
            | Command::GitSetup(_)
            | Command::Serve(_)
            | Command::MergeDriver(_)
            | Command::Help(_)
            | Command::Completions(_)
            | Command::Man(_)
            | Command::Validate(_)
            | Command::Doc(_)
            | Command::Mcp(_) => false,
            Command::Batch(a) => a.file.as_ref().is_some_and(|f| f.as_os_str() != "-"),
            // git runs with the client's environment only in its own process; `claim run`
            // starts and supervises a process on this machine, for as long as it runs: run
            // direct, never by the daemon.
            Command::Claim(a) => a.wait.is_none() && a.remote.is_none() && a.sub.is_none(),
            Command::Release(a) => a.remote.is_none(),
            Command::Renew(a) => a.remote.is_none(),
            Command::Issue(c) => match &**c {
                I::Create(a) => !stdin(&a.description),
                I::Update(a) => !stdin(&a.description),
                // The confirmation question reads stdin on a terminal.
                I::Delete(a) => a.yes || !(inv.stdin_is_terminal() && inv.stderr().is_terminal()),
                I::Show(_) | I::List(_) | I::BulkUpdate(_) => true,
            },
            Command::Query(_)
            | Command::Dep(_)
            | Command::Ready(_)
            | Command::Blocked(_)
            | Command::Graph(_)
            | Command::Gate(_)
            | Command::Status(_)
            | Command::Metrics(_)
            | Command::Events(_)
            | Command::Schema(_) => true,
        }
    }
}

/// What a command gets: the global options, the printer and the invocation (the current
/// directory, environment and stderr it reads instead of the process's).
pub struct Ctx<'p, 'o, 'i> {
    pub global: GlobalArgs,
    pub out: &'p mut Printer<'o>,
    pub inv: &'i Invocation,
    command: String,
    /// Set by a write command: the name its rate limit is kept under (`--agent`, else the
    /// actor), checked when the repository is opened.
    rate_key: Option<RateKey>,
    /// Where the command's refusal is recorded, once the repository is open.
    refusals: std::cell::OnceCell<crate::repo::metrics::RefusalLog>,
}

/// Whose rate limit a write command uses.
#[derive(Clone, Debug)]
enum RateKey {
    /// The `--agent` of claim, release, renew.
    Agent(String),
    /// Who is acting (`--actor`, `JIT_ACTOR`, else the user).
    Actor,
}

impl Ctx<'_, '_, '_> {
    /// Open the repository named by `--repo`/`JIT_DIR`, or the one above the current directory.
    pub fn open_repo(&self) -> Result<Repo, CliError> {
        self.open_repo_with(Repo::open)
    }

    /// [`Ctx::open_repo`] through `open` (`Repo::open_for_check` for `validate`).
    pub fn open_repo_with(
        &self,
        open: impl FnOnce(&OpenOptions, Clock) -> crate::Result<Repo>,
    ) -> Result<Repo, CliError> {
        let inv = self.inv;
        let cwd = inv.cwd()?;
        // Set but empty counts as unset, as for JIT_DIR and JIT_LOCK_TIMEOUT_MS.
        let durability = match inv.var("JIT_DURABILITY") {
            Some(v) if !v.is_empty() => Some(v.parse()?),
            _ => None,
        };
        let opts = OpenOptions {
            repo: self.global.repo.clone(),
            cwd,
            lock_timeout_ms: self.global.timeout_ms,
            durability,
            command: self.command.clone(),
            trust_all_gates: trust_all_gates_from_env(inv)?,
            ceilings: ceilings_from_env(inv),
            actor: crate::cli::actor::resolve(self.global.actor.as_deref(), inv)?,
        };
        let mut repo = open(&opts, Clock::from_vars(|name| inv.var(name))?)?;
        let _ = self.refusals.set(repo.refusal_log());
        if let Some(key) = &self.rate_key {
            match key {
                RateKey::Agent(a) => repo.check_rate(a)?,
                RateKey::Actor => repo.check_rate(repo.actor())?,
            }
        }
        repo.set_claim_token(self.global.claim_token);
        repo.set_command_env(inv.child_env());
        // Warnings are said even under --quiet, as everywhere.
        let err = inv.stderr();
        repo.set_warning_notice(move |m| {
            let _ = writeln!(&err, "warning: {}", terminal_safe(m));
        });
        repo.warn_quarantined();
        if !self.global.quiet {
            let err = inv.stderr();
            repo.set_wait_notice(move |holder| {
                let who = holder.map_or("another process".to_string(), |h| h.describe());
                let _ = writeln!(&err, "waiting for the repository lock, held by {who}");
            });
        }
        if let Some(hook) = inv.hook() {
            hook(&mut repo);
        }
        Ok(repo)
    }

    /// A status line on stderr, unless `--quiet` or `--json`.
    pub fn status(&self, msg: &str) {
        if !self.global.quiet && !self.out.is_json() {
            let _ = writeln!(self.inv.stderr(), "{}", terminal_safe(msg));
        }
    }

    /// A warning on stderr (not silenced by `--quiet`).
    pub fn warn(&self, msg: &str) {
        let _ = writeln!(self.inv.stderr(), "warning: {}", terminal_safe(msg));
    }

    /// One warning for each issue file a command had to leave out because it could not be
    /// read as an issue.
    pub fn warn_unreadable(&self, problems: &[Problem]) {
        for p in problems {
            self.warn(&format!(
                "skipped {}: {} (fix or restore the file, e.g. with git; `jit validate` lists \
                 every problem, `jit validate --fix` repairs what it safely can)",
                p.path.display(),
                p.message
            ));
        }
    }

    /// The exit code of a read that used `snap`: 0, or 1 (a partial result, `docs/errors.md`)
    /// when it left out files of `issues/` it could not read as issues; each was warned about.
    pub fn read_outcome(&self, snap: &Snapshot) -> u8 {
        if snap.problems.is_empty() { crate::cli::exit::OK } else { crate::cli::exit::USER }
    }

    /// Every issue, through the index, warning about the files left out.
    pub fn snapshot(&self, repo: &Repo) -> Result<std::sync::Arc<Snapshot>, CliError> {
        let snap = repo.snapshot()?;
        self.warn_unreadable(&snap.problems);
        self.warn_unmerged(repo);
        Ok(snap)
    }

    /// One warning for each issue file an unfinished git merge left unmerged, naming the git
    /// commands that settle it.
    pub fn warn_unmerged(&self, repo: &Repo) {
        for f in crate::repo::git::unmerged_issue_files(repo.layout()) {
            self.warn(&f.advice());
        }
    }
}

/// `JIT_TRUST_ALL_GATES`: `1`, `true` or `yes` trusts every auto gate (for CI, whose
/// checkout is the code it was asked to test); unset, empty, `0`, `false` or `no` does not.
/// Anything else is refused rather than guessed, as a typo must not trust by accident.
fn trust_all_gates_from_env(inv: &Invocation) -> Result<bool, CliError> {
    let Some(v) = inv.var_os("JIT_TRUST_ALL_GATES") else { return Ok(false) };
    match v.to_string_lossy().trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "" | "0" | "false" | "no" => Ok(false),
        _ => Err(crate::Error::InvalidValue {
            what: "JIT_TRUST_ALL_GATES",
            value: v.to_string_lossy().into_owned(),
            allowed: ["1", "true", "yes", "0", "false", "no"].map(String::from).to_vec(),
            suggestion: None,
        }
        .into()),
    }
}

/// `JIT_CEILING_DIRECTORIES`: colon-separated absolute directories that discovery never
/// moves up into, as git's `GIT_CEILING_DIRECTORIES`. Empty and relative entries are ignored
/// (git ignores relative ones too); each is compared as given and with symbolic links
/// resolved, as the current directory has them resolved.
pub fn ceilings_from_env(inv: &Invocation) -> Vec<PathBuf> {
    let Some(v) = inv.var_os("JIT_CEILING_DIRECTORIES") else { return Vec::new() };
    crate::storage::local::ceiling_list(&v)
}

/// Run the parsed command; returns the exit code.
pub fn dispatch(
    cli: Cli,
    out: &mut Printer,
    command: String,
    inv: &Invocation,
) -> Result<u8, CliError> {
    let rate_key = match &cli.command {
        // Its claims are writes, though its output is not held (see `writes`).
        Command::Claim(claim::ClaimArgs { sub: Some(claim::ClaimCommand::Run(a)), .. }) => {
            Some(RateKey::Agent(a.agent.clone()))
        }
        _ => None,
    };
    let rate_key = rate_key.or_else(|| {
        cli.command.writes().then(|| match &cli.command {
            Command::Claim(a) => RateKey::Agent(a.agent.clone().unwrap_or_default()),
            Command::Release(claim::ReleaseArgs { agent: Some(a), .. })
            | Command::Renew(claim::RenewArgs { agent: Some(a), .. }) => RateKey::Agent(a.clone()),
            _ => RateKey::Actor,
        })
    });
    let mut ctx = Ctx {
        global: cli.global,
        out,
        inv,
        command,
        rate_key,
        refusals: std::cell::OnceCell::new(),
    };
    let result = run_command(&mut ctx, cli.command);
    if let (Err(CliError::Jit(e)), Some(log)) = (&result, ctx.refusals.get()) {
        log.record(e);
    }
    result
}

fn run_command(ctx: &mut Ctx, command: Command) -> Result<u8, CliError> {
    match command {
        Command::Init(a) => init::run(ctx, a),
        Command::Issue(c) => issue::run(ctx, *c),
        Command::Query(a) => query::run(ctx, a),
        Command::Dep(c) => dep::run(ctx, c),
        Command::Doc(c) => doc::run(ctx, c),
        Command::Ready(a) => ready::run_ready(ctx, a),
        Command::Blocked(a) => ready::run_blocked(ctx, a),
        Command::Graph(c) => graph::run(ctx, c),
        Command::Gate(c) => gate::run(ctx, *c),
        Command::GitSetup(a) => git_setup::run(ctx, a),
        Command::Claim(a) => claim::run_claim(ctx, a),
        Command::Release(a) => claim::run_release(ctx, a),
        Command::Renew(a) => claim::run_renew(ctx, a),
        Command::Status(a) => status::run(ctx, a),
        Command::Metrics(a) => metrics::run(ctx, a),
        Command::Events(a) => events::run(ctx, a),
        Command::Batch(a) => batch::run(ctx, a),
        Command::Mcp(a) => mcp::run(ctx, a),
        Command::Schema(a) => schema::run(ctx, a),
        Command::Validate(a) => validate::run(ctx, a),
        Command::Completions(a) => completions::run(ctx, a),
        Command::Man(a) => man::run(ctx, a),
        Command::Help(a) => help::run(ctx, a),
        Command::Serve(a) => serve::run(ctx, a),
        Command::MergeDriver(a) => merge_driver::run(ctx, a),
    }
}
