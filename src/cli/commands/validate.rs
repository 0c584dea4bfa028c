//! `jit validate`

use std::io::Write;

use super::Ctx;
use crate::cli::CliError;
use crate::cli::exit;
use crate::repo::validate::{
    CODES, Finding, Severity, ValidateOptions, ValidateReport, has_problems,
};

/// Check the whole repository: every issue file, references, the config, the journal, the
/// lock files, the index; exit 6 if any error or warning is found
///
/// Read only: nothing is changed. Holds the lock in shared mode while it checks, so no write
/// runs meanwhile. Findings are grouped by code, with counts; `--json` lists them sorted by
/// path, then code. Every code, its severity and what to do about it: docs/validate.md.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  jit validate
  jit validate --json
  jit validate --only DEP_CYCLE,DEP_MISSING
  jit validate --fix --dry-run
  jit validate --fix
  jit validate --fix --restore-from-git --prune-docs

Exit status: 0 when nothing but info findings (or nothing) is found, 6 when any error or
warning is. With --fix: 0 when no error or warning remains after the repairs, 6 when some
does (what --fix cannot repair safely; the report says what to do).")]
pub struct Args {
    /// Report only these finding codes (comma-separated, repeatable)
    #[arg(long, value_name = "CODE,...", value_delimiter = ',', conflicts_with = "fix")]
    pub only: Vec<String>,
    /// Repair what is safe, move what is not into .jit/quarantine/ (never deleting data)
    #[arg(long)]
    pub fix: bool,
    /// With --fix: list what would be done, change nothing
    #[arg(long, requires = "fix")]
    pub dry_run: bool,
    /// With --fix: put back an unreadable issue file from git's HEAD when HEAD has a valid
    /// version of it (the damaged file is kept in quarantine)
    #[arg(long, requires = "fix")]
    pub restore_from_git: bool,
    /// With --fix: remove documents whose file is missing or outside the project
    #[arg(long, requires = "fix")]
    pub prune_docs: bool,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    if args.fix {
        return run_fix(ctx, &args);
    }
    let only = parse_only(&args.only)?;
    let repo = ctx.open_repo_with(crate::repo::Repo::open_for_check)?;
    let report = with_progress(ctx, |tick| repo.validate(&ValidateOptions { only }, tick))?;
    if ctx.out.is_json() {
        ctx.out.json(&report)?;
    } else {
        ctx.out.human(|w| render(w, &report))?;
    }
    Ok(if report.has_problems() { exit::INVALID_REPO } else { exit::OK })
}

/// `--fix`: repair, then report what was done and what remains.
fn run_fix(ctx: &mut Ctx, args: &Args) -> Result<u8, CliError> {
    let req = crate::api::FixRequest {
        dry_run: args.dry_run,
        restore_from_git: args.restore_from_git,
        prune_docs: args.prune_docs,
    };
    let repo = ctx.open_repo_with(crate::repo::Repo::open_for_check)?;
    let report = with_progress(ctx, |tick| repo.fix(&req, tick))?;
    if ctx.out.is_json() {
        ctx.out.json(&report)?;
    } else {
        ctx.out.human(|w| render_fix(w, &report))?;
    }
    Ok(if has_problems(&report) { exit::INVALID_REPO } else { exit::OK })
}

/// The repairs, one line each, then what remains grouped as `validate` groups findings.
fn render_fix(w: &mut Vec<u8>, report: &crate::api::FixReport) -> std::io::Result<()> {
    for a in &report.actions {
        let what = a.target.as_ref().map(|t| format!(" ({t})")).unwrap_or_default();
        writeln!(w, "{} {}{what}: {}", a.code, a.path, a.message)?;
    }
    if !report.actions.is_empty() {
        writeln!(w)?;
    }
    let n = report.actions.len();
    let head = match (report.dry_run, n) {
        (true, 0) => "Nothing to repair.".to_string(),
        (true, 1) => "1 repair would be made (dry run: nothing was changed).".to_string(),
        (true, n) => format!("{n} repairs would be made (dry run: nothing was changed)."),
        (false, 0) => "Nothing to repair.".to_string(),
        (false, 1) => "1 repair made.".to_string(),
        (false, n) => format!("{n} repairs made."),
    };
    writeln!(w, "{head}")?;
    match (&report.quarantine, report.dry_run) {
        (Some(q), false) => writeln!(w, "Moved aside into {q}/ (nothing was deleted).")?,
        (Some(q), true) => writeln!(w, "Would move aside into {q}/ (nothing is deleted).")?,
        (None, _) => {}
    }
    let left = if report.dry_run { "would remain" } else { "remain" };
    if report.remaining.is_empty() {
        return writeln!(w, "No problems {left}.");
    }
    writeln!(w, "{} findings {left}:", report.remaining.len())?;
    writeln!(w)?;
    render_groups(w, &report.remaining)
}

