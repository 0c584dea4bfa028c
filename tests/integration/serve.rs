//! `jit serve`, the CLI's fast path, through real processes: the same bytes and exit codes
//! served as direct; fallback when the daemon is not running, killed, stopped (hung) or of
//! another build; `--status` and `--stop`; permissions; a claim race of direct and served
//! processes; clients that break off; malformed conversations.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};

use crate::common::*;

/// A `jit` command in `dir` with a clean environment (no daemon is forced off).
fn jit(dir: &Path) -> Command {
    jit_with(jit_bin(), dir)
}

fn jit_with(bin: &str, dir: &Path) -> Command {
    let mut c = Command::new(bin);
    c.current_dir(dir).stdin(Stdio::null());
    crate::disk::without_jit_env(&mut c);
    c.env_remove("JIT_NO_SERVE");
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    jit(dir).args(args).output().unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(out)))
}

/// A foreground `jit serve` for the repository in `dir`, stopped (SIGTERM) when dropped.
struct Served {
    child: Child,
    dir: PathBuf,
}

impl Served {
    fn start(dir: &Path) -> Served {
        let child = jit(dir)
            .args(["serve", "--quiet"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let served = Served { child, dir: dir.to_path_buf() };
        // Ready once it answers on its socket (`--status` only says it holds the lock).
        while !(socket(dir).exists() && UnixStream::connect(socket(dir)).is_ok()) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        served
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.pid().to_string()]).status().unwrap();
        assert!(ok.success());
    }

    /// SIGTERM, and wait for the clean exit.
    fn stop(mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        self.child.wait().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill").args(["-CONT", &self.pid().to_string()]).status();
            let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
            let _ = self.child.wait();
        }
        let _ = &self.dir;
    }
}

/// Where the daemon of the repository in `dir` listens (no git: `.jit/local/serve/`).
fn socket(dir: &Path) -> PathBuf {
    dir.join(".jit/local/serve/sock")
}

/// The pid that last held the writers' lock.
fn lock_holder(dir: &Path) -> u64 {
    let info: Value = serde_json::from_slice(&std::fs::read(dir.join(".jit/lock.info")).unwrap())
        .expect("lock.info");
    info["pid"].as_u64().unwrap()
}

/// The steps of a session: reads, writes, errors, `--json` and human output. `ID` in an
/// argument is replaced by the id the first step created.
const SESSION: &[&[&str]] = &[
    &["issue", "create", "Login page", "-p", "high", "-l", "type:bug", "--json"],
    &["issue", "create", "Session expiry", "--state", "ready"],
    &["issue", "create", "Docs", "--json"],
    &["issue", "list"],
    &["issue", "list", "--json"],
    &["issue", "show", "ID"],
    &["issue", "show", "ID", "--json"],
    &["query", "state:ready OR priority:high", "--json"],
    &["query", "stat:ready"],
    &["query", "stat:ready", "--json"],
    &["issue", "show", "zzzz"],
    &["issue", "show", "zzzz", "--json"],
    &["issue", "update", "ID", "--state", "nope"],
    &["issue", "update", "ID", "--state", "ready", "--json"],
    &["issue", "update", "ID", "--title", "Login page, again", "--if-version", "1"],
    &["ready"],
    &["ready", "--json"],
    &["blocked"],
    &["claim", "--agent", "agent:a", "--json"],
    &["claim", "--agent", "agent:b"],
    &["claim", "--agent", "agent:c", "--json"],
    &["issue", "list", "--sort", "priority", "--fields", "id,title,priority"],
    &["issue", "bulk-update", "--filter", "state:backlog", "--priority", "low", "--json"],
    &["graph", "order"],
    &["issue", "delete", "ID", "--yes", "--json"],
    &["issue", "list", "--count"],
    &["--repo", "nowhere", "issue", "list"],
    &["schema", "issue.create"],
];

/// Run [`SESSION`] in `dir`, each step with its own seed: stdout, stderr and exit code.
fn session(dir: &Path, direct: bool) -> Vec<(Vec<u8>, Vec<u8>, Option<i32>)> {
    let mut id = String::new();
    let mut outs = Vec::new();
    for (i, step) in SESSION.iter().enumerate() {
        let args: Vec<&str> =
            step.iter().map(|a| if *a == "ID" { id.as_str() } else { a }).collect();
        let mut c = jit(dir);
        c.args(&args).env("JIT_NOW", FIXED_NOW).env("JIT_SEED", (i + 1).to_string());
        c.env("JIT_ACTOR", "agent:tester");
        if direct {
            c.env("JIT_NO_SERVE", "1");
        }
        let out = c.output().unwrap();
        if i == 0 {
            id = json_of(&out)["id"].as_str().unwrap().to_string();
        }
        outs.push((out.stdout, out.stderr, out.status.code()));
    }
    outs
}

