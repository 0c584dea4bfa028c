//! `jit claim --remote` and `jit release --remote`: claims that hold across clones through
//! refs on a git remote (docs/git.md, "Remote claims"). A bare repository in the temp dir is
//! the remote; two clones race for the same issues.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::{T0, World, read_issue};
use crate::common::{describe, have_tool, jit_bin};

/// A bare remote `origin.git`, clone `a` (where the tracker and `issues` ready issues were
/// made and pushed) and clone `c` of the remote. Returns (a, c, the issue ids).
fn two_clones(w: &World, issues: usize) -> (PathBuf, PathBuf, Vec<String>) {
    let origin = w.path("origin.git");
    w.git(w.dir.path(), &["init", "-q", "--bare", "-b", "main", origin.to_str().unwrap()]);
    let a = w.repo("a");
    let entries: Vec<Value> = (0..issues)
        .map(|i| json!({"op": "create", "title": format!("Issue {i}"), "state": "ready"}))
        .collect();
    let batch = w.path("batch.json");
    std::fs::write(&batch, serde_json::to_vec(&entries).unwrap()).unwrap();
    let reply = w.jit_json(&a, T0, &["batch", batch.to_str().unwrap()]);
    let ids = reply["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("{reply}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_else(|| panic!("{r}")).to_string())
        .collect();
    w.commit(&a, "issues");
    w.git(&a, &["remote", "add", "origin", origin.to_str().unwrap()]);
    w.git(&a, &["push", "-q", "origin", "main"]);
    w.git(w.dir.path(), &["clone", "-q", origin.to_str().unwrap(), "c"]);
    let c = w.path("c");
    w.jit(&c, T0, &["git-setup"]);
    (a, c, ids)
}

/// The claim refs on the remote: issue id → commit.
fn remote_refs(w: &World) -> Vec<(String, String)> {
    let out = w.git(&w.path("origin.git"), &["for-each-ref", "--format=%(refname) %(objectname)"]);
    out.lines()
        .filter_map(|l| {
            let (r, o) = l.split_once(' ')?;
            Some((r.strip_prefix("refs/jit/claims/")?.to_string(), o.to_string()))
        })
        .collect()
}

/// The claim record a remote ref's commit holds.
fn record(w: &World, id: &str) -> Value {
    let r = format!("refs/jit/claims/{id}");
    let msg = w.git(&w.path("origin.git"), &["log", "-1", "--format=%B", &r]);
    serde_json::from_str(msg.trim()).unwrap_or_else(|e| panic!("{e}: {msg}"))
}

fn error_of(out: &std::process::Output) -> Value {
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(out)));
    v["error"].clone()
}

