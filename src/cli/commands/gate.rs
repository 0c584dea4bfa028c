//! `jit gate …`

use clap::Subcommand;
use serde_json::json;

use super::Ctx;
use super::key_arg::KeyArg;
use crate::api::{self, GateHistoryRequest, GateInfo};
use crate::cli::CliError;
use crate::cli::exit;
use crate::cli::render::one_line;
use crate::model::{GateDef, GateStatus, Issue, Mode};
use crate::repo::read;

/// Define gates and pass, fail or run them on issues
///
/// A precheck must pass before an issue moves to in_progress; a postcheck before it is done.
/// A manual gate is passed or failed by a person or agent; an auto gate runs a command (exit 0
/// = passed). Moving an issue to done runs its pending auto postchecks first; if any gate is
/// still not passed, the issue becomes `gated` and the command fails naming the gates. An auto
/// gate runs only once its definition is trusted on this machine (`jit gate trust`; what
/// `jit gate define` defines here is trusted), as config.json can come from anyone.
#[derive(Debug, Subcommand)]
#[command(
    after_help = "Examples:\n  jit gate define tests --stage postcheck --mode auto -- cargo test\n  jit gate add 01jx5k tests\n  jit gate run 01jx5k"
)]
pub enum GateCommand {
    /// Add a gate to the registry in .jit/config.json
    #[command(after_help = "\
Examples:
  jit gate define review --stage postcheck --mode manual --description 'Code review'
  jit gate define tests --stage postcheck --mode auto --timeout-s 600 -- cargo test
  jit gate define lint --stage precheck --mode auto --shell -- 'cargo fmt --check && cargo clippy'")]
    Define {
        /// Gate name (a-z, 0-9, `_`, `-`)
        name: String,
        /// precheck (before in_progress) or postcheck (before done)
        #[arg(long)]
        stage: String,
        /// manual or auto
        #[arg(long)]
        mode: String,
        /// Kill an auto gate's command after this many seconds (at least 1)
        #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
        timeout_s: u64,
        /// Run the command through `sh -c` (the words after -- joined by spaces)
        #[arg(long)]
        shell: bool,
        /// What the gate checks
        #[arg(long, default_value = "")]
        description: String,
        /// Replace an existing definition
        #[arg(long)]
        replace: bool,
        /// The command and its arguments (after --), for auto gates
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// List the registry, with whether each auto gate is trusted on this machine
    #[command(after_help = "Examples:\n  jit gate list\n  jit gate list --json")]
    List,
    /// Allow auto gates to run on this machine, as they are defined now
    ///
    /// A repository's config.json can come from anyone (a clone, a pull request), so jit runs
    /// an auto gate's command only once the person on this machine has trusted that exact
    /// definition. The trust is kept outside the tracked files and is lost when the definition
    /// changes. With no NAME and no --all, lists the auto gates not trusted and changes nothing.
    #[command(after_help = "\
Examples:
  jit gate show lint
  jit gate trust lint
  jit gate trust --all
  jit gate trust")]
    Trust {
        #[arg(value_name = "NAME", conflicts_with = "all")]
        names: Vec<String>,
        /// Trust every auto gate of the registry (read them first: `jit gate list`)
        #[arg(long)]
        all: bool,
    },
    /// Withdraw the trust of auto gates: they are not run again until trusted
    #[command(after_help = "Examples:\n  jit gate untrust lint")]
    Untrust {
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
    },
    /// Show one gate definition
    #[command(after_help = "Examples:\n  jit gate show tests")]
    Show { name: String },
    /// Remove a gate from the registry (--force also detaches it from every issue)
    #[command(after_help = "Examples:\n  jit gate remove lint\n  jit gate remove lint --force")]
    Remove {
        name: String,
        #[arg(long)]
        force: bool,
    },
    /// Attach gates to an issue (status pending)
    #[command(after_help = "Examples:\n  jit gate add 01jx5k tests review")]
    Add {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Detach gates from an issue
    #[command(after_help = "Examples:\n  jit gate rm 01jx5k review")]
    Rm {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
        #[command(flatten)]
        key: KeyArg,
    },
    /// Record that a gate passed
    #[command(after_help = "Examples:\n  jit gate pass 01jx5k review --by alice --note 'LGTM'")]
    Pass(Decision),
    /// Record that a gate failed
    #[command(
        after_help = "Examples:\n  jit gate fail 01jx5k review --by alice --note 'needs tests'"
    )]
    Fail(Decision),
    /// Run an issue's auto gates (all of them, or the named ones) and record the results;
    /// exit 1 if any failed
    #[command(after_help = "Examples:\n  jit gate run 01jx5k\n  jit gate run 01jx5k tests --json")]
    Run {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(value_name = "NAME")]
        names: Vec<String>,
    },
    /// Every recorded decision and run of an issue's gates
    #[command(
        after_help = "Examples:\n  jit gate history 01jx5k\n  jit gate history 01jx5k --json"
    )]
    History {
        #[arg(value_name = "ID")]
        id: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct Decision {
    #[arg(value_name = "ID")]
    id: String,
    #[arg(value_name = "NAME")]
    name: String,
    /// Who decided (a name like an assignee: no spaces or control characters)
    #[arg(long)]
    by: Option<String>,
    /// Why (kept as given; `gate history` shows line breaks in it as `\u{a}`)
    #[arg(long)]
    note: Option<String>,
    #[command(flatten)]
    key: KeyArg,
}

impl Decision {
    fn into_request(self, passed: bool) -> (api::GateDecide, KeyArg) {
        let status = if passed { GateStatus::Passed } else { GateStatus::Failed };
        let req =
            api::GateDecide { id: self.id, gate: self.name, status, by: self.by, note: self.note };
        (req, self.key)
    }
}

pub fn run(ctx: &mut Ctx, cmd: GateCommand) -> Result<u8, CliError> {
    let repo = ctx.open_repo()?;
    match cmd {
        GateCommand::Define {
            name,
            stage,
            mode,
            timeout_s,
            shell,
            description,
            replace,
            command,
        } => {
            let req = api::GateDefine {
                name: name.clone(),
                stage: stage.parse()?,
                mode: mode.parse()?,
                description,
                command,
                shell,
                timeout_s,
                replace,
            };
            let def = repo.gate_define(&req)?;
            let store = repo.trust_store()?;
            print_def(ctx, &read::gate_info(&repo, &store, &name, &def))?;
        }
        GateCommand::List => {
            // An array of what `gate show` prints, in name order, like other listings.
            let gates = read::gate_list(&repo)?;
            if ctx.out.is_json() {
                ctx.out.json(&gates)?;
            } else if gates.is_empty() {
                ctx.status("no gates defined; add one with `jit gate define`");
            } else {
                for g in &gates {
                    let line = format!(
                        "{:<16} {:<9} {:<6} {:<9} {}",
                        one_line(&g.name),
                        g.def.stage.to_string(),
                        g.def.mode.to_string(),
                        trust_word(g),
                        one_line(&describe(&g.def))
                    );
                    ctx.out.text(&format!("{}\n", line.trim_end()))?;
                    if let Some(p) = &g.problem {
                        ctx.out.text(&format!("    cannot run: {p}\n"))?;
                    }
                }
            }
        }
        GateCommand::Trust { names, all } => {
            let listing = names.is_empty() && !all;
            let report = repo.gate_trust(&names, all)?;
            if ctx.out.is_json() {
                ctx.out.json(&json!({ "gates": report }))?;
            } else if report.is_empty() {
                ctx.status(if listing {
                    "every auto gate is trusted on this machine"
                } else {
                    "no auto gates to trust"
                });
            } else if listing {
                let config = repo.gate_registry()?;
                for g in &report {
                    let what = config.gates.get(&g.name).map(describe).unwrap_or_default();
                    ctx.out.text(&format!("untrusted {}: {}\n", g.name, one_line(&what)))?;
                }
                ctx.status("trust them with `jit gate trust NAME...` or `jit gate trust --all`");
            } else {
                for g in &report {
                    let how = if g.changed { "trusted" } else { "already trusted" };
                    ctx.out.text(&format!("{how} {} ({})\n", g.name, &g.sha256[..12]))?;
                }
            }
        }
        GateCommand::Untrust { names } => {
            let report = repo.gate_untrust(&names)?;
            if ctx.out.is_json() {
                ctx.out.json(&json!({ "gates": report }))?;
            } else {
                for g in &report {
                    let how = if g.changed { "untrusted" } else { "was not trusted:" };
                    ctx.out.text(&format!("{how} {}\n", g.name))?;
                }
            }
        }
        GateCommand::Show { name } => {
            let config = repo.gate_registry()?;
            let def = config.gates.get(&name).ok_or_else(|| crate::Error::Gate {
                refusal: crate::error::GateRefusal::Unknown,
                message: format!("no gate named `{name}` in the registry"),
                suggestion: crate::model::suggest(&name, config.gates.keys().map(String::as_str)),
            })?;
            let store = repo.trust_store()?;
            print_def(ctx, &read::gate_info(&repo, &store, &name, def))?;
        }
        GateCommand::Remove { name, force } => {
            let done = repo.gate_remove(&api::GateRemove { name: name.clone(), force })?;
            if ctx.out.is_json() {
                ctx.out.json(&done)?;
            } else {
                ctx.out.text(&format!(
                    "removed gate {name}; detached from {} issue(s)\n",
                    done.detached_from.len()
                ))?;
            }
        }
        GateCommand::Add { id, names: gates, key } => {
            let req = api::GateAttach { id, gates };
            print_gates(ctx, &repo.gate_add(&req, key.parse()?.as_ref())?)?
        }
        GateCommand::Rm { id, names: gates, key } => {
            let req = api::GateAttach { id, gates };
            print_gates(ctx, &repo.gate_rm(&req, key.parse()?.as_ref())?)?
        }
        GateCommand::Pass(d) => {
            let (req, key) = d.into_request(true);
            print_gates(ctx, &repo.gate_decide(&req, key.parse()?.as_ref())?)?
        }
        GateCommand::Fail(d) => {
            let (req, key) = d.into_request(false);
            print_gates(ctx, &repo.gate_decide(&req, key.parse()?.as_ref())?)?
        }
        GateCommand::Run { id, names } => {
            let run = repo.gate_run(&id, &names)?;
            let outcomes = &run.results;
            let failed = outcomes.iter().any(|o| o.status != GateStatus::Passed);
            if ctx.out.is_json() {
                // Through a JSON value, whose keys are sorted: the bytes `gate run` always printed.
                let value = serde_json::to_value(&run).expect("a gate run serialises");
                ctx.out.json(&value)?;
            } else if outcomes.is_empty() {
                ctx.status("no auto gates to run on this issue");
            } else {
                for o in outcomes {
                    let code =
                        o.exit_code.map_or("no exit code".to_string(), |c| format!("exit {c}"));
                    let extra =
                        if o.recorded { "" } else { " (not recorded: the gate changed meanwhile)" };
                    ctx.out.text(&format!(
                        "{}: {} ({code}, {} ms){extra}\n",
                        o.gate, o.status, o.duration_ms
                    ))?;
                    if o.status != GateStatus::Passed && !o.output.is_empty() {
                        for line in o.output.lines() {
                            ctx.out.text(&format!("    {line}\n"))?;
                        }
                    }
                }
            }
            return Ok(if failed { exit::USER } else { exit::OK });
        }
        GateCommand::History { id } => {
            let history = read::gate_history(&repo, &GateHistoryRequest { id })?;
            if ctx.out.is_json() {
                ctx.out.json(&history)?;
            } else {
                // One line per run, whatever a note holds: a line break in it (or a hand-edited
                // name) is shown escaped, so it cannot forge a line of the history.
                for (n, g) in &history.gates {
                    ctx.out.text(&format!("{}: {}\n", one_line(n), g.status))?;
                    for r in &g.runs {
                        let by =
                            r.by.as_deref()
                                .map(|b| format!(" by {}", one_line(b)))
                                .unwrap_or_default();
                        let note = r
                            .note
                            .as_deref()
                            .map(|b| format!(": {}", one_line(b)))
                            .unwrap_or_default();
                        let code = r.exit_code.map(|c| format!(" exit {c}")).unwrap_or_default();
                        ctx.out.text(&format!("  {} {}{by}{code}{note}\n", r.at, r.status))?;
                    }
                }
            }
        }
    }
    Ok(exit::OK)
}

/// An auto gate's command as a shell would take it (arguments quoted where needed), or a
/// manual gate's description.
fn describe(d: &GateDef) -> String {
    if d.command.is_empty() {
        return d.description.clone();
    }
    if d.shell {
        return format!("sh -c {}", shell_quote(&d.command.join(" ")));
    }
    d.command.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
}

/// `word` as one shell word: as it is if it holds only characters no shell treats specially,
/// else in single quotes.
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// The trust column of `gate list`.
fn trust_word(g: &GateInfo) -> &'static str {
    match (&g.problem, g.trusted) {
        (Some(_), _) => "invalid",
        (None, Some(true)) => "trusted",
        (None, Some(false)) => "untrusted",
        (None, None) => "-",
    }
}

