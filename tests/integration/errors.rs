//! Bad input and hostile conditions: every failure has a clear message, a stable machine code
//! and a fixed exit code, never a panic, and leaves the store byte-identical.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

use serde_json::{Value, json};

use crate::common::*;

type Files = Vec<(String, Vec<u8>)>;

/// Variables of the test hooks that must not leak in from the caller's environment.
const JIT_VARS: [&str; 6] =
    ["JIT_DIR", "JIT_NOW", "JIT_SEED", "JIT_LOCK_TIMEOUT_MS", "JIT_DURABILITY", "JIT_TEST_FAULT"];

fn assert_no_panic(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() != Some(101) && !stderr.contains("panicked"),
        "jit panicked: {}",
        describe(out)
    );
}

/// A `--json` failure: exit code, machine code, a message, a `hint` key, nothing on stderr.
fn json_error(out: &Output, exit: i32, code: &str) -> Value {
    assert_no_panic(out);
    assert_eq!(out.status.code(), Some(exit), "{}", describe(out));
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", describe(out)));
    let e = v["error"].clone();
    assert_eq!(e["code"], code, "{}", describe(out));
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", describe(out));
    assert!(e.get("hint").is_some(), "the error object always has a hint key: {e}");
    assert!(out.stderr.is_empty(), "in JSON mode the error goes to stdout: {}", describe(out));
    e
}

/// Run `jit ARGS --json` and require the given failure.
fn json_fail<S: AsRef<OsStr>>(env: &TestEnv, args: &[S], exit: i32, code: &str) -> Value {
    let mut c = env.cmd(args);
    c.arg("--json");
    json_error(&c.output().expect("run jit"), exit, code)
}

/// A human-mode failure: `error: …` on stderr, nothing on stdout. Returns stderr.
fn human_error(out: &Output, exit: i32) -> String {
    assert_no_panic(out);
    assert_eq!(out.status.code(), Some(exit), "{}", describe(out));
    assert!(out.stdout.is_empty(), "errors never go to stdout in human mode: {}", describe(out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.starts_with("error: "), "{}", describe(out));
    stderr
}

fn human_fail<S: AsRef<OsStr>>(env: &TestEnv, args: &[S], exit: i32) -> String {
    human_error(&env.run(args), exit)
}

/// Every `.tmp.*` file anywhere under `dir`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for e in entries {
        let e = e.unwrap();
        let path = e.path();
        if e.file_name().to_string_lossy().starts_with(".tmp.") {
            found.push(path.clone());
        }
        if e.file_type().unwrap().is_dir() {
            found.extend(temp_files(&path));
        }
    }
    found
}

/// The issue files are byte-identical to `before` and no temp file is left in `.jit/`.
fn assert_unchanged(env: &TestEnv, before: &Files) {
    let after = env.issue_files();
    let names = |f: &Files| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&after), names(before), "the set of issue files changed");
    for ((name, a), (_, b)) in after.iter().zip(before) {
        assert!(a == b, "{name} changed");
    }
    let tmp = temp_files(&env.jit_dir());
    assert!(tmp.is_empty(), "temp files left behind: {tmp:?}");
}

/// Run `jit` with `input` on stdin (written from another thread: jit may stop reading early).
fn run_with_stdin(mut c: Command, input: Vec<u8>) -> Output {
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn jit");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // A refusal closes the pipe before everything is written: that error is expected.
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for jit");
    writer.join().unwrap();
    out
}

fn issue_path(env: &TestEnv, id: &str) -> PathBuf {
    env.issues_dir().join(format!("{id}.json"))
}