/// The codes of `--only`, each checked: an unknown one is a usage error naming the closest.
fn parse_only(raw: &[String]) -> Result<Vec<&'static str>, CliError> {
    let mut out = Vec::new();
    for word in raw.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
        let upper = word.to_ascii_uppercase();
        match CODES.iter().find(|c| c.code == upper) {
            Some(c) => out.push(c.code),
            None => {
                let lower: Vec<String> = CODES.iter().map(|c| c.code.to_lowercase()).collect();
                let hint = crate::model::suggest(word, lower.iter().map(String::as_str))
                    .map(|s| format!("did you mean `{}`? ", s.to_uppercase()))
                    .unwrap_or_default();
                return Err(CliError::Usage {
                    code: "USAGE",
                    message: format!(
                        "unknown finding code `{word}` for --only; {hint}codes: {}",
                        CODES.iter().map(|c| c.code).collect::<Vec<_>>().join(", ")
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// How long a check runs before its progress bar is drawn.
const SHOW_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

/// A progress bar for stderr, only on a terminal and not with `--json` or `--quiet`, hidden
/// until the check has run for [`SHOW_AFTER`], then redrawn at most 4 times a second.
/// Run `work` with a progress callback (`done`, `total` issue files) that draws a bar on a
/// terminal once the run has lasted [`SHOW_AFTER`]: a check over in a moment leaves no trace.
fn with_progress<T>(ctx: &Ctx, work: impl FnOnce(crate::repo::validate::Progress) -> T) -> T {
    let bar = progress_bar(ctx);
    let shown = std::sync::atomic::AtomicBool::new(false);
    let tick = |done: usize, total: usize| {
        let Some(b) = &bar else { return };
        b.set_length(total as u64);
        b.set_position(done as u64);
        if b.elapsed() >= SHOW_AFTER && !shown.swap(true, std::sync::atomic::Ordering::Relaxed) {
            b.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
        }
    };
    let out = work(&tick);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    out
}

fn progress_bar(ctx: &Ctx) -> Option<indicatif::ProgressBar> {
    if ctx.global.quiet || ctx.out.is_json() || !ctx.inv.stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    let style =
        indicatif::ProgressStyle::with_template("checking {pos}/{len} issue files {bar:30}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    Some(bar)
}

/// Findings grouped by code (in the order of the code table), each group with its count,
/// then a summary line.
fn render(w: &mut Vec<u8>, report: &ValidateReport) -> std::io::Result<()> {
    render_groups(w, &report.findings)?;
    summary(w, report)
}

/// Findings grouped by code, in the order of the code table, each group with its count.
fn render_groups(w: &mut Vec<u8>, findings: &[Finding]) -> std::io::Result<()> {
    for info in CODES {
        let group: Vec<&Finding> = findings.iter().filter(|f| f.code == info.code).collect();
        if group.is_empty() {
            continue;
        }
        let sev = info.severity.as_str();
        writeln!(w, "{} ({sev}, {}): {}", info.code, group.len(), info.summary)?;
        for f in group {
            writeln!(w, "  {}: {}", f.path, f.message)?;
            if let Some(cmds) = &f.git_commands {
                writeln!(w, "    git: {}", cmds.join("; "))?;
            }
        }
        writeln!(w)?;
    }
    Ok(())
}

fn summary(w: &mut Vec<u8>, report: &ValidateReport) -> std::io::Result<()> {
    let c = |s: Severity| report.counts.get(s.as_str()).copied().unwrap_or(0);
    let checked = &report.checked;
    let count =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let issues = count(checked.issues, "issue", "issues");
    if report.findings.is_empty() {
        writeln!(w, "No problems found in {issues}.")
    } else {
        writeln!(
            w,
            "{}, {}, {} info in {issues}.",
            count(c(Severity::Error), "error", "errors"),
            count(c(Severity::Warning), "warning", "warnings"),
            c(Severity::Info),
        )
    }
}