/// Two clones, two agents each, race for 50 issues through one remote: one agent per clone
/// claims the best issue again and again, the other names every issue in turn. Each issue is
/// won exactly once, and the remote's ref of each names its winner.
#[test]
fn two_clones_racing_50_remote_claims_win_each_issue_once() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let (a, c, ids) = two_clones(&w, 50);
    // The environment of every command, taken from the world (not Sync) for the threads.
    let mut probe = Command::new(jit_bin());
    w.env(&mut probe);
    let env: Vec<(OsString, Option<OsString>)> =
        probe.get_envs().map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned()))).collect();
    let run = move |dir: &Path, args: &[&str], env: &[(OsString, Option<OsString>)]| {
        let mut cmd = Command::new(jit_bin());
        cmd.args(args).current_dir(dir).stdin(Stdio::null());
        for (k, v) in env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.output().expect("run jit")
    };
    let mut handles = Vec::new();
    let start = std::sync::Arc::new(std::sync::Barrier::new(4));
    for (clone, dir) in [("a", a.clone()), ("c", c.clone())] {
        let (env1, env2) = (env.clone(), env.clone());
        let dir2 = dir.clone();
        let agent = format!("picker-{clone}");
        let go = start.clone();
        handles.push(std::thread::spawn(move || {
            go.wait();
            let mut won = Vec::new();
            loop {
                let args = ["claim", "--agent", &agent, "--remote", "origin", "--json"];
                let out = run(&dir, &args, &env1);
                match out.status.code() {
                    Some(0) => {
                        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
                        won.push((v["issue"]["id"].as_str().unwrap().to_string(), agent.clone()));
                    }
                    Some(5) => return won,
                    _ => panic!("{agent}: {}", describe(&out)),
                }
            }
        }));
        let agent = format!("namer-{clone}");
        let ids = ids.clone();
        let go = start.clone();
        handles.push(std::thread::spawn(move || {
            go.wait();
            let mut won = Vec::new();
            for id in &ids {
                let args = ["claim", id, "--agent", &agent, "--remote", "origin", "--json"];
                let out = run(&dir2, &args, &env2);
                match out.status.code() {
                    Some(0) => won.push((id.clone(), agent.clone())),
                    Some(4) => {
                        let code = error_of(&out)["code"].clone();
                        let lost = [json!("ALREADY_CLAIMED"), json!("TRANSITION_REFUSED")];
                        assert!(lost.contains(&code), "{agent}: {}", describe(&out));
                    }
                    _ => panic!("{agent}: {}", describe(&out)),
                }
            }
            won
        }));
    }
    let mut wins: Vec<(String, String)> =
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    wins.sort();
    for agent in ["picker-a", "namer-a", "picker-c", "namer-c"] {
        let n = wins.iter().filter(|(_, a)| a == agent).count();
        eprintln!("{agent} won {n}");
    }
    let won_ids: Vec<&String> = wins.iter().map(|(id, _)| id).collect();
    let mut unique = won_ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), won_ids.len(), "an issue won twice: {wins:?}");
    let mut all = ids.clone();
    all.sort();
    assert_eq!(unique, all.iter().collect::<Vec<_>>(), "every issue won once");
    let refs = remote_refs(&w);
    assert_eq!(refs.len(), 50, "{refs:?}");
    for (id, agent) in &wins {
        assert_eq!(record(&w, id)["agent"], json!(agent), "{id}");
        // The winner's clone has it in progress, assigned to the winner.
        let dir = if agent.ends_with("-a") { &a } else { &c };
        let issue = read_issue(dir, id);
        assert_eq!((&issue["state"], &issue["assignee"]), (&json!("in_progress"), &json!(agent)));
    }
    // Each clone's losers changed nothing: an issue the other clone won is ready here.
    for (id, agent) in &wins {
        let other = if agent.ends_with("-a") { &c } else { &a };
        assert_eq!(read_issue(other, id)["state"], json!("ready"), "{id} in the loser's clone");
    }
}

const T_10M: &str = "2026-03-01T09:10:00Z";
const T_1H: &str = "2026-03-01T10:00:00Z";

