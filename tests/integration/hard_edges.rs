//! The storage's hard edges: versions that cannot go up, files added behind the id list's
//! back with the directory's mtime restored, unreadable issue files, whole-second timestamps,
//! a deleted lock file, odd file shapes where jit opens files, and readers under write load.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::common::*;
use crate::disk::without_jit_env;

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", describe(out)))
}

/// A failure with `--json`: exit code and machine code, and no panic.
fn expect_error(out: &Output, exit: i32, code: &str) -> Value {
    assert_ne!(out.status.code(), Some(101), "jit panicked: {}", describe(out));
    assert_eq!(out.status.code(), Some(exit), "{}", describe(out));
    let e = json_of(out)["error"].clone();
    assert_eq!(e["code"], code, "{}", describe(out));
    e
}

fn set_version(env: &TestEnv, id: &str, version: u64) {
    let path = env.issues_dir().join(format!("{id}.json"));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["version"] = json!(version);
    let mut bytes = serde_json::to_vec_pretty(&v).unwrap();
    bytes.push(b'\n');
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn a_version_at_the_maximum_refuses_every_change_and_changes_nothing() {
    let env = TestEnv::new();
    let stuck = env.create("Stuck");
    let other = env.create("Other");
    let third = env.create("Third");
    env.ok(&["dep", "add", &other, &stuck]);
    set_version(&env, &stuck, u64::MAX);
    let before = env.issue_files();
    for args in [
        &["issue", "update", &stuck, "-p", "high", "--json"][..],
        &["issue", "update", &stuck, "--add-label", "type:bug", "--json"],
        &["dep", "add", &stuck, &third, "--json"],
        &["issue", "update", &stuck, "--state", "ready", "--json"],
    ] {
        let e = expect_error(&env.run(args), 4, "VERSION_EXHAUSTED");
        assert_eq!(e["id"], json!(stuck), "{e}");
        assert_eq!(e["version"], json!(u64::MAX), "{e}");
    }
    assert_eq!(env.issue_files(), before, "nothing stored was changed");
    // Deleting an issue rewrites the ones that depend on it: refused as a whole.
    set_version(&env, &other, u64::MAX);
    let before_delete = env.issue_files();
    let e = expect_error(
        &env.run(&["issue", "delete", &stuck, "--yes", "--json"]),
        4,
        "VERSION_EXHAUSTED",
    );
    assert_eq!(e["id"], json!(other), "{e}");
    assert_eq!(env.issue_files(), before_delete, "nothing stored was changed");
    set_version(&env, &other, 1);
    // A bulk-update reports it among its errors and changes the rest.
    let filter = format!("id:{stuck} OR id:{other}");
    let out = env.run(&["issue", "bulk-update", "--filter", &filter, "-p", "low", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let report = json_of(&out);
    assert_eq!(report["modified"], 1, "{report}");
    assert_eq!(report["issue_ids"], json!([other]), "{report}");
    assert_eq!(report["errors"][0]["id"], json!(stuck), "{report}");
    assert_eq!(report["errors"][0]["code"], "VERSION_EXHAUSTED", "{report}");
    let shown = env.json(&["issue", "show", &stuck]);
    assert_eq!(shown["version"], json!(u64::MAX));
    assert_eq!(shown["priority"], "normal");
}

#[test]
fn a_file_added_with_the_directory_mtime_restored_is_seen_by_listings_and_prefixes() {
    let env = TestEnv::new();
    env.create("First");
    let elsewhere = TestEnv::new();
    let added = elsewhere.create("Copied in");
    let old = SystemTime::now() - Duration::from_secs(60);
    let dir = env.issues_dir();
    std::fs::File::open(&dir).unwrap().set_modified(old).unwrap();
    // Let the directory's ctime age past the racy window, so the id list is cached.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(env.json(&["query", "state:backlog", "--count"])["count"], 1);
    assert_eq!(env.json(&["query", "state:backlog", "--count"])["count"], 1);
    // What `tar -x`, `rsync -a` and `cp -a` do: the file appears, the mtime is put back.
    let name = format!("{added}.json");
    std::fs::copy(elsewhere.issues_dir().join(&name), dir.join(&name)).unwrap();
    std::fs::File::open(&dir).unwrap().set_modified(old).unwrap();
    assert_eq!(std::fs::metadata(&dir).unwrap().mtime(), old_secs(old));
    assert_eq!(env.json(&["query", "state:backlog", "--count"])["count"], 2);
    assert_eq!(env.json(&["issue", "list"]).as_array().unwrap().len(), 2);
    assert_eq!(env.json(&["issue", "show", &added[..20]])["id"], json!(added));
}

fn old_secs(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Directories 755 and files 644, so that an unprivileged user can read the repository.
fn open_up(dir: &Path) {
    chmod(dir, 0o755);
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            open_up(&e.path());
        } else {
            chmod(&e.path(), 0o644);
        }
    }
}

/// `jit ARGS` as an unprivileged user (through setpriv when the tests run as root, since
/// root reads a mode-000 file), with a copy of the binary it can surely run.
fn run_unprivileged(env: &TestEnv, bin: &Path, args: &[&str]) -> Output {
    let mut c = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    without_jit_env(&mut c);
    c.args(args).current_dir(env.path()).stdin(Stdio::null());
    c.output().expect("run jit (as root this needs setpriv from util-linux)")
}

#[test]
fn an_unreadable_issue_file_is_skipped_with_a_warning_like_a_corrupt_one() {
    let env = TestEnv::new();
    let readable = env.create("Readable");
    let locked = env.create("Locked away");
    open_up(env.path());
    let bin_dir = tempfile::tempdir().unwrap();
    chmod(bin_dir.path(), 0o755);
    let bin = bin_dir.path().join("jit");
    std::fs::copy(jit_bin(), &bin).unwrap();
    chmod(&bin, 0o755);
    let path = env.issues_dir().join(format!("{locked}.json"));
    chmod(&path, 0o000);
    for args in [&["issue", "list", "--json"][..], &["query", "state:backlog", "--json"]] {
        let out = run_unprivileged(&env, &bin, args);
        // Like a corrupt file: left out, and the listing says it is partial (exit 1).
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let ids: Vec<Value> =
            json_of(&out).as_array().unwrap().iter().map(|i| i["id"].clone()).collect();
        assert_eq!(ids, vec![json!(readable)], "{}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning:")).collect();
        assert_eq!(warnings.len(), 1, "{stderr}");
        assert!(warnings[0].contains(&format!("{locked}.json")), "{stderr}");
        assert!(warnings[0].contains("Permission denied"), "{stderr}");
    }
    let out = run_unprivileged(&env, &bin, &["query", "state:backlog", "--count", "--json"]);
    assert_eq!(out.status.code(), Some(1), "a partial count: {}", describe(&out));
    assert_eq!(json_of(&out)["count"], 1);
    chmod(&path, 0o644);
}

/// Rewrite `path` in place (same inode, same size) with `from` replaced by `to`, then put
/// its mtime back, as an editor or a sync tool that keeps times may.
fn edit_in_place_keeping_mtime(path: &Path, from: &str, to: &str) {
    use std::os::unix::fs::FileExt;
    assert_eq!(from.len(), to.len());
    let meta = std::fs::metadata(path).unwrap();
    let text = std::fs::read_to_string(path).unwrap().replace(from, to);
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(text.as_bytes(), 0).unwrap();
    f.set_modified(meta.modified().unwrap()).unwrap();
}

#[test]
fn with_whole_second_timestamps_a_same_second_edit_that_keeps_the_mtime_is_seen() {
    let env = TestEnv::new();
    let coarse = |args: &[&str]| {
        let mut c = env.cmd(args);
        c.env("JIT_TEST_COARSE_STAMPS", "1");
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        json_of(&out)
    };
    // The edit must land in the same second as jit's own write for the stamps to agree;
    // a try that crosses a second boundary proves nothing and is made again.
    for _ in 0..50 {
        let id = coarse(&["issue", "create", "Title aaaa", "--json"])["id"]
            .as_str()
            .unwrap()
            .to_string();
        let path = env.issues_dir().join(format!("{id}.json"));
        let written = std::fs::metadata(&path).unwrap();
        coarse(&["issue", "list", "--json"]);
        edit_in_place_keeping_mtime(&path, "Title aaaa", "Title bbbb");
        let edited = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (edited.size(), edited.mtime(), edited.ino()),
            (written.size(), written.mtime(), written.ino())
        );
        if edited.ctime() != written.ctime() {
            continue;
        }
        for _ in 0..3 {
            let list = coarse(&["issue", "list", "--json"]);
            let found = list.as_array().unwrap().iter().find(|i| i["id"] == json!(id)).cloned();
            assert_eq!(found.unwrap()["title"], "Title bbbb");
            assert_eq!(
                coarse(&["query", &format!("id:{id} AND title:bbbb"), "--count", "--json"])["count"],
                1
            );
        }
        return;
    }
    panic!("no edit landed in the same second as jit's write in 50 tries");
}

