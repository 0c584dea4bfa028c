//! The command-line layer: argument parsing, dispatch, and rendering of results and errors.
//! It is the only part of jit that touches stdout, stderr and the exit code.

mod actor;
mod commands;
pub(crate) mod error_map;
pub mod exit;
pub mod invocation;
mod output;
mod render;
pub mod serve;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use crate::api::{ErrorBody, ErrorResponse};
use crate::model::terminal_safe;
pub use commands::Cli;
use invocation::Invocation;
use output::Printer;

use crate::error::Error;

/// A failure as the CLI reports it.
#[derive(Debug)]
pub enum CliError {
    /// A library error with its code and exit code.
    Jit(Error),
    /// Bad command-line usage (clap), exit 2.
    Usage { code: &'static str, message: String },
    /// stdout was closed (`jit issue list | head`): stop quietly.
    BrokenPipe,
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        CliError::Jit(e)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CliError::BrokenPipe
        } else {
            CliError::Jit(Error::Io { path: "<stdout>".into(), source: e })
        }
    }
}

/// The global options clap takes from the environment: (argument id, variable).
const ENV_ARGS: [(&str, &str); 4] = [
    ("repo", "JIT_DIR"),
    ("timeout_ms", "JIT_LOCK_TIMEOUT_MS"),
    ("actor", "JIT_ACTOR"),
    ("claim_token", "JIT_CLAIM_TOKEN"),
];

/// Parse the arguments. An environment variable that is set but empty (`JIT_DIR=`) counts
/// as unset, as shells and CI configurations often leave them so.
///
/// clap reads `env` values from this process; for a served run the client's environment is
/// another, so there clap's own `env` is turned off and the values are taken from the
/// invocation after parsing (the client has parsed the same arguments and environment
/// without error before sending them).
fn parse(inv: &Invocation) -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let mut cmd = Cli::command();
    for (arg, var) in ENV_ARGS {
        if inv.is_served() || std::env::var_os(var).is_some_and(|v| v.is_empty()) {
            cmd = cmd.mut_arg(arg, |a| a.env(None::<&str>));
        }
    }
    let matches = cmd.try_get_matches_from(&inv.args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    let from_command_line =
        |arg: &str| matches.value_source(arg) == Some(clap::parser::ValueSource::CommandLine);
    cli.global.actor_from_command_line = from_command_line("actor");
    if inv.is_served() {
        let var = |name: &str| inv.var_os(name).filter(|v| !v.is_empty());
        let number = |name: &str, v: std::ffi::OsString| {
            v.to_str().and_then(|s| s.parse::<u64>().ok()).ok_or_else(|| {
                clap::Error::raw(
                    clap::error::ErrorKind::ValueValidation,
                    format!("{name} is not a number\n"),
                )
            })
        };
        let g = &mut cli.global;
        if let Some(v) = var("JIT_DIR").filter(|_| !from_command_line("repo")) {
            g.repo = Some(v.into());
        }
        if let Some(v) = var("JIT_LOCK_TIMEOUT_MS").filter(|_| !from_command_line("timeout_ms")) {
            g.timeout_ms = Some(number("JIT_LOCK_TIMEOUT_MS", v)?);
        }
        if let Some(v) = var("JIT_ACTOR").filter(|_| !from_command_line("actor")) {
            g.actor = Some(v.to_string_lossy().into_owned());
        }
        if let Some(v) = var("JIT_CLAIM_TOKEN").filter(|_| !from_command_line("claim_token")) {
            g.claim_token = Some(number("JIT_CLAIM_TOKEN", v)?);
        }
    }
    Ok(cli)
}

/// Run jit with the process's arguments, through a running `jit serve` when one can serve
/// the command ([`serve::client`]), else directly.
pub fn run() -> ExitCode {
    let inv = Invocation::from_process();
    let parsed = parse(&inv);
    if let Ok(cli) = &parsed
        && let Some(code) = serve::client::try_serve(&inv, cli)
    {
        return ExitCode::from(code);
    }
    ExitCode::from(run_parsed(&inv, parsed))
}

/// Run jit for `inv` here, in this process (what `jit serve` does for a client); returns
/// the exit code.
pub fn run_invocation(inv: &Invocation) -> u8 {
    run_parsed(inv, parse(inv))
}

/// What is running, for `lock.info`: `jit` and the first three words of the command, global
/// options (and the values of those that take one) left out.
fn command_words(args: &[OsString]) -> String {
    let mut words = vec!["jit".to_string()];
    let mut rest = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(w) = rest.next() {
        match w.as_ref() {
            "--repo" | "--timeout-ms" | "--actor" | "--claim-token" => {
                rest.next();
            }
            "--json" | "-q" | "--quiet" => {}
            w if ["--repo=", "--timeout-ms=", "--actor=", "--claim-token="]
                .iter()
                .any(|p| w.starts_with(p)) => {}
            _ if words.len() < 4 => words.push(w.into_owned()),
            _ => break,
        }
    }
    words.join(" ")
}

