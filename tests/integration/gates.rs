//! Gates end to end: the registry (`gate define|list|show|remove`), gates on issues
//! (`gate add|rm|pass|fail|history`), prechecks guarding in_progress and readiness, postchecks
//! guarding done (and the move to `gated`), automated runs (exit status, output tail, missing
//! command, huge output, timeout killing the process group, environment, cwd, stdin), the
//! lock being free while a gate runs, and bulk updates past unpassed gates.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

/// `jit gate define NAME OPTS... --json [-- COMMAND...]`. `--json` must come before `--`:
/// everything after it belongs to the gate's command.
fn define_args<'a>(name: &'a str, opts: &[&'a str], command: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["gate", "define", name];
    args.extend_from_slice(opts);
    args.push("--json");
    if !command.is_empty() {
        args.push("--");
        args.extend_from_slice(command);
    }
    args
}

fn define(env: &TestEnv, name: &str, opts: &[&str], command: &[&str]) -> Value {
    let out = env.ok(&define_args(name, opts, command));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}): {out}"))
}

fn manual(env: &TestEnv, name: &str, stage: &str) {
    define(env, name, &["--stage", stage, "--mode", "manual"], &[]);
}

/// An automated gate run through `sh -c SCRIPT`.
fn shell_gate(env: &TestEnv, name: &str, stage: &str, timeout_s: &str, script: &str) {
    define(
        env,
        name,
        &["--stage", stage, "--mode", "auto", "--timeout-s", timeout_s, "--shell"],
        &[script],
    );
}

/// Run with `--json` and exactly this exit code; parse stdout (a result or an error object).
fn json_with_code(env: &TestEnv, args: &[&str], code: i32) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = env.run(&all);
    assert_eq!(out.status.code(), Some(code), "{all:?}: {}", describe(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", describe(&out)))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn issue_bytes(env: &TestEnv, id: &str) -> Vec<u8> {
    std::fs::read(env.issues_dir().join(format!("{id}.json"))).unwrap()
}

fn config_bytes(env: &TestEnv) -> Vec<u8> {
    std::fs::read(env.jit_dir().join("config.json")).unwrap()
}

fn show(env: &TestEnv, id: &str) -> Value {
    env.json(&["issue", "show", id])
}

/// A new issue in `state` (reached through the allowed transitions).
fn issue_in(env: &TestEnv, title: &str, state: &str) -> String {
    let id = env.json(&["issue", "create", title, "--state", "ready"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    if state == "in_progress" {
        env.ok(&["issue", "update", &id, "--state", "in_progress"]);
    }
    id
}

fn ids_of(v: &Value) -> BTreeSet<String> {
    v.as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_string()).collect()
}

fn gate_names(err: &Value) -> BTreeSet<(String, String)> {
    err["gates"]
        .as_array()
        .unwrap_or_else(|| panic!("no gates in {err}"))
        .iter()
        .map(|g| (g["name"].as_str().unwrap().into(), g["status"].as_str().unwrap().into()))
        .collect()
}

fn pairs(xs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    xs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// Is a process with this pid still running (a zombie waiting to be reaped counts as gone)?
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state =
                stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z' | 'X'))
        }
    }
}