/// A live remote claim refuses the other clone (ALREADY_CLAIMED naming the winner, nothing
/// changed there); once its lease has expired (a fixed clock), the other clone takes the ref
/// over with a lease-checked push (the new commit's parent is the old claim), and the old
/// holder can no longer release the ref.
#[test]
fn an_expired_remote_claim_is_taken_over_and_a_live_one_refuses() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let (a, c, ids) = two_clones(&w, 2);
    let x = &ids[0];
    let mine = w.jit_json(
        &a,
        T0,
        &["claim", x, "--agent", "alice", "--remote", "origin", "--lease", "30m"],
    );
    let first = mine["remote"]["object"].as_str().unwrap().to_string();
    assert_eq!(remote_refs(&w), vec![(x.clone(), first.clone())]);
    assert_eq!(record(&w, x)["agent"], json!("alice"));

    let before = std::fs::read(super::issue_file(&c, x)).unwrap();
    let args = ["claim", x, "--agent", "bob", "--remote", "origin", "--json"];
    let out = w.jit_run(&c, T_10M, &args);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let err = error_of(&out);
    assert_eq!(
        (&err["code"], &err["agent"], &err["remote"], &err["lease_expires_at"]),
        (
            &json!("ALREADY_CLAIMED"),
            &json!("alice"),
            &json!("origin"),
            &json!("2026-03-01T09:30:00.000000Z")
        )
    );
    assert_eq!(std::fs::read(super::issue_file(&c, x)).unwrap(), before, "nothing changed");
    let status = w.jit_json(&c, T_10M, &["status"]);
    assert_eq!(status["leases"], json!([]), "no lease taken");
    // Without an id, bob gets the other issue.
    let other = w.jit_json(&c, T_10M, &["claim", "--agent", "bob", "--remote", "origin"]);
    assert_eq!(other["issue"]["id"], json!(ids[1]));

    // An hour later alice's lease is over: bob takes the ref over.
    let taken = w.jit_json(&c, T_1H, &["claim", x, "--agent", "bob", "--remote", "origin"]);
    let remote = &taken["remote"];
    let host = record(&w, x)["host"].as_str().unwrap().to_string();
    assert_eq!(remote["taken_over_from"], json!(format!("alice (host {host})")));
    let second = remote["object"].as_str().unwrap();
    assert_eq!(record(&w, x)["agent"], json!("bob"));
    let parent = w.git(&w.path("origin.git"), &["rev-parse", &format!("{second}^")]);
    assert_eq!(parent.trim(), first, "the takeover's parent is the old claim");
    assert!(taken["token"].as_u64() > mine["token"].as_u64(), "{taken}");

    // alice's release --remote is refused (bob's claim is live) and changes nothing of hers.
    let before = std::fs::read(super::issue_file(&a, x)).unwrap();
    let out = w.jit_run(&a, T_1H, &["release", x, "--remote", "origin", "--json"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert_eq!(error_of(&out)["agent"], json!("bob"));
    assert_eq!(std::fs::read(super::issue_file(&a, x)).unwrap(), before);
    assert_eq!(remote_refs(&w).iter().find(|(i, _)| i == x).unwrap().1, second);
}

/// `renew --remote` moves the claim ref to a commit with the new expiry, so the other clone
/// stays refused past the first expiry; a renewal of a ref taken over is refused and leaves
/// the local lease as it was.
#[test]
fn renew_remote_extends_the_claim_ref() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let (a, c, ids) = two_clones(&w, 1);
    let x = &ids[0];
    let args = ["claim", x, "--agent", "alice", "--remote", "origin", "--lease", "30m"];
    let first = w.jit_json(&a, T0, &args)["remote"]["object"].as_str().unwrap().to_string();
    let out = w.jit_run(&c, T0, &["renew", x, "--remote", "origin", "--json"]);
    assert_eq!(error_of(&out)["code"], json!("LEASE_NOT_HELD"), "c holds no lease");
    let renewed = w.jit_json(&a, T_10M, &["renew", x, "--remote", "origin", "--lease", "1h"]);
    assert_eq!(renewed["lease_expires_at"], json!("2026-03-01T10:10:00.000000Z"));
    let second = renewed["remote"]["object"].as_str().unwrap();
    assert_eq!(remote_refs(&w), vec![(x.clone(), second.to_string())]);
    assert_eq!(record(&w, x)["lease_expires_at"], json!("2026-03-01T10:10:00.000000Z"));
    let parent = w.git(&w.path("origin.git"), &["rev-parse", &format!("{second}^")]);
    assert_eq!(parent.trim(), first);
    // Past the first expiry, bob is still refused; past the renewed one, he takes it over.
    let bob = ["claim", x, "--agent", "bob", "--remote", "origin", "--json"];
    assert_eq!(w.jit_run(&c, T_1H, &bob).status.code(), Some(4));
    w.jit(&c, "2026-03-01T10:11:00Z", &bob);
    let status =
        |dir: &Path| w.jit_json(dir, "2026-03-01T10:05:00Z", &["status"])["leases"].clone();
    let before = status(&a);
    let out = w.jit_run(&a, "2026-03-01T10:05:00Z", &["renew", x, "--remote", "origin", "--json"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert_eq!(error_of(&out)["agent"], json!("bob"));
    assert_eq!(status(&a), before, "the local lease is unchanged");
}

/// A claim whose push won but whose issue file then cannot be written (an I/O error at the
/// issue file's temp write, the second temp write of a claim after the lease file) leaves
/// nothing: the ref is deleted again, the lease given back, the file unchanged.
#[test]
fn a_remote_claim_that_fails_locally_gives_the_ref_back() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let (_a, c, ids) = two_clones(&w, 1);
    let x = &ids[0];
    let before = std::fs::read(super::issue_file(&c, x)).unwrap();
    let mut cmd = Command::new(jit_bin());
    cmd.args(["claim", x, "--agent", "bob", "--remote", "origin", "--json"]).current_dir(&c);
    w.env(&mut cmd).env("JIT_NOW", T0).env("JIT_TEST_FAULT", "eio:temp_written:2");
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(74), "{}", describe(&out));
    assert_eq!(remote_refs(&w), vec![], "the ref was deleted again");
    assert_eq!(std::fs::read(super::issue_file(&c, x)).unwrap(), before);
    assert_eq!(w.jit_json(&c, T0, &["status"])["leases"], json!([]), "no lease left");
    // And the claim can be made again at once.
    w.jit(&c, T0, &["claim", x, "--agent", "bob", "--remote", "origin"]);
    assert_eq!(remote_refs(&w).len(), 1);
}

