//! `jit man`

use std::path::PathBuf;

use clap::CommandFactory;

use super::{Cli, Ctx};
use crate::cli::CliError;
use crate::cli::exit;
use crate::error::IoContext;

/// Print the manual page (roff), or write one page per command into a directory
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  jit man | man -l -\n  jit man --out ~/.local/share/man/man1")]
pub struct Args {
    /// Write jit.1, jit-issue.1, jit-issue-create.1, … into DIR (created if missing) instead
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    // The page's NAME line is "jit \- <about>": the about without its own "jit — ".
    let cmd = Cli::command();
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    let cmd = cmd.about(about.trim_start_matches("jit — ").to_string());
    match args.out {
        Some(dir) => {
            std::fs::create_dir_all(&dir).at(&dir)?;
            let mut pages = Vec::new();
            page_names(&cmd, "jit", &mut pages);
            pages.sort();
            clap_mangen::generate_to(cmd.clone(), &dir).at(&dir)?;
            // The top page again, with the FILTERS section.
            let top = dir.join("jit.1");
            std::fs::write(&top, top_page(cmd)?).at(&top)?;
            if ctx.out.is_json() {
                ctx.out.json(&serde_json::json!({ "dir": dir, "pages": pages }))?;
            }
            ctx.status(&format!("wrote the manual pages into {}", dir.display()));
        }
        None => {
            // Rendered into memory first, so that a closed pipe is the printer's to handle.
            let page = top_page(cmd)?;
            if ctx.out.is_json() {
                let page = String::from_utf8_lossy(&page);
                ctx.out.json(&serde_json::json!({ "page": page }))?;
            } else {
                ctx.out.raw().write_all(&page)?;
            }
        }
    }
    Ok(exit::OK)
}

/// `jit.1`: clap_mangen's page with a FILTERS section (the query language reference) before
/// the version, so that `man jit` carries the language too.
fn top_page(cmd: clap::Command) -> std::io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cmd);
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    man.render_subcommands_section(&mut page)?;
    man.render_extra_section(&mut page)?;
    page.extend_from_slice(super::help::filters_roff().as_bytes());
    man.render_version_section(&mut page)?;
    Ok(page)
}

/// The file names `generate_to` gives the pages of `cmd` and its subcommands.
fn page_names(cmd: &clap::Command, name: &str, out: &mut Vec<String>) {
    out.push(format!("{name}.1"));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page_names(sub, &format!("{name}-{}", sub.get_name()), out);
    }
}
