//! Failpoints (`JIT_TEST_FAULT=crash:STEP:N`, see `src/storage/fault.rs`): the process kills
//! itself the Nth time it reaches a named step of the write path. For every operation kind
//! and every step, each time the step is reached (N = 1, 2, ... until the command finishes
//! without reaching it again): readers right after the crash see the store old or new, whole;
//! the next write recovers it to old or new, whole; a step after the commit leaves it new
//! (nothing acknowledged is lost, nothing committed is undone); and `validate` finds nothing
//! that `validate --fix` would not settle.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;

use serde_json::{Value, json};

use crate::common::*;
use crate::disk::parse_json;

/// Every step, in the order a write reaches them (as `storage::fault::Step::ALL`).
const STEPS: [&str; 9] = [
    "temp_written",
    "temp_synced",
    "renamed",
    "before_dir_sync",
    "after_dir_sync",
    "journal_record",
    "journal_apply",
    "index_updated",
    "event_appended",
];
/// Steps reached only after the change has committed: a crash there must leave it made.
const AFTER_COMMIT: [&str; 2] = ["index_updated", "event_appended"];
/// The most times one step is tried in one command (a bulk-update reaches some steps once
/// per file).
const MAX_N: u32 = 12;
/// The id seed of the command under test, the same in the crashed run and the clean one.
const SEED: &str = "777";

/// The files of `issues/`, by name.
fn files(env: &TestEnv) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(env.issues_dir())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".json")))
        .filter(|e| !e.file_name().to_string_lossy().starts_with(".tmp."))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

fn list(env: &TestEnv) -> Value {
    let out = env.cmd(&["issue", "list", "--json"]).output().unwrap();
    assert!(out.status.success(), "list after a crash: {}", describe(&out));
    parse_json(&out)
}

