//! `jit events`

use std::io::Write;

use super::Ctx;
use crate::cli::CliError;
use crate::cli::exit;
use crate::cli::render::one_line;
use crate::error::Error;
use crate::model::{Event, IssueId, Prefix, unique_prefix_len};
use crate::query::date::{Instant, day_start_us};
use crate::storage::events::{Filter, IssueFilter, Page};

/// Events shown when neither --limit nor --all is given.
const DEFAULT_LIMIT: usize = 50;

/// Show the event log: who changed which issues, when, and how long it took, newest first
///
/// Every committed change is one event. The newest 50 are shown unless --limit or --all says
/// otherwise; reading the last N costs the same however long the history is.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  jit events
  jit events --issue 01jx --limit 10
  jit events --actor agent:claude-1 --since 24h
  jit events --op bulk_update --since 2026-03-01 --json

Here --actor filters by who acted (elsewhere it says who is acting).")]
pub struct Args {
    /// Only events that touched this issue: a full id or a prefix (the events of a deleted
    /// issue are kept, so its id still finds them)
    #[arg(long, value_name = "ID")]
    pub issue: Option<String>,
    /// Only events of this operation (create, update, delete, bulk_update, dep_add, ...)
    #[arg(long, value_name = "OP")]
    pub op: Option<String>,
    /// Only events at or after TIME: YYYY-MM-DD (UTC), an RFC 3339 timestamp, or an age
    /// like 30m, 24h, 7d, 2w
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Show at most N events [default: 50]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Show every matching event
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
}

/// What `jit events --json` prints.
#[derive(serde::Serialize)]
struct Output<'a> {
    events: &'a [Event],
    /// More events match than were shown (raise --limit or pass --all).
    more: bool,
    /// Lines of the log that are not events (torn by a crash, or damaged), skipped.
    skipped_lines: usize,
    /// Segment files that are not regular files, not read.
    skipped_files: Vec<String>,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    let repo = ctx.open_repo()?;
    let now_ns = repo.clock().now().as_nanosecond();
    let issue = match &args.issue {
        Some(input) => Some(issue_filter(&repo, input)?),
        None => None,
    };
    let filter = Filter {
        issue,
        actor: ctx.global.actor.clone().filter(|_| ctx.global.actor_from_command_line),
        op: args.op.clone(),
        since_ns: args.since.as_deref().map(|s| parse_since(s, now_ns)).transpose()?,
    };
    let limit = match (args.all, args.limit) {
        (true, _) => None,
        (false, n) => Some(n.map_or(DEFAULT_LIMIT, |n| usize::try_from(n).unwrap_or(usize::MAX))),
    };
    let page = repo.events(&filter, limit)?;
    warn_skipped(ctx, &page);
    if ctx.out.is_json() {
        let skipped_files =
            page.skipped_files.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        ctx.out.json(&Output {
            events: &page.events,
            more: page.more,
            skipped_lines: page.skipped_lines,
            skipped_files,
        })?;
        return Ok(exit::OK);
    }
    ctx.out.human(|w| render(w, &page.events))?;
    if page.events.is_empty() {
        ctx.status("no matching events");
    } else if page.more {
        ctx.status(&format!(
            "showing the newest {}; --limit N or --all for more",
            page.events.len()
        ));
    }
    Ok(exit::OK)
}

/// An issue that exists is named as every command names it (a unique prefix; an ambiguous
/// one is an error). One that does not may have been deleted: its events are found by the
/// full id or by the prefix matched against the ids in the events.
fn issue_filter(repo: &crate::repo::Repo, input: &str) -> Result<IssueFilter, CliError> {
    let prefix = Prefix::parse(input)?;
    match repo.resolve(input) {
        Ok(id) => Ok(IssueFilter::Id(id)),
        Err(Error::IssueNotFound(_)) => Ok(match prefix.as_full() {
            Some(id) => IssueFilter::Id(id),
            None => IssueFilter::Prefix(prefix.as_str().to_string()),
        }),
        Err(e) => Err(e.into()),
    }
}