fn set_field(path: &Path, key: &str, value: Value) {
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v[key] = value;
    let mut bytes = serde_json::to_vec_pretty(&v).unwrap();
    bytes.push(b'\n');
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn empty_blank_and_multiline_titles_are_refused() {
    let env = TestEnv::new();
    let id = env.create("Keep me");
    let before = env.issue_files();
    for title in ["", "   ", "\t \n"] {
        let e = json_fail(&env, &["issue", "create", title], 1, "INVALID_TITLE");
        assert!(e["message"].as_str().unwrap().contains("empty"), "{title:?}: {e}");
        json_fail(&env, &["issue", "update", &id, "--title", title], 1, "INVALID_TITLE");
    }
    for title in [
        "first line\nsecond line",
        "a\rb",
        "bell\u{7}",
        "escape\u{1b}[2J",
        "line\u{2028}separator",
        "right-to-left \u{202e}override",
        "isolate\u{2067}",
    ] {
        let e = json_fail(&env, &["issue", "create", title], 1, "INVALID_TITLE");
        assert!(e["message"].as_str().unwrap().contains("line break"), "{title:?}: {e}");
        json_fail(&env, &["issue", "update", &id, "--title", title], 1, "INVALID_TITLE");
    }
    let long = "x".repeat(1025);
    let e = json_fail(&env, &["issue", "create", &long], 1, "TOO_LONG");
    assert_eq!((e["field"].clone(), e["max"].clone()), (json!("title"), json!(1024)));
    let stderr = human_fail(&env, &["issue", "create", "  "], 1);
    assert!(stderr.contains("title is empty"), "{stderr}");
    assert_unchanged(&env, &before);
}

#[test]
fn bad_labels_are_refused_on_create_and_update() {
    let env = TestEnv::new();
    let id = env.create("Labelled");
    let before = env.issue_files();
    for label in ["bug", "Type:x", "a:b c", ":x", "type:", "type:*"] {
        let e = json_fail(&env, &["issue", "create", "t", "-l", label], 1, "INVALID_LABEL");
        assert!(e["message"].as_str().unwrap().contains(&format!("`{label}`")), "{e}");
        assert!(e["hint"].as_str().unwrap().contains("namespace:value"), "{e}");
        // A good label next to the bad one does not let the bad one through.
        let args = ["issue", "update", &id, "--add-label", "type:ok", "--add-label", label];
        let e = json_fail(&env, &args, 1, "INVALID_LABEL");
        assert!(e["message"].as_str().unwrap().contains(&format!("`{label}`")), "{e}");
    }
    let stderr = human_fail(&env, &["issue", "update", &id, "--add-label", "bug"], 1);
    assert!(stderr.contains("invalid label `bug`") && stderr.contains("\nhint: "), "{stderr}");
    // Added and removed at once: which was meant?
    let both = ["--add-label", "a:b", "--remove-label", "a:b"];
    let e =
        json_fail(&env, &[&["issue", "update", &id][..], &both].concat(), 1, "INVALID_ARGUMENT");
    assert!(e["message"].as_str().unwrap().contains("both added and removed"), "{e}");
    let bulk = [&["issue", "bulk-update", "--filter", "is:open", "--yes"][..], &both].concat();
    json_fail(&env, &bulk, 1, "INVALID_ARGUMENT");
    assert_unchanged(&env, &before);
}

#[test]
fn unknown_state_and_priority_suggest_the_closest_value() {
    let env = TestEnv::new();
    let id = env.create("States");
    let before = env.issue_files();
    for args in [
        &["issue", "create", "t", "--state", "redy"][..],
        &["issue", "update", &id, "--state", "redy"],
    ] {
        let e = json_fail(&env, args, 1, "INVALID_STATE");
        assert_eq!(e["suggestion"], "ready", "{e}");
        assert_eq!(e["value"], "redy");
        assert!(e["allowed"].as_array().unwrap().contains(&json!("in_progress")), "{e}");
        let stderr = human_fail(&env, args, 1);
        assert!(stderr.contains("unknown state `redy`"), "{stderr}");
        assert!(stderr.contains("hint: did you mean `ready`?"), "{stderr}");
    }
    for args in
        [&["issue", "create", "t", "-p", "urgent"][..], &["issue", "update", &id, "-p", "urgent"]]
    {
        let e = json_fail(&env, args, 1, "INVALID_PRIORITY");
        assert_eq!(e["value"], "urgent");
        assert_eq!(e["allowed"], json!(["low", "normal", "high", "critical"]));
    }
    assert_unchanged(&env, &before);
}

#[test]
fn a_refused_transition_is_a_conflict_naming_the_allowed_states() {
    let env = TestEnv::new();
    let id = env.create("Not yet");
    let before = env.issue_files();
    let e = json_fail(&env, &["issue", "update", &id, "--state", "done"], 4, "TRANSITION_REFUSED");
    assert_eq!(e["id"], json!(id));
    assert_eq!((e["from"].clone(), e["to"].clone()), (json!("backlog"), json!("done")));
    assert_eq!(e["allowed"], json!(["ready", "in_progress", "rejected"]));
    // Other changes in the same command are not applied either.
    let args = ["issue", "update", &id, "--state", "done", "-p", "high", "--title", "Changed"];
    let stderr = human_fail(&env, &args, 4);
    assert!(stderr.contains("from backlog to done"), "{stderr}");
    assert!(stderr.contains("hint: from backlog an issue may move to: ready"), "{stderr}");
    assert_unchanged(&env, &before);
    assert_eq!(env.json(&["issue", "show", &id])["version"], 1);
}

#[test]
fn unknown_ids_are_not_found_and_malformed_ids_are_invalid() {
    let env = TestEnv::new();
    let id = env.create("Exists");
    let before = env.issue_files();
    // A well-formed id that differs from the real one in its last character.
    let last = if id.ends_with('0') { "1" } else { "0" };
    let missing = format!("{}{last}", &id[..25]);
    for input in [missing.as_str(), "7zzz", "7zzzzzzzz"] {
        for args in [
            &["issue", "show", input][..],
            &["issue", "update", input, "-p", "high"],
            &["issue", "delete", input, "--yes"],
        ] {
            let e = json_fail(&env, args, 3, "ISSUE_NOT_FOUND");
            assert_eq!(e["id"], input, "{args:?}");
        }
    }
    // 26 characters above the largest ULID (`7zzz…`): well-formed-looking, but never an id.
    let above_max = "8zzzzzzzzzzzzzzzzzzzzzzzzz";
    for input in ["", "01", "abc", "ab!d", "01ju", "01jx-", "é123", &"0".repeat(27), above_max] {
        for args in [&["issue", "show", input][..], &["issue", "update", input, "-p", "high"]] {
            let e = json_fail(&env, args, 1, "INVALID_ID");
            assert!(e["hint"].as_str().unwrap().contains("prefix of 4"), "{input:?}: {e}");
        }
    }
    let stderr = human_fail(&env, &["issue", "show", "abc"], 1);
    assert!(stderr.contains("`abc` is not a valid issue id") && stderr.contains("hint: "));
    assert_unchanged(&env, &before);
}

#[test]
fn an_ambiguous_prefix_lists_every_candidate() {
    let env = TestEnv::fixed();
    let mut ids: Vec<String> = (0..3).map(|i| env.create(&format!("twin {i}"))).collect();
    ids.sort();
    assert!(
        ids.iter().all(|i| i[..10] == ids[0][..10]),
        "with the fixed clock all ids share their time part: {ids:?}"
    );
    let before = env.issue_files();
    let prefix = &ids[0][..4];
    for args in [
        &["issue", "show", prefix][..],
        &["issue", "update", prefix, "-p", "high"],
        &["issue", "delete", prefix, "--yes"],
    ] {
        let e = json_fail(&env, args, 1, "AMBIGUOUS_ID");
        assert_eq!(e["prefix"], prefix);
        assert_eq!(e["candidates"], json!(ids), "{args:?}");
    }
    let stderr = human_fail(&env, &["issue", "show", &prefix.to_uppercase()], 1);
    assert!(stderr.contains("matches 3 issues"), "{stderr}");
    for id in &ids {
        assert!(stderr.contains(id.as_str()), "the hint names {id}: {stderr}");
    }
    assert_unchanged(&env, &before);
}

#[test]
fn an_ambiguous_prefix_names_ten_candidates_and_counts_the_rest() {
    let env = TestEnv::fixed();
    let mut ids: Vec<String> = (0..13).map(|i| env.create(&format!("twin {i}"))).collect();
    ids.sort();
    let prefix = &ids[0][..4];
    let e = json_fail(&env, &["issue", "show", prefix], 1, "AMBIGUOUS_ID");
    assert_eq!(e["candidates"], json!(ids), "JSON lists them all");
    let stderr = human_fail(&env, &["issue", "show", prefix], 1);
    let hint = format!(
        "hint: candidates: {} ... and 3 more; type more characters\n",
        ids[..10].join(", ")
    );
    assert_eq!(stderr, format!("error: `{prefix}` matches 13 issues\n{hint}"));
}

#[test]
fn invalid_utf8_arguments_are_a_usage_error_not_a_panic() {
    let env = TestEnv::new();
    let id = env.create("Bytes");
    let before = env.issue_files();
    let bad = OsStr::from_bytes(b"\xff\xfe");
    let mut label = OsString::from("type:");
    label.push(bad);
    let os = |s: &str| OsString::from(s);
    let cases: Vec<Vec<OsString>> = vec![
        vec![os("issue"), os("create"), bad.into()],
        vec![os("issue"), os("create"), os("t"), os("-l"), label],
        vec![os("issue"), os("create"), os("t"), os("--state"), bad.into()],
        vec![os("issue"), os("update"), os(&id), os("--title"), bad.into()],
        vec![os("issue"), os("show"), bad.into()],
    ];
    for args in &cases {
        let e = json_fail(&env, args, 2, "INVALID_UTF8");
        assert!(e["message"].as_str().unwrap().contains("UTF-8"), "{args:?}: {e}");
        let stderr = human_fail(&env, args, 2);
        assert!(stderr.contains("not valid UTF-8"), "{args:?}: {stderr}");
    }
    assert_unchanged(&env, &before);
}

#[test]
fn paths_that_are_not_utf8_are_reported_not_panicked_on() {
    let env = TestEnv::bare();
    let project = env.path().join(OsStr::from_bytes(b"proj\xff"));
    std::fs::create_dir(&project).unwrap();
    let out = env.cmd(&["init", "--json"]).current_dir(&project).output().unwrap();
    assert_no_panic(&out);
    assert_success(&out, &["init"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("init prints valid JSON");
    assert!(v["path"].as_str().unwrap().ends_with(".jit"), "{v}");
    let out = env.cmd(&["issue", "create", "x", "--json"]).current_dir(&project).output().unwrap();
    assert_success(&out, &["create"]);
    let id =
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["id"].as_str().unwrap().to_string();
    std::fs::write(project.join(".jit/issues").join(format!("{id}.json")), "not json").unwrap();
    // An error that carries the path (here a corrupt file) found through JIT_DIR.
    let out = env.cmd(&["issue", "show", &id, "--json"]).env("JIT_DIR", &project).output().unwrap();
    let e = json_error(&out, 74, "CORRUPT_FILE");
    assert!(e["path"].as_str().unwrap().ends_with(&format!("{id}.json")), "{e}");
    let out = env.cmd(&["issue", "show", &id]).env("JIT_DIR", &project).output().unwrap();
    assert!(human_error(&out, 74).contains("not a valid issue"));
}

#[test]
fn a_repo_flag_that_is_not_utf8_is_not_a_panic() {
    let env = TestEnv::bare();
    let mut arg = env.path().as_os_str().to_owned();
    arg.push(OsStr::from_bytes(b"/none\xff"));
    let args = [OsStr::new("--repo"), &arg, OsStr::new("issue"), OsStr::new("list")];
    let e = json_fail(&env, &args, 3, "REPO_NOT_FOUND");
    assert!(e["message"].as_str().unwrap().contains("none"), "{e}");
}

#[test]
fn a_ten_megabyte_description_on_stdin_is_too_long() {
    let env = TestEnv::new();
    let id = env.create("Small");
    let before = env.issue_files();
    let big = vec![b'a'; 10 << 20];
    for args in [
        &["issue", "create", "Big", "-d", "-", "--json"][..],
        &["issue", "update", &id, "-d", "-", "--json"],
    ] {
        let out = run_with_stdin(env.cmd(args), big.clone());
        let e = json_error(&out, 1, "TOO_LONG");
        assert_eq!(e["field"], "description");
        assert_eq!(e["max"], 1 << 20);
        assert!(e["len"].as_u64().unwrap() > 1 << 20, "{e}");
    }
    let out = run_with_stdin(env.cmd(&["issue", "create", "Big", "-d", "-"]), big);
    assert!(human_error(&out, 1).contains("description is too long"));
    let out = run_with_stdin(
        env.cmd(&["issue", "create", "Bytes", "-d", "-", "--json"]),
        b"\xff\xfe".to_vec(),
    );
    json_error(&out, 1, "INVALID_ARGUMENT");
    assert_unchanged(&env, &before);
}

#[test]
fn context_must_be_key_equals_json_and_an_update_must_change_something() {
    let env = TestEnv::new();
    let id = env.create("Context");
    let before = env.issue_files();
    for kv in ["pr=not json", "pr={", "no-equals-sign", "=1", "pr="] {
        let e = json_fail(&env, &["issue", "update", &id, "--context", kv], 1, "INVALID_ARGUMENT");
        assert!(e["message"].as_str().unwrap().contains("context"), "{kv}: {e}");
    }
    let e = json_fail(&env, &["issue", "update", &id], 1, "INVALID_ARGUMENT");
    assert!(e["message"].as_str().unwrap().contains("nothing to change"), "{e}");
    let stderr = human_fail(&env, &["issue", "update", &id], 1);
    assert!(stderr.contains("--state"), "the message lists the change flags: {stderr}");
    assert_unchanged(&env, &before);
}

/// Whether this process runs as root (which ignores permission bits).
fn is_root() -> bool {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|l| l.starts_with("Uid:"))
    {
        return line.split_whitespace().nth(2) == Some("0");
    }
    let out = Command::new("id").arg("-u").output().expect("run `id -u`");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Directories 755 and files 644 under (and including) `dir`.
fn chmod_tree(dir: &Path) {
    chmod(dir, 0o755);
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            chmod_tree(&e.path());
        } else {
            chmod(&e.path(), 0o644);
        }
    }
}

/// Makes `.jit/` and `.jit/issues/` writable again when the test ends, however it ends.
struct ReadOnly(Vec<PathBuf>);

impl Drop for ReadOnly {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755));
        }
    }
}