/// Run `jit ARGS --json` in `project`; the exit code and the parsed stdout.
fn run_json(project: &Path, args: &[&str]) -> (Option<i32>, Value) {
    let out = crate::disk::jit_in(project, args).arg("--json").output().expect("run jit");
    assert_ne!(out.status.code(), Some(101), "jit panicked: {}", describe(&out));
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v)
}

#[test]
fn deleting_the_lock_file_in_a_loop_loses_no_update_and_grants_no_version_twice() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    const LABELS: usize = 25;
    const SWAPS: usize = 25;
    let env = TestEnv::new();
    let plain = env.create("Labels from four writers");
    let cas = env.create("Compare and swap");
    let project = env.path().to_path_buf();
    let stop = Arc::new(AtomicBool::new(false));
    let deleted = Arc::new(AtomicUsize::new(0));
    let deleter = {
        let (stop, deleted, lock) = (stop.clone(), deleted.clone(), env.jit_dir().join("lock"));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if std::fs::remove_file(&lock).is_ok() {
                    deleted.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let mut writers = Vec::new();
    for w in 0..4 {
        let (project, plain) = (project.clone(), plain.clone());
        writers.push(std::thread::spawn(move || {
            for i in 0..LABELS {
                let label = format!("w{w}:l{i}");
                let (code, v) =
                    run_json(&project, &["issue", "update", &plain, "--add-label", &label]);
                assert_eq!(code, Some(0), "{v}");
            }
            Vec::new()
        }));
    }
    for w in 0..2 {
        let (project, cas) = (project.clone(), cas.clone());
        writers.push(std::thread::spawn(move || {
            let mut granted = Vec::new();
            while granted.len() < SWAPS {
                let (_, shown) = run_json(&project, &["issue", "show", &cas]);
                let version = shown["version"].as_u64().unwrap().to_string();
                let label = format!("c{w}:n{}", granted.len());
                let args =
                    ["issue", "update", &cas, "--add-label", &label, "--if-version", &version];
                match run_json(&project, &args) {
                    (Some(0), v) => granted.push(v["version"].as_u64().unwrap()),
                    (Some(4), v) => assert_eq!(v["error"]["code"], "VERSION_CONFLICT", "{v}"),
                    (code, v) => panic!("exit {code:?}: {v}"),
                }
            }
            granted
        }));
    }
    let mut granted: Vec<u64> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    deleter.join().unwrap();
    assert!(deleted.load(Ordering::Relaxed) > 10, "the lock file was deleted while writers ran");
    let plain_now = env.json(&["issue", "show", &plain]);
    let mut want: Vec<String> =
        (0..4).flat_map(|w| (0..LABELS).map(move |i| format!("w{w}:l{i}"))).collect();
    want.sort();
    assert_eq!(plain_now["labels"], json!(want), "every acknowledged label is there");
    assert_eq!(plain_now["version"], json!(1 + 4 * LABELS as u64));
    granted.sort_unstable();
    let expected: Vec<u64> = (2..2 + 2 * SWAPS as u64).collect();
    assert_eq!(granted, expected, "each version granted once");
    let cas_now = env.json(&["issue", "show", &cas]);
    assert_eq!(cas_now["labels"].as_array().unwrap().len(), 2 * SWAPS);
}

/// Readers take no lock, whatever the writers do: with two processes running bulk-updates
/// back to back over the same 60 issues (and one running compare-and-swap updates), every
/// `query --count` with a lock timeout of 1 ms succeeds, and sees each bulk-update whole, over
/// at least 150 rounds of reads and 40 bulk-updates.
#[test]
fn readers_are_not_starved_by_back_to_back_bulk_updates_and_see_them_whole() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    const ISSUES: usize = 60;
    const READS: usize = 150;
    let env = TestEnv::new();
    for i in 0..ISSUES {
        env.ok(&["issue", "create", &format!("bulk {i}"), "-l", "group:a"]);
    }
    let cas = env.create("Swapped");
    let project = env.path().to_path_buf();
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for (w, label) in ["t:x", "t:y"].into_iter().enumerate() {
        let (project, stop, commits) = (project.clone(), stop.clone(), commits.clone());
        writers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for change in ["--add-label", "--remove-label"] {
                    let args = [
                        "issue",
                        "bulk-update",
                        "--filter",
                        "label:group:a",
                        change,
                        label,
                        "--yes",
                    ];
                    // Writers compete for the lock among themselves (one may time out
                    // behind the others, and then tries again); readers do not take it.
                    loop {
                        let out = crate::disk::jit_in(&project, &args).output().unwrap();
                        if out.status.code() == Some(75) && !stop.load(Ordering::Relaxed) {
                            continue;
                        }
                        assert!(
                            out.status.success() || stop.load(Ordering::Relaxed),
                            "writer {w}: {}",
                            describe(&out)
                        );
                        break;
                    }
                    commits.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    {
        let (project, stop, cas) = (project.clone(), stop.clone(), cas.clone());
        writers.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let (_, shown) = run_json(&project, &["issue", "show", &cas]);
                let v = shown["version"].as_u64().unwrap().to_string();
                let label = format!("n:{n}");
                let args = ["issue", "update", &cas, "--add-label", &label, "--if-version", &v];
                match run_json(&project, &args) {
                    (Some(0), _) => n += 1,
                    (Some(4), e) => assert_eq!(e["error"]["code"], "VERSION_CONFLICT", "{e}"),
                    (Some(75), _) => {} // behind the bulk-updates; tries again
                    (code, e) => panic!("exit {code:?}: {e}"),
                }
            }
        }));
    }
    let mut torn = Vec::new();
    let started = commits.load(Ordering::Relaxed);
    let mut reads = 0;
    // Until enough reads have run and enough bulk-updates have run alongside them.
    while reads < READS || commits.load(Ordering::Relaxed) - started < 40 {
        reads += 1;
        for label in ["t:x", "t:y"] {
            let args = ["--timeout-ms", "1", "query", &format!("label:{label}"), "--count"];
            let out = crate::disk::jit_in(&project, &args).output().unwrap();
            if !out.status.success() {
                stop.store(true, Ordering::Relaxed);
                panic!("a read failed under write load: {}", describe(&out));
            }
            let count: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
            if count != 0 && count != ISSUES {
                torn.push(count);
            }
        }
        let out = crate::disk::jit_in(&project, &["--timeout-ms", "1", "issue", "show", &cas])
            .output()
            .unwrap();
        assert!(out.status.success(), "show under write load: {}", describe(&out));
    }
    let during = commits.load(Ordering::Relaxed) - started;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(during >= 40, "only {during} bulk-updates ran alongside the reads");
    assert!(torn.is_empty(), "{} reads saw part of a bulk-update: {torn:?}", torn.len());
    let v = env.json(&["query", "label:group:a", "--count"]);
    assert_eq!(v["count"], ISSUES);
}

