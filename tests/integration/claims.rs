//! Claims, leases and fencing through the real binary: pools of agents racing (distinct
//! names, one shared name, two worktrees of one clone), named claims, lease expiry with a
//! fixed clock, fencing of old holders and of `--steal`, renewals that touch no tracked
//! file, `--wait`, `status` and the refusals before any work.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::common::*;

/// Agents per pool race, and issues in the pool (each issue is fought over by every agent
/// still claiming). On a 2-core machine each race takes a few seconds (docs/performance.md).
const AGENTS: usize = 10;
const POOL: usize = 200;

fn jit(dir: &Path) -> Command {
    let mut c = Command::new(jit_bin());
    c.current_dir(dir).stdin(Stdio::null());
    crate::disk::without_jit_env(&mut c);
    c.env("JIT_LOCK_TIMEOUT_MS", "60000");
    c
}

fn parse(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", describe(out)))
}

/// Claim until NO_ISSUE_AVAILABLE; the ids and tokens won.
fn claim_loop(dir: PathBuf, agent: String) -> Vec<(String, u64, String)> {
    let mut won = Vec::new();
    loop {
        let out = jit(&dir).args(["claim", "--agent", &agent, "--json"]).output().unwrap();
        match out.status.code() {
            Some(0) => {
                let v = parse(&out);
                assert_eq!(v["issue"]["assignee"], json!(agent));
                assert_eq!(v["issue"]["claim"]["token"], v["token"]);
                won.push((
                    v["issue"]["id"].as_str().unwrap().to_string(),
                    v["token"].as_u64().unwrap(),
                    agent.clone(),
                ));
            }
            Some(5) => {
                assert_eq!(parse(&out)["error"]["code"], json!("NO_ISSUE_AVAILABLE"));
                return won;
            }
            _ => panic!("claim failed: {}", describe(&out)),
        }
    }
}

/// `n` ready issues, made by one batch (one commit: the pool is set up in a moment).
fn make_pool(dir: &Path, n: usize) -> BTreeSet<String> {
    let entries: Vec<Value> = (0..n)
        .map(|i| json!({"op": "create", "title": format!("p{i}"), "state": "ready"}))
        .collect();
    let mut child = jit(dir)
        .args(["batch", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::to_vec(&entries).unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_success(&out, &["batch"]);
    let ids: BTreeSet<String> = parse(&out)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), n);
    ids
}

/// Run `AGENTS` claim loops at once, agent `i` in `dirs[i % len]` named by `name(i)`.
fn race(dirs: &[PathBuf], name: impl Fn(usize) -> String) -> Vec<(String, u64, String)> {
    let threads: Vec<_> = (0..AGENTS)
        .map(|i| {
            let (dir, agent) = (dirs[i % dirs.len()].clone(), name(i));
            std::thread::spawn(move || claim_loop(dir, agent))
        })
        .collect();
    threads.into_iter().flat_map(|t| t.join().expect("agent thread")).collect()
}

fn check_race(pool: &BTreeSet<String>, won: &[(String, u64, String)], issues: &[PathBuf]) {
    assert_eq!(won.len(), pool.len(), "exactly one claim per issue");
    let ids: BTreeSet<String> = won.iter().map(|w| w.0.clone()).collect();
    assert_eq!(&ids, pool, "no issue twice, none left out");
    for (id, token, agent) in won {
        let on_disk: Vec<Value> = issues
            .iter()
            .filter_map(|d| std::fs::read(d.join(format!("{id}.json"))).ok())
            .map(|b| serde_json::from_slice(&b).unwrap())
            .filter(|v: &Value| v["state"] == json!("in_progress"))
            .collect();
        assert_eq!(on_disk.len(), 1, "claimed in exactly one worktree: {id}");
        assert_eq!(on_disk[0]["claim"]["token"], json!(token));
        assert_eq!(on_disk[0]["assignee"], json!(agent));
        assert_eq!(*token, 1);
    }
}

#[test]
fn agents_with_distinct_names_never_share_an_issue() {
    let env = TestEnv::new();
    let pool = make_pool(env.path(), POOL);
    let won = race(&[env.path().to_path_buf()], |i| format!("agent:a{i}"));
    check_race(&pool, &won, &[env.issues_dir()]);
}