#[test]
fn a_read_only_store_refuses_writes_with_permission_denied() {
    // As root, permission bits are ignored: the test drops privileges with setpriv.
    if is_root() && !have_tool("setpriv", "util-linux") {
        return;
    }
    let env = TestEnv::new();
    let id = env.create("Read only");
    env.ok(&["issue", "list"]);
    chmod_tree(env.path());
    // The binary is copied next to the repository so an unprivileged user can surely run it.
    let bin_dir = tempfile::tempdir().unwrap();
    chmod(bin_dir.path(), 0o755);
    let bin = bin_dir.path().join("jit");
    std::fs::copy(jit_bin(), &bin).unwrap();
    chmod(&bin, 0o755);
    let _guard = ReadOnly(vec![env.issues_dir(), env.jit_dir()]);
    chmod(&env.jit_dir(), 0o555);
    chmod(&env.issues_dir(), 0o555);
    let root = is_root();
    let run = |args: &[&str]| {
        let mut c = if root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        for v in JIT_VARS {
            c.env_remove(v);
        }
        c.args(args).current_dir(env.path()).stdin(Stdio::null());
        c.output().unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}; running as root, this test drops privileges with \
                 setpriv from util-linux (install util-linux)",
                if root { "setpriv" } else { "jit" }
            )
        })
    };
    // Reading needs no write access; this also proves the unprivileged user can reach the
    // repository at all, so the failures below are about writing.
    let out = run(&["issue", "list", "--json"]);
    assert!(
        out.status.success(),
        "an unprivileged user cannot read the test repository (is TMPDIR world-traversable?): {}",
        describe(&out)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["id"], json!(id));
    let before = env.issue_files();
    for args in [
        &["issue", "create", "Refused", "--json"][..],
        &["issue", "update", &id, "-p", "high", "--json"],
        &["issue", "delete", &id, "--yes", "--json"],
    ] {
        let e = json_error(&run(args), 74, "PERMISSION_DENIED");
        assert!(e["hint"].as_str().unwrap().contains("permissions"), "{e}");
        assert!(e["path"].as_str().is_some_and(|p| p.contains(".jit")), "{e}");
    }
    let stderr = human_error(&run(&["issue", "create", "Refused"]), 74);
    assert!(stderr.contains("hint: check the permissions"), "{stderr}");
    assert_unchanged(&env, &before);
}