#[test]
fn served_commands_print_the_same_bytes_and_exit_codes_as_direct_ones() {
    let env = TestEnv::new();
    let dir = env.path();
    let pristine = tempfile::tempdir().unwrap();
    copy_tree(&env.jit_dir(), &pristine.path().join(".jit"));

    let daemon = Served::start(dir);
    let served = session(dir, false);
    // The writes were the daemon's (it held the lock), so the session was served.
    assert_eq!(lock_holder(dir), u64::from(daemon.pid()));
    assert!(daemon.stop().success());
    assert!(!socket(dir).exists(), "a clean stop removes the socket");

    std::fs::remove_dir_all(env.jit_dir()).unwrap();
    copy_tree(&pristine.path().join(".jit"), &env.jit_dir());
    let direct = session(dir, true);
    for (i, (s, d)) in served.iter().zip(&direct).enumerate() {
        let show = |o: &(Vec<u8>, Vec<u8>, Option<i32>)| {
            format!("{:?}\n{}{}", o.2, String::from_utf8_lossy(&o.0), String::from_utf8_lossy(&o.1))
        };
        assert!(s == d, "step {i} {:?}:\nserved: {}\ndirect: {}", SESSION[i], show(s), show(d));
    }
    // The session has errors of several exit codes, so the comparison covers them.
    let codes: BTreeSet<Option<i32>> = direct.iter().map(|o| o.2).collect();
    assert!(codes.is_superset(&[Some(0), Some(1), Some(3), Some(5)].into()), "{codes:?}");
}