#[test]
fn agents_sharing_one_name_never_share_an_issue() {
    let env = TestEnv::new();
    let pool = make_pool(env.path(), POOL);
    let won = race(&[env.path().to_path_buf()], |_| "agent:same".to_string());
    check_race(&pool, &won, &[env.issues_dir()]);
}

fn git(dir: &Path, home: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", home.join("gitconfig"))
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", describe(&out));
}

/// Two worktrees of one clone have their own issue files and writers' locks, but share the
/// lease store: an issue claimed in one is not claimable in the other.
#[test]
fn agents_in_two_worktrees_of_one_clone_never_share_an_issue() {
    if !have_tool("git", "git") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (home, main) = (t.path().to_path_buf(), t.path().join("main"));
    std::fs::write(home.join("gitconfig"), "").unwrap();
    std::fs::create_dir(&main).unwrap();
    git(&main, &home, &["init", "-q"]);
    assert_success(&jit(&main).arg("init").output().unwrap(), &["init"]);
    let pool = make_pool(&main, POOL);
    git(&main, &home, &["add", "-A"]);
    git(&main, &home, &["commit", "-qm", "pool"]);
    git(&main, &home, &["worktree", "add", "-q", "-b", "side", "../wt"]);
    let wt = t.path().join("wt");
    let won = race(&[main.clone(), wt.clone()], |i| format!("agent:a{i}"));
    check_race(&pool, &won, &[main.join(".jit/issues"), wt.join(".jit/issues")]);
}

#[test]
fn a_named_issue_goes_to_one_of_two_racing_agents() {
    let env = TestEnv::new();
    let id = env.create("Contested");
    env.ok(&["issue", "update", &id, "--state", "ready"]);
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let (dir, id) = (env.path().to_path_buf(), id.clone());
            std::thread::spawn(move || {
                jit(&dir)
                    .args(["claim", &id, "--agent", &format!("a{i}"), "--json"])
                    .output()
                    .unwrap()
            })
        })
        .collect();
    let outs: Vec<Output> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let mut codes: Vec<i32> = outs.iter().map(|o| o.status.code().unwrap()).collect();
    codes.sort();
    assert_eq!(codes, [0, 4], "{}\n{}", describe(&outs[0]), describe(&outs[1]));
    let loser = outs.iter().find(|o| o.status.code() == Some(4)).unwrap();
    let e = &parse(loser)["error"];
    assert_eq!(e["code"], json!("ALREADY_CLAIMED"));
    let winner = parse(outs.iter().find(|o| o.status.success()).unwrap());
    assert_eq!(e["agent"], winner["agent"]);
    assert_eq!(e["lease_expires_at"], winner["lease_expires_at"]);
}

/// `jit` at a given instant.
fn at(env: &TestEnv, now: &str, args: &[&str]) -> Output {
    env.cmd(args).env("JIT_NOW", now).output().unwrap()
}

fn at_json(env: &TestEnv, now: &str, args: &[&str], code: i32) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = at(env, now, &all);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", describe(&out));
    parse(&out)
}

const T0: &str = "2026-03-01T10:00:00Z";
const T_LATER: &str = "2026-03-01T10:05:00Z";
const T_EXPIRED: &str = "2026-03-01T10:11:00Z";

fn one_ready(env: &TestEnv) -> String {
    let id = env.create("Work");
    env.ok(&["issue", "update", &id, "--state", "ready"]);
    id
}