fn print_def(ctx: &mut Ctx, g: &GateInfo) -> Result<(), CliError> {
    let (name, def) = (&g.name, &g.def);
    if ctx.out.is_json() {
        ctx.out.json(g)?;
    } else {
        let timeout = match def.mode {
            Mode::Auto => format!(" (timeout {} s)", def.timeout_s),
            Mode::Manual => String::new(),
        };
        let trust = match g.trusted {
            Some(true) => ", trusted on this machine",
            Some(false) => ", NOT trusted on this machine",
            None => "",
        };
        ctx.out.text(&format!(
            "{}: {} {}{timeout}{trust}\n",
            one_line(name),
            def.stage,
            def.mode
        ))?;
        let what = describe(def);
        if !what.is_empty() {
            ctx.out.text(&format!("  {}\n", one_line(&what)))?;
        }
        if let Some(p) = &g.problem {
            ctx.out.text(&format!("  cannot run: {p}\n"))?;
        }
    }
    Ok(())
}

fn print_gates(ctx: &mut Ctx, issue: &Issue) -> Result<(), CliError> {
    if ctx.out.is_json() {
        ctx.out.json(issue)?;
    } else {
        for (n, g) in &issue.gates {
            ctx.out.text(&format!("{n}: {}\n", g.status))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn commands_are_shown_as_a_shell_would_take_them() {
        assert_eq!(shell_quote("cargo"), "cargo");
        assert_eq!(shell_quote("--features=a,b"), "--features=a,b");
        assert_eq!(shell_quote("two words"), "'two words'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$HOME;rm"), "'$HOME;rm'");
        assert_eq!(shell_quote(""), "''");
    }
}