/// Run a command, killing it if it has not finished after a generous minute: a hang fails
/// the test instead of blocking the run (this bounds a hang, it does not measure speed).
fn run_bounded(c: &mut Command) -> Output {
    let child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn jit");
    let pid = child.id();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let hung = wait.recv_timeout(Duration::from_secs(60)).is_err();
        if hung {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        hung
    });
    let out = child.wait_with_output().expect("wait for jit");
    let _ = done.send(());
    assert!(!watchdog.join().unwrap(), "jit hung and was killed: {}", describe(&out));
    out
}

fn bounded(env: &TestEnv, args: &[&str]) -> Output {
    let out = run_bounded(&mut env.cmd(args));
    assert_ne!(out.status.code(), Some(101), "jit panicked: {}", describe(&out));
    out
}

fn bounded_json(env: &TestEnv, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = bounded(env, &all);
    assert!(out.status.success(), "jit {}: {}", args.join(" "), describe(&out));
    json_of(&out)
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().expect("run mkfifo (coreutils)");
    assert!(st.success(), "mkfifo {}", path.display());
}

/// Put something else than a regular file at `path`: "fifo", "dir", "symlink" (to a file
/// elsewhere) or "dangling" (a symbolic link to nothing).
fn plant(path: &Path, shape: &str, elsewhere: &Path) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        std::fs::remove_dir_all(path).unwrap();
    } else if std::fs::symlink_metadata(path).is_ok() {
        std::fs::remove_file(path).unwrap();
    }
    match shape {
        "fifo" => mkfifo(path),
        "dir" => std::fs::create_dir(path).unwrap(),
        "symlink" => {
            let target =
                elsewhere.join(format!("target-{}", path.file_name().unwrap().to_string_lossy()));
            std::fs::write(&target, b"").unwrap();
            std::os::unix::fs::symlink(&target, path).unwrap();
        }
        "dangling" => std::os::unix::fs::symlink(elsewhere.join("nothing-here"), path).unwrap(),
        "garbage" => std::fs::write(path, b"\x00\x01garbage that is no index at all\xff").unwrap(),
        other => panic!("unknown shape {other}"),
    }
}

