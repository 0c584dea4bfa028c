//! Running an automated gate: the argument vector without a shell (a shell only when the
//! gate says so), in the project root, stdin closed, `JIT_ISSUE_ID`, `JIT_GATE` and
//! `JIT_STAGE` set, in its own process group. On timeout the whole group is killed; after the
//! command ends, whatever it left running in its group is killed too, so no grandchild
//! outlives the gate (the group is killed before the command is reaped, so its id cannot
//! have been reused). The last bytes of its output are kept; output is read for at most
//! `OUTPUT_GRACE` (1 s) after that, since a process that left the group may hold the pipe open.

use std::ffi::OsString;
use std::io::{PipeReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::model::{GateDef, GateStatus};

/// Bytes of output kept from a run.
pub const OUTPUT_TAIL: usize = 4096;

/// What one run produced.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub status: GateStatus,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub timed_out: bool,
    pub output: String,
}

/// How long the output is still read after the command's process group is gone: a process
/// that left the group (`setsid`, a daemon) may hold the pipe open for ever.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// Run `def`'s command for `issue_id`. Never fails: a command that cannot start is a failed
/// gate whose output says why.
///
/// `env` is the environment the command gets (jit's own variables added); `None`: this
/// process's. (`jit serve` runs a client's command with the client's environment.)
pub fn run(
    def: &GateDef,
    gate: &str,
    issue_id: &str,
    project: &Path,
    env: Option<&[(OsString, OsString)]>,
) -> RunResult {
    let start = Instant::now();
    let (mut child, reader) = match spawn(def, gate, issue_id, project, env) {
        Ok(spawned) => spawned,
        Err(why) => {
            return RunResult {
                status: GateStatus::Failed,
                exit_code: None,
                duration_ms: start.elapsed().as_millis() as u64,
                timed_out: false,
                output: why,
            };
        }
    };
    let tail = Arc::new(Mutex::new(Vec::new()));
    let (read_done, output_ended) = mpsc::channel::<()>();
    {
        let tail = Arc::clone(&tail);
        std::thread::spawn(move || {
            read_tail(reader, &tail);
            let _ = read_done.send(());
        });
    }
    let pgid = rustix::process::Pid::from_child(&child);
    // A timeout too large to add to the clock means no timeout (not a panic).
    let deadline = start.checked_add(Duration::from_secs(def.timeout_s.max(1)));
    let timed_out = wait_for_exit(pgid, deadline);
    // The command has ended but is not reaped yet, so its group id cannot have been taken by
    // another process: whatever it started and left behind in its group dies with it.
    let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
    let status = child.wait().ok();
    let _ = output_ended.recv_timeout(OUTPUT_GRACE);
    let bytes = std::mem::take(&mut *tail.lock().unwrap_or_else(|e| e.into_inner()));
    let mut output = String::from_utf8_lossy(&bytes).into_owned();
    if timed_out {
        output.push_str(&format!("\n[jit: killed after the {} s timeout]", def.timeout_s));
    }
    let exit_code = status.and_then(|s| s.code());
    RunResult {
        status: if !timed_out && exit_code == Some(0) {
            GateStatus::Passed
        } else {
            GateStatus::Failed
        },
        exit_code,
        duration_ms: start.elapsed().as_millis() as u64,
        timed_out,
        output,
    }
}

/// Start the command in its own process group, stdin closed, stdout and stderr into one pipe
/// (as a terminal would show them: their lines keep the order the command wrote them in).
/// `Err` says why it could not start.
fn spawn(
    def: &GateDef,
    gate: &str,
    issue_id: &str,
    project: &Path,
    env: Option<&[(OsString, OsString)]>,
) -> Result<(Child, PipeReader), String> {
    // `gate define` refuses this, but config.json can be edited by hand.
    if def.command.is_empty() {
        return Err(format!("gate `{gate}` has no command in the registry"));
    }
    let mut cmd = if def.shell {
        let mut c = Command::new("sh");
        c.arg("-c").arg(def.command.join(" "));
        c
    } else {
        let mut c = Command::new(&def.command[0]);
        c.args(&def.command[1..]);
        c
    };
    if let Some(env) = env {
        cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    }
    let no_pipe = |e: std::io::Error| format!("cannot make a pipe for the output: {e}");
    let (reader, writer) = std::io::pipe().map_err(no_pipe)?;
    cmd.current_dir(project)
        .stdin(Stdio::null())
        .stdout(writer.try_clone().map_err(no_pipe)?)
        .stderr(writer)
        .env("JIT_ISSUE_ID", issue_id)
        .env("JIT_GATE", gate)
        .env("JIT_STAGE", def.stage.as_str())
        .process_group(0);
    let spawned = cmd.spawn();
    // The command holds this process's write ends: drop them, so that the pipe ends when the
    // command's process group is gone.
    drop(cmd);
    let child = spawned.map_err(|e| format!("cannot start `{}`: {e}", def.command[0]))?;
    Ok((child, reader))
}

/// Everything `r` gives until it ends, keeping only the last [`OUTPUT_TAIL`] bytes in `tail`
/// (shared, so that what was read is there even if the pipe never ends).
fn read_tail(mut r: impl Read, tail: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 {
            break;
        }
        let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
        t.extend_from_slice(&buf[..n]);
        let excess = t.len().saturating_sub(OUTPUT_TAIL);
        t.drain(..excess);
    }
}

/// Wait until the command (`pid`, leader of its process group) has ended, without reaping it;
/// at `deadline` (none: never), kill its group first. Returns whether it timed out. The wait
/// is on a thread, so the end is seen at once (no polling) and the timeout is a plain
/// receive with a deadline.
fn wait_for_exit(pid: rustix::process::Pid, deadline: Option<Instant>) -> bool {
    use rustix::process::{WaitId, WaitIdOptions, waitid};
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT;
        while let Err(rustix::io::Errno::INTR) = waitid(WaitId::Pid(pid), options) {}
        let _ = tx.send(());
    });
    let Some(deadline) = deadline else {
        let _ = rx.recv();
        return false;
    };
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Err(RecvTimeoutError::Timeout) => {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            let _ = rx.recv();
            true
        }
        _ => false,
    }
}