/// A repository with four issues: b depends on a, c and d are ready (d labelled), and one
/// acknowledged update of a.
fn base() -> (TestEnv, [String; 4]) {
    let env = TestEnv::fixed();
    let a = env.create("alpha");
    let b = env.json(&["issue", "create", "beta", "--depends-on", &a])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = env.json(&["issue", "create", "gamma", "--state", "ready"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = env.json(&["issue", "create", "delta", "--state", "ready", "--label", "k:v"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["issue", "update", &a, "--title", "alpha, acknowledged"]);
    (env, [a, b, c, d])
}

/// The command of one operation kind, run in `env`.
fn op_cmd(env: &TestEnv, kind: &str, ids: &[String; 4]) -> std::process::Command {
    let [a, _b, c, _d] = ids;
    let args: Vec<String> = match kind {
        "create" => vec!["issue".into(), "create".into(), "epsilon".into()],
        "update" => vec!["issue".into(), "update".into(), a.clone(), "--title".into(), "A".into()],
        "delete" => vec!["issue".into(), "delete".into(), a.clone(), "--yes".into()],
        "bulk-update" => {
            ["issue", "bulk-update", "--filter", "is:open", "--add-label", "t:x", "--yes"]
                .map(String::from)
                .to_vec()
        }
        "batch" => {
            let f = env.path().join("batch.json");
            let entries = json!([
                {"op": "create", "key": "n", "title": "from a batch"},
                {"op": "update", "id": c, "title": "gamma, batched"},
                {"op": "dep_add", "id": "@n", "depends_on": [a]},
            ]);
            std::fs::write(&f, entries.to_string()).unwrap();
            vec!["batch".into(), f.to_string_lossy().into_owned()]
        }
        "dep-add" => vec!["dep".into(), "add".into(), c.clone(), a.clone()],
        "claim" => vec!["claim".into(), "--agent".into(), "bot".into()],
        _ => unreachable!("{kind}"),
    };
    let mut cmd = env.cmd(&args);
    cmd.env("JIT_SEED", SEED);
    cmd
}

/// Crash `kind` at every step, every time it is reached; check each crash state.
/// `expect` is the steps the operation must reach (so that the test cannot pass vacuously).
fn crash_at_every_step(kind: &str, expect: &[&str]) {
    let (template, ids) = base();
    let old = files(&template);
    let old_list = list(&template);
    let clean = template.copy();
    let out = op_cmd(&clean, kind, &ids).output().unwrap();
    assert!(out.status.success(), "{kind} without a fault: {}", describe(&out));
    let new = files(&clean);
    let new_list = list(&clean);
    assert_ne!(old, new, "{kind} changes something");
    let mut reached = Vec::new();
    for step in STEPS {
        for n in 1..=MAX_N {
            let env = template.copy();
            let out = op_cmd(&env, kind, &ids)
                .env("JIT_TEST_FAULT", format!("crash:{step}:{n}"))
                .output()
                .unwrap();
            if out.status.success() {
                break; // the step is reached fewer than n times
            }
            let at = format!("{kind} killed at {step} #{n}");
            assert_eq!(out.status.signal(), Some(libc_sigkill()), "{at}: {}", describe(&out));
            reached.push(step);
            // Readers, before any recovery: the change whole or not at all.
            let seen = list(&env);
            assert!(seen == old_list || seen == new_list, "{at}: a reader saw {seen:#}");
            // The next write recovers; then every file is old or new, all of them together.
            let probe = env.json(&["issue", "create", "probe"])["id"].as_str().unwrap().to_string();
            let mut now = files(&env);
            now.remove(&format!("{probe}.json"));
            let is_new = now == new;
            assert!(is_new || now == old, "{at}: neither old nor new after recovery: {now:?}");
            if AFTER_COMMIT.contains(&step) {
                assert!(is_new, "{at}: the change had committed and was lost");
            }
            assert_eq!(seen == new_list, is_new, "{at}: readers saw other than recovery made");
            settled(&env, &at);
        }
    }
    for step in expect {
        assert!(reached.contains(step), "{kind} never reached {step}: {reached:?}");
    }
}

fn libc_sigkill() -> i32 {
    9
}

/// What `validate` finds after a crash and the next write: nothing but what `validate --fix`
/// settles (a killed writer's temp file) and info.
fn settled(env: &TestEnv, at: &str) {
    let out = env.cmd(&["validate", "--json"]).output().unwrap();
    let v = parse_json(&out);
    for f in v["findings"].as_array().unwrap() {
        let fixable = f["code"] == "TEMP_FILE" && !f["fix"].is_null();
        assert!(f["severity"] == "info" || fixable, "{at}: validate found {f:#}");
    }
    assert!(matches!(out.status.code(), Some(0 | 6)), "{at}: {}", describe(&out));
    let fixed = env.cmd(&["validate", "--fix"]).output().unwrap();
    assert_eq!(fixed.status.code(), Some(0), "{at}: {}", describe(&fixed));
    let again = env.cmd(&["validate"]).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{at}: {}", describe(&again));
}

const SINGLE_FILE: [&str; 7] = [
    "temp_written",
    "temp_synced",
    "renamed",
    "before_dir_sync",
    "after_dir_sync",
    "index_updated",
    "event_appended",
];

#[test]
fn create_crashed_at_every_step() {
    crash_at_every_step("create", &SINGLE_FILE);
}

#[test]
fn update_crashed_at_every_step() {
    crash_at_every_step("update", &SINGLE_FILE);
}

#[test]
fn dep_add_crashed_at_every_step() {
    crash_at_every_step("dep-add", &SINGLE_FILE);
}

#[test]
fn claim_crashed_at_every_step() {
    crash_at_every_step("claim", &SINGLE_FILE);
}

#[test]
fn delete_crashed_at_every_step() {
    crash_at_every_step("delete", &STEPS);
}

#[test]
fn bulk_update_crashed_at_every_step() {
    crash_at_every_step("bulk-update", &STEPS);
}

#[test]
fn batch_crashed_at_every_step() {
    crash_at_every_step("batch", &STEPS);
}
