//! `claim run`: claim an issue and supervise one command working on it. Start it (no shell)
//! with the claim in its environment, renew the lease every third of its length while it
//! runs, pass on the signals the front end hands over, and end the claim by how the command
//! ended, presenting the claim's token; with `loop`, the next issue. See docs/agents.md
//! ("Supervised runs").

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Repo;
use crate::api::{
    ClaimRequest, ClaimRunRequest, Claimed, ReleaseRequest, RenewRequest, RunOutcome, RunResult,
};
use crate::error::{Error, Result};
use crate::model::{State, parse_duration};

/// The longest the supervisor waits between two looks at its command.
const POLL: Duration = Duration::from_millis(20);

/// The shortest time between two renewals (a lease of a few seconds in a test).
const MIN_RENEWAL: Duration = Duration::from_millis(200);

/// The context key the end of a run records on the issue.
pub const RUN_KEY: &str = "claim_run";

/// Where the command of a run starts: what the request does not say.
pub struct RunSpec {
    /// The environment the command starts from: `None` for this process's own.
    pub base_env: Option<Vec<(OsString, OsString)>>,
    /// Variables set on top (`JIT_DIR` when the repository was named by `--repo`).
    pub extra_env: Vec<(OsString, OsString)>,
    pub cwd: PathBuf,
}

/// The signals the front end catches (SIGINT, SIGTERM), handed to the supervisor.
pub struct Signals {
    /// Set while no claim is held: then the front end lets the signals end the process.
    pub idle: Arc<AtomicBool>,
    /// Each signal caught while a claim is held.
    pub caught: Receiver<i32>,
}

/// How a `claim run` ended, over all its issues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunsEnded {
    pub ran: usize,
    pub failed: usize,
    pub fenced: usize,
    /// The signal passed on to a command, after which the supervisor stopped.
    pub interrupted: Option<i32>,
}

impl Repo {
    /// `claim run`: claim (as `claim` does, waiting as `wait` says), run the command, end
    /// the claim ([`Repo::run_claimed`]); with `repeat`, again until nothing is claimable,
    /// never taking again an issue whose run failed in this loop. `on_result` gets each
    /// issue's result as its run ends. `NO_ISSUE_AVAILABLE` when not even the first claim
    /// found work.
    pub fn claim_run(
        &mut self,
        req: &ClaimRunRequest,
        spec: &RunSpec,
        signals: &Signals,
        notice: &dyn Fn(&str),
        on_result: &mut dyn FnMut(&RunResult) -> Result<()>,
    ) -> Result<RunsEnded> {
        let first = self.check_claim_run(req)?;
        let wait = req.wait.as_deref().map(|w| parse_duration("--wait", w)).transpose()?;
        let mut failed_ids: Vec<String> = Vec::new();
        let mut ended = RunsEnded::default();
        loop {
            let claim = ClaimRequest {
                filter: exclude(req.filter.as_deref(), &failed_ids),
                ..first.clone()
            };
            // Until a claim is made, the signals end the supervisor as any program: there is
            // nothing to pass them on to, nothing to release.
            signals.idle.store(true, Ordering::SeqCst);
            let claimed = match wait {
                Some(w) => self.claim_waiting(&claim, w.unsigned_abs(), None, None),
                None => self.claim(&claim, None),
            };
            signals.idle.store(false, Ordering::SeqCst);
            let claimed = match claimed {
                Ok(c) => c,
                Err(Error::NoIssueAvailable { .. }) if ended.ran > 0 => break,
                Err(e) => return Err(e),
            };
            let result = self.run_claimed(&claimed, req, spec, &signals.caught, notice)?;
            ended.ran += 1;
            match result.outcome {
                RunOutcome::Succeeded => {}
                RunOutcome::Gated => ended.failed += 1,
                RunOutcome::Released => {
                    ended.failed += 1;
                    failed_ids.push(result.id.clone());
                }
                RunOutcome::Fenced => ended.fenced += 1,
            }
            on_result(&result)?;
            if result.interrupted.is_some() {
                ended.interrupted = result.interrupted;
                break;
            }
            if !req.repeat {
                break;
            }
        }
        signals.idle.store(true, Ordering::SeqCst);
        Ok(ended)
    }

