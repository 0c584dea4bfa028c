//! `jit batch`

use std::io::Read;
use std::path::PathBuf;

use super::Ctx;
use crate::api::BatchReply;
use crate::cli::CliError;
use crate::cli::exit;
use crate::cli::invocation::Invocation;
use crate::error::{Error, IoContext};
use crate::repo::IdempotencyKey;
use crate::repo::batch::{self, MAX_BYTES};

/// Apply a list of write requests (a JSON array) as one all-or-nothing change
///
/// Each entry is one operation's request, tagged with `op`: create, update, delete, dep_add,
/// dep_rm, gate_pass, gate_fail or bulk_update, with the fields of the `--json` issue object
/// and of the command's flags (`jit schema batch` has them all). A create may carry a `key`;
/// later entries name that issue `@key`. Any entry may carry `claim_token`, the fencing token
/// its writes present instead of --claim-token. Everything is checked first, then applied in order
/// as ONE commit: if any entry fails, the error names it (`entry`, its index from 0) and
/// nothing is changed. A batch runs no gate commands: a move that an auto gate guards is
/// refused unless the gate has passed (run `jit gate run` first).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  jit batch changes.json
  echo '[{\"op\":\"create\",\"key\":\"a\",\"title\":\"Parser\"},
         {\"op\":\"create\",\"title\":\"Docs\",\"depends_on\":[\"@a\"]}]' | jit batch --json
  jit batch changes.json --dry-run")]
pub struct Args {
    /// The file of entries; `-` or nothing reads stdin
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Apply everything in a transaction that is then dropped: reply what the commit would
    /// have replied, and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// A retry with this key (within 24 hours) returns the first result and changes nothing;
    /// the same as the input's `idempotency_key`
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    let input = read_input(args.file.as_deref(), ctx.inv)?;
    let mut batch = batch::parse(&input)?;
    if let Some(k) = args.idempotency_key {
        let k = IdempotencyKey::parse(&k)?;
        match &batch.idempotency_key {
            Some(given) if *given != k => {
                return Err(Error::BatchInvalid {
                    entry: None,
                    message: format!(
                        "--idempotency-key `{k}` differs from the input's `idempotency_key` \
                         `{given}`"
                    ),
                }
                .into());
            }
            _ => batch.idempotency_key = Some(k),
        }
    }
    let repo = ctx.open_repo()?;
    let reply = repo.batch(batch, args.dry_run)?;
    if ctx.out.is_json() {
        ctx.out.json(&reply)?;
    } else {
        ctx.out.text(&human(&reply))?;
    }
    Ok(exit::OK)
}

/// The input, read up to one byte past the limit (so that a larger one is refused, not read
/// whole). A relative path is the invocation's directory's (errors name it as given).
fn read_input(file: Option<&std::path::Path>, inv: &Invocation) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    match file.filter(|f| f.as_os_str() != "-") {
        Some(path) => {
            let f = std::fs::File::open(inv.cwd()?.join(path)).at(path)?;
            f.take(MAX_BYTES + 1).read_to_end(&mut buf).at(path)?;
        }
        None => {
            inv.stdin().take(MAX_BYTES + 1).read_to_end(&mut buf).at("<stdin>")?;
        }
    }
    Ok(buf)
}

fn human(reply: &BatchReply) -> String {
    let mut s = String::new();
    for e in &reply.entries {
        let key = e.key.as_ref().map(|k| format!(" @{k}")).unwrap_or_default();
        let what = match (&e.id, e.version, &e.issue_ids) {
            (Some(id), Some(v), _) => format!("{id} v{v}"),
            (Some(id), None, _) => format!("{id} deleted"),
            (None, _, Some(ids)) => format!("{} issues", ids.len()),
            (None, _, None) => String::new(),
        };
        let unchanged = if e.changed { "" } else { " (unchanged)" };
        s += &format!("{:>3} {}{key} {what}{unchanged}\n", e.entry, e.op);
    }
    let n = reply.issues.len();
    let issues = if n == 1 { "issue" } else { "issues" };
    s += &match reply.dry_run {
        true => format!("dry run: {n} {issues} would change; nothing was written\n"),
        false => format!("committed: {n} {issues} changed\n"),
    };
    s
}
