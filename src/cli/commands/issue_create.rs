//! `jit issue create`

use std::io::Read;

use super::Ctx;
use super::issue::print_issue;
use crate::api;
use crate::cli::CliError;
use crate::cli::exit;
use crate::error::Error;
use crate::model::MAX_DESCRIPTION;

/// Create an issue and print it
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  jit issue create \"Fix the login page\" -p high -l type:bug -l area:auth
  jit issue create --title \"Write release notes\" --state ready --assignee agent:writer
  jit issue create --depends-on 01jx5k,01jx7m \"Wire it up\"
  git log -1 --format=%B | jit issue create \"Follow up on the last commit\" -d -")]
pub struct Args {
    /// The title (or use --title)
    #[arg(value_name = "TITLE", required_unless_present = "title")]
    pub title_pos: Option<String>,
    /// The title
    #[arg(long, conflicts_with = "title_pos")]
    pub title: Option<String>,
    /// The description; `-` reads it from stdin
    #[arg(short, long, value_name = "TEXT", allow_hyphen_values = true)]
    pub description: Option<String>,
    /// low, normal (default), high or critical
    #[arg(short, long)]
    pub priority: Option<String>,
    /// A `namespace:value` label; repeat or separate with commas for several
    #[arg(short, long = "label", value_name = "LABEL", value_delimiter = ',')]
    pub labels: Vec<String>,
    /// The starting state (default: the config's default_state, normally backlog)
    #[arg(short, long)]
    pub state: Option<String>,
    /// Who works on it
    #[arg(short, long)]
    pub assignee: Option<String>,
    /// An issue this one depends on (an id or unique prefix); repeat or separate with commas
    /// for several. It takes one value, so the title may come before or after it
    #[arg(long = "depends-on", value_name = "ID", value_delimiter = ',')]
    pub depends_on: Vec<String>,
    #[command(flatten)]
    pub key: super::key_arg::KeyArg,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    let key = args.key.parse()?;
    let title = args.title_pos.or(args.title).unwrap_or_default();
    let req = api::CreateIssue {
        title,
        description: description_arg(args.description, ctx.inv)?.unwrap_or_default(),
        state: args.state.map(|s| s.parse()).transpose()?,
        priority: args.priority.map(|s| s.parse()).transpose()?,
        assignee: args.assignee,
        labels: args.labels,
        depends_on: args.depends_on,
    };
    let repo = ctx.open_repo()?;
    let issue = repo.create_issue(&req, key.as_ref())?;
    print_issue(ctx, &issue)?;
    Ok(exit::OK)
}

/// `-d TEXT` as given, or `-d -`: stdin, refused past the size limit without reading it all.
pub fn description_arg(
    arg: Option<String>,
    inv: &crate::cli::invocation::Invocation,
) -> Result<Option<String>, CliError> {
    match arg.as_deref() {
        Some("-") => {
            let mut buf = Vec::new();
            inv.stdin()
                .take(MAX_DESCRIPTION as u64 + 1)
                .read_to_end(&mut buf)
                .map_err(|e| Error::Io { path: "<stdin>".into(), source: e })?;
            if buf.len() > MAX_DESCRIPTION {
                return Err(Error::TooLong {
                    field: "description",
                    len: buf.len(),
                    max: MAX_DESCRIPTION,
                }
                .into());
            }
            let text = String::from_utf8(buf).map_err(|_| {
                Error::InvalidArgument("the description on stdin is not valid UTF-8".into())
            })?;
            Ok(Some(text))
        }
        _ => Ok(arg),
    }
}