#[test]
fn a_full_disk_fails_every_write_and_changes_nothing() {
    let env = TestEnv::new();
    let a = env.create("Dependency");
    let b = env.create("Dependent");
    set_field(&issue_path(&env, &b), "dependencies", json!([a]));
    let before = env.issue_files();
    let enospc = |args: &[&str]| {
        let mut c = env.cmd(args);
        c.arg("--json").env("JIT_TEST_FAULT", "enospc");
        c.output().unwrap()
    };
    for args in [
        &["issue", "create", "No room"][..],
        &["issue", "update", &a, "-p", "high", "--add-label", "type:bug"],
        // Deleting `a` also rewrites `b`: a journalled multi-file change.
        &["issue", "delete", &a, "--yes"],
    ] {
        let e = json_error(&enospc(args), 74, "DISK_FULL");
        assert!(e["hint"].as_str().unwrap().contains("nothing was changed"), "{e}");
        assert_unchanged(&env, &before);
        let journal = env.jit_dir().join("journal");
        if journal.exists() {
            let left: Vec<_> = std::fs::read_dir(&journal).unwrap().collect();
            assert!(left.is_empty(), "journal records left after {args:?}: {left:?}");
        }
    }
    let mut c = env.cmd(&["issue", "create", "No room"]);
    c.env("JIT_TEST_FAULT", "enospc");
    assert!(human_error(&c.output().unwrap(), 74).contains("hint: free some disk space"));
    // The store is not wedged: the same writes succeed once there is room.
    assert_eq!(env.json(&["issue", "update", &a, "-p", "high"])["version"], 2);
    env.json(&["issue", "delete", &a, "--yes"]);
    assert_eq!(env.json(&["issue", "show", &b])["dependencies"], json!([]));
}