#[test]
fn odd_shapes_at_the_lock_file_stop_writers_clearly_and_never_hang_readers() {
    let elsewhere = tempfile::tempdir().unwrap();
    for shape in ["fifo", "dir", "symlink", "dangling"] {
        let env = TestEnv::new();
        let a = env.create("First");
        let b = env.create("Second");
        let lock = env.jit_dir().join("lock");
        plant(&lock, shape, elsewhere.path());
        let before = env.issue_files();
        for args in [
            &["issue", "update", &a, "-p", "high", "--json"][..],
            &["issue", "create", "Refused", "--json"],
            &["issue", "delete", &b, "--yes", "--json"],
            &["issue", "bulk-update", "--filter", "state:backlog", "-p", "low", "--json"],
        ] {
            let e = expect_error(&bounded(&env, args), 74, "NOT_A_REGULAR_FILE");
            assert!(e["path"].as_str().unwrap().ends_with("lock"), "{shape}: {e}");
            assert_eq!(env.issue_files(), before, "{shape}: nothing changed");
        }
        let list = bounded_json(&env, &["issue", "list"]);
        assert_eq!(list.as_array().unwrap().len(), 2, "{shape}");
        assert_eq!(bounded_json(&env, &["query", "state:backlog", "--count"])["count"], 2);
        assert_eq!(bounded_json(&env, &["issue", "show", &a[..10]])["id"], json!(a));
        // Removed, the file is made again by the next writer.
        plant(&lock, "dir", elsewhere.path());
        std::fs::remove_dir(&lock).unwrap();
        assert_eq!(bounded_json(&env, &["issue", "update", &a, "-p", "high"])["version"], 2);
        assert!(std::fs::symlink_metadata(&lock).unwrap().is_file(), "{shape}");
    }
    // lock.info is informational: a FIFO there is ignored by everyone. A FIFO posing as a
    // journal record hangs nobody, and the next writer moves it to quarantine/.
    let env = TestEnv::new();
    let a = env.create("First");
    plant(&env.jit_dir().join("lock.info"), "fifo", elsewhere.path());
    std::fs::create_dir_all(env.jit_dir().join("journal")).unwrap();
    plant(&env.jit_dir().join("journal/1.json"), "fifo", elsewhere.path());
    assert_eq!(bounded_json(&env, &["query", "state:backlog", "--count"])["count"], 1);
    assert_eq!(bounded_json(&env, &["issue", "show", &a])["version"], 1);
    assert_eq!(bounded_json(&env, &["issue", "update", &a, "-p", "high"])["version"], 2);
    assert!(env.jit_dir().join("quarantine/journal-1.json").exists());
    assert_eq!(std::fs::read_dir(env.jit_dir().join("journal")).unwrap().count(), 0);
    assert_eq!(bounded_json(&env, &["issue", "list"]).as_array().unwrap().len(), 1);
    // config.json as a FIFO: every command stops with a clear error, none hangs.
    let env = TestEnv::new();
    plant(&env.jit_dir().join("config.json"), "fifo", elsewhere.path());
    for args in [&["issue", "list", "--json"][..], &["issue", "create", "x", "--json"]] {
        expect_error(&bounded(&env, args), 74, "NOT_A_REGULAR_FILE");
    }
}