/// `claim --wait --remote` notices another clone's release, which changes no file of its own
/// clone (it asks the remote again every second).
#[test]
fn claim_wait_remote_takes_the_issue_another_clone_releases() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let (a, c, ids) = two_clones(&w, 1);
    let x = &ids[0];
    w.jit(&a, T0, &["claim", x, "--agent", "alice", "--remote", "origin"]);
    let mut cmd = Command::new(jit_bin());
    cmd.args(["claim", x, "--agent", "bob", "--remote", "origin", "--wait", "10m", "--json"]);
    w.env(&mut cmd).env("JIT_NOW", T0).current_dir(&c).stdin(Stdio::null()).stdout(Stdio::piped());
    let waiter = cmd.spawn().unwrap();
    // ALREADY_CLAIMED is not what --wait waits out: wait for an issue to show up instead.
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let tracking = format!("refs/jit/remotes/origin/claims/{x}");
    w.git(&c, &["update-ref", "-d", &tracking]);
    let mut cmd = Command::new(jit_bin());
    cmd.args(["claim", "--agent", "bob", "--remote", "origin", "--wait", "10m", "--json"]);
    w.env(&mut cmd).env("JIT_NOW", T0).current_dir(&c).stdin(Stdio::null()).stdout(Stdio::piped());
    let waiter = cmd.spawn().unwrap();
    // Its first try fetched alice's claim into c (and found nothing claimable): from then on
    // nothing in c changes when a releases.
    while !w.git_run(&c, &["rev-parse", "-q", "--verify", &tracking]).status.success() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    w.jit(&a, T0, &["release", x, "--remote", "origin"]);
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["issue"]["id"], json!(x));
    assert_eq!(record(&w, x)["agent"], json!("bob"));
}