    /// The checks of a `claim run` that need no lock (the claim's, the command, the
    /// success state); the claim it makes first.
    fn check_claim_run(&self, req: &ClaimRunRequest) -> Result<ClaimRequest> {
        if req.command.is_empty() {
            return Err(Error::InvalidArgument("give the command to run after `--`".into()));
        }
        if req.on_success == Some(State::InProgress) {
            return Err(Error::InvalidArgument(
                "--on-success in_progress would leave the issue claimed with nobody renewing it"
                    .into(),
            ));
        }
        let claim = ClaimRequest {
            agent: req.agent.clone(),
            filter: req.filter.clone(),
            lease: req.lease.clone(),
            ..Default::default()
        };
        self.check_claim(&claim)?;
        Ok(claim)
    }
}

/// The filter of the next claim: the one given, without the issues in `failed`.
fn exclude(filter: Option<&str>, failed: &[String]) -> Option<String> {
    let not: Vec<String> = failed.iter().map(|id| format!("NOT id:{id}")).collect();
    match (filter, not.is_empty()) {
        (f, true) => f.map(str::to_string),
        (Some(f), false) => Some(format!("({f}) AND {}", not.join(" AND "))),
        (None, false) => Some(not.join(" AND ")),
    }
}

/// How the command ended.
#[derive(Clone, Copy, Debug)]
enum Ending {
    Exited(i32),
    Signaled(i32),
}

impl Ending {
    fn of(status: ExitStatus) -> Ending {
        use std::os::unix::process::ExitStatusExt;
        match status.code() {
            Some(c) => Ending::Exited(c),
            None => Ending::Signaled(status.signal().unwrap_or(0)),
        }
    }
}

impl Repo {
    /// Run `spec` for the issue `claimed` names and end its claim: exit 0 → the success
    /// state (through its postchecks; a refusal leaves the issue `gated`), anything else →
    /// back to `ready`, the exit status recorded in the context key [`RUN_KEY`]. Signals
    /// received on `signals` are passed on to the command. A command that cannot be started
    /// releases the claim and is `COMMAND_NOT_STARTED`. `notice` says what the supervisor
    /// saw on the way (a renewal refused).
    pub fn run_claimed(
        &mut self,
        claimed: &Claimed,
        req: &ClaimRunRequest,
        spec: &RunSpec,
        signals: &Receiver<i32>,
        notice: &dyn Fn(&str),
    ) -> Result<RunResult> {
        let id = claimed.issue.id.to_string();
        let agent = claimed.lease.agent.clone();
        let token = claimed.lease.token;
        // Every write of the supervisor from now on presents the claim's token.
        self.set_claim_token(Some(token));
        let every = (self.lease_length(req.lease.as_deref())?.unsigned_abs() / 3).max(MIN_RENEWAL);
        let on_success = req.on_success.unwrap_or(State::Done);
        let mut child = match self.command_for(claimed, req, spec).spawn() {
            Ok(c) => c,
            Err(e) => {
                let command = req.command[0].clone();
                let note = json!({"agent": agent, "token": token, "not_started": e.to_string()});
                self.end_run(&id, &agent, State::Ready, note)?;
                return Err(Error::CommandNotStarted { command, reason: e.to_string(), id });
            }
        };
        let pid = rustix::process::Pid::from_child(&child);
        let mut next_renewal = Instant::now() + every;
        let mut interrupted = None;
        let mut renewal_failed = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => {
                    return Err(Error::Io { path: req.command[0].clone().into(), source: e });
                }
            }
            if Instant::now() >= next_renewal {
                let req = RenewRequest {
                    id: id.clone(),
                    agent: Some(agent.clone()),
                    lease: req.lease.clone(),
                };
                match self.renew(&req) {
                    Ok(_) => renewal_failed = false,
                    Err(e) if !renewal_failed => {
                        renewal_failed = true;
                        notice(&format!("the lease of issue {id} was not renewed: {e}"));
                    }
                    Err(_) => {}
                }
                next_renewal = Instant::now() + every;
            }
            let wait = POLL.min(next_renewal.saturating_duration_since(Instant::now()));
            match signals.recv_timeout(wait) {
                Ok(sig) => {
                    interrupted.get_or_insert(sig);
                    if let Some(s) = rustix::process::Signal::from_named_raw(sig) {
                        let _ = rustix::process::kill_process(pid, s);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
            }
        };
        let ending = Ending::of(status);
        let (to, note) = match ending {
            Ending::Exited(0) => {
                (on_success, json!({"agent": agent, "token": token, "exit_code": 0}))
            }
            Ending::Exited(c) => {
                (State::Ready, json!({"agent": agent, "token": token, "exit_code": c}))
            }
            Ending::Signaled(s) => {
                (State::Ready, json!({"agent": agent, "token": token, "signal": s}))
            }
        };
        let (outcome, state) = match self.end_run(&id, &agent, to, note) {
            Ok(updated) if updated.refused.is_some() => {
                (RunOutcome::Gated, Some(updated.issue.state))
            }
            Ok(updated) if to == on_success && matches!(ending, Ending::Exited(0)) => {
                (RunOutcome::Succeeded, Some(updated.issue.state))
            }
            Ok(updated) => (RunOutcome::Released, Some(updated.issue.state)),
            Err(e @ (Error::ClaimFenced { .. } | Error::AlreadyClaimed { .. })) => {
                notice(&format!(
                    "the claim of issue {id} (token {token}) is over, nothing was written: {e}"
                ));
                (RunOutcome::Fenced, None)
            }
            Err(e) => return Err(e),
        };
        let (exit_code, signal) = match ending {
            Ending::Exited(c) => (Some(c), None),
            Ending::Signaled(s) => (None, Some(s)),
        };
        Ok(RunResult {
            id,
            title: claimed.issue.title.clone(),
            agent,
            token,
            exit_code,
            signal,
            outcome,
            state,
            interrupted,
        })
    }