/// A process outside jit holding the writers' lock, which is on the `.jit` directory
/// (util-linux `flock` running `cat`, which holds on until its stdin closes). Dropping it
/// releases the lock.
pub(crate) struct LockHolder {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl LockHolder {
    pub(crate) fn hold(lock: &Path) -> LockHolder {
        let mut child = Command::new("flock")
            .arg(lock)
            .arg("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("run flock (util-linux)");
        let stdin = child.stdin.take();
        let mut holder = LockHolder { child, stdin };
        // Wait until it holds the lock: a non-blocking attempt from outside then fails.
        for _ in 0..3000 {
            if let Ok(Some(status)) = holder.child.try_wait() {
                panic!("flock exited ({status}) before taking {}", lock.display());
            }
            let free = Command::new("flock").arg("-n").arg(lock).arg("true").status().unwrap();
            if !free.success() {
                return holder;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("flock never took {}", lock.display());
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

#[test]
fn a_held_lock_times_out_with_lock_timeout() {
    if !have_tool("flock", "util-linux") {
        return;
    }
    let env = TestEnv::new();
    let id = env.create("Locked");
    // A config default far above the timeouts given below, so a result of about 200 ms
    // shows that the flag and the variable were obeyed.
    set_field(&env.jit_dir().join("config.json"), "lock_timeout_ms", json!(600_000));
    let before = env.issue_files();
    let holder = LockHolder::hold(&env.jit_dir());
    let timed_out = |c: &mut Command| {
        let e = json_error(&c.output().unwrap(), 75, "LOCK_TIMEOUT");
        let waited = e["waited_ms"].as_u64().unwrap();
        assert!((200..600_000).contains(&waited), "waited {waited} ms: {e}");
        assert!(e["hint"].as_str().unwrap().contains("--timeout-ms"), "{e}");
        // lock.info names the last jit holder, which has exited: the message must not blame it.
        let holder = e["holder"].as_str().unwrap_or_default();
        assert!(holder.starts_with("another program"), "{e}");
    };
    for args in [
        &["issue", "create", "Blocked", "--json"][..],
        &["issue", "update", &id, "-p", "high", "--json"],
        &["issue", "delete", &id, "--yes", "--json"],
    ] {
        timed_out(env.cmd(&["--timeout-ms", "200"]).args(args));
        timed_out(env.cmd(args).env("JIT_LOCK_TIMEOUT_MS", "200"));
        assert_unchanged(&env, &before);
    }
    let mut c = env.cmd(&["--timeout-ms", "200", "issue", "create", "Blocked"]);
    let stderr = human_error(&c.output().unwrap(), 75);
    assert!(stderr.contains("waiting for the repository lock"), "{stderr}");
    drop(holder);
    env.create("After the holder let go");
    assert_eq!(env.issue_files().len(), before.len() + 1);
}

/// A valid id: `time` (10 characters of Crockford base32) and 16 more from `n`.
fn synthetic_id(time: &str, n: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut tail = [b'0'; 16];
    let mut v = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n;
    for c in tail.iter_mut().rev() {
        *c = ALPHABET[(v % 32) as usize];
        v /= 32;
    }
    format!("{time}{}", std::str::from_utf8(&tail).unwrap())
}

#[test]
fn a_closed_stdout_is_a_quiet_success() {
    let env = TestEnv::new();
    let seed = env.create("The one made by jit");
    let template: Value =
        serde_json::from_slice(&std::fs::read(issue_path(&env, &seed)).unwrap()).unwrap();
    for n in 0..2000u64 {
        let id = synthetic_id(&seed[..10], n);
        let mut v = template.clone();
        v["id"] = json!(id);
        let title =
            format!("issue number {n}, written by hand {}", "to make a long list ".repeat(6));
        v["title"] = json!(title);
        let mut bytes = serde_json::to_vec_pretty(&v).unwrap();
        bytes.push(b'\n');
        std::fs::write(issue_path(&env, &id), bytes).unwrap();
    }
    assert_eq!(env.issue_files().len(), 2001, "the synthetic ids are distinct");
    let full = env.ok(&["issue", "list"]);
    assert_eq!(full.lines().count(), 2002, "every hand-written issue is listed");
    assert!(full.len() > 4 * 65536, "the listing must overflow a pipe buffer");
    for (args, json) in [(&["issue", "list"][..], false), (&["issue", "list", "--json"], true)] {
        let mut c = env.cmd(args);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        if json {
            let mut start = [0u8; 8];
            reader.read_exact(&mut start).unwrap();
            assert!(start.starts_with(b"[{\"id\""), "{}", String::from_utf8_lossy(&start));
        } else {
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            assert!(first.starts_with("ID "), "{first}");
        }
        drop(reader);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        assert!(out.stderr.is_empty(), "stderr must stay quiet: {}", describe(&out));
    }
}

#[test]
fn human_errors_go_to_stderr_and_json_errors_to_stdout() {
    let env = TestEnv::new();
    let out = env.run(&["issue", "create", "t", "-p", "urgnt"]);
    let stderr = human_error(&out, 1);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert_eq!(lines[0], "error: unknown priority `urgnt`");
    assert_eq!(lines[1], "hint: allowed: low, normal, high, critical");
    // An error without a hint prints no hint line.
    let stderr = human_fail(&env, &["issue", "create", ""], 1);
    assert_eq!(stderr, "error: the title is empty\n");
    // JSON: one object on stdout, with code, message and hint (null when there is none).
    let out = env.run(&["issue", "create", "", "--json"]);
    let e = json_error(&out, 1, "INVALID_TITLE");
    assert_eq!(e, json!({"code": "INVALID_TITLE", "message": "the title is empty", "hint": null}));
    let out = env.run(&["issue", "create", "t", "-p", "urgnt", "--json"]);
    let e = json_error(&out, 1, "INVALID_PRIORITY");
    assert_eq!(e["message"], "unknown priority `urgnt`");
    assert!(e["hint"].as_str().unwrap().contains("allowed: low, normal, high, critical"));
    // A usage error from the argument parser follows the same JSON shape.
    let e = json_error(&env.run(&["issue", "frobnicate", "--json"]), 2, "USAGE");
    assert!(e["message"].as_str().unwrap().contains("frobnicate"), "{e}");
}

#[test]
fn usage_errors_on_a_pipe_are_plain_text() {
    let env = TestEnv::new();
    let stderr = human_error(&env.run(&["issue", "frobnicate"]), 2);
    assert!(stderr.contains("frobnicate") && !stderr.contains('\x1b'), "{stderr:?}");
}

#[test]
fn outside_a_repository_every_command_says_how_to_make_one() {
    let env = TestEnv::bare();
    for args in [
        &["issue", "list"][..],
        &["issue", "create", "Nowhere"],
        &["issue", "show", "01jx"],
        &["issue", "update", "01jx", "-p", "high"],
    ] {
        let e = json_fail(&env, args, 3, "REPO_NOT_FOUND");
        assert!(e["hint"].as_str().unwrap().contains("jit init"), "{e}");
        let stderr = human_fail(&env, args, 3);
        assert!(stderr.contains("no jit repository found"), "{stderr}");
        assert!(stderr.contains("\nhint: run `jit init`"), "{stderr}");
    }
    assert!(!env.jit_dir().exists(), "a failed command creates no repository");
    // Searching upwards says so; a named repository is looked for there only.
    let stderr = human_fail(&env, &["issue", "list"], 3);
    assert!(stderr.contains("or any parent directory"), "{stderr}");
    let named = env.path().join("nowhere");
    let stderr = human_fail(&env, &["--repo", named.to_str().unwrap(), "issue", "list"], 3);
    assert!(stderr.contains("found in") && !stderr.contains("parent"), "{stderr}");
}

#[test]
fn a_bad_or_newer_config_is_refused_and_left_alone() {
    let env = TestEnv::new();
    let config = env.jit_dir().join("config.json");
    for (bytes, says) in [
        (&b"{ not json"[..], "key must be a string"),
        (&b"{\"schema\": 2}\n"[..], "newer jit"),
        (&b"{\"schema\": 3, \"durability\": {\"mode\": \"full\"}}"[..], "newer jit"),
        (&b"{\"schema\": 1, \"bulk_confirm\": \"many\"}"[..], "invalid type"),
    ] {
        std::fs::write(&config, bytes).unwrap();
        let e = json_fail(&env, &["issue", "list"], 74, "CONFIG_INVALID");
        assert!(e["message"].as_str().unwrap().contains(says), "{e}");
        json_fail(&env, &["issue", "create", "x"], 74, "CONFIG_INVALID");
        // `init` neither replaces it with the defaults nor calls the repository fine.
        let e = json_fail(&env, &["init"], 74, "CONFIG_INVALID");
        assert_eq!(e["path"], config.to_str().unwrap());
        assert_eq!(std::fs::read(&config).unwrap(), bytes, "the config is left as it is");
    }
    // Refused before anything is put back, and the message names the file.
    std::fs::remove_file(env.jit_dir().join(".gitignore")).unwrap();
    let stderr = human_fail(&env, &["init"], 74);
    let names = format!("error: invalid configuration in {}:", config.display());
    assert!(stderr.contains(&names), "{stderr}");
    assert!(stderr.contains("move it aside and run `jit init`"), "{stderr}");
    assert!(!env.jit_dir().join(".gitignore").exists(), "a failed init changes nothing");
}

#[test]
fn hostile_text_in_issue_files_is_shown_escaped_and_kept_exact_in_json() {
    let env = TestEnv::new();
    let dep = env.create("Dependency");
    let id = env.json(&["issue", "create", "Target", "--depends-on", &dep, "-s", "ready"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["gate", "define", "review", "--stage", "precheck", "--mode", "manual"]);
    env.ok(&["gate", "add", &id, "review"]);
    let note = "looks \u{1b}[31mfine\u{7}";
    env.ok(&["gate", "pass", &id, "review", "--by", "agent:x", "--note", note]);
    // A title, description and assignee no jit command accepts, as a hand edit or a merge
    // could leave them.
    let path = env.issues_dir().join(format!("{id}.json"));
    let mut issue: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let title = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J title \u{202e}txt.exe";
    issue["title"] = json!(title);
    issue["description"] = json!("line one\n\u{1b}[1A\u{1b}[2Kline two \u{2066}hidden\u{2069}");
    issue["assignee"] = json!("agent:\u{1b}[8m");
    std::fs::write(&path, serde_json::to_vec_pretty(&issue).unwrap()).unwrap();
    let commands: [&[&str]; 9] = [
        &["issue", "list"],
        &["issue", "show", &id],
        &["query", "evil"],
        &["ready"],
        &["blocked"],
        &["graph", "order"],
        &["graph", "export", "--format", "mermaid"],
        &["gate", "history", &id],
        &["issue", "list", "--fields", "id,title,assignee"],
    ];
    for args in commands {
        let out = env.run(args);
        assert!(out.status.code().is_some_and(|c| c < 2), "{args:?}: {}", describe(&out));
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.chars().any(|c| matches!(
                    c,
                    '\u{1b}' | '\u{7}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                )),
                "{args:?} {stream}: {text:?}"
            );
        }
    }
    let table = env.ok(&["issue", "list"]);
    assert!(table.contains("evil\\u{1b}]0;pwned\\u{7}"), "shown escaped: {table}");
    // Columns are measured on the escaped text, so they stay aligned.
    let col = table.lines().next().unwrap().find("TITLE").unwrap();
    for line in table.lines().skip(1) {
        let title = line.get(col..).unwrap_or("");
        assert!(title.starts_with("evil") || title.starts_with("Dependency"), "{table}");
    }
    // A line break in a title keeps its row on one line.
    issue["title"] = json!("first\nsecond\tthird");
    std::fs::write(&path, serde_json::to_vec_pretty(&issue).unwrap()).unwrap();
    let table = env.ok(&["issue", "list"]);
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.contains("first\\u{a}second\\u{9}third"), "{table}");
    let blocked = env.ok(&["blocked"]);
    assert!(blocked.lines().next().unwrap().ends_with("first\\u{a}second\\u{9}third"), "{blocked}");
    issue["title"] = json!(title);
    std::fs::write(&path, serde_json::to_vec_pretty(&issue).unwrap()).unwrap();
    // --json keeps the exact text.
    let shown = env.json(&["issue", "show", &id]);
    assert_eq!((&shown["title"], &shown["assignee"]), (&json!(title), &json!("agent:\u{1b}[8m")));
    assert_eq!(shown["gates"]["review"]["runs"][0]["note"], json!(note));
}

/// Some editors start a file with a UTF-8 byte-order mark. jit reads such issue files and
/// config.json as if it were not there, and never writes one back.
#[test]
fn a_utf8_byte_order_mark_is_ignored_on_read_and_not_written_back() {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let env = TestEnv::new();
    let id = env.create("saved by an editor");
    let other = env.create("untouched");
    let path = issue_path(&env, &id);
    let plain = std::fs::read(&path).unwrap();
    let shown = env.json(&["issue", "show", &id]);
    std::fs::write(&path, [BOM, &plain].concat()).unwrap();

    assert_eq!(env.json(&["issue", "show", &id]), shown);
    let out = env.run(&["issue", "list"]);
    assert_success(&out, &["issue", "list"]);
    assert!(out.stderr.is_empty(), "no file is skipped: {}", describe(&out));
    let listed = env.json(&["query", "title:editor"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    env.ok(&["issue", "update", &id, "--priority", "high"]);
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"{\n"), "written back without the mark: {:?}", &bytes[..8]);
    assert_eq!(env.json(&["issue", "show", &id])["priority"], "high");

    // config.json with a mark: every command that reads it works, and reads what it says.
    let config = env.jit_dir().join("config.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    v["bulk_confirm"] = json!(1);
    let text = serde_json::to_vec_pretty(&v).unwrap();
    std::fs::write(&config, [BOM, &text].concat()).unwrap();
    env.ok(&["issue", "create", "after the config edit"]);
    let e = json_fail(
        &env,
        &["issue", "bulk-update", "--filter", "is:open", "--priority", "low"],
        1,
        "BULK_CONFIRM_REQUIRED",
    );
    assert_eq!(e["matched"], 3, "the threshold of 1 was read through the mark: {e}");
    assert!(std::fs::read(&config).unwrap().starts_with(BOM), "jit did not rewrite it");
    assert_eq!(env.json(&["issue", "show", &other])["priority"], "normal");

    // A file saved as UTF-16 is refused, and the error says why.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(String::from_utf8(plain).unwrap().encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    std::fs::write(&path, &utf16).unwrap();
    let e = json_fail(&env, &["issue", "show", &id], 74, "CORRUPT_FILE");
    assert!(e["message"].as_str().unwrap().contains("starts with a UTF-16 byte-order mark"), "{e}");
    std::fs::write(&config, [&[0xFE, 0xFF][..], &text].concat()).unwrap();
    let e = json_fail(&env, &["issue", "list"], 74, "CONFIG_INVALID");
    assert!(e["message"].as_str().unwrap().contains("UTF-16 byte-order mark"), "{e}");
}