/// Run the parsed command (or report why the arguments did not parse).
fn run_parsed(inv: &Invocation, parsed: Result<Cli, clap::Error>) -> u8 {
    let args = &inv.args;
    let json = args.iter().skip(1).take_while(|a| *a != "--").any(|a| a == "--json");
    let writes = parsed.as_ref().is_ok_and(|cli| cli.command.writes());
    let mut printer =
        if writes { Printer::held_on(inv.stdout(), json) } else { Printer::on(inv.stdout(), json) };
    let result = match parsed {
        Ok(cli) => commands::dispatch(cli, &mut printer, command_words(args), inv),
        Err(e) => clap_error(e, &mut printer, inv),
    };
    // A write that returned a code (not an error) has committed what it did.
    let committed = writes && result.is_ok();
    let code = match result {
        Ok(code) => code,
        Err(CliError::BrokenPipe) => exit::OK,
        Err(err) => report(&err, &mut printer, inv),
    };
    match printer.finish() {
        Err(u) if u.error.kind() == std::io::ErrorKind::BrokenPipe => code,
        Err(u) if committed => {
            report_unwritten(&u, json, inv);
            code
        }
        Err(u) if code == exit::OK => {
            let _ = writeln!(inv.stderr(), "error: cannot write output: {}", u.error);
            exit::IO
        }
        Err(u) => {
            // A failure whose report could not reach stdout: what was held of it goes to
            // stderr, so the error is not lost (`{"error": ...}` under --json).
            let _ = inv.stderr().write_all(&u.output);
            code
        }
        Ok(()) => code,
    }
}

/// A committed change whose result could not be written to stdout (`jit issue create x >
/// /dev/full`): the exit code stays the command's own, as the change is made and a retry
/// would make it twice; stderr says so (`OUTPUT_LOST`, docs/errors.md) and carries the
/// result that stdout should have had.
fn report_unwritten(u: &output::Unwritten, json: bool, inv: &Invocation) {
    let mut err = inv.stderr();
    let message = format!(
        "the change is committed, but its result could not be written to stdout ({}); \
         the result follows on stderr",
        u.error
    );
    if json {
        let body = ErrorBody {
            code: "OUTPUT_LOST".into(),
            message,
            hint: Some("do not retry the command: its change is made".into()),
            details: serde_json::Map::from_iter([("committed".to_string(), true.into())]),
        };
        let _ = serde_json::to_writer(&mut err, &Warning { warning: body });
        let _ = writeln!(err);
    } else {
        let _ = writeln!(err, "warning: {message}");
    }
    let _ = err.write_all(&u.output);
}

/// The line before the result [`report_unwritten`] prints under `--json`.
#[derive(serde::Serialize)]
struct Warning {
    warning: ErrorBody,
}

fn clap_error(e: clap::Error, printer: &mut Printer, inv: &Invocation) -> Result<u8, CliError> {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            printer.text(&e.render().to_string())?;
            Ok(exit::OK)
        }
        ErrorKind::InvalidUtf8 => Err(CliError::Usage {
            code: "INVALID_UTF8",
            message: "an argument is not valid UTF-8".into(),
        }),
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand if !printer.is_json() => {
            print_clap(&e, inv);
            Ok(exit::USAGE)
        }
        _ if printer.is_json() => {
            Err(CliError::Usage { code: "USAGE", message: e.render().to_string() })
        }
        _ => {
            print_clap(&e, inv);
            Ok(exit::USAGE)
        }
    }
}

/// A clap message on stderr, coloured only for a terminal and unless `NO_COLOR` is set to
/// something (no-color.org: set and not empty).
fn print_clap(e: &clap::Error, inv: &Invocation) {
    let mut err = inv.stderr();
    let no_color = inv.var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let _ = if err.is_terminal() && !no_color {
        write!(err, "{}", e.render().ansi())
    } else {
        write!(err, "{}", e.render())
    };
}

pub(crate) fn report(err: &CliError, printer: &mut Printer, inv: &Invocation) -> u8 {
    let (code, message, hint, details, exit_code) = match err {
        CliError::Jit(e) => {
            (e.code(), e.to_string(), error_map::hint(e), e.details(), error_map::exit_code(e))
        }
        CliError::Usage { code, message } => {
            let msg = message.trim().trim_start_matches("error: ").to_string();
            (*code, msg, Some("see `jit --help`".to_string()), Default::default(), exit::USAGE)
        }
        CliError::BrokenPipe => return exit::OK,
    };
    if printer.is_json() {
        let body = ErrorBody { code: code.to_string(), message, hint, details };
        let _ = printer.json(&ErrorResponse { error: body });
    } else {
        // Messages can quote file contents (titles, lock.info): made safe like all human text.
        let mut err_out = inv.stderr();
        let _ = writeln!(err_out, "error: {}", terminal_safe(&message));
        if let CliError::Jit(e) = err
            && let Some(snippet) = e.snippet()
        {
            let _ = writeln!(err_out, "{}", terminal_safe(&snippet));
        }
        if let Some(h) = hint {
            let _ = writeln!(err_out, "hint: {}", terminal_safe(&h));
        }
    }
    exit_code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_info_names_the_command_without_global_options() {
        let words = |a: &[&str]| command_words(&a.iter().map(OsString::from).collect::<Vec<_>>());
        assert_eq!(
            words(&["jit", "issue", "update", "01jx", "-p", "high"]),
            "jit issue update 01jx"
        );
        assert_eq!(
            words(&[
                "jit",
                "--repo",
                "/x",
                "-q",
                "--json",
                "issue",
                "bulk-update",
                "--filter",
                "a"
            ]),
            "jit issue bulk-update --filter"
        );
        assert_eq!(words(&["jit", "--timeout-ms=5", "dep", "add"]), "jit dep add");
    }
}