#[test]
fn an_expired_lease_frees_the_issue_and_fences_its_old_holder() {
    let env = TestEnv::fixed();
    let id = one_ready(&env);
    let c1 = at_json(&env, T0, &["claim", "--agent", "a1", "--lease", "10m"], 0);
    assert_eq!(c1["token"], json!(1));
    assert_eq!(c1["lease_expires_at"], json!("2026-03-01T10:10:00.000000Z"));
    // Still live: not claimable, and a supervisor sees nothing stuck.
    let none = at_json(&env, T_LATER, &["claim", "--agent", "a2"], 5)["error"].clone();
    assert_eq!((none["matched"].clone(), none["claimed"].clone()), (json!(1), json!(1)));
    assert_eq!(at_json(&env, T_LATER, &["status"], 0)["stuck"], json!(false));

    // Expired: status says stuck (exit 6) and logs the expiry, once.
    let status = at_json(&env, T_EXPIRED, &["status"], 6);
    assert_eq!(status["stuck"], json!(true));
    assert_eq!(status["leases"][0]["expired"], json!(true));
    at_json(&env, T_EXPIRED, &["status"], 6);
    let expiries = env.json(&["events", "--op", "lease_expired"])["events"].clone();
    assert_eq!(expiries.as_array().unwrap().len(), 1, "{expiries}");

    let c2 = at_json(&env, T_EXPIRED, &["claim", "--agent", "a2"], 0);
    assert_eq!((c2["issue"]["id"].clone(), c2["token"].clone()), (json!(id), json!(2)));
    let before = env.issue_files();
    let fenced = at_json(
        &env,
        T_EXPIRED,
        &["issue", "update", &id, "--title", "zombie", "--claim-token", "1"],
        4,
    );
    assert_eq!(fenced["error"]["code"], json!("CLAIM_FENCED"));
    assert_eq!(
        (fenced["error"]["presented"].clone(), fenced["error"]["current"].clone()),
        (json!(1), json!(2))
    );
    // The environment variable fences as the flag does; release and delete too.
    let out = env.cmd(&["release", &id, "--json"]).env("JIT_CLAIM_TOKEN", "1").output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let out =
        env.cmd(&["issue", "delete", &id, "--yes"]).env("JIT_CLAIM_TOKEN", "1").output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert_eq!(env.issue_files(), before, "a fenced write changes nothing");
    at_json(&env, T_EXPIRED, &["issue", "update", &id, "--title", "mine", "--claim-token", "2"], 0);
    // An empty JIT_CLAIM_TOKEN is unset.
    let out = env
        .cmd(&["issue", "update", &id, "--title", "x"])
        .env("JIT_CLAIM_TOKEN", "")
        .output()
        .unwrap();
    assert_success(&out, &["issue", "update"]);
}

#[test]
fn steal_takes_over_and_fences_the_old_holder() {
    let env = TestEnv::fixed();
    let id = one_ready(&env);
    at_json(&env, T0, &["claim", "--agent", "a1"], 0);
    let e = at_json(&env, T0, &["claim", &id, "--agent", "alice"], 4)["error"].clone();
    assert_eq!(e["code"], json!("ALREADY_CLAIMED"));
    assert_eq!(e["agent"], json!("a1"));
    let s = at_json(&env, T0, &["claim", &id, "--agent", "alice", "--steal"], 0);
    assert_eq!((s["token"].clone(), s["stolen_from"].clone()), (json!(2), json!("a1")));
    let e =
        at_json(&env, T0, &["issue", "update", &id, "--priority", "low", "--claim-token", "1"], 4);
    assert_eq!(e["error"]["code"], json!("CLAIM_FENCED"));
    let e = at_json(&env, T0, &["release", &id, "--agent", "a1"], 4);
    assert_eq!(e["error"]["code"], json!("ALREADY_CLAIMED"));
    assert_eq!(env.json(&["events", "--op", "claim_steal"])["events"].as_array().unwrap().len(), 1);
    // Released, then claimed again: the token goes on up.
    let r = at_json(&env, T0, &["release", &id, "--agent", "alice"], 0);
    assert_eq!((r["state"].clone(), r["assignee"].clone()), (json!("ready"), json!(null)));
    assert_eq!(at_json(&env, T0, &["claim", "--agent", "a3"], 0)["token"], json!(3));
}

#[test]
fn a_token_never_goes_backwards_when_the_file_lowers_it() {
    let env = TestEnv::fixed();
    let id = one_ready(&env);
    at_json(&env, T0, &["claim", "--agent", "a1"], 0);
    at_json(&env, T0, &["claim", &id, "--agent", "a2", "--steal"], 0);
    at_json(&env, T0, &["release", &id], 0);
    // A hand edit (or a merge) drops the claim from the file.
    let path = env.issues_dir().join(format!("{id}.json"));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("claim");
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    assert_eq!(at_json(&env, T0, &["claim", "--agent", "a3"], 0)["token"], json!(3));
}

fn tree_bytes(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(tree_bytes(&p));
        } else {
            out.insert(p.clone(), std::fs::read(&p).unwrap());
        }
    }
    out
}