    /// The command of a run, with the claim in its environment and the current directory
    /// unchanged (so the repository is found as the supervisor found it).
    fn command_for(&self, claimed: &Claimed, req: &ClaimRunRequest, spec: &RunSpec) -> Command {
        let mut cmd = Command::new(&req.command[0]);
        cmd.args(&req.command[1..]).current_dir(&spec.cwd);
        if let Some(base) = &spec.base_env {
            cmd.env_clear().envs(base.iter().map(|(k, v)| (k, v)));
        }
        cmd.envs(spec.extra_env.iter().map(|(k, v)| (k, v)))
            .env("JIT_ISSUE_ID", claimed.issue.id.to_string())
            .env("JIT_CLAIM_TOKEN", claimed.lease.token.to_string())
            .env("JIT_AGENT", &claimed.lease.agent);
        cmd
    }

    /// The end write of a run: release to `to`, recording `note`, presenting the token.
    fn end_run(
        &self,
        id: &str,
        agent: &str,
        to: State,
        note: Value,
    ) -> Result<super::ops::update::Updated> {
        let req =
            ReleaseRequest { id: id.to_string(), agent: Some(agent.to_string()), state: Some(to) };
        self.release_noting(&req, None, BTreeMap::from([(RUN_KEY.to_string(), note)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_leaves_out_the_issues_that_failed_in_it() {
        assert_eq!(exclude(None, &[]), None);
        assert_eq!(exclude(Some("label:a:b"), &[]).as_deref(), Some("label:a:b"));
        let failed = ["01aa".to_string(), "01bb".to_string()];
        assert_eq!(exclude(None, &failed).as_deref(), Some("NOT id:01aa AND NOT id:01bb"));
        let f = exclude(Some("state:ready OR priority:high"), &failed[..1]).unwrap();
        assert_eq!(f, "(state:ready OR priority:high) AND NOT id:01aa");
        assert!(crate::query::parse(&f).is_ok());
    }
}
