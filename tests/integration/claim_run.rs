//! `jit claim run` through real processes: success → done, failure → ready with the status
//! recorded, a postcheck's refusal → gated, `--on-success`, `--loop` with two supervisors
//! racing, SIGKILL of the supervisor (the lease expires, the old token is fenced), SIGTERM
//! passed on to the command, renewals while the command runs, a command that cannot start.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::common::*;

/// `claim run` in `env`'s repository with `args` before `--` and `command` after it.
fn claim_run(env: &TestEnv, args: &[&str], command: &[&str]) -> Command {
    let mut all = vec!["claim", "run"];
    all.extend(args);
    all.push("--");
    all.extend(command);
    let mut c = env.cmd(&all);
    c.env("JIT_LOCK_TIMEOUT_MS", "60000");
    c
}

/// The JSON lines of a run's stdout that are result objects (the command's own output may
/// be there too).
fn results(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("outcome").is_some())
        .collect()
}

fn one_result(out: &Output) -> Value {
    let r = results(out);
    assert_eq!(r.len(), 1, "{}", describe(out));
    r[0].clone()
}

fn ready_issue(env: &TestEnv, title: &str) -> String {
    let id = env.create(title);
    env.ok(&["issue", "update", &id, "--state", "ready"]);
    id
}

fn show(env: &TestEnv, id: &str) -> Value {
    env.json(&["issue", "show", id])
}

