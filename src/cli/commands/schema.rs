//! `jit schema`

use super::Ctx;
use crate::api::schema::{COMMANDS, find};
use crate::cli::CliError;
use crate::cli::exit;
use crate::error::Error;

/// Print the JSON Schema of a command's request and response
///
/// With COMMAND (its words, as typed after `jit`), one JSON document
/// `{"command", "request", "response"}` (JSON Schema 2020-12), with or without --json. Without
/// COMMAND, the commands it knows, one per line (--json: `{"commands": [...]}`); `error` is
/// the body every command prints under --json when it fails.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  jit schema
  jit schema issue list
  jit schema graph deps | jq .response")]
pub struct Args {
    #[arg(value_name = "COMMAND")]
    pub words: Vec<String>,
}

/// The list `jit schema` prints without a command.
#[derive(serde::Serialize)]
struct Commands {
    commands: Vec<&'static str>,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    if args.words.is_empty() {
        let names: Vec<&str> = COMMANDS.iter().map(|e| e.name).collect();
        if ctx.out.is_json() {
            ctx.out.json(&Commands { commands: names })?;
        } else {
            ctx.out.text(&names.iter().map(|n| format!("{n}\n")).collect::<String>())?;
        }
        return Ok(exit::OK);
    }
    let name = args.words.join(" ");
    let entry = find(&name).ok_or_else(|| Error::InvalidValue {
        what: "command",
        value: name.clone(),
        allowed: COMMANDS.iter().map(|e| e.name.to_string()).collect(),
        suggestion: crate::model::suggest(&name, COMMANDS.iter().map(|e| e.name)),
    })?;
    ctx.out.json(&entry.document())?;
    Ok(exit::OK)
}
