//! `claim run`: supervise one command working on a claimed issue. Start it (no shell) with
//! the claim in its environment, renew the lease every third of its length while it runs,
//! pass on the signals the front end hands over, and end the claim by how the command
//! ended, presenting the claim's token. See docs/agents.md ("Supervised runs").

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Repo;
use crate::api::{Claimed, ReleaseRequest, RenewRequest, RunOutcome, RunResult};
use crate::error::{Error, Result};
use crate::model::State;

/// The longest the supervisor waits between two looks at its command.
const POLL: Duration = Duration::from_millis(20);

/// The shortest time between two renewals (a lease of a few seconds in a test).
const MIN_RENEWAL: Duration = Duration::from_millis(200);

/// The context key the end of a run records on the issue.
pub const RUN_KEY: &str = "claim_run";

/// What to run and how.
pub struct RunSpec {
    /// The program and its arguments.
    pub command: Vec<OsString>,
    /// The environment the command starts from: `None` for this process's own.
    pub base_env: Option<Vec<(OsString, OsString)>>,
    /// Variables set on top (`JIT_DIR` when the repository was named by `--repo`).
    pub extra_env: Vec<(OsString, OsString)>,
    pub cwd: PathBuf,
    /// The lease's length as given (`None`: the config's default).
    pub lease: Option<String>,
    /// Where an issue goes when the command exits 0.
    pub on_success: State,
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
        spec: &RunSpec,
        signals: &Receiver<i32>,
        notice: &dyn Fn(&str),
    ) -> Result<RunResult> {
        let id = claimed.issue.id.to_string();
        let agent = claimed.lease.agent.clone();
        let token = claimed.lease.token;
        // Every write of the supervisor from now on presents the claim's token.
        self.set_claim_token(Some(token));
        let every = (self.lease_length(spec.lease.as_deref())?.unsigned_abs() / 3).max(MIN_RENEWAL);
        let mut child = match self.command_for(claimed, spec).spawn() {
            Ok(c) => c,
            Err(e) => {
                let command = spec.command[0].to_string_lossy().into_owned();
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
                    return Err(Error::Io { path: spec.command[0].clone().into(), source: e });
                }
            }
            if Instant::now() >= next_renewal {
                let req = RenewRequest {
                    id: id.clone(),
                    agent: Some(agent.clone()),
                    lease: spec.lease.clone(),
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
                (spec.on_success, json!({"agent": agent, "token": token, "exit_code": 0}))
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
            Ok(updated) if to == spec.on_success && matches!(ending, Ending::Exited(0)) => {
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
    fn command_for(&self, claimed: &Claimed, spec: &RunSpec) -> Command {
        let mut cmd = Command::new(&spec.command[0]);
        cmd.args(&spec.command[1..]).current_dir(&spec.cwd);
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
