//! `--idempotency-key` on every write command: a retry prints the first reply (human and
//! `--json`) and writes nothing, no event either; the key with another request is refused;
//! concurrent retries apply once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

use crate::common::{TestEnv, describe};
use crate::disk::jit_json;

/// Every file of the store (issues, config, events, index, local state), by path; only
/// `lock.info`, which any command that takes the lock rewrites, is left out.
pub fn store(env: &TestEnv) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.file_name().unwrap() != "lock.info" {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&env.jit_dir(), &mut out);
    out
}

/// A repository with three issues (`a`, `b`, `c`) and a manual postcheck `review`.
fn setup() -> (TestEnv, [String; 3]) {
    let env = TestEnv::fixed();
    env.ok(&["gate", "define", "review", "--stage", "postcheck", "--mode", "manual"]);
    let ids = ["A", "B", "C"].map(|t| env.create(t));
    (env, ids)
}

/// One of each write command, in an order in which each applies, with its key.
fn cases([a, b, c]: &[String; 3]) -> Vec<Vec<String>> {
    let cases: Vec<Vec<&str>> = vec![
        vec!["issue", "create", "New one", "-p", "high"],
        vec!["issue", "update", a, "--priority", "high", "--add-label", "area:x"],
        vec!["dep", "add", a, b],
        vec!["dep", "rm", a, b],
        vec!["gate", "add", a, "review"],
        vec!["gate", "pass", a, "review", "--note", "ok"],
        vec!["gate", "fail", a, "review", "--by", "alice"],
        vec!["gate", "rm", a, "review"],
        vec!["issue", "bulk-update", "--filter", "priority:high", "--state", "ready"],
        vec!["claim", a, "--agent", "agent:one"],
        vec!["release", a, "--agent", "agent:one"],
        vec!["issue", "delete", c, "--yes"],
    ];
    let keyed = |(i, c): (usize, Vec<&str>)| {
        let mut c: Vec<String> = c.into_iter().map(String::from).collect();
        c.extend(["--idempotency-key".into(), format!("agent-1:step-{i}")]);
        c
    };
    cases.into_iter().enumerate().map(keyed).collect()
}

