//! `jit serve`

use std::time::{Duration, Instant};

use super::Ctx;
use crate::api::serve::{ServeStatus, ServeStopped};
use crate::cli::CliError;
use crate::cli::exit;
use crate::cli::serve::build_id;
use crate::cli::serve::daemon::Daemon;
use crate::error::{Error, IoContext};
use crate::storage::Layout;
use crate::storage::serve::ServePlace;

/// How long `--stop` waits for the daemon to finish the commands it is running.
const STOP_WAIT: Duration = Duration::from_secs(60);

/// How long `--detach` waits for the daemon to listen.
const START_WAIT: Duration = Duration::from_secs(30);

/// Run a daemon that serves this repository's commands (the fast path for the CLI)
///
/// While it runs, every `jit` command in the repository sends its arguments, directory and
/// environment to it and its stdout and stderr with them; the daemon runs the command and
/// the client exits with its exit code: the same output, exit codes and safety (the same
/// lock, journal and fencing) as without it, minus the start-up. A command falls back to
/// running itself when no daemon runs, it does not answer within 500 ms, or it runs another
/// build of jit; JIT_NO_SERVE=1 always runs commands directly. Runs in the foreground
/// until Ctrl-C, SIGTERM or `jit serve --stop`; --detach runs it in the background. See
/// docs/serve.md for the commands that are never served.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  jit serve --detach
  jit serve --status
  jit serve --stop")]
pub struct Args {
    /// Start the daemon in the background (its output goes to the file `log` next to its
    /// socket) and return once it serves
    #[arg(long, conflicts_with_all = ["stop", "status"])]
    pub detach: bool,
    /// Stop the running daemon, after the commands it is running have finished
    #[arg(long, conflicts_with = "status")]
    pub stop: bool,
    /// Say whether a daemon serves this repository (exit 0), and which; SERVE_NOT_RUNNING
    /// (exit 3) if none
    #[arg(long)]
    pub status: bool,
    /// The daemon started by --detach (not for use by hand).
    #[arg(long, hide = true)]
    pub background: bool,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    let repo = ctx.open_repo()?;
    let layout = repo.layout().clone();
    drop(repo);
    let place = ServePlace::of(&layout);
    if args.status {
        status(ctx, &place)
    } else if args.stop {
        stop(ctx, &place)
    } else if args.detach {
        detach(ctx, &layout, &place)
    } else {
        foreground(ctx, &layout, args.background)
    }
}

fn status(ctx: &mut Ctx, place: &ServePlace) -> Result<u8, CliError> {
    let info = place.info().filter(|_| place.running()).ok_or(Error::ServeNotRunning)?;
    let same_build = Some(info.build.as_str()) == build_id();
    if ctx.out.is_json() {
        ctx.out.json(&ServeStatus { running: true, same_build, info })?;
    } else {
        let mut text = format!(
            "jit serve is running for {} (pid {}, since {})\nsocket {}\n",
            info.repo, info.pid, info.since, info.socket
        );
        if !same_build {
            text += &format!(
                "it runs another build of jit ({}): commands run without it; \
                 `jit serve --stop` and `jit serve` start this one\n",
                info.build
            );
        }
        ctx.out.text(&text)?;
    }
    Ok(exit::OK)
}

fn stop(ctx: &mut Ctx, place: &ServePlace) -> Result<u8, CliError> {
    let Some(info) = place.info().filter(|_| place.running()) else {
        if ctx.out.is_json() {
            ctx.out.json(&ServeStopped { stopped: false, pid: None })?;
        } else {
            ctx.status("no jit serve was running");
        }
        return Ok(exit::OK);
    };
    let pid = rustix::process::Pid::from_raw(info.pid as i32)
        .ok_or_else(|| Error::InvalidArgument("the daemon's info names no process".into()))?;
    rustix::process::kill_process(pid, rustix::process::Signal::TERM)
        .map_err(std::io::Error::from)
        .at(place.dir())?;
    let start = Instant::now();
    while place.running() {
        if start.elapsed() > STOP_WAIT {
            ctx.warn(&format!(
                "jit serve (pid {}) is still finishing commands; it stops when they end",
                info.pid
            ));
            return Ok(exit::USER);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if ctx.out.is_json() {
        ctx.out.json(&ServeStopped { stopped: true, pid: Some(info.pid) })?;
    } else {
        ctx.status(&format!("stopped jit serve (pid {})", info.pid));
    }
    Ok(exit::OK)
}

/// Start `jit serve --background` as a process of its own (its own process group, so a
/// Ctrl-C in this terminal does not reach it; stdin closed; output to `log`), and wait until
/// it serves.
fn detach(ctx: &mut Ctx, layout: &Layout, place: &ServePlace) -> Result<u8, CliError> {
    use std::os::unix::process::CommandExt;
    if let Some(info) = place.info().filter(|_| place.running()) {
        return Err(Error::ServeRunning { pid: info.pid }.into());
    }
    place.create()?;
    let log_path = place.dir().join("log");
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path);
    let log = log.at(&log_path)?;
    let exe = std::env::current_exe().at("<jit executable>")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--repo").arg(layout.root()).arg("serve").arg("--background");
    if let Some(env) = ctx.inv.child_env() {
        cmd.env_clear().envs(env);
    }
    let mut child = cmd
        .current_dir(layout.project())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().at(&log_path)?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .at("<jit executable>")?;
    let start = Instant::now();
    loop {
        if let Some(info) = place.info().filter(|i| i.pid == child.id())
            && std::os::unix::net::UnixStream::connect(place.socket()).is_ok()
        {
            if ctx.out.is_json() {
                let same_build = Some(info.build.as_str()) == build_id();
                ctx.out.json(&ServeStatus { running: true, same_build, info })?;
            } else {
                ctx.status(&format!("jit serve started (pid {})", child.id()));
            }
            return Ok(exit::OK);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::InvalidArgument(format!(
                "jit serve exited at once ({status}); its output is in {}",
                log_path.display()
            ))
            .into());
        }
        if start.elapsed() > START_WAIT {
            return Err(Error::InvalidArgument(format!(
                "jit serve (pid {}) did not start serving within {} s; see {}",
                child.id(),
                START_WAIT.as_secs(),
                log_path.display()
            ))
            .into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Serve here until SIGTERM or SIGINT (and SIGHUP, unless started by --detach, which
/// ignores it).
fn foreground(ctx: &mut Ctx, layout: &Layout, background: bool) -> Result<u8, CliError> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let daemon = Daemon::start(layout)?;
    let stopper = daemon.stopper();
    let mut stop_on = vec![SIGTERM, SIGINT];
    if background {
        let ignored = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        signal_hook::flag::register(SIGHUP, ignored).at("<signals>")?;
    } else {
        stop_on.push(SIGHUP);
    }
    let mut signals = signal_hook::iterator::Signals::new(&stop_on).at("<signals>")?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            stopper.stop();
        }
    });
    let info = daemon.info().clone();
    if ctx.out.is_json() {
        let same_build = true;
        ctx.out.json(&ServeStatus { running: true, same_build, info: info.clone() })?;
        ctx.out.flush()?;
    }
    ctx.status(&format!(
        "jit serve: serving {} (pid {}); Ctrl-C or `jit serve --stop` stops it",
        info.repo, info.pid
    ));
    daemon.serve();
    ctx.status("jit serve: stopped");
    Ok(exit::OK)
}
