//! `jit help [TOPIC | COMMAND...]`: the help of a command, or a topic that belongs to no one
//! command (the filter language), so that an installed binary carries its whole reference.

use clap::CommandFactory;
use serde::Serialize;

use super::{Cli, Ctx};
use crate::cli::CliError;
use crate::cli::exit;

/// The filter language reference: `jit help filters`, the long help of `jit query`, and a
/// FILTERS section of the manual page.
pub const FILTERS: &str = include_str!("../filters.txt");

/// Topics `jit help` knows besides the commands, with the names they answer to.
const TOPICS: &[(&str, &[&str], &str)] =
    &[("filters", &["filters", "filter", "query-language"], FILTERS)];

/// Print help on a command or topic (`jit help filters`: the query language)
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Topics:
  filters   the query language of `jit query` and every --filter: fields, operators, values,
            dates, wildcards, quoting, precedence, examples

Examples:
  jit help filters
  jit help issue create
  jit help filters | less")]
pub struct Args {
    /// A topic (`filters`) or a command (`issue create`); none for the overview
    #[arg(value_name = "TOPIC|COMMAND")]
    pub words: Vec<String>,
}

/// What `--json` prints: the topic or command and its text.
#[derive(Serialize)]
struct HelpText<'a> {
    topic: &'a str,
    text: &'a str,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    let words: Vec<&str> = args.words.iter().map(String::as_str).collect();
    let topic = match words.as_slice() {
        [one] => TOPICS.iter().find(|(_, names, _)| names.contains(&one.to_lowercase().as_str())),
        _ => None,
    };
    let (name, text) = match topic {
        Some((name, _, text)) => (name.to_string(), text.to_string()),
        None => (words.join(" "), command_help(&words)?),
    };
    if ctx.out.is_json() {
        ctx.out.json(&HelpText { topic: &name, text: &text })?;
    } else {
        ctx.out.text(&text)?;
    }
    Ok(exit::OK)
}

/// The help `--help` prints for the command named by `words`.
fn command_help(words: &[&str]) -> Result<String, CliError> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut at = &mut cmd;
    for (i, w) in words.iter().enumerate() {
        let names: Vec<String> = at.get_subcommands().map(|s| s.get_name().to_string()).collect();
        match at.find_subcommand_mut(w) {
            Some(sub) => at = sub,
            None => {
                let topics: Vec<&str> =
                    if i == 0 { TOPICS.iter().map(|t| t.0).collect() } else { vec![] };
                let known = names.iter().map(String::as_str).chain(topics.iter().copied());
                let near = crate::model::suggest(w, known)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                let has = if i == 0 {
                    format!("topics: {}; commands: {}", topics.join(", "), names.join(", "))
                } else if names.is_empty() {
                    format!("`jit {}` has no subcommands", words[..i].join(" "))
                } else {
                    format!(
                        "`jit {}` has the subcommands {}",
                        words[..i].join(" "),
                        names.join(", ")
                    )
                };
                let asked = words[..=i].join(" ");
                return Err(CliError::Usage {
                    code: "USAGE",
                    message: format!("no help on `{asked}`: {has}{near}"),
                });
            }
        }
    }
    // What `jit WORDS --help` prints, exactly: clap picks the layout there.
    let argv = std::iter::once("jit").chain(words.iter().copied()).chain(["--help"]);
    match Cli::command().try_get_matches_from(argv) {
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => Ok(e.render().to_string()),
        _ => Ok(at.render_long_help().to_string()),
    }
}

/// The manual page's FILTERS section, in roff: the reference under `.SH FILTERS`, each line
/// kept as written (`.nf`), with roff's special characters escaped.
pub fn filters_roff() -> String {
    let mut out = String::from(".SH FILTERS\n.nf\n");
    // The first line is the title, which the section heading already says.
    for line in FILTERS.lines().skip(2) {
        let escaped = line.replace('\\', "\\e").replace('-', "\\-");
        if escaped.starts_with(['.', '\'']) {
            out.push_str("\\&");
        }
        out.push_str(&escaped);
        out.push('\n');
    }
    out.push_str(".fi\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GateStatus, Priority, State};
    use crate::query::{HasWhat, IsPred, ast::FIELDS};

    /// The built-in reference names everything the parser accepts, so the two cannot drift.
    #[test]
    fn the_reference_lists_every_field_value_and_operator() {
        let fields_line = FILTERS
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("Fields:"))
            .take_while(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        for f in FIELDS {
            assert!(
                fields_line.contains(&format!(" {f},")) || fields_line.contains(&format!(" {f}.")),
                "field {f}"
            );
            assert!(
                FILTERS.contains(&format!("{f}:")) || ["created", "updated", "closed"].contains(f),
                "a row for {f}"
            );
        }
        assert_eq!(fields_line.matches(',').count() + 1, FIELDS.len(), "no field the parser lacks");
        for p in IsPred::ALL {
            assert!(FILTERS.contains(&format!("is:{}", p.as_str())), "is:{}", p.as_str());
        }
        for h in HasWhat::ALL {
            assert!(FILTERS.contains(&format!("has:{}", h.as_str())), "has:{}", h.as_str());
        }
        for s in State::ALL {
            assert!(FILTERS.contains(s.as_str()), "state {s}");
        }
        for p in Priority::ALL {
            assert!(FILTERS.contains(p.as_str()), "priority {p}");
        }
        for g in GateStatus::ALL {
            assert!(FILTERS.contains(g.as_str()), "gate status {g}");
        }
        for word in [">=", "<=", "AND", "OR", "NOT", "\\\"", "\\\\", "*", "24h", "Precedence"] {
            assert!(FILTERS.contains(word), "{word}");
        }
        assert!(FILTERS.contains("s, m, h, d (24 h) or w"), "the age units");
        assert!(FILTERS.lines().all(|l| l.chars().count() <= 98), "fits a terminal");
    }

    #[test]
    fn every_example_of_the_reference_parses() {
        let examples = FILTERS.lines().skip_while(|l| *l != "EXAMPLES").skip(1);
        let mut n = 0;
        for line in examples {
            let q = line.split('\'').nth(1).expect("a quoted filter");
            crate::query::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
            n += 1;
        }
        assert!(n >= 8);
    }
}
