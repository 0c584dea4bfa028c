//! Many agents at once, through the real binary: a mixed stress of claims, releases,
//! renewals, updates, dependency edits, batches and queries (the store stays consistent and
//! every acknowledged write is there), and readers under the load of eight writers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use serde_json::{Value, json};

use crate::common::*;
use crate::concurrency::{Acked, reader};
use crate::disk::*;

const AGENTS: usize = 6;
const OPS_EACH: usize = 50;

/// What one agent had acknowledged: issues it created, labels it added, dependencies it
/// added, claims it won (id, token) and how many of each operation succeeded.
#[derive(Default)]
struct Acks {
    created: Vec<String>,
    labels: Vec<(String, String)>,
    deps: Vec<(String, String)>,
    claims: Vec<(String, u64)>,
    done: BTreeMap<&'static str, usize>,
}

fn run(project: &Path, args: &[&str]) -> Output {
    jit_in(project, args).env("JIT_LOCK_TIMEOUT_MS", "120000").output().expect("run jit")
}

fn ok_json(project: &Path, args: &[&str]) -> Value {
    let out = run(project, args);
    assert!(out.status.success(), "jit {}: {}", args.join(" "), describe(&out));
    parse_json(&out)
}

fn batch(project: &Path, entries: &Value) -> Value {
    let mut child = jit_in(project, &["batch", "--json"])
        .env("JIT_LOCK_TIMEOUT_MS", "120000")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::to_vec(entries).unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "batch: {}", describe(&out));
    parse_json(&out)
}

/// One agent: `OPS_EACH` operations drawn at random, each required to succeed except where
/// a refusal is a fair answer (nothing to claim, a dependency that would close a cycle).
fn agent(project: PathBuf, n: usize, shared: Arc<Mutex<Vec<String>>>) -> Acks {
    let name = format!("agent:s{n}");
    let mut rng = XorShift::new(n as u64 + 11);
    let mut acks = Acks::default();
    let mut held: Vec<(String, u64)> = Vec::new();
    for i in 0..OPS_EACH {
        let pick = |rng: &mut XorShift| {
            let all = shared.lock().unwrap();
            all[rng.below(all.len() as u64) as usize].clone()
        };
        let op = ["create", "update", "claim", "release", "renew", "query", "dep_add", "batch"]
            [rng.below(8) as usize];
        match op {
            "create" => {
                let v = ok_json(
                    &project,
                    &["issue", "create", &format!("{name} {i}"), "--state", "ready", "--json"],
                );
                let id = v["id"].as_str().unwrap().to_string();
                shared.lock().unwrap().push(id.clone());
                acks.created.push(id);
            }
            "update" => {
                let id = pick(&mut rng);
                let label = format!("s{n}:op{i}");
                ok_json(&project, &["issue", "update", &id, "--add-label", &label, "--json"]);
                acks.labels.push((id, label));
            }
            "claim" => {
                let out = run(&project, &["claim", "--agent", &name, "--json"]);
                match out.status.code() {
                    Some(0) => {
                        let v = parse_json(&out);
                        let c = (
                            v["issue"]["id"].as_str().unwrap().to_string(),
                            v["token"].as_u64().unwrap(),
                        );
                        acks.claims.push(c.clone());
                        held.push(c);
                    }
                    Some(5) => {}
                    _ => panic!("claim: {}", describe(&out)),
                }
            }
            "release" | "renew" => {
                let Some((id, token)) =
                    (if op == "release" { held.pop() } else { held.last().cloned() })
                else {
                    continue;
                };
                let t = token.to_string();
                ok_json(&project, &[op, &id, "--agent", &name, "--claim-token", &t, "--json"]);
            }
            "query" => {
                let v = ok_json(&project, &["query", "state:in_progress OR state:ready", "--json"]);
                assert!(v.is_array(), "{v}");
            }
            "dep_add" => {
                let (a, b) = (pick(&mut rng), pick(&mut rng));
                let out = run(&project, &["dep", "add", &a, &b, "--json"]);
                match out.status.code() {
                    Some(0) => acks.deps.push((a, b)),
                    // A cycle, or the issue depending on itself.
                    Some(1 | 4) => {
                        let code = parse_json(&out)["error"]["code"].clone();
                        assert!(
                            code == json!("DEP_CYCLE") || code == json!("DEP_SELF"),
                            "{}",
                            describe(&out)
                        );
                    }
                    _ => panic!("dep add: {}", describe(&out)),
                }
            }
            _ => {
                let target = pick(&mut rng);
                let label = format!("s{n}:batch{i}");
                let entries = json!([
                    {"op": "create", "key": "x", "title": format!("{name} batch {i}"), "state": "ready"},
                    {"op": "update", "id": target, "add_labels": [label]},
                ]);
                let v = batch(&project, &entries);
                let id = v["entries"][0]["id"].as_str().unwrap().to_string();
                shared.lock().unwrap().push(id.clone());
                acks.created.push(id);
                acks.labels.push((target, label));
            }
        }
        *acks.done.entry(op).or_default() += 1;
    }
    acks
}

