//! Metrics, rate limits and lease pruning through the binary (docs/agents.md).

use std::collections::BTreeMap;
use std::process::Output;

use serde_json::{Value, json};

use crate::common::{TestEnv, describe, have_tool};

fn at(env: &TestEnv, now: &str, args: &[&str]) -> Output {
    env.cmd(args).env("JIT_NOW", now).output().unwrap()
}

fn at_json(env: &TestEnv, now: &str, args: &[&str], code: i32) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = at(env, now, &all);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", describe(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)))
}

const T0: &str = "2026-03-01T10:00:00Z";

fn ready(env: &TestEnv, title: &str) -> String {
    let id = env.create(title);
    env.ok(&["issue", "update", &id, "--state", "ready"]);
    id
}

fn leases(env: &TestEnv) -> BTreeMap<String, Value> {
    let path = env.jit_dir().join("local").join("leases.json");
    let Ok(text) = std::fs::read_to_string(path) else { return BTreeMap::new() };
    let v: Value = serde_json::from_str(&text).unwrap();
    v["leases"].as_object().unwrap().clone().into_iter().collect()
}

/// Every issue's version equals the number of events of the tracked log that changed it.
fn assert_events_match_versions(env: &TestEnv) {
    let events = env.json(&["events", "--all"])["events"].clone();
    let mut per_issue: BTreeMap<String, u64> = BTreeMap::new();
    for e in events.as_array().unwrap() {
        assert_ne!(e["op"], json!("refused"), "a refusal in the tracked log: {e}");
        for i in e["issues"].as_array().unwrap() {
            if !i["after"].is_null() || !i["before"].is_null() {
                *per_issue.entry(i["id"].as_str().unwrap().to_string()).or_default() += 1;
            }
        }
    }
    for issue in env.json(&["issue", "list"]).as_array().unwrap() {
        let id = issue["id"].as_str().unwrap();
        assert_eq!(per_issue.get(id).copied(), issue["version"].as_u64(), "events of {id}");
    }
}