/// Wait (briefly) for a killed process to disappear; kill it ourselves if it survived.
fn assert_gone(pid: u32) {
    for _ in 0..200 {
        if !alive(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::process::Command::new("kill").arg("-9").arg(pid.to_string()).status();
    panic!("process {pid}, started by a gate command, outlived the gate");
}

fn read_pid(path: &Path) -> u32 {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the gate command did not write {}: {e}", path.display()));
    text.trim().parse().unwrap_or_else(|e| panic!("bad pid {text:?}: {e}"))
}

/// Wait for a file a gate command creates (the test cannot go on without it).
fn wait_for_file(path: &Path, child: &mut Child) {
    while !path.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the gate run ended ({status}) before {} appeared", path.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn define_list_show_and_remove() {
    let env = TestEnv::new();
    let review = define(
        &env,
        "review",
        &["--stage", "postcheck", "--mode", "manual", "--description", "Code review"],
        &[],
    );
    assert_eq!(
        review,
        json!({"name": "review", "stage": "postcheck", "mode": "manual",
               "description": "Code review", "timeout_s": 600})
    );
    let tests = define(
        &env,
        "tests",
        &["--stage", "postcheck", "--mode", "auto", "--timeout-s", "30"],
        &["cargo", "test", "--quiet"],
    );
    assert_eq!(
        tests["command"],
        json!(["cargo", "test", "--quiet"]),
        "words after -- are the command"
    );
    assert_eq!(tests["timeout_s"], 30);
    assert_eq!(tests.get("shell"), None);
    let lint = define(
        &env,
        "lint",
        &["--stage", "precheck", "--mode", "auto", "--shell"],
        &["cargo fmt --check && cargo clippy"],
    );
    assert_eq!((lint["shell"].clone(), lint["stage"].clone()), (json!(true), json!("precheck")));
    let on_disk: Value = serde_json::from_slice(&config_bytes(&env)).unwrap();
    assert_eq!(on_disk["gates"]["tests"]["command"], json!(["cargo", "test", "--quiet"]));

    // Refusals leave config.json as it was.
    let config = config_bytes(&env);
    let e = json_with_code(
        &env,
        &["gate", "define", "review", "--stage", "precheck", "--mode", "manual"],
        4,
    );
    assert_eq!(e["error"]["code"], "GATE_EXISTS");
    let e =
        json_with_code(&env, &["gate", "define", "x", "--stage", "postcheck", "--mode", "auto"], 1);
    assert_eq!(e["error"]["code"], "INVALID_ARGUMENT");
    let out = env.run(&[
        "gate",
        "define",
        "y",
        "--stage",
        "postcheck",
        "--mode",
        "manual",
        "--json",
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let e = json_with_code(
        &env,
        &["gate", "define", "z", "--stage", "postchek", "--mode", "manual"],
        1,
    );
    assert_eq!(
        (e["error"]["code"].clone(), e["error"]["suggestion"].clone()),
        (json!("INVALID_VALUE"), json!("postcheck"))
    );
    let e = json_with_code(
        &env,
        &["gate", "define", "Bad Name", "--stage", "precheck", "--mode", "manual"],
        1,
    );
    assert_eq!(e["error"]["code"], "INVALID_ARGUMENT");
    assert_eq!(config_bytes(&env), config);
    let replaced =
        define(&env, "review", &["--stage", "precheck", "--mode", "manual", "--replace"], &[]);
    assert_eq!(replaced["stage"], "precheck");
    assert_ne!(config_bytes(&env), config);

    let list = env.json(&["gate", "list"]);
    let names: Vec<&str> =
        list.as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["lint", "review", "tests"]);
    assert_eq!(list[2], env.json(&["gate", "show", "tests"]), "what `gate show` prints");
    let text = env.ok(&["gate", "list"]);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("tests") && l.contains("cargo test --quiet")),
        "{text}"
    );

    let shown = env.json(&["gate", "show", "tests"]);
    assert_eq!(shown, tests);
    let e = env.json_err(&["gate", "show", "tets"], 3);
    assert_eq!(e["code"], "GATE_UNKNOWN");
    assert_eq!(e["suggestion"], "tests");
    let out = env.run(&["gate", "show", "tets"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("hint: did you mean `tests`?"), "{}", describe(&out));

    // A gate that issues carry is not removed unless --force, which detaches it.
    let id = env.create("Carrier");
    env.ok(&["gate", "add", &id, "tests"]);
    let (config, issue) = (config_bytes(&env), issue_bytes(&env, &id));
    let e = env.json_err(&["gate", "remove", "tests"], 4);
    assert_eq!(e["code"], "GATE_IN_USE");
    assert_eq!((config_bytes(&env), issue_bytes(&env, &id)), (config, issue));
    let version = show(&env, &id)["version"].as_u64().unwrap();
    let out = env.json(&["gate", "remove", "tests", "--force"]);
    assert_eq!(out, json!({"removed": "tests", "detached_from": [id]}));
    let after = show(&env, &id);
    assert_eq!(after["gates"], json!({}));
    assert_eq!(after["version"].as_u64().unwrap(), version + 1);
    assert!(!env.json(&["gate", "list"]).as_array().unwrap().iter().any(|g| g["name"] == "tests"));
    assert_eq!(std::fs::read_dir(env.jit_dir().join("journal")).unwrap().count(), 0);
    assert_eq!(env.json(&["gate", "remove", "lint"])["detached_from"], json!([]));
    let e = env.json_err(&["gate", "remove", "lint"], 3);
    assert_eq!(e["code"], "GATE_UNKNOWN");
}

#[test]
fn add_rm_pass_fail_and_history() {
    let env = TestEnv::fixed();
    manual(&env, "review", "postcheck");
    manual(&env, "design", "precheck");
    manual(&env, "security", "postcheck");
    let id = env.create("Gated work");

    let v = env.json(&["gate", "add", &id, "review", "design"]);
    assert_eq!(
        v["gates"],
        json!({"design": {"status": "pending"}, "review": {"status": "pending"}})
    );
    assert_eq!(v["version"], 2);
    assert_eq!(env.json(&["gate", "add", &id, "review"])["version"], 2, "already attached");

    // Unknown names are refused and nothing is attached or detached.
    let before = issue_bytes(&env, &id);
    let e = env.json_err(&["gate", "add", &id, "security", "reveiw"], 3);
    assert_eq!(
        (e["code"].clone(), e["suggestion"].clone()),
        (json!("GATE_UNKNOWN"), json!("review"))
    );
    let e = env.json_err(&["gate", "rm", &id, "desing"], 3);
    assert_eq!(
        (e["code"].clone(), e["suggestion"].clone()),
        (json!("GATE_UNKNOWN"), json!("design"))
    );
    assert_eq!(issue_bytes(&env, &id), before);
    let e = env.json_err(&["gate", "pass", &id, "security"], 1);
    assert_eq!(e["code"], "GATE_NOT_ATTACHED");
    let e = env.json_err(&["gate", "add", "0000", "review"], 3);
    assert_eq!(e["code"], "ISSUE_NOT_FOUND");
    assert_eq!(issue_bytes(&env, &id), before);

    let v = env.json(&["gate", "pass", &id, "review", "--by", "alice", "--note", "LGTM"]);
    assert_eq!(v["gates"]["review"]["status"], "passed");
    let v = env.json(&["gate", "fail", &id, "review", "--by", "bob", "--note", "needs work"]);
    assert_eq!(v["gates"]["review"]["status"], "failed");
    let h = env.json(&["gate", "history", &id]);
    assert_eq!(h["id"], json!(id));
    assert_eq!(h["gates"]["design"], json!({"status": "pending", "runs": []}));
    assert_eq!(
        h["gates"]["review"],
        json!({"status": "failed", "runs": [
            {"status": "passed", "at": "2026-01-02T03:04:05.000000Z", "by": "alice", "note": "LGTM"},
            {"status": "failed", "at": "2026-01-02T03:04:05.000000Z", "by": "bob", "note": "needs work"},
        ]})
    );
    let text = env.ok(&["gate", "history", &id]);
    assert!(text.contains("review: failed\n"), "{text}");
    assert!(text.contains("passed by alice: LGTM"), "{text}");
    assert!(text.contains("failed by bob: needs work"), "{text}");
    let q = |expr: &str| ids_of(&env.json(&["query", expr]));
    assert_eq!(q("gate:review:failed"), [id.clone()].into());
    assert_eq!(q("gate:review:passed"), BTreeSet::new());
    assert_eq!(q("gate:design:pending"), [id.clone()].into());

    let v = env.json(&["gate", "rm", &id, "review"]);
    assert_eq!(v["gates"], json!({"design": {"status": "pending"}}));
    assert_eq!(q("gate:review"), BTreeSet::new());
    // A gate attached by hand that is not in the registry can still be detached.
    let path = env.issues_dir().join(format!("{id}.json"));
    let mut raw: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    raw["gates"]["ghost"] = json!({"status": "pending"});
    std::fs::write(&path, serde_json::to_vec_pretty(&raw).unwrap()).unwrap();
    let v = env.json(&["gate", "rm", &id, "ghost"]);
    assert_eq!(v["gates"], json!({"design": {"status": "pending"}}));
}

#[test]
fn prechecks_guard_the_start_of_work_and_readiness() {
    let env = TestEnv::new();
    manual(&env, "design", "precheck");
    manual(&env, "review", "postcheck");
    shell_gate(&env, "lint", "precheck", "60", "echo linting; test -e lint-ok");
    let id = issue_in(&env, "Needs design", "ready");
    let other = issue_in(&env, "Only a postcheck", "ready");
    env.ok(&["gate", "add", &other, "review"]);
    env.ok(&["gate", "add", &id, "design"]);
    let ready = || ids_of(&env.json(&["ready"]));
    let is_ready = || ids_of(&env.json(&["query", "is:ready"]));
    assert_eq!(ready(), [other.clone()].into(), "a pending postcheck does not hold work back");
    assert_eq!(is_ready(), ready());

    let before = issue_bytes(&env, &id);
    let e = env.json_err(&["issue", "update", &id, "--state", "in_progress"], 4);
    assert_eq!(e["code"], "GATES_NOT_PASSED");
    assert_eq!(gate_names(&e), pairs(&[("design", "pending")]));
    assert_eq!((e["to"].clone(), e["state"].clone()), (json!("in_progress"), Value::Null));
    assert!(e["message"].as_str().unwrap().contains("design (pending)"), "{e}");
    assert_eq!(issue_bytes(&env, &id), before, "a refused start writes nothing");
    let out = env.run(&["issue", "update", &id, "--state", "in_progress"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("design (pending)"), "{}", describe(&out));

    env.ok(&["gate", "fail", &id, "design"]);
    let e = env.json_err(&["issue", "update", &id, "--state", "in_progress"], 4);
    assert_eq!(gate_names(&e), pairs(&[("design", "failed")]));
    assert!(!ready().contains(&id));

    env.ok(&["gate", "pass", &id, "design"]);
    assert!(ready().contains(&id));
    assert_eq!(is_ready(), ready());

    // An automated precheck runs on the way to in_progress; failing, it keeps the issue ready.
    env.ok(&["gate", "add", &id, "lint"]);
    // Not trusted on this machine, it could not run at the start, so it holds the issue.
    env.ok(&["gate", "untrust", "lint"]);
    assert!(!ready().contains(&id));
    assert_eq!(is_ready(), ready());
    // Trusted, it runs when the issue starts: until it has run, it holds nothing back.
    env.ok(&["gate", "trust", "lint"]);
    assert!(ready().contains(&id));
    assert_eq!(is_ready(), ready());
    let e = env.json_err(&["issue", "update", &id, "--state", "in_progress"], 4);
    assert_eq!(gate_names(&e), pairs(&[("lint", "failed")]));
    assert!(!ready().contains(&id), "a failed auto precheck holds the issue");
    assert_eq!(is_ready(), ready());
    let v = show(&env, &id);
    assert_eq!(v["state"], "ready");
    assert_eq!(v["gates"]["lint"]["runs"][0]["output"], "linting\n");
    assert_eq!(v["gates"]["lint"]["runs"][0]["exit_code"], 1);
    std::fs::write(env.path().join("lint-ok"), "").unwrap();
    let v = env.json(&["issue", "update", &id, "--state", "in_progress"]);
    assert_eq!(v["state"], "in_progress");
    assert_eq!(v["gates"]["lint"]["status"], "passed");
    assert_eq!(v["gates"]["lint"]["runs"].as_array().unwrap().len(), 2);
}

#[test]
fn postchecks_guard_done_and_a_refused_done_is_gated() {
    let env = TestEnv::new();
    manual(&env, "review", "postcheck");
    shell_gate(&env, "check", "postcheck", "60", "test -e check-ok");
    let id = issue_in(&env, "Almost there", "ready");
    env.ok(&["gate", "add", &id, "review", "check"]);
    // Postchecks do not stand in the way of starting.
    env.ok(&["issue", "update", &id, "--state", "in_progress"]);

    let e = env.json_err(&["issue", "update", &id, "--state", "done"], 4);
    assert_eq!(e["code"], "GATES_NOT_PASSED");
    assert_eq!(e["state"], "gated");
    assert_eq!(e["to"], "done");
    assert_eq!(gate_names(&e), pairs(&[("check", "failed"), ("review", "pending")]));
    assert!(e["hint"].as_str().unwrap().contains("gated"), "{e}");
    let v = show(&env, &id);
    assert_eq!(v["state"], "gated");
    assert_eq!(v["closed_at"], Value::Null);
    let runs = &v["gates"]["check"]["runs"];
    assert_eq!(runs.as_array().unwrap().len(), 1, "the auto postcheck ran: {v}");
    assert_eq!((runs[0]["status"].clone(), runs[0]["by"].clone()), (json!("failed"), json!("jit")));
    assert_eq!(v["gates"]["review"]["runs"], Value::Null, "manual gates never run");

    // Still refused from gated, in human form too; the auto gate runs again.
    let out = env.run(&["issue", "update", &id, "--state", "done"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("review (pending)") && err.contains("check (failed)"), "{err}");
    assert_eq!(show(&env, &id)["gates"]["check"]["runs"].as_array().unwrap().len(), 2);

    // One passed, one not: still not done, and the error names only what is missing.
    std::fs::write(env.path().join("check-ok"), "").unwrap();
    let e = env.json_err(&["issue", "update", &id, "--state", "done"], 4);
    assert_eq!(gate_names(&e), pairs(&[("review", "pending")]));
    assert_eq!(show(&env, &id)["gates"]["check"]["status"], "passed");

    env.ok(&["gate", "pass", &id, "review", "--by", "alice"]);
    let v = env.json(&["issue", "update", &id, "--state", "done"]);
    assert_eq!(v["state"], "done");
    assert!(v["closed_at"].is_string());
    // A passed auto gate is not run again.
    assert_eq!(v["gates"]["check"]["runs"].as_array().unwrap().len(), 3);
}

#[test]
fn auto_gates_pass_fail_or_cannot_start() {
    let env = TestEnv::new();
    define(&env, "ok", &["--stage", "postcheck", "--mode", "auto"], &["true"]);
    shell_gate(&env, "bad", "postcheck", "60", "echo to-stdout; echo to-stderr >&2; exit 3");
    define(
        &env,
        "nope",
        &["--stage", "postcheck", "--mode", "auto"],
        &["jit-test-no-such-command"],
    );
    define(
        &env,
        "args",
        &["--stage", "postcheck", "--mode", "auto"],
        &["printf", "%s|", "a b", "$HOME", "*"],
    );
    manual(&env, "review", "postcheck");
    define(&env, "spare", &["--stage", "postcheck", "--mode", "auto"], &["true"]);
    let id = issue_in(&env, "Run gates", "in_progress");
    env.ok(&["gate", "add", &id, "ok", "bad", "nope", "args", "review"]);

    let v = env.json(&["gate", "run", &id, "ok"]);
    let r = &v["results"][0];
    assert_eq!((r["gate"].clone(), r["status"].clone()), (json!("ok"), json!("passed")));
    assert_eq!((r["exit_code"].clone(), r["recorded"].clone()), (json!(0), json!(true)));
    assert_eq!(r["timed_out"], false);
    assert_eq!(show(&env, &id)["gates"]["ok"]["status"], "passed");

    let v = json_with_code(&env, &["gate", "run", &id, "bad"], 1);
    let r = &v["results"][0];
    assert_eq!((r["status"].clone(), r["exit_code"].clone()), (json!("failed"), json!(3)));
    let output = r["output"].as_str().unwrap();
    assert!(output.contains("to-stdout") && output.contains("to-stderr"), "{output}");
    let run = &show(&env, &id)["gates"]["bad"]["runs"][0];
    assert_eq!((run["exit_code"].clone(), run["by"].clone()), (json!(3), json!("jit")));
    assert!(run["output"].as_str().unwrap().contains("to-stderr"), "{run}");
    let out = env.run(&["gate", "run", &id, "bad"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bad: failed (exit 3") && text.contains("    to-stderr"), "{text}");

    let v = json_with_code(&env, &["gate", "run", &id, "nope"], 1);
    let r = &v["results"][0];
    assert_eq!((r["status"].clone(), r["exit_code"].clone()), (json!("failed"), Value::Null));
    assert!(r["output"].as_str().unwrap().contains("cannot start"), "{r}");
    assert_eq!(show(&env, &id)["gates"]["nope"]["status"], "failed");

    // No shell: the words reach the command as they are.
    let v = env.json(&["gate", "run", &id, "args"]);
    assert_eq!(v["results"][0]["output"], "a b|$HOME|*|");

    // With no names, every attached auto gate runs (not the manual one, not unattached ones).
    let v = json_with_code(&env, &["gate", "run", &id], 1);
    let ran: BTreeSet<&str> =
        v["results"].as_array().unwrap().iter().map(|r| r["gate"].as_str().unwrap()).collect();
    assert_eq!(ran, ["args", "bad", "nope", "ok"].into());

    let e = env.json_err(&["gate", "run", &id, "review"], 1);
    assert_eq!(e["code"], "GATE_NOT_AUTO");
    let e = env.json_err(&["gate", "run", &id, "spare"], 1);
    assert_eq!(e["code"], "GATE_NOT_ATTACHED");
    let e = env.json_err(&["gate", "run", &id, "oops"], 3);
    assert_eq!(e["code"], "GATE_UNKNOWN");
}

#[test]
fn huge_output_is_kept_as_a_bounded_tail() {
    let env = TestEnv::new();
    shell_gate(&env, "flood", "postcheck", "300", "yes | head -c 50000000; echo THE-END");
    let id = issue_in(&env, "Noisy", "in_progress");
    env.ok(&["gate", "add", &id, "flood"]);
    let v = env.json(&["gate", "run", &id]);
    let output = v["results"][0]["output"].as_str().unwrap();
    assert!(output.len() <= 8 * 1024, "{} bytes of output kept", output.len());
    assert!(output.len() >= 1024, "the tail is kept: {output:?}");
    assert!(output.ends_with("THE-END\n"), "the end of the output is kept");
    // Only whole `y` lines before the marker (the cut may fall between a `y` and its newline).
    let body = output.trim_start_matches('\n').trim_end_matches("THE-END\n");
    assert!(body.lines().all(|l| l == "y"), "{output:?}");
    let recorded = show(&env, &id)["gates"]["flood"]["runs"][0]["output"].clone();
    assert_eq!(recorded, json!(output));
    let size = std::fs::metadata(env.issues_dir().join(format!("{id}.json"))).unwrap().len();
    assert!(size < 64 * 1024, "the issue file grew to {size} bytes");
}

#[test]
fn stdout_and_stderr_keep_the_order_they_were_written_in() {
    let env = TestEnv::new();
    // Alternating streams, each line flushed before the next is written.
    let script = "for i in 1 2 3 4 5 6 7 8 9 10; do echo out$i; echo err$i >&2; done; exit 1";
    shell_gate(&env, "chatty", "postcheck", "60", script);
    let id = issue_in(&env, "Chatty", "in_progress");
    env.ok(&["gate", "add", &id, "chatty"]);
    for _ in 0..5 {
        let v = json_with_code(&env, &["gate", "run", &id], 1);
        let want: String = (1..=10).map(|i| format!("out{i}\nerr{i}\n")).collect();
        assert_eq!(v["results"][0]["output"], json!(want));
    }
}

#[test]
fn a_timeout_kills_the_whole_process_group() {
    let env = TestEnv::new();
    // sh starts a long sleep in the background (a grandchild of jit) and waits for it.
    shell_gate(
        &env,
        "hang",
        "postcheck",
        "1",
        "sleep 300 >/dev/null 2>&1 & echo $! > grandchild.pid; echo started; wait",
    );
    let id = issue_in(&env, "Slow", "in_progress");
    env.ok(&["gate", "add", &id, "hang"]);
    let v = json_with_code(&env, &["gate", "run", &id], 1);
    let r = &v["results"][0];
    assert_eq!((r["status"].clone(), r["timed_out"].clone()), (json!("failed"), json!(true)));
    let output = r["output"].as_str().unwrap();
    assert!(output.contains("started") && output.contains("timeout"), "{output}");
    assert_gone(read_pid(&env.path().join("grandchild.pid")));
    let run = &show(&env, &id)["gates"]["hang"]["runs"][0];
    assert_eq!(run["timed_out"], true);

    // A command that succeeds but leaves a process behind does not leave it running either.
    shell_gate(
        &env,
        "litter",
        "postcheck",
        "60",
        "sleep 300 >/dev/null 2>&1 & echo $! > leftover.pid; exit 0",
    );
    env.ok(&["gate", "add", &id, "litter"]);
    let v = env.json(&["gate", "run", &id, "litter"]);
    assert_eq!(v["results"][0]["status"], "passed");
    assert_gone(read_pid(&env.path().join("leftover.pid")));
}

#[test]
fn a_process_that_leaves_the_group_cannot_hold_a_run_open() {
    if !have_tool("setsid", "util-linux") {
        return;
    }
    let env = TestEnv::new();
    // `setsid` puts the sleeper in a new session, out of the gate's process group, where the
    // group kill cannot reach it; it keeps the output pipe open for 60 s.
    // The gate waits for the sleeper to have left the group before it ends (else the group
    // kill could catch it before `setsid` ran).
    let daemon = "rm -f daemon.pid; setsid sh -c 'echo $$ > daemon.pid; exec sleep 60' & \
                  while [ ! -s daemon.pid ]; do sleep 0.01; done;";
    shell_gate(&env, "daemon", "postcheck", "30", &format!("{daemon} echo done; exit 0"));
    shell_gate(&env, "daemon-slow", "postcheck", "3", &format!("{daemon} echo started; sleep 60"));
    let id = issue_in(&env, "Daemonic", "in_progress");
    env.ok(&["gate", "add", &id, "daemon", "daemon-slow"]);
    for (gate, status, timed_out) in [("daemon", "passed", false), ("daemon-slow", "failed", true)]
    {
        let start = std::time::Instant::now();
        let out = env.run(&["gate", "run", &id, gate, "--json"]);
        let took = start.elapsed();
        let pid = read_pid(&env.path().join("daemon.pid"));
        let _ = std::process::Command::new("kill").arg("-9").arg(pid.to_string()).status();
        let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        let r = &v["results"][0];
        assert_eq!(
            (r["status"].clone(), r["timed_out"].clone()),
            (json!(status), json!(timed_out))
        );
        assert!(
            r["output"].as_str().unwrap().starts_with(if timed_out { "started" } else { "done" }),
            "{r}"
        );
        assert!(took < Duration::from_secs(20), "{gate}: the run took {took:?}");
    }
}

#[test]
fn gate_commands_see_the_issue_run_in_the_project_root_with_stdin_closed() {
    let env = TestEnv::new();
    let script = r#"echo "id=$JIT_ISSUE_ID gate=$JIT_GATE stage=$JIT_STAGE"; echo "cwd=$(pwd -P)""#;
    shell_gate(&env, "env-post", "postcheck", "60", script);
    shell_gate(&env, "env-pre", "precheck", "60", script);
    define(
        &env,
        "printenv",
        &["--stage", "postcheck", "--mode", "auto"],
        &["printenv", "JIT_ISSUE_ID", "JIT_GATE", "JIT_STAGE"],
    );
    let id = issue_in(&env, "Environment", "in_progress");
    env.ok(&["gate", "add", &id, "env-post", "env-pre", "printenv"]);
    let sub = env.path().join("deep/sub/dir");
    std::fs::create_dir_all(&sub).unwrap();
    let out = env.cmd(&["gate", "run", &id, "--json"]).current_dir(&sub).output().unwrap();
    assert_success(&out, &["gate", "run"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let output = |gate: &str| -> String {
        let r = v["results"].as_array().unwrap().iter().find(|r| r["gate"] == gate).unwrap();
        r["output"].as_str().unwrap().to_string()
    };
    let root = std::fs::canonicalize(env.path()).unwrap();
    assert_eq!(
        output("env-post"),
        format!("id={id} gate=env-post stage=postcheck\ncwd={}\n", root.display())
    );
    assert_eq!(
        output("env-pre"),
        format!("id={id} gate=env-pre stage=precheck\ncwd={}\n", root.display())
    );
    assert_eq!(output("printenv"), format!("{id}\nprintenv\npostcheck\n"));

    // jit's own stdin stays open and has a line waiting; the gate must see EOF, not that line.
    shell_gate(
        &env,
        "stdin",
        "postcheck",
        "60",
        r#"if read -r line; then echo "read: $line"; exit 1; else echo eof; fi"#,
    );
    env.ok(&["gate", "add", &id, "stdin"]);
    let mut child = env
        .cmd(&["gate", "run", &id, "stdin", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // If jit is already gone the write fails; that only happens when the gate did not wait
    // on this pipe, which is what the test wants.
    let _ = input.write_all(b"from-the-test\n");
    let out = child.wait_with_output().unwrap();
    drop(input);
    assert_success(&out, &["gate", "run", "stdin"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["results"][0]["output"], "eof\n");
}

#[test]
fn the_lock_is_free_while_a_gate_runs() {
    let env = TestEnv::new();
    // The gate says when it has started, then waits for the test to let it finish: the other
    // commands below certainly run while it is running, however slow the machine.
    shell_gate(
        &env,
        "slow",
        "postcheck",
        "300",
        "touch started; while [ ! -e release ]; do sleep 0.05; done; echo finished",
    );
    let id = issue_in(&env, "Long check", "in_progress");
    env.ok(&["gate", "add", &id, "slow"]);
    let started = env.path().join("started");
    let release = env.path().join("release");
    let spawn_run = || -> Child {
        env.cmd(&["gate", "run", &id, "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    let mut run = spawn_run();
    wait_for_file(&started, &mut run);
    let other = env.json(&["issue", "create", "Meanwhile", "--timeout-ms", "500"]);
    assert!(other["id"].is_string());
    // An unrelated edit of the same issue does not throw the run away, nor is it lost.
    env.json(&["issue", "update", &id, "--priority", "high", "--timeout-ms", "500"]);
    assert!(run.try_wait().unwrap().is_none(), "the gate finished before being released");
    std::fs::write(&release, "").unwrap();
    let out = run.wait_with_output().unwrap();
    assert_success(&out, &["gate", "run"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["results"][0]["status"], "passed");
    assert_eq!(v["results"][0]["recorded"], true);
    let after = show(&env, &id);
    assert_eq!(after["priority"], "high");
    assert_eq!(after["gates"]["slow"]["status"], "passed");
    assert_eq!(after["gates"]["slow"]["runs"][0]["output"], "finished\n");

    // A decision on the same gate while it runs wins: the run's result is not recorded.
    std::fs::remove_file(&started).unwrap();
    std::fs::remove_file(&release).unwrap();
    let mut run = spawn_run();
    wait_for_file(&started, &mut run);
    env.json(&["gate", "fail", &id, "slow", "--by", "alice", "--timeout-ms", "500"]);
    std::fs::write(&release, "").unwrap();
    let out = run.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["results"][0]["recorded"], false, "{v}");
    let after = show(&env, &id);
    assert_eq!(after["gates"]["slow"]["status"], "failed");
    let runs = after["gates"]["slow"]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["by"], "alice");
}

#[test]
fn bulk_update_reports_issues_held_back_by_gates() {
    let env = TestEnv::new();
    manual(&env, "review", "postcheck");
    manual(&env, "design", "precheck");
    let held = issue_in(&env, "Held", "in_progress");
    let passed = issue_in(&env, "Passed", "in_progress");
    let plain = issue_in(&env, "Plain", "in_progress");
    env.ok(&["gate", "add", &held, "review"]);
    env.ok(&["gate", "add", &passed, "review"]);
    env.ok(&["gate", "pass", &passed, "review"]);
    let held_bytes = issue_bytes(&env, &held);

    let dry = json_with_code(
        &env,
        &["issue", "bulk-update", "--filter", "state:in_progress", "--state", "done", "--dry-run"],
        1,
    );
    assert_eq!(dry["modified"], 2);
    let r = json_with_code(
        &env,
        &["issue", "bulk-update", "--filter", "state:in_progress", "--state", "done"],
        1,
    );
    assert_eq!((r["matched"].clone(), r["modified"].clone()), (json!(3), json!(2)));
    let errors = r["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{r}");
    assert_eq!(
        (errors[0]["id"].clone(), errors[0]["code"].clone()),
        (json!(held), json!("GATES_NOT_PASSED"))
    );
    assert!(errors[0]["message"].as_str().unwrap().contains("review (pending)"), "{r}");
    let changed: BTreeSet<String> =
        r["issue_ids"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().into()).collect();
    assert_eq!(changed, [passed.clone(), plain.clone()].into());
    assert_eq!(issue_bytes(&env, &held), held_bytes, "the held issue is left alone");
    for x in [&passed, &plain] {
        assert_eq!(show(&env, x)["state"], "done");
    }

    // Prechecks hold back a bulk start the same way.
    let waiting = issue_in(&env, "Waiting for design", "ready");
    let free = issue_in(&env, "Free", "ready");
    env.ok(&["gate", "add", &waiting, "design"]);
    let out =
        env.run(&["issue", "bulk-update", "--filter", "state:ready", "--state", "in_progress"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("GATES_NOT_PASSED")).unwrap_or_default();
    assert!(line.contains(&waiting) && line.contains("design (pending)"), "{text}");
    assert_eq!(show(&env, &waiting)["state"], "ready");
    assert_eq!(show(&env, &free)["state"], "in_progress");
}

#[test]
fn hand_edited_gate_definitions_do_not_crash_a_run() {
    let env = TestEnv::new();
    define(&env, "empty", &["--stage", "postcheck", "--mode", "auto"], &["true"]);
    define(
        &env,
        "forever",
        &["--stage", "postcheck", "--mode", "auto", "--timeout-s", "18446744073709551615"],
        &["true"],
    );
    let id = issue_in(&env, "Odd gates", "in_progress");
    env.ok(&["gate", "add", &id, "empty", "forever"]);
    // An auto gate whose command was deleted from config.json by hand.
    let path: PathBuf = env.jit_dir().join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["gates"]["empty"].as_object_mut().unwrap().remove("command");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();

    let v = json_with_code(&env, &["gate", "run", &id, "empty"], 1);
    assert_eq!(v["results"][0]["status"], "failed");
    assert!(v["results"][0]["output"].as_str().unwrap().contains("no command"), "{v}");
    let v = env.json(&["gate", "run", &id, "forever"]);
    assert_eq!(v["results"][0]["status"], "passed");
    let e = env.json_err(&["issue", "update", &id, "--state", "done"], 4);
    assert_eq!(gate_names(&e), pairs(&[("empty", "failed")]));
}

/// Readiness with auto prechecks, one rule for `ready` and `is:ready`: a pending auto precheck
/// that can run here does not hold an issue (it runs at the start); a failed one, a pending
/// manual one, an untrusted or invalid pending auto one, or a gate missing from the registry
/// does. A postcheck never does.
#[test]
fn an_auto_precheck_that_would_run_at_the_start_does_not_hold_readiness() {
    let env = TestEnv::new();
    shell_gate(&env, "fmt", "precheck", "60", "exit 0");
    let id = issue_in(&env, "Formatted", "ready");
    env.ok(&["gate", "add", &id, "fmt"]);
    let ready = || ids_of(&env.json(&["ready"]));
    let is_ready = || ids_of(&env.json(&["query", "is:ready"]));
    let not_ready = || ids_of(&env.json(&["query", "state:ready AND NOT is:ready"]));
    assert_eq!(ready(), [id.clone()].into());
    assert_eq!(is_ready(), ready());
    assert!(not_ready().is_empty());

    // The same definition written into config.json by hand (a clone): untrusted, so held.
    let path = env.jit_dir().join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["gates"]["fmt"]["timeout_s"] = json!(61);
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    assert!(ready().is_empty());
    assert_eq!(not_ready(), [id.clone()].into());
    // Invalid (timeout 0): held too, whatever the trust.
    config["gates"]["fmt"]["timeout_s"] = json!(0);
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let out = env.cmd(&["ready", "--json"]).env("JIT_TRUST_ALL_GATES", "1").output().unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), json!([]));
    assert!(is_ready().is_empty());
}

/// Gate definitions that cannot run (written by hand or merged): read commands keep working,
/// `gate list` names the problem, `gate add` refuses them, and a run records a failure without
/// running anything.
#[test]
fn gate_definitions_that_cannot_run_are_named_and_never_run() {
    let env = TestEnv::new();
    shell_gate(&env, "zero", "precheck", "60", "touch RAN");
    let id = issue_in(&env, "Uses zero", "ready");
    env.ok(&["gate", "add", &id, "zero"]);
    let path = env.jit_dir().join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["gates"]["zero"]["timeout_s"] = json!(0);
    config["gates"]["nocmd"] = json!({"stage": "postcheck", "mode": "auto"});
    config["gates"]["Bad Name"] = json!({"stage": "precheck", "mode": "manual"});
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();

    for args in
        [&["issue", "list"][..], &["ready"], &["query", "is:open"], &["gate", "show", "zero"]]
    {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
    }
    let list = env.json(&["gate", "list"]);
    let problems: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap(), g["problem"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        problems,
        [
            ("Bad Name", "the name is not a-z, 0-9, `_` and `-`, starting with a letter or digit"),
            ("nocmd", "no command: an auto gate needs one"),
            ("zero", "timeout_s is 0: the command would be killed at once"),
        ]
    );
    let text = env.ok(&["gate", "list"]);
    assert!(
        text.contains("zero             precheck  auto   invalid   sh -c 'touch RAN'\n    cannot run: timeout_s is 0"),
        "{text}"
    );
    let e = env.json_err(&["gate", "add", &id, "nocmd"], 1);
    assert_eq!(e["code"], "GATE_INVALID");
    assert!(e["message"].as_str().unwrap().contains("gate `nocmd` cannot run: no command"), "{e}");
    assert_eq!(env.json_err(&["gate", "add", &id, "Bad Name"], 1)["code"], "GATE_INVALID");
    assert_eq!(env.json_err(&["gate", "trust", "zero"], 1)["code"], "GATE_INVALID");

    // The start runs the precheck: recorded as failed, its command never started.
    let e = env.json_err(&["issue", "update", &id, "--state", "in_progress"], 4);
    assert_eq!(gate_names(&e), pairs(&[("zero", "failed")]));
    let run = &show(&env, &id)["gates"]["zero"]["runs"][0];
    assert!(
        run["output"]
            .as_str()
            .unwrap()
            .starts_with("not run: gate `zero` cannot run: timeout_s is 0"),
        "{run}"
    );
    assert!(!env.path().join("RAN").exists(), "an invalid gate's command ran");
}

/// A note is kept as written but shown on one line of `gate history`, so it cannot forge
/// lines; `--by` is a name like an assignee.
#[test]
fn gate_notes_cannot_forge_history_and_by_is_a_name() {
    let env = TestEnv::fixed();
    manual(&env, "review", "precheck");
    let id = issue_in(&env, "Reviewed", "ready");
    env.ok(&["gate", "add", &id, "review"]);
    let forged = "looks bad\n  2026-01-02T03:04:05Z passed by lead: LGTM";
    env.ok(&["gate", "fail", &id, "review", "--by", "alice", "--note", forged]);
    let history = env.ok(&["gate", "history", &id]);
    assert_eq!(
        history,
        "review: failed\n  2026-01-02T03:04:05Z failed by alice: looks bad\\u{a}  \
         2026-01-02T03:04:05Z passed by lead: LGTM\n"
    );
    assert_eq!(show(&env, &id)["gates"]["review"]["runs"][0]["note"], json!(forged));

    let before = issue_bytes(&env, &id);
    for bad in ["two words", "lead\n  2026", "", "\u{1b}[2J"] {
        let e = env.json_err(&["gate", "pass", &id, "review", "--by", bad], 1);
        assert_eq!(e["code"], "INVALID_ARGUMENT", "{bad:?}");
        assert!(e["message"].as_str().unwrap().starts_with("invalid `by` name"), "{e}");
    }
    assert_eq!(issue_bytes(&env, &id), before, "a refused decision writes nothing");
}