#[test]
fn an_index_of_any_shape_costs_only_speed() {
    let elsewhere = tempfile::tempdir().unwrap();
    let cases: [(&str, &str); 12] = [
        ("index", "garbage"),
        ("index", "fifo"),
        ("index", "symlink"),
        ("index", "dangling"),
        ("index/issues.idx", "dir"),
        ("index/issues.idx", "fifo"),
        ("index/issues.log", "fifo"),
        ("index/issues.log", "dir"),
        ("index/ids", "fifo"),
        ("index/ids", "dir"),
        ("index/issues.idx", "garbage"),
        ("index/ids", "garbage"),
    ];
    for (n, (at, shape)) in cases.into_iter().enumerate() {
        let env = TestEnv::new();
        let ids: Vec<String> = (0..5).map(|i| env.create(&format!("issue {i}"))).collect();
        env.ok(&["issue", "list"]);
        let what = format!("{shape} at .jit/{at}");
        let link_target = elsewhere.path().join(format!("case-{n}"));
        if shape == "symlink" && at == "index" {
            // A symbolic link to a directory elsewhere: never read from, never written to.
            std::fs::create_dir(&link_target).unwrap();
            std::fs::remove_dir_all(env.jit_dir().join("index")).unwrap();
            std::os::unix::fs::symlink(&link_target, env.jit_dir().join("index")).unwrap();
        } else {
            plant(&env.jit_dir().join(at), shape, elsewhere.path());
        }
        let check = |when: &str| {
            let truth = crate::disk::Truth::read_all_valid(&env.issues_dir());
            let list = bounded_json(&env, &["issue", "list"]);
            assert_eq!(list, Value::Array(truth.clone()), "{what}, {when}");
            let count = bounded_json(&env, &["query", "state:backlog", "--count"]);
            assert_eq!(count["count"], truth.len(), "{what}, {when}");
            let shown = bounded_json(&env, &["issue", "show", &ids[2][..20]]);
            assert_eq!(shown["id"], json!(ids[2]), "{what}, {when}");
        };
        check("read");
        let v = bounded_json(&env, &["issue", "update", &ids[1], "--add-label", "seen:yes"]);
        assert_eq!(v["version"], 2, "{what}");
        let out = bounded(
            &env,
            &["issue", "bulk-update", "--filter", "state:backlog", "-p", "high", "--json"],
        );
        assert!(out.status.success(), "{what}: {}", describe(&out));
        check("after writes");
        std::thread::sleep(Duration::from_millis(150));
        check("once the writes are old enough to be recorded");
        if at == "index" {
            let meta = std::fs::symlink_metadata(env.jit_dir().join("index")).unwrap();
            assert!(meta.is_dir(), "{what}: the writers made index/ a directory again");
        }
        if link_target.exists() {
            let inside = std::fs::read_dir(&link_target).unwrap().count();
            assert_eq!(inside, 0, "{what}: nothing written through the link");
        }
    }
}