#[test]
fn commands_run_directly_when_the_daemon_is_killed_stopped_or_of_another_build() {
    let env = TestEnv::new();
    let dir = env.path();
    let id = env.create("First");

    // Killed: its socket stays, refuses connections, and is removed by the next command.
    let mut daemon = Served::start(dir);
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    assert!(socket(dir).exists());
    let out = run(dir, &["issue", "show", &id, "--json"]);
    assert_eq!(json_of(&out)["title"], json!("First"), "{}", describe(&out));
    assert!(!socket(dir).exists(), "the stale socket is removed");
    let out = run(dir, &["issue", "update", &id, "--title", "Second", "--json"]);
    assert_eq!(json_of(&out)["version"], json!(2));

    // Hung (SIGSTOP): the client gives up waiting for its answer and runs the command.
    let daemon = Served::start(dir);
    daemon.signal("-STOP");
    let child = jit(dir)
        .args(["issue", "update", &id, "--title", "Third", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let client = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(json_of(&out)["version"], json!(3), "{}", describe(&out));
    assert_eq!(lock_holder(dir), u64::from(client), "run by the client itself");
    daemon.signal("-CONT");

    // Another build (a copy of the binary: another inode and time) never talks to it.
    let other = tempfile::tempdir().unwrap();
    let copy = other.path().join("jit");
    std::fs::copy(jit_bin(), &copy).unwrap();
    let child = jit_with(copy.to_str().unwrap(), dir)
        .args(["issue", "update", &id, "--title", "Fourth", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let client = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(json_of(&out)["version"], json!(4), "{}", describe(&out));
    assert_eq!(lock_holder(dir), u64::from(client), "run by the other build itself");
    let status = jit_with(copy.to_str().unwrap(), dir)
        .args(["serve", "--status", "--json"])
        .output()
        .unwrap();
    assert_eq!(json_of(&status)["same_build"], json!(false));

    // The same build still goes through it; JIT_NO_SERVE=1 does not.
    let out = run(dir, &["issue", "update", &id, "--title", "Fifth", "--json"]);
    assert_eq!(json_of(&out)["version"], json!(5));
    assert_eq!(lock_holder(dir), u64::from(daemon.pid()));
    let child = jit(dir)
        .args(["issue", "update", &id, "--title", "Sixth"])
        .env("JIT_NO_SERVE", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let client = child.id();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(lock_holder(dir), u64::from(client));
    assert!(daemon.stop().success());
}

#[test]
fn status_stop_one_daemon_per_repository_and_owner_only_files() {
    let env = TestEnv::new();
    let dir = env.path();
    let out = run(dir, &["serve", "--status", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert_eq!(json_of(&out)["error"]["code"], json!("SERVE_NOT_RUNNING"));

    let daemon = Served::start(dir);
    let status = json_of(&run(dir, &["serve", "--status", "--json"]));
    assert_eq!(status["running"], json!(true));
    assert_eq!(status["same_build"], json!(true));
    assert_eq!(status["pid"], json!(daemon.pid()));

    let second = run(dir, &["serve", "--json"]);
    assert_eq!(second.status.code(), Some(4), "{}", describe(&second));
    assert_eq!(json_of(&second)["error"]["code"], json!("SERVE_RUNNING"));
    assert_eq!(json_of(&second)["error"]["pid"], json!(daemon.pid()));

    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket(dir)), 0o600);
    assert_eq!(mode(socket(dir).parent().unwrap()), 0o700);

    let stopped = json_of(&run(dir, &["serve", "--stop", "--json"]));
    assert_eq!(stopped, json!({"stopped": true, "pid": daemon.pid()}));
    assert!(!socket(dir).exists());
    let again = run(dir, &["serve", "--stop", "--json"]);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(json_of(&again), json!({"stopped": false, "pid": null}));

    // --detach returns once it serves; --stop ends it.
    let out = run(dir, &["serve", "--detach", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let pid = json_of(&out)["pid"].as_u64().unwrap();
    let out = run(dir, &["issue", "create", "Through the detached daemon"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(lock_holder(dir), pid);
    let stopped = json_of(&run(dir, &["serve", "--stop", "--json"]));
    assert_eq!(stopped["stopped"], json!(true));
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists() || {
            // A zombie until its parent (this test's `jit serve --detach`, gone) is reaped.
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(" Z "))
        }
    );
}

#[test]
fn direct_and_served_claimers_never_get_an_issue_twice() {
    let env = TestEnv::new();
    let dir = env.path();
    let daemon = Served::start(dir);
    let batch: Vec<Value> = (0..200)
        .map(|i| json!({"op": "create", "title": format!("p{i}"), "state": "ready"}))
        .collect();
    let file = dir.join("pool.json");
    std::fs::write(&file, serde_json::to_vec(&batch).unwrap()).unwrap();
    let out = run(dir, &["batch", "pool.json", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let pool: BTreeSet<String> = json_of(&out)["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(pool.len(), 200);

    let agents: Vec<_> = (0..6)
        .map(|a| {
            let dir = dir.to_path_buf();
            std::thread::spawn(move || {
                let mut won = Vec::new();
                loop {
                    let mut c = jit(&dir);
                    c.args(["claim", "--agent", &format!("agent:a{a}"), "--json"]);
                    c.env("JIT_LOCK_TIMEOUT_MS", "60000");
                    if a % 2 == 0 {
                        c.env("JIT_NO_SERVE", "1");
                    }
                    let out = c.output().unwrap();
                    match out.status.code() {
                        Some(0) => won.push(json_of(&out)["issue"]["id"].as_str().unwrap().into()),
                        Some(5) => return won,
                        _ => panic!("claim failed: {}", describe(&out)),
                    }
                }
            })
        })
        .collect();
    let won: Vec<String> = agents.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert_eq!(won.len(), 200, "one claim per issue");
    assert_eq!(won.iter().cloned().collect::<BTreeSet<_>>(), pool, "none twice");
    assert!(daemon.stop().success());
}

/// Speak the protocol by hand: the hello of `build`, and the daemon's one-byte answer.
fn hello(dir: &Path, build: &[u8]) -> (UnixStream, Vec<u8>) {
    let mut s = UnixStream::connect(socket(dir)).unwrap();
    let mut msg = b"JIT1".to_vec();
    msg.extend_from_slice(&(build.len() as u32).to_le_bytes());
    msg.extend_from_slice(build);
    s.write_all(&msg).unwrap();
    let mut answer = Vec::new();
    let mut b = [0u8; 1];
    if s.read_exact(&mut b).is_ok() {
        answer.push(b[0]);
    }
    (s, answer)
}

#[test]
fn the_daemon_survives_malformed_and_broken_off_conversations() {
    let env = TestEnv::new();
    let dir = env.path();
    let id = env.create("Keep me");
    let daemon = Served::start(dir);
    let before = env.issue_files();

    // Garbage, a wrong magic, a frame too large, closing at once.
    for junk in [&b"hello daemon"[..], b"JIT9\x00\x00\x00\x00", b"JIT1\xff\xff\xff\xff", b""] {
        let mut s = UnixStream::connect(socket(dir)).unwrap();
        let _ = s.write_all(junk);
        drop(s);
    }
    // Another build: told `N`, nothing run.
    let (_, answer) = hello(dir, b"0.0.0+other");
    assert_eq!(answer, b"N");
    // The real build (from --status), then no descriptors but a request: dropped.
    let build =
        json_of(&run(dir, &["serve", "--status", "--json"]))["build"].as_str().unwrap().to_string();
    let (mut s, answer) = hello(dir, build.as_bytes());
    assert_eq!(answer, b"Y");
    s.write_all(b"F\x10\x00\x00\x00half a request").unwrap();
    drop(s);
    // The real build, and then it hangs up before sending the request.
    let (s, answer) = hello(dir, build.as_bytes());
    assert_eq!(answer, b"Y");
    drop(s);

    assert_eq!(env.issue_files(), before, "nothing was changed");
    let out = run(dir, &["issue", "update", &id, "--title", "Still served", "--json"]);
    assert_eq!(json_of(&out)["version"], json!(2), "{}", describe(&out));
    assert_eq!(lock_holder(dir), u64::from(daemon.pid()), "the daemon still serves");
    assert!(daemon.stop().success());
}

#[test]
fn a_client_killed_mid_batch_leaves_the_batch_whole_or_absent() {
    let env = TestEnv::new();
    let dir = env.path();
    let daemon = Served::start(dir);
    let batch: Vec<Value> =
        (0..300).map(|i| json!({"op": "create", "title": format!("b{i}")})).collect();
    std::fs::write(dir.join("b.json"), serde_json::to_vec(&batch).unwrap()).unwrap();
    for delay_ms in [0, 2, 5, 10, 20, 40] {
        let mut child = jit(dir).args(["batch", "b.json"]).stdout(Stdio::null()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // Readers take no lock and see a commit whole, even one the daemon is making now.
        let out = run(dir, &["issue", "list", "--count", "--json"]);
        let n = json_of(&out)["count"].as_u64().unwrap();
        assert_eq!(n % 300, 0, "a batch is whole or absent: {n} issues");
    }
    // The daemon finishes the commands it has before it stops.
    assert!(daemon.stop().success());
    let out = run(dir, &["issue", "list", "--count", "--json"]);
    let n = json_of(&out)["count"].as_u64().unwrap();
    assert_eq!(n % 300, 0, "{n} issues");
    let v = run(dir, &["validate", "--json"]);
    assert_eq!(v.status.code(), Some(0), "{}", describe(&v));
}

#[test]
fn served_gate_commands_get_the_clients_environment() {
    let env = TestEnv::new();
    let dir = env.path();
    let id = env.create("Gated");
    let def = ["gate", "define", "env", "--stage", "precheck", "--mode", "auto", "--shell"];
    let out = run(dir, &[&def[..], &["--", "test \"$GATE_INPUT\" = yes"]].concat());
    assert!(out.status.success(), "{}", describe(&out));
    assert!(run(dir, &["gate", "add", &id, "env"]).status.success());
    let daemon = Served::start(dir);
    let gate_run = |value: &str| {
        let out = jit(dir)
            .args(["gate", "run", &id, "--json"])
            .env("GATE_INPUT", value)
            .output()
            .unwrap();
        assert_eq!(lock_holder(dir), u64::from(daemon.pid()), "served");
        out.status.code()
    };
    assert_eq!(gate_run("yes"), Some(0));
    assert_ne!(gate_run("no"), Some(0));
    drop(daemon);
}

#[test]
fn claim_run_runs_direct_while_a_daemon_runs() {
    let env = TestEnv::new();
    let dir = env.path();
    let id = env.create("Supervised");
    assert!(run(dir, &["issue", "update", &id, "--state", "ready"]).status.success());
    let daemon = Served::start(dir);
    // A served command would show that the daemon holds the lock last.
    assert!(run(dir, &["issue", "list"]).status.success());
    let out = jit(dir)
        .args(["claim", "run", "--agent", "a1", "--json", "--", "sh", "-c", "echo $PPID > ppid"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let supervisor: u64 =
        std::fs::read_to_string(dir.join("ppid")).unwrap().trim().parse().unwrap();
    assert_ne!(supervisor, u64::from(daemon.pid()));
    // The end write was the supervisor's own, not the daemon's.
    assert_eq!(lock_holder(dir), supervisor);
    drop(daemon);
}

/// The inotify watches the process `pid` holds (lines of its descriptors' fdinfo).
fn inotify_watches(pid: u32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else { return 0 };
    fds.flatten()
        .filter_map(|f| std::fs::read_to_string(f.path()).ok())
        .map(|info| info.lines().filter(|l| l.starts_with("inotify wd:")).count())
        .sum()
}

#[test]
fn served_reads_use_the_warm_index_and_see_every_change_behind_its_back() {
    if !have_tool("git", "git") {
        return;
    }
    let env = TestEnv::new();
    let dir = env.path();
    let id = env.create("original title");
    let daemon = Served::start(dir);
    let titles = || -> Vec<String> {
        let out = run(dir, &["issue", "list", "--json"]);
        let mut t: Vec<String> = json_of(&out)
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["title"].as_str().unwrap().to_string())
            .collect();
        t.sort();
        t
    };
    assert_eq!(titles(), ["original title"]);
    // The first served read set the warm index's watches (`.jit/` and `.jit/issues/`).
    assert_eq!(inotify_watches(daemon.pid()), 2, "the daemon reads through a warm index");
    // Another process (direct).
    env.create("made by the cli");
    assert_eq!(titles(), ["made by the cli", "original title"]);
    // A hand edit in place, same size, mtime restored.
    let path = env.issues_dir().join(format!("{id}.json"));
    let before = std::fs::metadata(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("original title", "ORIGINAL TITLE")).unwrap();
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(before.modified().unwrap()).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), before.len());
    assert_eq!(titles(), ["ORIGINAL TITLE", "made by the cli"]);
    let out = run(dir, &["issue", "show", &id, "--json"]);
    assert_eq!(json_of(&out)["title"], "ORIGINAL TITLE");
    // A git checkout. The git directory is outside the tree, so that the daemon's local
    // state stays where it was (`.jit/local/`, untracked).
    let gitdir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg(format!("--git-dir={}", gitdir.path().display()))
            .arg(format!("--work-tree={}", dir.display()))
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", ".jit/issues"]);
    git(&["commit", "-qm", "one"]);
    env.ok(&["issue", "update", &id, "--title", "changed after the commit"]);
    assert_eq!(titles(), ["changed after the commit", "made by the cli"]);
    git(&["checkout", "--", ".jit/issues"]);
    assert_eq!(titles(), ["ORIGINAL TITLE", "made by the cli"]);
    // A served write, then a direct read and a served one agree.
    let out = run(dir, &["issue", "update", &id, "--title", "served write", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(lock_holder(dir), u64::from(daemon.pid()), "served");
    assert_eq!(env.json(&["issue", "show", &id])["title"], "served write");
    assert_eq!(titles(), ["made by the cli", "served write"]);
    // An overflowed notification queue, while the daemon is idle: more events than the
    // kernel queues, then an edit; the next command re-checks everything.
    let max: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16384);
    for i in 0..max / 2 + 16 {
        let p = env.issues_dir().join(format!(".tmp.flood{i}"));
        std::fs::write(&p, b"").unwrap();
        std::fs::remove_file(&p).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("served write", "after the flood")).unwrap();
    assert_eq!(titles(), ["after the flood", "made by the cli"]);
    // A config change is seen by the next served command (each opens the repository).
    let cfg = env.jit_dir().join("config.json");
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    c["bulk_confirm"] = json!(1);
    std::fs::write(&cfg, serde_json::to_string_pretty(&c).unwrap()).unwrap();
    let args = ["issue", "bulk-update", "--filter", "state:backlog", "--priority", "low", "--json"];
    let out = run(dir, &args);
    assert_eq!(json_of(&out)["error"]["code"], "BULK_CONFIRM_REQUIRED", "{}", describe(&out));
    assert!(daemon.stop().success());
}
