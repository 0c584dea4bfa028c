//! How the CLI reports a library error: its exit code (`docs/errors.md`) and a hint of what
//! to do next, which may name the command's flags. The machine code and the details come
//! from the error itself ([`Error::code`], [`Error::details`]), the same in every front end.

use std::io;

use crate::cli::exit;
use crate::error::{DepRefusal, Error, GateRefusal};

/// The process exit code for this error.
pub fn exit_code(e: &Error) -> u8 {
    match e {
        Error::RepoNotFound { .. }
        | Error::RepoNotFoundBelow { .. }
        | Error::IssueNotFound(_)
        | Error::DocumentNotFound { .. }
        | Error::NoPath { .. }
        | Error::RemoteUnknown { .. }
        | Error::ServeNotRunning => exit::NOT_FOUND,
        Error::TransitionRefused { .. }
        | Error::VersionConflict { .. }
        | Error::Dependency { .. }
        | Error::GatesNotPassed { .. }
        | Error::GateUntrusted { .. }
        | Error::Blocked { .. }
        | Error::VersionExhausted { .. }
        | Error::IdempotencyKeyReused { .. }
        | Error::AlreadyClaimed { .. }
        | Error::ClaimedRemotely(_)
        | Error::ClaimFenced { .. }
        | Error::LeaseNotHeld { .. }
        | Error::ServeRunning { .. } => exit::CONFLICT,
        Error::NoIssueAvailable { .. } => exit::NO_ISSUE,
        Error::Gate { refusal, .. } => match refusal {
            GateRefusal::Invalid | GateRefusal::NotAuto | GateRefusal::NotAttached => exit::USER,
            GateRefusal::Exists | GateRefusal::InUse => exit::CONFLICT,
            GateRefusal::Unknown => exit::NOT_FOUND,
        },
        Error::BatchEntry { source, .. } => exit_code(source),
        Error::GraphCycle { .. } => exit::INVALID_REPO,
        Error::LockTimeout { .. } | Error::RateLimited { .. } | Error::DeadlineExceeded { .. } => {
            exit::LOCK_TIMEOUT
        }
        Error::Io { .. }
        | Error::Corrupt { .. }
        | Error::ConfigInvalid { .. }
        | Error::NotRegularFile { .. }
        | Error::JournalBlocked { .. }
        | Error::ChangePending { .. }
        | Error::ServeInterrupted => exit::IO,
        _ => exit::USER,
    }
}