#[test]
fn renew_changes_no_issue_file_and_no_index() {
    let env = TestEnv::fixed();
    let id = one_ready(&env);
    at_json(&env, T0, &["claim", "--agent", "a1", "--lease", "10m"], 0);
    env.ok(&["issue", "list"]); // the index is up to date
    let (issues, index) = (tree_bytes(&env.issues_dir()), tree_bytes(&env.jit_dir().join("index")));
    let events = env.json(&["events"])["events"].as_array().unwrap().len();
    let r = at_json(&env, T_LATER, &["renew", &id, "--lease", "1h", "--agent", "a1"], 0);
    assert_eq!(r["lease_expires_at"], json!("2026-03-01T11:05:00.000000Z"));
    assert_eq!(r["token"], json!(1));
    assert_eq!(tree_bytes(&env.issues_dir()), issues);
    assert_eq!(tree_bytes(&env.jit_dir().join("index")), index);
    assert_eq!(env.json(&["events"])["events"].as_array().unwrap().len(), events);
    // Renewed past the old expiry: not claimable, not stuck.
    at_json(&env, T_EXPIRED, &["claim", "--agent", "a2"], 5);
    assert_eq!(at_json(&env, T_EXPIRED, &["status"], 0)["leases"][0]["agent"], json!("a1"));
    let e = at_json(&env, T_LATER, &["renew", &id, "--agent", "a2"], 4)["error"].clone();
    assert_eq!(e["code"], json!("ALREADY_CLAIMED"));
    let e = at_json(&env, "2026-03-01T12:00:00Z", &["renew", &id], 4)["error"].clone();
    assert_eq!(e["code"], json!("LEASE_NOT_HELD"));
}

