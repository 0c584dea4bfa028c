//! `jit merge-driver BASE OURS THEIRS PATH`: git's merge driver for issue files (plumbing).

use std::path::PathBuf;

use super::Ctx;
use crate::cli::CliError;
use crate::cli::exit;
use crate::error::{Error, IoContext};
use crate::model::merge::merge_files;
use crate::storage::{Durability, FileBytes, atomic, read_regular};

/// Merge one issue file field by field (plumbing: git runs it, see docs/git.md)
///
/// git runs it as `jit merge-driver %O %A %B %P` for the files `.jit/.gitattributes` names.
/// The merged issue replaces OURS; exit 0 means merged. On input that is not an issue file,
/// or two different issues, it exits 1 (MERGE_FAILED) and leaves OURS alone, so git reports a
/// conflict. Needs no repository and takes no lock.
#[derive(Debug, clap::Args)]
#[command(after_help = "Set up by `jit init` and `jit git-setup`:\n  \
    git config merge.jit.driver 'jit merge-driver %O %A %B %P'")]
pub struct Args {
    /// The common ancestor's version (%O); empty when both sides added the file
    pub base: PathBuf,
    /// Our version (%A); replaced by the merge result
    pub ours: PathBuf,
    /// Their version (%B)
    pub theirs: PathBuf,
    /// The file's path in the work tree (%P), for messages
    pub path: Option<String>,
}

/// What `--json` prints after a merge.
#[derive(serde::Serialize)]
struct Merged {
    path: String,
    id: String,
    version: u64,
    /// Values the merge overrode (all of them recorded in the file, not only this merge's).
    merge_overrides: usize,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    let path = args.path.clone().unwrap_or_else(|| args.ours.to_string_lossy().into_owned());
    let base = read(&args.base)?;
    let ours = read(&args.ours)?;
    let theirs = read(&args.theirs)?;
    // git passes an empty file as the base when both sides added the path.
    let base = (!base.is_empty()).then_some(base.as_slice());
    let merged = merge_files(base, &ours, &theirs)
        .map_err(|source| Error::MergeFailed { path: path.clone(), source })?;
    // git passes bare names (`.merge_file_ab12`): a relative path's parent is "", which
    // cannot be opened for the directory fsync.
    let ours_path = ctx.inv.cwd()?.join(&args.ours);
    atomic::write(&ours_path, &merged, Durability::Full)?;
    if ctx.out.is_json() {
        let issue = crate::model::Issue::from_slice(&merged).expect("the merge wrote an issue");
        ctx.out.json(&Merged {
            path,
            id: issue.id.to_string(),
            version: issue.version,
            merge_overrides: issue.merge_overrides.len(),
        })?;
    }
    Ok(exit::OK)
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    match read_regular(path).at(path)? {
        FileBytes::Regular(b) => Ok(b),
        FileBytes::Missing => Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        }
        .into()),
        FileBytes::NotRegular => Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other("not a regular file"),
        }
        .into()),
    }
}