/// A short suggestion of what to do next, when there is one.
pub fn hint(e: &Error) -> Option<String> {
    match e {
        Error::BatchEntry { source, .. } => batch_hint(source),
        Error::BatchInvalid { .. } => {
            Some("`jit schema batch` describes the entries; nothing was changed".into())
        }
        Error::IdempotencyKeyReused { .. } => Some(
            "a key names one request: use a new key for a new request; nothing was changed".into(),
        ),
        Error::BatchTooLarge { .. } => {
            Some("split the batch into several; nothing was changed".into())
        }
        Error::RepoNotFound { .. } => {
            Some("run `jit init` to create one, or pass --repo PATH / set JIT_DIR".into())
        }
        Error::RepoNotFoundBelow { stopped_at, .. } => Some(format!(
            "run `jit init` in {} to give it its own tracker, or pass --repo PATH / set \
             JIT_DIR to use one outside it",
            stopped_at.display()
        )),
        Error::ConfigInvalid { path, .. } => Some(format!(
            "fix {} or restore it (e.g. with git); to start over with the defaults, move it \
             aside and run `jit init`, which never replaces an existing config",
            path.display()
        )),
        Error::AmbiguousId { candidates, .. } => {
            // A short prefix can match thousands: the hint names a few, JSON has them all.
            const SHOWN: usize = 10;
            let mut list = candidates.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
            if candidates.len() > SHOWN {
                list += &format!(" ... and {} more", candidates.len() - SHOWN);
            }
            Some(format!("candidates: {list}; type more characters"))
        }
        Error::InvalidId(_) => {
            Some("ids are 26 characters; any unique prefix of 4 or more works".into())
        }
        Error::InvalidLabel { .. } => {
            Some("labels are `namespace:value`, e.g. `type:bug` or `epic:phase5.2`".into())
        }
        Error::InvalidValue { allowed, suggestion, .. } => Some(match suggestion {
            Some(s) => format!("did you mean `{s}`? allowed: {}", allowed.join(", ")),
            None => format!("allowed: {}", allowed.join(", ")),
        }),
        Error::TransitionRefused { from, allowed, .. } => Some(if allowed.is_empty() {
            format!("no transition leaves {from}")
        } else {
            format!("from {from} an issue may move to: {}", allowed.join(", "))
        }),
        Error::VersionConflict { .. } => {
            Some("someone else changed the issue; re-read it and retry".into())
        }
        Error::ConfirmationRequired(_) => Some("pass --yes to confirm".into()),
        Error::ServeRunning { .. } => {
            Some("`jit serve --status` describes it; `jit serve --stop` stops it".into())
        }
        Error::ServeNotRunning => Some("`jit serve` starts one".into()),
        Error::ServeInterrupted => Some(
            "look before retrying (`jit issue show ID`, `jit events -n 5`); JIT_NO_SERVE=1 \
             runs commands without the daemon"
                .into(),
        ),
        Error::VersionExhausted { .. } => Some(
            "the version was set by hand; versions never go backwards, so recreate the issue"
                .into(),
        ),
        Error::BulkConfirmRequired(..) => Some(
            "check the filter with --dry-run, then pass --yes (the threshold is the \
             config's bulk_confirm)"
                .into(),
        ),
        Error::Dependency { refusal: DepRefusal::Cycle, .. } => {
            Some("remove one edge of the cycle first, or depend the other way".into())
        }
        Error::GatesNotPassed { moved_to: Some(s), .. } => Some(format!(
            "the issue is now {s}; pass the gates (`jit gate pass` / `jit gate run`) and retry"
        )),
        Error::GatesNotPassed { .. } => {
            Some("pass the gates (`jit gate pass` / `jit gate run`) and retry".into())
        }
        Error::Blocked { .. } => {
            Some("finish the blocking issues first (`jit blocked` lists them)".into())
        }
        Error::Gate { suggestion: Some(s), .. } => Some(format!("did you mean `{s}`?")),
        Error::GateUntrusted { gates } => Some(format!(
            "review what it runs (`jit gate show {}`), then `jit gate trust {}`",
            gates.first().map_or("NAME", String::as_str),
            gates.join(" ")
        )),
        Error::AlreadyClaimed { .. } => Some(
            "claim another issue, wait for the lease to expire, or take it over with --steal"
                .into(),
        ),
        Error::ClaimedRemotely(_) => Some(
            "claim another issue, or wait for that lease to expire (a claim then takes it over); \
             nothing was changed"
                .into(),
        ),
        Error::ClaimFenced { .. } => Some(
            "your claim is over (expired, released or taken over): re-read the issue and claim \
             again; nothing was changed"
                .into(),
        ),
        Error::NoIssueAvailable { .. } => {
            Some("wait with --wait DURATION, or widen the --filter".into())
        }
        Error::LeaseNotHeld { .. } => Some("claim the issue again (`jit claim ID`)".into()),
        Error::CommandNotStarted { .. } => Some(
            "give the program's path or put it on PATH, and check that it is executable; \
             it runs without a shell (`jit claim run --agent NAME -- sh -c '...'` for one)"
                .into(),
        ),
        Error::GraphCycle { .. } => Some(
            "a cycle came in by hand editing or a merge; `jit dep rm` one of its edges \
             (`jit validate` names every cycle; `jit validate --fix` removes the newest edge of \
             each)"
                .into(),
        ),
        Error::Filter(f) => match &f.suggestion {
            Some(s) => Some(format!("did you mean `{s}`?")),
            None if f.kind == crate::query::FilterErrorKind::Syntax => {
                Some("`jit help filters` describes the syntax".into())
            }
            None => None,
        },
        Error::RateLimited { retry_after_ms, .. } => Some(format!(
            "nothing was done; retry in {retry_after_ms} ms (config.json `rate_limit` sets \
             the limit)"
        )),
        Error::DeadlineExceeded { .. } => Some(
            "nothing was changed: retry, with a larger `timeout_ms` if the lock is busy".into(),
        ),
        Error::LockTimeout { .. } => Some(
            "another jit process holds the lock; raise --timeout-ms or JIT_LOCK_TIMEOUT_MS".into(),
        ),
        // `git checkout -- PATH` fails on a path left unmerged by a merge; naming HEAD
        // works there too.
        Error::Corrupt { path, .. } => Some(format!(
            "fix or restore the file (e.g. `git checkout HEAD -- {}`; after a merge see \
             docs/git.md); nothing was changed; `jit validate` lists every such file and \
             `jit validate --fix` moves them into .jit/quarantine/ (`--restore-from-git` puts \
             back git's version)",
            path.display()
        )),
        Error::MergeFailed { .. } => Some(
            "git keeps the file unmerged; settle it by hand (docs/git.md, \"After a merge\")"
                .into(),
        ),
        Error::NotRegularFile { .. } => Some(
            "move it aside, or run `jit validate --fix`, which moves it into .jit/quarantine/ \
             (jit makes its own files again when it needs them); nothing was changed"
                .into(),
        ),
        Error::JournalBlocked { path, .. } => Some(format!(
            "move {} out of .jit (keep it if it holds anything of yours): the next jit command \
             then finishes the interrupted change; reads are not affected; nothing was changed",
            path.display()
        )),
        Error::ChangePending { .. } => Some(
            "readers already see the change whole; fix the cause (free space, permissions), \
             then any jit write finishes it; `jit validate` shows the record"
                .into(),
        ),
        Error::NotGitRepo { .. } => {
            Some("run `git init` first, or run `jit git-setup` inside the clone".into())
        }
        Error::GitFailed { .. } => Some("check that git is installed and on PATH".into()),
        Error::GitNotFound { .. } => Some("install git, or claim without --remote".into()),
        Error::RemoteUnknown { .. } => {
            Some("add it (`git remote add NAME URL`), or name one `git remote` lists".into())
        }
        Error::Io { source, .. } => match source.kind() {
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                Some("check the permissions of the .jit directory".into())
            }
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Some(
                "free some disk space and retry (`jit validate --fix` frees what jit can: \
                     temp files of killed writers and the index); nothing was changed"
                    .into(),
            ),
            _ => None,
        },
        _ => None,
    }
}

/// The hint of a batch entry's error: its own, except that a batch runs no gate commands.
fn batch_hint(e: &Error) -> Option<String> {
    match e {
        Error::GatesNotPassed { id, .. } => Some(format!(
            "a batch runs no gate commands: run `jit gate run {id}` (or `jit gate pass`) \
             first, then the batch"
        )),
        _ => hint(e),
    }
}