/// Hold the writers' lock from outside jit (util-linux `flock` on `.jit`, running `cat`
/// until its stdin closes), so that no jit command can recover the journal meanwhile.
fn hold_lock(jit_dir: &Path) -> std::process::Child {
    let mut child = Command::new("flock")
        .arg(jit_dir)
        .arg("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("run flock (util-linux)");
    loop {
        assert!(child.try_wait().unwrap().is_none(), "flock exited early");
        let free = Command::new("flock").arg("-n").arg(jit_dir).arg("true").status().unwrap();
        if !free.success() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_bulk_update_killed_half_way_is_seen_whole_by_readers_before_any_recovery() {
    use std::os::unix::process::ExitStatusExt;
    const ISSUES: usize = 150;
    const ROUNDS: u64 = 24;
    let env = TestEnv::new();
    for i in 0..ISSUES {
        env.ok(&["issue", "create", &format!("issue {i}"), "-l", "g:a"]);
    }
    let project = env.path().to_path_buf();
    let bulk = |label: &str| {
        let mut c = crate::disk::jit_in(
            &project,
            &["issue", "bulk-update", "--filter", "label:g:a", "--add-label", label, "--yes"],
        );
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c
    };
    // Calibrate: how long one run takes here, to spread the kills over it.
    let t = std::time::Instant::now();
    assert!(bulk("calibrate:run").status().unwrap().success());
    let run_us = t.elapsed().as_micros() as u64;
    let mut rng = crate::disk::XorShift::new(7);
    let (mut killed, mut pending) = (0, 0);
    for round in 0..ROUNDS {
        let label = format!("r:n{round}");
        let mut child = bulk(&label).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(run_us * 3 / 2 + 1)));
        let _ = child.kill();
        if child.wait().unwrap().signal().is_some() {
            killed += 1;
        }
        let records = std::fs::read_dir(env.jit_dir().join("journal")).map_or(0, |d| {
            d.filter(|e| {
                let n = e.as_ref().unwrap().file_name().to_string_lossy().into_owned();
                !n.starts_with(".tmp.")
            })
            .count()
        });
        pending += usize::from(records > 0);
        let mut holder = hold_lock(&env.jit_dir());
        let filter = format!("label:{label}");
        let read = |what: &str| {
            let out = run_bounded(&mut crate::disk::jit_in(
                &project,
                &["--timeout-ms", "1", "query", &filter, "--count"],
            ));
            assert!(out.status.success(), "{what}, round {round}: {}", describe(&out));
            String::from_utf8_lossy(&out.stdout).trim().parse::<usize>().unwrap()
        };
        let before = read("with the lock held");
        assert!(before == 0 || before == ISSUES, "round {round}: {before} of {ISSUES} seen");
        drop(holder.stdin.take());
        holder.wait().unwrap();
        env.create("recovers the journal");
        assert_eq!(read("after recovery"), before, "round {round}: recovery agrees");
    }
    assert!(killed > 0, "no run was interrupted");
    eprintln!("{killed} of {ROUNDS} runs killed, {pending} left a complete record pending");
}