/// Wait (without a time limit) until `path` exists.
fn wait_for(path: &Path) {
    while !path.exists() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn a_command_that_exits_0_moves_its_issue_to_done_with_the_claim_in_its_environment() {
    let env = TestEnv::fixed();
    let id = ready_issue(&env, "Fix the login page");
    let out = claim_run(
        &env,
        &["--agent", "agent:coder-1", "--json"],
        &["sh", "-c", r#"echo "$JIT_ISSUE_ID $JIT_CLAIM_TOKEN $JIT_AGENT" > seen; pwd >> seen"#],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let r = one_result(&out);
    insta::assert_snapshot!("claim-run-result", serde_json::to_string_pretty(&r).unwrap());
    let seen = std::fs::read_to_string(env.path().join("seen")).unwrap();
    let cwd = std::fs::canonicalize(env.path()).unwrap();
    assert_eq!(seen, format!("{id} 1 agent:coder-1\n{}\n", cwd.display()));
    let issue = show(&env, &id);
    assert_eq!(issue["state"], json!("done"));
    assert_eq!(issue["assignee"], json!("agent:coder-1"));
    assert_eq!(
        issue["context"]["claim_run"],
        json!({"agent": "agent:coder-1", "token": 1, "exit_code": 0})
    );
    // The lease ended with the claim.
    assert_eq!(env.json(&["status"])["leases"], json!([]));
    // Human output: one line per issue on stdout.
    let id2 = ready_issue(&env, "Second");
    let out = claim_run(&env, &["--agent", "a1"], &["true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}  exit 0: succeeded, now done  (token 1) Second\n", &id2[..10])
    );
}

#[test]
fn a_failing_command_releases_its_issue_with_the_exit_status_recorded() {
    let env = TestEnv::fixed();
    let id = ready_issue(&env, "Flaky");
    let out =
        claim_run(&env, &["--agent", "a1", "--json"], &["sh", "-c", "exit 3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let r = one_result(&out);
    assert_eq!(
        (&r["outcome"], &r["exit_code"], &r["signal"], &r["state"], &r["token"]),
        (&json!("released"), &json!(3), &json!(null), &json!("ready"), &json!(1))
    );
    let issue = show(&env, &id);
    assert_eq!((&issue["state"], &issue["assignee"]), (&json!("ready"), &json!(null)));
    assert_eq!(issue["context"]["claim_run"], json!({"agent": "a1", "token": 1, "exit_code": 3}));
    // The release is an event of its own, and the issue can be claimed again.
    let events = env.json(&["events", "--issue", &id]);
    let ops: Vec<&str> =
        events["events"].as_array().unwrap().iter().map(|e| e["op"].as_str().unwrap()).collect();
    assert_eq!(ops.first(), Some(&"release"), "newest first: {events}");
    let again = env.json(&["claim", "--agent", "a2"]);
    assert_eq!((&again["issue"]["id"], &again["token"]), (&json!(id), &json!(2)));
}

#[test]
fn a_postcheck_that_refuses_done_leaves_the_issue_gated() {
    let env = TestEnv::fixed();
    let id = ready_issue(&env, "Needs review");
    env.ok(&["gate", "define", "review", "--stage", "postcheck", "--mode", "manual"]);
    env.ok(&["gate", "add", &id, "review"]);
    let out = claim_run(&env, &["--agent", "a1", "--json"], &["true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let r = one_result(&out);
    assert_eq!(
        (&r["outcome"], &r["state"], &r["exit_code"]),
        (&json!("gated"), &json!("gated"), &json!(0))
    );
    let issue = show(&env, &id);
    assert_eq!((&issue["state"], &issue["assignee"]), (&json!("gated"), &json!("a1")));
    // As after `issue update --state done`: the agent keeps its lease.
    let leases = env.json(&["status"])["leases"].clone();
    assert_eq!((leases[0]["id"].clone(), leases[0]["token"].clone()), (json!(id), json!(1)));
}

#[test]
fn on_success_names_the_state_an_issue_goes_to() {
    let env = TestEnv::fixed();
    let id = ready_issue(&env, "Hand back");
    let out = claim_run(&env, &["--agent", "a1", "--on-success", "rejected", "--json"], &["true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(one_result(&out)["state"], json!("rejected"));
    assert_eq!(show(&env, &id)["state"], json!("rejected"));
    // Refused before anything is claimed.
    let id = ready_issue(&env, "Untouched");
    for (flag, value) in
        [("--on-success", "in_progress"), ("--on-success", "nope"), ("--lease", "0s")]
    {
        let out =
            claim_run(&env, &["--agent", "a1", flag, value, "--json"], &["true"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert_eq!(show(&env, &id)["state"], json!("ready"));
    }
}

#[test]
fn nothing_claimable_is_exit_5_with_or_without_loop() {
    let env = TestEnv::fixed();
    for extra in [&[][..], &["--loop"][..]] {
        let mut args = vec!["--agent", "a1", "--json"];
        args.extend(extra);
        let out = claim_run(&env, &args, &["sh", "-c", "touch ran"]).output().unwrap();
        assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["error"]["code"], json!("NO_ISSUE_AVAILABLE"));
    }
    assert!(!env.path().join("ran").exists());
}

#[test]
fn two_looping_supervisors_run_every_issue_once() {
    let env = TestEnv::new();
    let ids: BTreeSet<String> = (0..5).map(|i| ready_issue(&env, &format!("p{i}"))).collect();
    // One of the five fails once: a loop does not take it again, the other may.
    let script = r#"echo "$JIT_ISSUE_ID" >> ran-"$JIT_AGENT"; test "$(jit issue show "$JIT_ISSUE_ID" --json | grep -c '"p2"')" = 0"#;
    let bin_dir = Path::new(jit_bin()).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let spawn = |agent: &str| {
        claim_run(&env, &["--agent", agent, "--loop", "--json"], &["sh", "-c", script])
            .env("PATH", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("a"), spawn("b"));
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for out in &outs {
        assert!(matches!(out.status.code(), Some(0 | 1 | 5)), "{}", describe(out));
        for r in results(out) {
            match r["outcome"].as_str().unwrap() {
                "succeeded" => done.push(r["id"].as_str().unwrap().to_string()),
                "released" => failed.push((r["agent"].to_string(), r["id"].to_string())),
                _ => panic!("{r}"),
            }
        }
    }
    // Every issue but p2 ran to done exactly once; p2 failed at most once per supervisor.
    let done_set: BTreeSet<String> = done.iter().cloned().collect();
    assert_eq!(done.len(), done_set.len(), "an issue ran twice: {done:?}");
    assert_eq!(done_set.len(), 4, "{done:?} {failed:?}");
    assert!(done_set.is_subset(&ids));
    let failed_set: BTreeSet<_> = failed.iter().cloned().collect();
    assert_eq!(failed.len(), failed_set.len(), "a loop took a failed issue again: {failed:?}");
    assert!(!failed.is_empty() && failed.len() <= 2, "{failed:?}");
    let listed = env.json(&["query", "state:done", "--count"]);
    assert_eq!(listed["count"], json!(4));
}

#[test]
fn a_supervisor_killed_leaves_a_lease_that_expires_and_fences_its_token() {
    let env = TestEnv::fixed();
    let id = ready_issue(&env, "Long work");
    let mut sup = claim_run(
        &env,
        &["--agent", "a1", "--lease", "10m"],
        &["sh", "-c", "touch started; while [ ! -e stop ]; do sleep 0.05; done"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    wait_for(&env.path().join("started"));
    let kill = Command::new("kill").args(["-KILL", &sup.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let _ = sup.wait();
    // Still claimed while the lease lasts.
    let e = env.json_err(&["claim", "--agent", "a2"], 5);
    assert_eq!(e["claimed"], json!(1));
    // Past the lease: claimable again, with a new token.
    let later = "2026-01-02T03:20:05Z";
    let out =
        env.cmd(&["claim", "--agent", "a2", "--json"]).env("JIT_NOW", later).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((&v["issue"]["id"], &v["token"]), (&json!(id), &json!(2)));
    // The orphaned command's writes, with its token, are fenced and change nothing.
    let before = env.issue_files();
    let out = env
        .cmd(&["issue", "update", &id, "--title", "Zombie", "--json"])
        .env("JIT_NOW", later)
        .env("JIT_CLAIM_TOKEN", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], json!("CLAIM_FENCED"));
    assert_eq!(env.issue_files(), before);
    std::fs::write(env.path().join("stop"), "").unwrap();
}

#[test]
fn sigterm_is_passed_on_and_the_issue_released() {
    let env = TestEnv::fixed();
    let id = ready_issue(&env, "Interrupted");
    let sup = claim_run(
        &env,
        &["--agent", "a1", "--json"],
        &["sh", "-c", "trap 'exit 7' TERM; touch started; while :; do sleep 0.05; done"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_for(&env.path().join("started"));
    let kill = Command::new("kill").args(["-TERM", &sup.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let out = sup.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", describe(&out));
    let r = one_result(&out);
    assert_eq!(
        (&r["outcome"], &r["exit_code"], &r["interrupted"], &r["state"]),
        (&json!("released"), &json!(7), &json!(15), &json!("ready"))
    );
    assert_eq!(show(&env, &id)["state"], json!("ready"));
}

#[test]
fn the_lease_is_renewed_while_the_command_runs() {
    let env = TestEnv::new();
    let id = ready_issue(&env, "Slow");
    let mut sup = claim_run(
        &env,
        &["--agent", "a1", "--lease", "9s", "--json"],
        &["sh", "-c", "touch started; while [ ! -e stop ]; do sleep 0.05; done"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_for(&env.path().join("started"));
    let expiry = || env.json(&["status"])["leases"][0]["lease_expires_at"].clone();
    let first = expiry();
    assert!(first.is_string(), "{first}");
    // Renewed every 3 s: the expiry moves on while the command still runs.
    while expiry() == first {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = env.json(&["status"]);
    assert_eq!(status["leases"][0]["id"], json!(id));
    assert!(sup.try_wait().unwrap().is_none());
    std::fs::write(env.path().join("stop"), "").unwrap();
    let out = sup.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(one_result(&out)["outcome"], json!("succeeded"));
}

#[test]
fn a_command_that_cannot_start_is_command_not_started_and_the_claim_released() {
    let env = TestEnv::fixed();
    let id = ready_issue(&env, "Nobody home");
    let out = claim_run(&env, &["--agent", "a1", "--json"], &["./no-such-program", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&v["error"]["code"], &v["error"]["id"], &v["error"]["command"]),
        (&json!("COMMAND_NOT_STARTED"), &json!(id), &json!("./no-such-program"))
    );
    std::fs::write(env.path().join("not-executable"), "#!/bin/sh\n").unwrap();
    let out = claim_run(&env, &["--agent", "a1"], &["./not-executable"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("error: cannot start `./not-executable`: Permission denied"),
        "{}",
        describe(&out)
    );
    let issue = show(&env, &id);
    assert_eq!((&issue["state"], &issue["assignee"]), (&json!("ready"), &json!(null)));
    assert!(issue["context"]["claim_run"]["not_started"].is_string(), "{issue}");
    assert_eq!(env.json(&["status"])["leases"], json!([]));
}

#[test]
fn a_supervisor_whose_claim_was_taken_over_is_fenced_and_writes_nothing() {
    let env = TestEnv::fixed();
    let id = ready_issue(&env, "Taken over");
    let sup = claim_run(
        &env,
        &["--agent", "a1", "--json"],
        &["sh", "-c", "touch started; while [ ! -e stop ]; do sleep 0.05; done"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_for(&env.path().join("started"));
    let stolen = env.json(&["claim", &id, "--agent", "alice", "--steal"]);
    assert_eq!(stolen["token"], json!(2));
    let before = env.issue_files();
    std::fs::write(env.path().join("stop"), "").unwrap();
    let out = sup.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let r = one_result(&out);
    assert_eq!(
        (&r["outcome"], &r["state"], &r["token"]),
        (&json!("fenced"), &json!(null), &json!(1))
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is over, nothing was written"), "{stderr}");
    assert_eq!(env.issue_files(), before);
    let issue = show(&env, &id);
    assert_eq!((&issue["state"], &issue["assignee"]), (&json!("in_progress"), &json!("alice")));
}