#[test]
fn metrics_count_operations_claims_refusals_and_states() {
    let env = TestEnv::fixed();
    let a = ready(&env, "A");
    let _b = ready(&env, "B");
    env.create("C"); // backlog
    let c1 = env.json(&["claim", "--agent", "a1"]);
    env.json(&["claim", "--agent", "a2"]);
    let held = c1["issue"]["id"].as_str().unwrap().to_string();
    // Refusals: a version conflict, a fenced write, two no-work answers.
    assert_eq!(
        env.run(&["issue", "update", &a, "--if-version", "99", "--title", "x"]).status.code(),
        Some(4)
    );
    let out = env.run(&["issue", "update", &held, "--title", "x", "--claim-token", "0"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    env.ok(&["claim", &held, "--agent", "boss", "--steal"]);
    let out = env.run(&["issue", "update", &held, "--title", "y", "--claim-token", "1"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    for _ in 0..2 {
        assert_eq!(env.run(&["claim", "--agent", "a3"]).status.code(), Some(5));
    }
    let m = env.json(&["metrics", "--since", "all"]);
    let ops: BTreeMap<String, u64> = m["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["op"].as_str().unwrap().to_string(), o["count"].as_u64().unwrap()))
        .collect();
    let expect: BTreeMap<String, u64> =
        [("create", 3), ("update", 2), ("claim", 2), ("claim_steal", 1)]
            .map(|(k, v)| (k.to_string(), v))
            .into();
    assert_eq!(ops, expect, "{m}");
    assert_eq!(m["lock_wait"]["count"], json!(8));
    assert_eq!(
        [&m["claims_served"], &m["version_conflicts"], &m["fenced_writes"], &m["no_work"]],
        [&json!(3), &json!(1), &json!(2), &json!(2)],
        "{m}"
    );
    assert_eq!((m["rate_limited"].clone(), m["lease_expiries"].clone()), (json!(0), json!(0)));
    assert_eq!(m["states"]["in_progress"], json!(2));
    assert_eq!(m["states"]["backlog"], json!(1));
    assert_eq!(m["since"], Value::Null);
    // Refusals are kept out of the tracked log: an issue's events are as many as its version.
    assert_events_match_versions(&env);
    let tracked = std::fs::read_dir(env.jit_dir().join("events")).unwrap();
    for seg in tracked {
        let text = std::fs::read_to_string(seg.unwrap().path()).unwrap();
        assert!(!text.contains("refused") && !text.contains("NO_ISSUE"), "{text}");
    }

    // The window: every event here is at the fixed clock's time (2026-01-02T03:04:05Z).
    let later = at_json(&env, "2026-01-02T04:04:06Z", &["metrics"], 0);
    assert_eq!(later["since"], json!("2026-01-02T03:04:06.000000Z"), "the default is 1h");
    assert_eq!((later["operations"].clone(), later["no_work"].clone()), (json!([]), json!(0)));
    let within = at_json(&env, "2026-01-02T04:04:05Z", &["metrics"], 0);
    assert_eq!(within["claims_served"], json!(3));
    let e = env.json_err(&["metrics", "--since", "yesterday"], 1);
    assert_eq!(e["code"], json!("INVALID_ARGUMENT"));
    let e = env.json_err(&["metrics", "--format", "prometheus"], 1);
    assert_eq!(e["code"], json!("INVALID_ARGUMENT"));
    let text = env.ok(&["metrics", "--since", "all"]);
    assert!(text.contains("claims served      3\n"), "{text}");
}

#[test]
fn prometheus_output_is_read_by_the_prometheus_client_parser() {
    if !have_tool("python3", "python3") {
        return;
    }
    let probe = std::process::Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .output()
        .unwrap();
    if !probe.status.success() {
        eprintln!(
            "skipped prometheus_output_is_read_by_the_prometheus_client_parser: the Python \
             package prometheus-client is missing (pip install prometheus-client; .ci/run does)"
        );
        return;
    }
    let env = TestEnv::fixed();
    ready(&env, "A");
    env.json(&["claim", "--agent", "a1"]);
    assert_eq!(env.run(&["claim", "--agent", "a2"]).status.code(), Some(5));
    // An operation name that needs escaping (a hand-written event).
    let seg = std::fs::read_dir(env.jit_dir().join("events")).unwrap().next().unwrap().unwrap();
    let mut text = std::fs::read_to_string(seg.path()).unwrap();
    text.push_str(
        r#"{"id":"01kjpwf170qz44c40bzgf40001","at":"2026-01-02T03:04:05.000000Z","actor":"x","op":"we\"ird\\op","issues":[],"duration_ms":1500,"lock_wait_ms":2}"#,
    );
    text.push('\n');
    std::fs::write(seg.path(), text).unwrap();
    let out = env.ok(&["metrics", "--since", "all", "--format", "prometheus"]);
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        out.setdefault(f.name + ":" + f.type, []).append([s.name, s.labels, float(s.value)])
print(json.dumps(out, sort_keys=True))
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(out.as_bytes()).unwrap();
    let parsed = child.wait_with_output().unwrap();
    assert!(parsed.status.success(), "the parser refused it: {}\n{out}", describe(&parsed));
    let v: Value = serde_json::from_slice(&parsed.stdout).unwrap();
    let ops = v["jit_operation_duration_seconds:summary"].as_array().unwrap();
    assert!(
        ops.contains(
            &json!(["jit_operation_duration_seconds", {"op": "we\"ird\\op", "quantile": "1"}, 1.5])
        ),
        "{v}"
    );
    assert!(
        ops.contains(&json!(["jit_operation_duration_seconds_count", {"op": "claim"}, 1.0])),
        "{v}"
    );
    assert_eq!(v["jit_claims_served:gauge"], json!([["jit_claims_served", {}, 1.0]]));
    assert_eq!(v["jit_no_work_answers:gauge"], json!([["jit_no_work_answers", {}, 1.0]]));
    assert!(
        v["jit_issues:gauge"]
            .as_array()
            .unwrap()
            .contains(&json!(["jit_issues", {"state": "in_progress"}, 1.0]))
    );
    assert_eq!(v["jit_lock_wait_seconds:summary"].as_array().unwrap().len(), 6);
}

fn set_config(env: &TestEnv, key: &str, value: Value) {
    let path = env.jit_dir().join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config[key] = value;
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
}

#[test]
fn a_rate_limited_agent_is_refused_with_retry_after_and_nothing_changes() {
    let env = TestEnv::fixed();
    let ids: Vec<String> = (0..3).map(|i| ready(&env, &format!("T{i}"))).collect();
    set_config(&env, "rate_limit", json!({"per_minute": 30, "burst": 2}));
    // The burst, at one instant, by one agent (real processes, one after another).
    at_json(&env, T0, &["claim", "--agent", "a1"], 0);
    at_json(&env, T0, &["issue", "update", &ids[0], "--title", "t", "--actor", "a1"], 0);
    let before = env.issue_files();
    let e = at_json(&env, T0, &["claim", "--agent", "a1"], 75)["error"].clone();
    assert_eq!(e["code"], json!("RATE_LIMITED"));
    assert_eq!(e["retry_after_ms"], json!(2000), "30 a minute: one token every 2 s");
    assert_eq!((e["agent"].clone(), e["burst"].clone()), (json!("a1"), json!(2)));
    assert_eq!(env.issue_files(), before, "a refused command changes nothing");
    assert!(!leases(&env).values().any(|l| l["agent"] == json!("a1") && l["token"] != json!(1)));
    // Another agent has its own bucket; reads are not limited.
    at_json(&env, T0, &["claim", "--agent", "a2"], 0);
    at_json(&env, T0, &["issue", "list"], 0);
    // Half the wait is not enough; all of it is.
    let e = at_json(&env, "2026-03-01T10:00:01Z", &["claim", "--agent", "a1"], 75)["error"].clone();
    assert_eq!(e["retry_after_ms"], json!(1000));
    at_json(&env, "2026-03-01T10:00:02Z", &["claim", "--agent", "a1"], 0);
    let m = at_json(&env, "2026-03-01T10:00:02Z", &["metrics", "--since", "all"], 0);
    assert_eq!(m["rate_limited"], json!(2));
}

#[test]
fn concurrent_processes_of_one_agent_get_exactly_the_burst() {
    let env = TestEnv::fixed();
    set_config(&env, "rate_limit", json!({"per_minute": 1, "burst": 5}));
    let children: Vec<_> = (0..12)
        .map(|i| {
            env.cmd(&["issue", "create", &format!("N{i}"), "--actor", "bot", "--json"])
                .env("JIT_NOW", T0)
                .env("JIT_SEED", (1000 + i).to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<i32> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code().unwrap())
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 5, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 75).count(), 7, "{codes:?}");
    assert_eq!(env.issue_files().len(), 5);
}

#[test]
fn leases_of_issues_that_left_in_progress_are_dropped() {
    let env = TestEnv::fixed();
    let a = ready(&env, "A");
    let b = ready(&env, "B");
    let c = ready(&env, "C");
    for agent in ["a1", "a2", "a3"] {
        at_json(&env, T0, &["claim", "--agent", agent], 0);
    }
    assert_eq!(leases(&env).len(), 3);
    // `issue update` out of in_progress drops the claim's lease in its own transaction.
    at_json(&env, T0, &["issue", "update", &a, "--state", "done"], 0);
    assert_eq!(leases(&env).keys().cloned().collect::<Vec<_>>(), {
        let mut v = vec![b.clone(), c.clone()];
        v.sort();
        v
    });
    // A move to gated (a postcheck refused done) keeps it: the agent works on.
    env.ok(&["gate", "define", "review", "--stage", "postcheck", "--mode", "manual"]);
    env.ok(&["gate", "add", &c, "review"]);
    let refused = at(&env, T0, &["issue", "update", &c, "--state", "done"]);
    assert_eq!(refused.status.code(), Some(4), "{}", describe(&refused));
    assert_eq!(env.json(&["issue", "show", &c])["state"], json!("gated"));
    assert!(leases(&env).contains_key(&c), "a gated issue keeps its lease");
    env.ok(&["issue", "update", &c, "--state", "in_progress"]);
    env.ok(&["gate", "rm", &c, "review"]);
    // A lease left behind (a hand edit, a crash after the commit, an older jit) is pruned by
    // the next claim, release, renew or status that writes the lease file.
    let path = env.issues_dir().join(format!("{b}.json"));
    let mut issue: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    issue["state"] = json!("done");
    std::fs::write(&path, serde_json::to_string_pretty(&issue).unwrap() + "\n").unwrap();
    assert!(leases(&env).contains_key(&b));
    at_json(&env, T0, &["renew", &c], 0);
    assert_eq!(leases(&env).keys().cloned().collect::<Vec<_>>(), vec![c.clone()]);
    // A lease whose claim the file has not seen (made elsewhere: an older token) is kept.
    let d = ready(&env, "D");
    let local = env.jit_dir().join("local").join("leases.json");
    let mut store: Value = serde_json::from_str(&std::fs::read_to_string(&local).unwrap()).unwrap();
    store["leases"][&d] = json!({
        "agent": "elsewhere", "token": 1, "claimed_at": "2026-03-01T10:00:00Z",
        "renewed_at": "2026-03-01T10:00:00Z", "expires_at": "2026-03-01T11:00:00Z"
    });
    std::fs::write(&local, serde_json::to_string_pretty(&store).unwrap()).unwrap();
    at_json(&env, T0, &["release", &c], 0);
    assert_eq!(leases(&env).keys().cloned().collect::<Vec<_>>(), vec![d.clone()]);
    let e = at_json(&env, T0, &["claim", "--agent", "a9"], 0);
    assert_eq!(e["issue"]["id"], json!(c), "D is held by the lease made elsewhere");
    assert_events_match_versions(&env);
}