fn run(env: &TestEnv, args: &[String], json: bool) -> Output {
    let mut args = args.to_vec();
    if json {
        args.push("--json".into());
    }
    let out = env.run(&args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
    out
}

#[test]
fn every_write_command_replays_its_first_reply_and_writes_nothing() {
    // The same commands in two repositories made alike (fixed clock, seeded ids): one sees
    // each first under --json, the other in human form; each retries three times.
    let (jenv, ids) = setup();
    let (henv, hids) = setup();
    assert_eq!(ids, hids, "the two repositories are alike");
    for case in cases(&ids) {
        let first = run(&jenv, &case, true);
        let written = store(&jenv);
        for _ in 0..2 {
            let again = run(&jenv, &case, true);
            assert_eq!(again.stdout, first.stdout, "{case:?}: the first --json reply");
            assert_eq!(store(&jenv), written, "{case:?}: nothing written, no event");
        }

        let human = run(&henv, &case, false);
        let written = store(&henv);
        let again = run(&henv, &case, false);
        assert_eq!(again.stdout, human.stdout, "{case:?}: the first human reply");
        let json = run(&henv, &case, true);
        assert_eq!(json.stdout, first.stdout, "{case:?}: the reply, as --json had it");
        assert_eq!(store(&henv), written, "{case:?}: nothing written, no event");
    }
    // Each command committed once: one event each (the claim and its release included).
    let events = jenv.json(&["events", "--limit", "1000"])["events"].as_array().unwrap().len();
    assert_eq!(events, 1 + 3 + cases(&ids).len(), "gate define, 3 creates, then one per case");
}

#[test]
fn a_key_with_another_request_is_refused_and_a_bad_key_too() {
    let (env, [a, ..]) = setup();
    let key = ["--idempotency-key", "k-1"];
    let up = |p: &'static str| [&["issue", "update", &a, "--priority", p][..], &key].concat();
    env.json(&up("high"));
    let written = store(&env);
    let e = env.json_err(&up("low"), 4);
    assert_eq!(
        (e["code"].clone(), e["key"].clone()),
        (json!("IDEMPOTENCY_KEY_REUSED"), json!("k-1"))
    );
    // Another command with the key is another request too.
    let e = env.json_err(&[&["issue", "create", "x"][..], &key].concat(), 4);
    assert_eq!(e["code"], "IDEMPOTENCY_KEY_REUSED");
    let e = env.json_err(&["dep", "add", &a, &a, "--idempotency-key", "k-1"], 4);
    assert_eq!(e["code"], "IDEMPOTENCY_KEY_REUSED");
    // So is the same request presenting another claim token.
    let e = env.json_err(&[&up("high")[..], &["--claim-token", "3"]].concat(), 4);
    assert_eq!(e["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(store(&env), written, "refused: nothing written");

    let out = env.run(&["issue", "create", "x", "--idempotency-key", "a b"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).lines().next(),
        Some(
            "error: invalid idempotency key \"a b\": 1 to 128 letters, digits, `.`, `_`, `:` \
             or `-`"
        )
    );
    assert_eq!(store(&env), written, "refused before anything");

    // A request that failed records nothing: once it can apply, it does under the same key.
    let (b, c) = (env.create("b"), env.create("c"));
    env.ok(&["dep", "add", &b, &c]);
    let start = ["issue", "update", &b, "--state", "in_progress", "--idempotency-key", "k-2"];
    assert_eq!(env.json_err(&start, 4)["code"], "ISSUE_BLOCKED");
    env.ok(&["dep", "rm", &b, &c]);
    assert_eq!(env.json(&start)["state"], "in_progress");
}

#[test]
fn a_committed_refusal_is_replayed_as_the_same_error() {
    let (env, [a, ..]) = setup();
    env.ok(&["gate", "add", &a, "review"]);
    env.ok(&["issue", "update", &a, "--state", "in_progress"]);
    let done = ["issue", "update", &a, "--state", "done", "--idempotency-key", "finish"];
    let first = env.run(&[&done[..], &["--json"]].concat());
    assert_eq!(first.status.code(), Some(4), "{}", describe(&first));
    let e: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(
        (e["error"]["code"].as_str(), e["error"]["state"].as_str()),
        (Some("GATES_NOT_PASSED"), Some("gated"))
    );
    let written = store(&env);
    let again = env.run(&[&done[..], &["--json"]].concat());
    assert_eq!((again.status.code(), &again.stdout), (Some(4), &first.stdout));
    assert_eq!(store(&env), written, "the gated move is not made twice");
}

#[test]
fn concurrent_retries_of_a_keyed_write_apply_it_once() {
    let env = TestEnv::new();
    let project = env.path().to_path_buf();
    let run_all = |args: &'static [&'static str]| -> Vec<Value> {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let project = project.clone();
                std::thread::spawn(move || jit_json(&project, args))
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    };
    let created = run_all(&["issue", "create", "once", "--idempotency-key", "c", "--json"]);
    assert!(created.iter().all(|r| *r == created[0]), "{created:?}");
    assert_eq!(env.issue_files().len(), 1, "created once");
    let id = created[0]["id"].as_str().unwrap().to_string();
    env.ok(&["issue", "update", &id, "--state", "ready"]);
    let claims = run_all(&["claim", "--agent", "agent:a", "--idempotency-key", "k", "--json"]);
    assert!(claims.iter().all(|r| *r == claims[0]), "{claims:?}");
    assert_eq!(claims[0]["token"], 1, "claimed once");
    let events = env.json(&["events", "--json"])["events"].as_array().unwrap().clone();
    let ops: Vec<&str> = events.iter().map(|e| e["op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["claim", "update", "create"], "one event each, newest first");
}