/// `release --remote` deletes the ref only while it is this clone's; the issue is released
/// as by `release`; a second release finds no ref and succeeds. A release without `--remote`
/// leaves the ref (with a warning), which the clone can still delete or claim back.
#[test]
fn release_remote_deletes_the_claim_ref() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let (_a, c, ids) = two_clones(&w, 1);
    let x = &ids[0];
    w.jit(&c, T0, &["claim", x, "--agent", "bob", "--remote", "origin"]);
    assert_eq!(remote_refs(&w).len(), 1);
    let out = w.jit_run(&c, T0, &["release", x, "--remote", "origin"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(super::stderr(&out), "deleted the claim ref on origin\n");
    assert_eq!(remote_refs(&w), vec![]);
    assert_eq!(read_issue(&c, x)["state"], json!("ready"));
    // Another clone may now claim it at once.
    let a = w.path("a");
    w.jit(&a, T0, &["claim", x, "--agent", "alice", "--remote", "origin", "--lease", "30m"]);
    // A release without --remote leaves the ref, and says so.
    let out = w.jit_run(&a, T0, &["release", x]);
    assert_eq!(
        super::stderr(&out),
        "warning: the claim's ref on origin stays until its lease expires \
         (2026-03-01T09:30:00.000000Z): release with --remote origin to delete it with the claim\n"
    );
    assert_eq!(remote_refs(&w).len(), 1);
    // This clone still knows the ref is its own: it can delete it later, or claim it back.
    let out = w.jit_run(&a, T0, &["release", x, "--remote", "origin"]);
    assert_eq!(super::stderr(&out), "deleted the claim ref on origin\n", "{}", describe(&out));
    w.jit(&a, T0, &["claim", x, "--agent", "alice", "--remote", "origin"]);
    w.jit(&a, T0, &["release", x]);
    let back = w.jit_json(&a, T0, &["claim", x, "--agent", "alice", "--remote", "origin"]);
    assert_eq!(back["remote"].get("taken_over_from"), None, "its own ref: {back}");
    w.jit(&a, T0, &["release", x, "--remote", "origin"]);
    let out = w.jit_run(&a, T0, &["release", x, "--remote", "origin"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(super::stderr(&out), "origin had no claim ref of the issue\n");
}

/// A remote this clone does not have is REMOTE_UNKNOWN (exit 3), git missing is
/// GIT_NOT_FOUND (exit 1), a tracker outside git NOT_A_GIT_REPOSITORY; none changes anything.
#[test]
fn remote_claims_without_the_remote_or_without_git_are_clear_errors() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let (_a, c, ids) = two_clones(&w, 1);
    let before = super::snapshot_tree(&c.join(".jit/issues"));
    let out = w.jit_run(&c, T0, &["claim", "--agent", "bob", "--remote", "upstream", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let err = error_of(&out);
    assert_eq!(
        (&err["code"], &err["remote"], &err["known"]),
        (&json!("REMOTE_UNKNOWN"), &json!("upstream"), &json!(["origin"]))
    );
    let out = w.jit_run(&c, T0, &["release", &ids[0], "--remote", "upstream", "--json"]);
    assert_eq!(error_of(&out)["code"], json!("REMOTE_UNKNOWN"));

    let bin_dir = Path::new(jit_bin()).parent().unwrap().to_path_buf();
    let mut cmd = Command::new(jit_bin());
    cmd.args(["claim", "--agent", "bob", "--remote", "origin", "--json"]).current_dir(&c);
    w.env(&mut cmd).env("PATH", &bin_dir).stdin(Stdio::null());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(error_of(&out)["code"], json!("GIT_NOT_FOUND"));
    assert_eq!(super::snapshot_tree(&c.join(".jit/issues")), before, "nothing changed");
    assert_eq!(remote_refs(&w), vec![]);

    // A tracker outside any git work tree.
    let plain = w.path("plain");
    std::fs::create_dir(&plain).unwrap();
    w.jit(&plain, T0, &["init"]);
    let out = w.jit_run(&plain, T0, &["claim", "--agent", "bob", "--remote", "origin", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(error_of(&out)["code"], json!("NOT_A_GIT_REPOSITORY"));
}

/// The `--json` shapes: a remote claim's reply and a lost race's error (ids, commits and the
/// host replaced).
#[test]
fn remote_claim_json_shapes() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let (a, c, ids) = two_clones(&w, 1);
    let x = &ids[0];
    let args = ["claim", x, "--agent", "alice", "--remote", "origin", "--json", "--lease", "30m"];
    let won = w.jit(&a, T0, &args);
    let lost = w.jit_run(&c, T0, &["claim", x, "--agent", "bob", "--remote", "origin", "--json"]);
    let host = record(&w, x)["host"].as_str().unwrap().to_string();
    let object = remote_refs(&w)[0].1.clone();
    let text = format!("{won}{}", String::from_utf8_lossy(&lost.stdout))
        .replace(x, "[ID]")
        .replace(&object, "[OBJECT]")
        .replace(&format!("\"{host}\""), "\"[HOST]\"")
        .replace(&format!("host {host}"), "host [HOST]");
    insta::assert_snapshot!("claim-remote-json", text);
}
