//! `jit doc add|rm|list`

use std::io::Write;

use clap::Subcommand;

use super::Ctx;
use crate::api::{DocAdd, DocListRequest, DocRm};
use crate::cli::CliError;
use crate::cli::exit;
use crate::error::Error;

/// Refer to files of the project from an issue (specs, designs): stored on the issue as
/// paths relative to the project directory; the files themselves are never changed
#[derive(Debug, Subcommand)]
#[command(after_help = "Examples:\n  jit doc add 01jx5k docs/login.md --label spec\n  \
                        jit doc list 01jx5k\n  jit doc rm 01jx5k docs/login.md")]
pub enum DocCommand {
    /// Refer to PATH (a file inside the project, which must exist) from ID; adding a path
    /// again changes its label if one is given
    Add {
        #[arg(value_name = "ID")]
        id: String,
        /// Relative to the current directory, or absolute; never outside the project
        #[arg(value_name = "PATH")]
        path: String,
        /// What the document is (`spec`, `design`)
        #[arg(long, short = 'l', value_name = "L")]
        label: Option<String>,
    },
    /// Stop referring to PATH from ID (the file is left alone)
    Rm {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(value_name = "PATH")]
        path: String,
    },
    /// The documents of ID, or of every issue
    List {
        #[arg(value_name = "ID")]
        id: Option<String>,
    },
}

pub fn run(ctx: &mut Ctx, cmd: DocCommand) -> Result<u8, CliError> {
    let repo = ctx.open_repo()?;
    let project = repo.layout().project().to_path_buf();
    // What the user typed is relative to where they are; requests are relative to the project.
    let relative = |path: &str| -> Result<String, CliError> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| project.clone());
        match repo.issue_documents_path(&cwd, path) {
            Ok(p) => Ok(p),
            Err(reason) => Err(Error::DocumentPath { path: path.to_string(), reason }.into()),
        }
    };
    let issue = match cmd {
        DocCommand::Add { id, path, label } => {
            let path = relative(&path)?;
            repo.doc_add(&DocAdd { id, path, label })?
        }
        DocCommand::Rm { id, path } => {
            // A stored path that no longer resolves (a hand edit) is removed as written.
            let shown = repo.show(&id)?;
            let path = if shown.documents.iter().any(|d| d.path == path) {
                path
            } else {
                relative(&path)?
            };
            repo.doc_rm(&DocRm { id, path })?
        }
        DocCommand::List { id } => {
            let list = repo.doc_list(&DocListRequest { id })?;
            if ctx.out.is_json() {
                ctx.out.json(&list)?;
            } else {
                ctx.out.human(|w| {
                    for d in &list {
                        let label = d.label.as_ref().map(|l| format!(" ({l})")).unwrap_or_default();
                        let id = d.id.to_string();
                        writeln!(w, "{}  {}{label}", &id[..12], d.path)?;
                    }
                    Ok::<(), std::io::Error>(())
                })?;
            }
            return Ok(exit::OK);
        }
    };
    if ctx.out.is_json() {
        ctx.out.json(&issue)?;
    } else {
        let paths: Vec<&str> = issue.documents.iter().map(|d| d.path.as_str()).collect();
        let list = if paths.is_empty() { "none".to_string() } else { paths.join(", ") };
        ctx.out.text(&format!("{} documents: {list}\n", issue.id))?;
    }
    Ok(exit::OK)
}