/// `--since`: the forms of the query language's dates (`created>…`), as an instant in
/// nanoseconds. A day is its start in UTC; an age counts back from now.
pub(super) fn parse_since(s: &str, now_ns: i128) -> Result<i128, Error> {
    let bad = |why: &str| Error::InvalidArgument(format!("--since `{s}` is not a time: {why}"));
    let forms = "use YYYY-MM-DD, an RFC 3339 timestamp, or an age like 30m, 24h, 7d or 2w";
    if let Some(unit) = s.chars().last().filter(|c| "smhdw".contains(*c)) {
        let digits = &s[..s.len() - 1];
        if !digits.is_empty() && digits.len() <= 9 && digits.bytes().all(|b| b.is_ascii_digit()) {
            let secs: i128 = match unit {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                _ => 7 * 86_400,
            };
            let n: i128 = digits.parse().expect("digits");
            return Ok(now_ns - n * secs * 1_000_000_000);
        }
    }
    if s.len() == 10 {
        let day: jiff::civil::Date = s.parse().map_err(|_| bad(forms))?;
        return Ok(i128::from(day_start_us(day)) * 1000);
    }
    if s.len() > 10 && s.as_bytes()[4] == b'-' {
        return Instant::parse(s).map(|i| i.ns).map_err(|why| bad(&why));
    }
    Err(bad(forms))
}

fn warn_skipped(ctx: &Ctx, page: &Page) {
    if page.skipped_lines > 0 {
        let n = page.skipped_lines;
        ctx.warn(&format!(
            "skipped {n} line{} of the event log that {} not events (torn by a crash, or \
             damaged)",
            if n == 1 { "" } else { "s" },
            if n == 1 { "is" } else { "are" }
        ));
    }
    for p in &page.skipped_files {
        let what = if p.extension().is_some() { "a regular file" } else { "a directory" };
        ctx.warn(&format!("skipped {}: not {what}", p.display()));
    }
}

/// One line per event: time, actor, operation, the issues with their versions, duration.
fn render(w: &mut Vec<u8>, events: &[Event]) -> std::io::Result<()> {
    let mut ids: Vec<IssueId> = events.iter().flat_map(|e| e.issues.iter().map(|i| i.id)).collect();
    ids.sort_unstable();
    ids.dedup();
    let id_len = unique_prefix_len(&ids);
    let aw = events.iter().map(|e| one_line(&e.actor).chars().count()).max().unwrap_or(0);
    let ow = events.iter().map(|e| one_line(&e.op).chars().count()).max().unwrap_or(0);
    for e in events {
        let version = |v: Option<u64>, none: &str| v.map_or(none.to_string(), |v| v.to_string());
        let issues: Vec<String> = e
            .issues
            .iter()
            .map(|i| {
                let (b, a) = (version(i.before, "new"), version(i.after, "deleted"));
                format!("{} {b}→{a}", i.id.short(id_len))
            })
            .collect();
        writeln!(
            w,
            "{}  {:aw$}  {:ow$}  {}  {} ms",
            e.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            one_line(&e.actor),
            one_line(&e.op),
            if issues.is_empty() { "-".to_string() } else { issues.join(", ") },
            e.duration_ms
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_the_date_forms_of_the_query_language() {
        let now = Instant::parse("2026-01-02T03:04:05Z").unwrap().ns;
        let at = |s: &str| Instant::parse(s).unwrap().ns;
        assert_eq!(parse_since("24h", now).unwrap(), at("2026-01-01T03:04:05Z"));
        assert_eq!(parse_since("2w", now).unwrap(), at("2025-12-19T03:04:05Z"));
        assert_eq!(parse_since("2026-01-01", now).unwrap(), at("2026-01-01T00:00:00Z"));
        assert_eq!(
            parse_since("2026-01-01T09:00:00+02:00", now).unwrap(),
            at("2026-01-01T07:00:00Z")
        );
        for bad in ["yesterday", "24", "h", "2026-02-30", "2026-01-01T25:00:00Z", "1234567890d"] {
            let e = parse_since(bad, now).unwrap_err();
            assert_eq!(e.code(), "INVALID_ARGUMENT", "{bad}");
        }
    }
}