#[test]
fn mixed_stress_leaves_a_consistent_store_with_every_acknowledged_write() {
    let env = TestEnv::new();
    let project = env.path().to_path_buf();
    let seed: Vec<String> = (0..12)
        .map(|i| {
            env.json(&["issue", "create", &format!("seed {i}"), "--state", "ready"])["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let shared = Arc::new(Mutex::new(seed));
    let start = Arc::new(Barrier::new(AGENTS));
    let threads: Vec<_> = (0..AGENTS)
        .map(|n| {
            let (p, s, b) = (project.clone(), shared.clone(), start.clone());
            std::thread::spawn(move || {
                b.wait();
                agent(p, n, s)
            })
        })
        .collect();
    let acks: Vec<Acks> = threads.into_iter().map(|t| t.join().expect("agent")).collect();
    let mut done: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &acks {
        for (op, n) in &a.done {
            *done.entry(op).or_default() += n;
        }
    }
    // Each kind of operation ran (a release or renew with no claim held is skipped).
    eprintln!("operations done: {done:?}");
    for op in ["create", "update", "claim", "query", "dep_add", "batch"] {
        assert!(done.get(op).copied().unwrap_or(0) > 0, "no {op} ran: {done:?}");
    }

    // The store is consistent: validate finds nothing, the index agrees with the files.
    let out = run(&project, &["validate", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let truth = Truth::read_all_valid(&env.issues_dir());
    assert_eq!(env.json(&["issue", "list"]), Value::Array(truth.clone()));
    let by_id: HashMap<String, &Value> =
        truth.iter().map(|v| (v["id"].as_str().unwrap().to_string(), v)).collect();
    // Every acknowledged write is there.
    for a in &acks {
        for id in &a.created {
            assert!(by_id.contains_key(id), "created {id} missing");
        }
        for (id, label) in &a.labels {
            assert!(
                by_id[id]["labels"].as_array().unwrap().contains(&json!(label)),
                "{id} lost {label}"
            );
        }
        for (id, dep) in &a.deps {
            assert!(
                by_id[id]["dependencies"].as_array().unwrap().contains(&json!(dep)),
                "{id} lost {dep}"
            );
        }
    }
    // No issue was claimed twice with one token; every live lease matches its issue.
    let mut tokens: BTreeSet<(String, u64)> = BTreeSet::new();
    for a in &acks {
        for c in &a.claims {
            assert!(tokens.insert(c.clone()), "{c:?} won twice");
            assert!(by_id[&c.0]["claim"]["token"].as_u64().unwrap() >= c.1);
        }
    }
    let leases: Value = serde_json::from_slice(
        &std::fs::read(env.jit_dir().join("local").join("leases.json")).unwrap_or(b"{}".to_vec()),
    )
    .unwrap();
    for (id, l) in leases["leases"].as_object().into_iter().flatten() {
        let issue = by_id[id];
        assert_eq!(issue["state"], json!("in_progress"), "a lease of a {} issue", issue["state"]);
        assert_eq!((&issue["claim"]["token"], &issue["assignee"]), (&l["token"], &l["agent"]));
    }
    // One event per committed change: an issue's events are as many as its version.
    let events = env.json(&["events", "--all"])["events"].clone();
    let mut per_issue: BTreeMap<String, u64> = BTreeMap::new();
    for e in events.as_array().unwrap() {
        for i in e["issues"].as_array().unwrap() {
            *per_issue.entry(i["id"].as_str().unwrap().to_string()).or_default() += 1;
        }
    }
    for (id, v) in &by_id {
        assert_eq!(per_issue.get(id).copied(), v["version"].as_u64(), "events of {id}");
    }
}

#[test]
fn readers_under_the_load_of_eight_writers_never_fail_and_see_every_acknowledged_write() {
    const WRITERS: usize = 8;
    const ROUNDS: usize = 12;
    let env = TestEnv::new();
    let project = env.path().to_path_buf();
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(WRITERS + 1));
    let r = {
        let (p, a, s, b) = (project.clone(), acked.clone(), stop.clone(), start.clone());
        std::thread::spawn(move || {
            b.wait();
            reader(p, a, s, 5)
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (p, a, b) = (project.clone(), acked.clone(), start.clone());
            std::thread::spawn(move || {
                b.wait();
                let mut mine = Vec::new();
                for r in 0..ROUNDS {
                    let v = ok_json(&p, &["issue", "create", &format!("w{w}.{r}"), "--json"]);
                    let id = v["id"].as_str().unwrap().to_string();
                    a.lock().unwrap().insert(id.clone(), 1);
                    mine.push(id);
                    let target = &mine[r / 2];
                    let label = format!("w{w}:r{r}");
                    let v =
                        ok_json(&p, &["issue", "update", target, "--add-label", &label, "--json"]);
                    let mut acked = a.lock().unwrap();
                    let version = v["version"].as_u64().unwrap();
                    let e = acked.entry(target.clone()).or_default();
                    *e = (*e).max(version);
                }
            })
        })
        .collect();
    let results: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
    stop.store(true, Ordering::SeqCst);
    let reads = r.join().expect("the reader failed or saw an inconsistent read");
    for w in results {
        w.expect("writer");
    }
    eprintln!("the reader listed {reads} times under {WRITERS} writers");
    assert!(reads > 1, "the reader ran alongside the writers");
    let truth = Truth::read_all_valid(&env.issues_dir());
    assert_eq!(truth.len(), WRITERS * ROUNDS);
    assert_eq!(env.json(&["issue", "list"]), Value::Array(truth));
}
