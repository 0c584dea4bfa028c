//! `jit completions SHELL`

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, Ctx};
use crate::cli::CliError;
use crate::cli::exit;

/// Print a shell completion script
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  jit completions bash > ~/.local/share/bash-completion/completions/jit\n  jit completions zsh > \"${fpath[1]}/_jit\"\n  jit completions fish > ~/.config/fish/completions/jit.fish"
)]
pub struct Args {
    /// The shell: bash, zsh or fish (also elvish, powershell)
    pub shell: Shell,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    let mut cmd = Cli::command();
    // Generate into memory: clap_complete panics on a closed pipe, the printer does not.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "jit", &mut script);
    if ctx.out.is_json() {
        let script = String::from_utf8_lossy(&script);
        ctx.out.json(&serde_json::json!({ "shell": args.shell.to_string(), "script": script }))?;
    } else {
        ctx.out.raw().write_all(&script)?;
    }
    Ok(exit::OK)
}