#[test]
fn require_token_refuses_writes_to_a_claimed_issue_without_it() {
    let env = TestEnv::fixed();
    let id = one_ready(&env);
    let config = env.jit_dir().join("config.json");
    let mut c: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    c["claims"] = json!({"require_token": true});
    std::fs::write(&config, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    env.ok(&["issue", "update", &id, "--title", "unclaimed: fine"]);
    at_json(&env, T0, &["claim", "--agent", "a1"], 0);
    let before = env.issue_files();
    let e = at_json(&env, T0, &["issue", "update", &id, "--title", "no token"], 4)["error"].clone();
    assert_eq!((e["code"].clone(), e["presented"].clone()), (json!("CLAIM_FENCED"), json!(null)));
    assert_eq!(env.issue_files(), before);
    at_json(&env, T0, &["issue", "update", &id, "--title", "with", "--claim-token", "1"], 0);
}

#[test]
fn claims_refuse_bad_input_before_any_work() {
    let env = TestEnv::fixed();
    one_ready(&env);
    let before = env.issue_files();
    for (args, code) in [
        (vec!["claim", "--agent", "two words"], "INVALID_ARGUMENT"),
        (vec!["claim", "--agent", "a", "--filter", "stat:ready"], "FILTER_INVALID"),
        (vec!["claim", "--agent", "a", "--lease", "soon"], "INVALID_ARGUMENT"),
        (vec!["claim", "--agent", "a", "--lease", "30d"], "INVALID_ARGUMENT"),
        (vec!["claim", "--agent", "a", "--wait", "0s"], "INVALID_ARGUMENT"),
    ] {
        let e = env.json_err(&args, 1);
        assert_eq!(e["code"], json!(code), "{args:?}: {e}");
    }
    assert_eq!(env.issue_files(), before);
    assert!(env.json(&["events", "--op", "claim"])["events"].as_array().unwrap().is_empty());
}

#[test]
fn claim_picks_by_priority_then_age_and_counts_what_it_skipped() {
    let env = TestEnv::fixed();
    let old = one_ready(&env);
    let urgent = env.create("Urgent");
    env.ok(&["issue", "update", &urgent, "--state", "ready", "--priority", "high"]);
    let dep = env.create("Dependency");
    let blocked =
        env.json(&["issue", "create", "Blocked", "--state", "ready", "--depends-on", &dep])["id"]
            .clone();
    let first = at_json(&env, T0, &["claim", "--agent", "a"], 0);
    assert_eq!(first["issue"]["id"], json!(urgent));
    assert_eq!(at_json(&env, T0, &["claim", "--agent", "a"], 0)["issue"]["id"], json!(old));
    let e = at_json(&env, T0, &["claim", "--agent", "a"], 5)["error"].clone();
    assert_eq!((e["blocked"].clone(), e["claimed"].clone()), (json!(1), json!(2)), "{e}");
    let e = at_json(&env, T0, &["claim", "--agent", "a", "--filter", "title:Blocked"], 5)["error"]
        .clone();
    assert_eq!(e["matched"], json!(1));
    let e = at_json(&env, T0, &["claim", blocked.as_str().unwrap(), "--agent", "a"], 4)["error"]
        .clone();
    assert_eq!(e["code"], json!("ISSUE_BLOCKED"));
}

/// A claim judges one priority at a time, highest first: a priority whose issues are all
/// blocked, claimed or gated gives way to the next, the oldest of the first priority with a
/// claimable issue wins, and with nothing claimable every priority is counted.
#[test]
fn claim_passes_over_a_priority_with_nothing_claimable() {
    let env = TestEnv::fixed();
    let dep = env.create("Dependency");
    let crit = |title: &str, extra: &[&str]| {
        let mut args = vec!["issue", "create", title, "--state", "ready", "-p", "critical"];
        args.extend_from_slice(extra);
        env.json(&args)["id"].as_str().unwrap().to_string()
    };
    crit("Blocked critical", &["--depends-on", &dep]);
    let held = crit("Held critical", &[]);
    at_json(&env, T0, &["claim", &held, "--agent", "other"], 0);
    let low = |now: &str, title: &str| {
        at_json(&env, now, &["issue", "create", title, "--state", "ready", "-p", "low"], 0)["id"]
            .clone()
    };
    let (low_new, low_old) = (low(T_LATER, "Low new"), low(T0, "Low old"));
    let medium = env.json(&["issue", "create", "Medium", "--state", "ready"])["id"].clone();
    let first = at_json(&env, T0, &["claim", "--agent", "a"], 0);
    assert_eq!(first["issue"]["id"], medium);
    assert_eq!(at_json(&env, T0, &["claim", "--agent", "a"], 0)["issue"]["id"], low_old);
    assert_eq!(at_json(&env, T0, &["claim", "--agent", "a"], 0)["issue"]["id"], low_new);
    let e = at_json(&env, T0, &["claim", "--agent", "a"], 5)["error"].clone();
    assert_eq!(
        (e["matched"].clone(), e["blocked"].clone(), e["claimed"].clone(), e["gated"].clone()),
        (json!(6), json!(1), json!(4), json!(0)),
        "{e}"
    );
    // The message accounts for all of them: the one left is not ready.
    assert_eq!(
        e["message"],
        "no issue available to claim: 6 matched (1 blocked, 0 gated, 4 claimed, 1 in a state \
         other than ready)"
    );
}

#[test]
fn a_waiting_agent_gets_the_issue_created_later_and_two_waiters_never_share() {
    let env = TestEnv::new();
    let spawn = |agent: &str| {
        jit(env.path())
            .args(["claim", "--agent", agent, "--wait", "120s", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (w1, w2) = (spawn("w1"), spawn("w2"));
    // Whatever the timing, each waiter is served by one of these two issues.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let a = env.create("First");
    let b = env.create("Second");
    env.ok(&["issue", "update", &a, "--state", "ready"]);
    env.ok(&["issue", "update", &b, "--state", "ready"]);
    let got: BTreeSet<String> = [w1, w2]
        .into_iter()
        .map(|w| {
            let out = w.wait_with_output().unwrap();
            assert_success(&out, &["claim", "--wait"]);
            parse(&out)["issue"]["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(got, BTreeSet::from([a, b]));
    // Nothing comes: the wait ends with exit 5.
    let out = jit(env.path())
        .args(["claim", "--agent", "w3", "--wait", "300ms", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
}

#[test]
fn a_waiting_agent_gets_an_issue_unblocked_later() {
    let env = TestEnv::new();
    let dep = env.create("Dependency");
    let id =
        env.json(&["issue", "create", "Waits", "--state", "ready", "--depends-on", &dep])["id"]
            .as_str()
            .unwrap()
            .to_string();
    let waiter = jit(env.path())
        .args(["claim", "--agent", "w", "--filter", "title:Waits", "--wait", "120s", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    env.ok(&["issue", "update", &dep, "--state", "ready"]);
    env.ok(&["issue", "update", &dep, "--state", "in_progress"]);
    env.ok(&["issue", "update", &dep, "--state", "done"]);
    let out = waiter.wait_with_output().unwrap();
    assert_success(&out, &["claim", "--wait"]);
    assert_eq!(parse(&out)["issue"]["id"], json!(id));
}
