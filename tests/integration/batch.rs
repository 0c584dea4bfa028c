//! `jit batch`: entries applied by the operations in one commit, all or nothing (also under
//! SIGKILL and with other writers at once), `@key` references, and one event per commit.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Value, json};

use crate::common::*;
use crate::crash::{Killer, Outcome};
use crate::disk::*;

/// Write `entries` to a file in the repository and return its name.
fn batch_file(dir: &Path, name: &str, entries: &Value) -> String {
    std::fs::write(dir.join(name), serde_json::to_vec(entries).unwrap()).unwrap();
    name.to_string()
}

fn events(env: &TestEnv) -> Vec<Value> {
    env.json(&["events", "--limit", "100000"])["events"].as_array().unwrap().clone()
}

#[test]
fn entries_apply_in_order_and_keys_name_earlier_creates() {
    let env = TestEnv::new();
    let old = env.create("old");
    let f = batch_file(
        env.path(),
        "b.json",
        &json!([
            {"op": "create", "key": "a", "title": "Parser", "labels": ["x:y"], "priority": "high"},
            {"op": "create", "key": "b", "title": "Docs", "depends_on": ["@a"]},
            {"op": "update", "id": "@a", "if_version": 1, "state": "ready", "add_labels": ["x:z"]},
            {"op": "dep_add", "id": "@a", "depends_on": [old]},
            {"op": "update", "id": old, "title": "old, renamed"},
        ]),
    );
    let before = events(&env).len();
    let reply = env.json(&["batch", &f]);
    let entries = reply["entries"].as_array().unwrap();
    let (a, b) = (entries[0]["id"].as_str().unwrap(), entries[1]["id"].as_str().unwrap());
    assert_eq!(
        entries[0],
        json!({"entry": 0, "op": "create", "key": "a", "id": a, "version": 1, "changed": true})
    );
    assert_eq!(
        entries[2],
        json!({"entry": 2, "op": "update", "id": a, "version": 1, "changed": true})
    );
    assert_eq!(entries[4]["version"], 2);
    assert_eq!(reply["dry_run"], false);
    let mut want = vec![
        json!({"id": a, "before": null, "after": 1}),
        json!({"id": b, "before": null, "after": 1}),
        json!({"id": old, "before": 1, "after": 2}),
    ];
    want.sort_by_key(|v| v["id"].as_str().unwrap().to_string());
    assert_eq!(reply["issues"], Value::Array(want.clone()));

    let av = env.json(&["issue", "show", a]);
    assert_eq!((av["state"].as_str(), av["priority"].as_str()), (Some("ready"), Some("high")));
    assert_eq!(av["labels"], json!(["x:y", "x:z"]));
    assert_eq!(av["dependencies"], json!([old]));
    assert_eq!(env.json(&["issue", "show", b])["dependencies"], json!([a]));
    // One commit, one event, naming every issue with its versions.
    let ev = events(&env);
    assert_eq!(ev.len(), before + 1);
    let last = &ev[0]; // newest first
    assert_eq!(last["op"], "batch");
    assert_eq!(last["issues"], Value::Array(want));
}

#[test]
fn one_bad_entry_changes_nothing_and_is_named() {
    let env = TestEnv::new();
    let id = env.create("target");
    let f = batch_file(
        env.path(),
        "b.json",
        &json!([
            {"op": "create", "key": "n", "title": "new"},
            {"op": "update", "id": id, "add_labels": ["x:y"]},
            {"op": "update", "id": id, "if_version": 7, "title": "t"},
        ]),
    );
    let (files, before) = (env.issue_files(), events(&env).len());
    let e = env.json_err(&["batch", &f], 4);
    assert_eq!(e["code"], "VERSION_CONFLICT");
    assert_eq!((e["entry"].clone(), e["op"].clone()), (json!(2), json!("update")));
    assert_eq!((e["expected"].clone(), e["actual"].clone()), (json!(7), json!(1)));
    assert!(e["message"].as_str().unwrap().starts_with("entry 2 (update): "), "{e}");
    assert_eq!(env.issue_files(), files, "nothing written");
    assert_eq!(events(&env).len(), before, "no event for a refused batch");

    // In human mode too: the error on stderr, exit 4, nothing on stdout.
    let out = env.run(&["batch", &f]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(env.issue_files(), files);
}

#[test]
fn a_cycle_made_inside_the_batch_is_refused() {
    let env = TestEnv::new();
    let f = batch_file(
        env.path(),
        "b.json",
        &json!([
            {"op": "create", "key": "a", "title": "a"},
            {"op": "create", "key": "b", "title": "b", "depends_on": ["@a"]},
            {"op": "dep_add", "id": "@a", "depends_on": ["@b"]},
        ]),
    );
    let e = env.json_err(&["batch", &f], 4);
    assert_eq!((e["code"].clone(), e["entry"].clone()), (json!("DEP_CYCLE"), json!(2)));
    assert_eq!(e["cycle"].as_array().unwrap().len(), 3);
    assert!(env.issue_files().is_empty());
}

#[test]
fn a_delete_removes_references_made_earlier_in_the_batch() {
    let env = TestEnv::new();
    let x = env.create("x");
    let f = batch_file(
        env.path(),
        "b.json",
        &json!([
            {"op": "create", "key": "a", "title": "a", "depends_on": [x]},
            {"op": "delete", "id": x},
        ]),
    );
    let reply = env.json(&["batch", &f]);
    let a = reply["entries"][0]["id"].as_str().unwrap();
    assert_eq!(reply["entries"][1]["references_removed"], json!([a]));
    assert_eq!(env.json(&["issue", "show", a])["dependencies"], json!([]));
    assert_eq!(env.issue_files().len(), 1);
}

#[test]
fn keys_and_shapes_are_checked_before_anything_is_written() {
    let env = TestEnv::new();
    let id = env.create("target");
    let files = env.issue_files();
    let cases = [
        (json!([{"op": "create", "title": "a"}, {"op": "update", "id": "@nope", "title": "x"}]), 1),
        (
            json!([{"op": "update", "id": "@b", "title": "x"}, {"op": "create", "key": "b", "title": "b"}]),
            0,
        ),
        (
            json!([{"op": "create", "key": "k", "title": "a"}, {"op": "create", "key": "k", "title": "b"}]),
            1,
        ),
        (json!([{"op": "update", "id": id, "titel": "x"}]), 0),
        (json!([{"op": "create", "title": "a"}, {"op": "merge", "id": id}]), 1),
    ];
    for (entries, at) in cases {
        let f = batch_file(env.path(), "b.json", &entries);
        let e = env.json_err(&["batch", &f], 1);
        assert_eq!(
            (e["code"].clone(), e["entry"].clone()),
            (json!("BATCH_INVALID"), json!(at)),
            "{entries}"
        );
        assert_eq!(env.issue_files(), files, "{entries}");
    }
    let f = batch_file(env.path(), "b.json", &json!({"op": "create"}));
    assert_eq!(env.json_err(&["batch", &f], 1)["code"], "BATCH_INVALID");
    let e = env.json_err(&["batch", "missing.json"], 74);
    assert_eq!(e["code"], "IO_ERROR");
}

#[test]
fn a_move_an_auto_gate_guards_is_refused_in_a_batch() {
    let env = TestEnv::new();
    env.ok(&["gate", "define", "tests", "--stage", "precheck", "--mode", "auto", "--", "true"]);
    let id = env.create("gated");
    env.ok(&["gate", "add", &id, "tests"]);
    env.ok(&["issue", "update", &id, "--state", "ready"]);
    let files = env.issue_files();
    let f = batch_file(
        env.path(),
        "b.json",
        &json!([{"op": "update", "id": id, "state": "in_progress"}]),
    );
    let e = env.json_err(&["batch", &f], 4);
    assert_eq!((e["code"].clone(), e["entry"].clone()), (json!("GATES_NOT_PASSED"), json!(0)));
    assert_eq!(e["gates"][0]["name"], "tests");
    assert_eq!(e["state"], Value::Null, "not moved to gated either");
    assert!(e["hint"].as_str().unwrap().contains(&format!("jit gate run {id}")), "{e}");
    assert_eq!(env.issue_files(), files);
    // A manual verdict in the same batch lets the move through.
    let f = batch_file(
        env.path(),
        "b.json",
        &json!([
            {"op": "gate_pass", "id": id, "gate": "tests", "by": "ci"},
            {"op": "update", "id": id, "state": "in_progress"},
        ]),
    );
    let reply = env.json(&["batch", &f]);
    assert_eq!(reply["issues"], json!([{"id": id, "before": 3, "after": 4}]));
    assert_eq!(env.json(&["issue", "show", &id])["state"], "in_progress");
}

#[test]
fn dry_run_replies_what_the_commit_replies_and_writes_nothing() {
    let env = TestEnv::fixed();
    let id = env.create("target");
    let f = batch_file(
        env.path(),
        "b.json",
        &json!([
            {"op": "create", "key": "a", "title": "a"},
            {"op": "dep_add", "id": id, "depends_on": ["@a"]},
            {"op": "bulk_update", "filter": "title:target", "priority": "high"},
        ]),
    );
    let files = env.issue_files();
    let before = events(&env).len();
    // The same seed for both runs, so the create draws the same id.
    let run = |extra: &[&str]| {
        let mut args = vec!["batch", f.as_str(), "--json"];
        args.extend_from_slice(extra);
        let out = env.cmd(&args).env("JIT_SEED", "99").output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        parse_json(&out)
    };
    let mut dry = run(&["--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(env.issue_files(), files, "a dry run writes nothing");
    assert_eq!(events(&env).len(), before);
    let real = run(&[]);
    dry["dry_run"] = json!(false);
    assert_eq!(dry, real);
    assert_eq!(real["entries"][2]["issue_ids"], json!([id]));
    assert_eq!(events(&env).len(), before + 1);
}

/// Three issues a batch makes, named by its number: all present with their edges, or none.
fn batch_entries(tag: &str, shared: &str) -> Value {
    json!([
        {"op": "create", "key": "a", "title": format!("{tag}-a"), "labels": [format!("b:{tag}")]},
        {"op": "create", "key": "b", "title": format!("{tag}-b"), "depends_on": ["@a"]},
        {"op": "create", "key": "c", "title": format!("{tag}-c")},
        {"op": "dep_add", "id": "@c", "depends_on": ["@a", "@b"]},
        {"op": "update", "id": "@a", "state": "ready", "add_labels": ["k:done"]},
        {"op": "update", "id": shared, "add_labels": [format!("b:{tag}")]},
    ])
}

/// Every batch tagged in `tags` is on disk whole (three issues, their edges, the label on the
/// shared issue) or not at all; returns the tags present.
fn whole_or_absent(issues: &[Value], shared: &str) -> BTreeSet<String> {
    let by_title: BTreeMap<&str, &Value> =
        issues.iter().map(|v| (v["title"].as_str().unwrap(), v)).collect();
    let shared_v = issues.iter().find(|v| v["id"] == shared).expect("shared issue");
    let shared_labels: BTreeSet<&str> =
        shared_v["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    let mut present = BTreeSet::new();
    let tags: BTreeSet<&str> = by_title.keys().filter_map(|t| t.strip_suffix("-a")).collect();
    for t in by_title.keys().filter_map(|t| t.rsplit_once('-').map(|(tag, _)| tag)) {
        assert!(tags.contains(t), "batch {t} torn: no -a issue");
    }
    for tag in tags {
        let get = |s: &str| {
            by_title.get(format!("{tag}-{s}").as_str()).unwrap_or_else(|| panic!("{tag} torn"))
        };
        let (a, b, c) = (get("a"), get("b"), get("c"));
        assert_eq!(a["state"], "ready", "{tag}");
        assert_eq!(a["labels"], json!([format!("b:{tag}"), "k:done"]), "{tag}");
        assert_eq!(b["dependencies"], json!([a["id"]]), "{tag}");
        assert_eq!(c["dependencies"], json!([a["id"], b["id"]]), "{tag}");
        assert!(shared_labels.contains(format!("b:{tag}").as_str()), "{tag}: shared label");
        present.insert(tag.to_string());
    }
    for l in &shared_labels {
        let tag = l.strip_prefix("b:").unwrap();
        assert!(present.contains(tag), "shared label {l} without its batch");
    }
    present
}

const BATCH_KILLS: u64 = 60;

#[test]
fn killed_batches_are_whole_or_absent() {
    let env = TestEnv::new();
    let shared = env.create("shared");
    let files: Vec<String> = (0..BATCH_KILLS + 3)
        .map(|k| {
            batch_file(env.path(), &format!("k{k}.json"), &batch_entries(&format!("k{k}"), &shared))
        })
        .collect();
    let samples = files[..3].iter().map(|f| env.cmd(&["batch", f, "--json"])).collect();
    let (mut killer, _) = Killer::calibrate(7, samples);
    let (mut killed, mut acked) = (0, BTreeSet::new());
    for f in &files[3..] {
        let tag = f.trim_end_matches(".json").to_string();
        match killer.run(env.cmd(&["batch", f, "--json"])) {
            Outcome::Acked(v) => {
                assert_eq!(v["issues"].as_array().unwrap().len(), 4, "{v}");
                acked.insert(tag);
            }
            Outcome::Killed => killed += 1,
        }
        // Readers take no lock; what they see is whole after every kill.
        let list = env.json(&["issue", "list"]);
        whole_or_absent(list.as_array().unwrap(), &shared);
    }
    assert!(killed > 0, "no kill landed: the test proved nothing");
    // The next writer finishes or discards what a kill interrupted.
    env.create("after the kills");
    let truth = Truth::read_all_valid(&env.issues_dir());
    let present = whole_or_absent(&truth, &shared);
    let lost: Vec<_> = acked.difference(&present).collect();
    assert!(lost.is_empty(), "acknowledged batches lost: {lost:?}");
    eprintln!(
        "batches: {BATCH_KILLS} runs in a {} us window, {} acknowledged, {killed} killed, {} \
         present",
        killer.window_us,
        acked.len(),
        present.len() - 3
    );
    let journal = env.jit_dir().join("journal");
    let left = std::fs::read_dir(&journal).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "the journal is empty after recovery");
}

const WRITERS: usize = 4;
const BATCHES_EACH: usize = 50;

#[test]
fn concurrent_batches_are_whole_and_events_match_versions() {
    let env = TestEnv::new();
    let shared = env.create("shared");
    let project = env.path().to_path_buf();
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (project, shared) = (project.clone(), shared.clone());
            std::thread::spawn(move || {
                let mut refused = 0;
                for i in 0..BATCHES_EACH {
                    let tag = format!("w{w}n{i}");
                    let f = batch_file(&project, &format!("{tag}.json"), &batch_entries(&tag, &shared));
                    jit_json(&project, &["batch", &f, "--json", "--timeout-ms", "600000"]);
                    if i % 10 == 0 {
                        // A single update between batches, and a batch refused whole.
                        let l = format!("u:{tag}");
                        jit_json(&project, &["issue", "update", &shared, "--add-label", &l, "--json"]);
                        let bad = json!([{"op": "create", "title": "never"},
                                         {"op": "update", "id": shared, "if_version": 0, "title": "x"}]);
                        let f = batch_file(&project, &format!("{tag}-bad.json"), &bad);
                        let out = jit_in(&project, &["batch", &f, "--json"]).output().unwrap();
                        assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
                        refused += 1;
                    }
                }
                refused
            })
        })
        .collect();
    let refused: usize = threads.into_iter().map(|t| t.join().expect("writer")).sum();
    assert_eq!(refused, WRITERS * BATCHES_EACH / 10);
    let truth = Truth::read_all_valid(&env.issues_dir());
    let singles: Vec<&Value> = truth.iter().filter(|v| v["title"] == "never").collect();
    assert!(singles.is_empty(), "a refused batch left an issue");
    let stripped: Vec<Value> = truth
        .iter()
        .map(|v| {
            let mut v = v.clone();
            if v["id"] == shared.as_str() {
                let keep: Vec<Value> = v["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|l| !l.as_str().unwrap().starts_with("u:"))
                    .cloned()
                    .collect();
                v["labels"] = Value::Array(keep);
            }
            v
        })
        .collect();
    assert_eq!(whole_or_absent(&stripped, &shared).len(), WRITERS * BATCHES_EACH);
    // One event per committed change: the events naming an issue are as many as its version.
    let mut per_issue: BTreeMap<String, u64> = BTreeMap::new();
    for e in events(&env) {
        for i in e["issues"].as_array().unwrap() {
            *per_issue.entry(i["id"].as_str().unwrap().to_string()).or_default() += 1;
        }
    }
    for v in &truth {
        let id = v["id"].as_str().unwrap();
        assert_eq!(per_issue.get(id).copied(), v["version"].as_u64(), "events of {id}");
    }
    assert_eq!(per_issue.len(), truth.len());
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(files_under(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn a_retry_with_the_same_key_returns_the_first_reply_and_changes_nothing() {
    let env = TestEnv::fixed();
    let entries = json!([
        {"op": "create", "key": "a", "title": "once"},
        {"op": "create", "title": "twice?", "depends_on": ["@a"]},
    ]);
    let keyed = json!({"idempotency_key": "agent-1:job-42", "entries": entries});
    let f = batch_file(env.path(), "b.json", &keyed);
    let first = env.json(&["batch", &f]);
    let (files, n_events) = (env.issue_files(), events(&env).len());
    let again = env.json(&["batch", &f]);
    assert_eq!(again, first, "the original reply");
    assert_eq!(env.issue_files(), files, "nothing changed");
    assert_eq!(events(&env).len(), n_events, "no event for a replay");
    // The flag is the same key as the field.
    let plain = batch_file(env.path(), "p.json", &entries);
    assert_eq!(env.json(&["batch", &plain, "--idempotency-key", "agent-1:job-42"]), first);
    assert_eq!(env.issue_files(), files);

    // The same key for other entries is refused, and changes nothing.
    let other = batch_file(env.path(), "o.json", &json!([{"op": "create", "title": "other"}]));
    let e = env.json_err(&["batch", &other, "--idempotency-key", "agent-1:job-42"], 4);
    assert_eq!(
        (e["code"].clone(), e["key"].clone()),
        (json!("IDEMPOTENCY_KEY_REUSED"), json!("agent-1:job-42"))
    );
    assert_eq!(env.issue_files(), files);
    let e = env.json_err(&["batch", &other, "--idempotency-key", "no spaces"], 1);
    assert_eq!(e["code"], "INVALID_IDEMPOTENCY_KEY");

    // Keys are local state: in no tracked file.
    for p in files_under(&env.jit_dir()) {
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        let local = p == env.jit_dir().join("local/idempotency-keys.json");
        assert_eq!(text.contains("job-42"), local, "{}", p.display());
    }
    let ignore = std::fs::read_to_string(env.jit_dir().join(".gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "/local/"), "{ignore}");

    // 24 hours later the key is forgotten: the batch applies again.
    let later = "2026-01-03T03:04:05Z"; // FIXED_NOW + 24 h
    let out = env.cmd(&["batch", &f, "--json"]).env("JIT_NOW", later).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(env.issue_files().len(), files.len() + 2);
}

#[test]
fn concurrent_retries_with_one_key_apply_it_once() {
    let env = TestEnv::new();
    let f = batch_file(
        env.path(),
        "b.json",
        &json!({"idempotency_key": "k", "entries": [{"op": "create", "title": "once"}]}),
    );
    let project = env.path().to_path_buf();
    let replies: Vec<Value> = (0..4)
        .map(|_| {
            let (project, f) = (project.clone(), f.clone());
            std::thread::spawn(move || jit_json(&project, &["batch", &f, "--json"]))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(replies.iter().all(|r| *r == replies[0]), "{replies:?}");
    assert_eq!(env.issue_files().len(), 1, "applied once");
    assert_eq!(events(&env).len(), 1);
}

/// The system calls a command makes that make data durable, counted by name (`strace -c`).
fn sync_calls(env: &TestEnv, args: &[&str]) -> BTreeMap<String, u64> {
    let mut c = std::process::Command::new("strace");
    c.args(["-f", "-c", "-e", "trace=fsync,fdatasync,syncfs", "--"])
        .arg(jit_bin())
        .args(args)
        .current_dir(env.path())
        .env("JIT_DURABILITY", "full");
    without_jit_env(&mut c);
    c.env("JIT_DURABILITY", "full");
    let out = c.output().expect("run strace");
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| {
            // `% time  seconds  usecs/call  calls  [errors]  syscall`
            let w: Vec<&str> = l.split_whitespace().collect();
            let name = *w.last()?;
            let calls = w.get(3)?.parse().ok()?;
            ["fsync", "fdatasync", "syncfs"].contains(&name).then(|| (name.to_string(), calls))
        })
        .collect()
}

/// A commit of many files makes them durable with one `syncfs` before its journal record is
/// retired, not with an fsync each; a commit of a few files keeps the per-file fsyncs. Either
/// way the journal record itself is fsynced before any file is touched.
#[test]
fn a_batch_of_many_files_is_made_durable_with_one_syncfs() {
    if !have_tool("strace", "strace") {
        return;
    }
    let traced = std::process::Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !traced {
        eprintln!("skipped: strace cannot trace here (ptrace not permitted)");
        return;
    }
    let env = TestEnv::new();
    let many: Vec<Value> =
        (0..40).map(|i| json!({"op": "create", "title": format!("Issue {i}")})).collect();
    let file = batch_file(env.path(), "many.json", &json!(many));
    let calls = sync_calls(&env, &["-q", "batch", &file]);
    assert_eq!(calls.get("syncfs"), Some(&1), "{calls:?}");
    // The record, the journal directory (twice: made, then emptied), the issues directory and
    // the event: a handful, not one per file.
    let per_file = calls.get("fsync").copied().unwrap_or(0);
    assert!(per_file < 10, "{calls:?}");
    let few = batch_file(
        env.path(),
        "few.json",
        &json!([{"op": "create", "title": "A"}, {"op": "create", "title": "B"}]),
    );
    let calls = sync_calls(&env, &["-q", "batch", &few]);
    assert_eq!(calls.get("syncfs"), None, "{calls:?}");
    assert!(calls.get("fsync").copied().unwrap_or(0) >= 3, "{calls:?}");
    assert_eq!(env.json(&["issue", "list", "--count"])["count"], 42);
}

#[test]
fn an_entry_presents_its_own_claim_token() {
    let env = TestEnv::fixed();
    let (id, other) = (env.create("claimed twice"), env.create("other"));
    env.ok(&["issue", "update", &id, "--state", "ready"]);
    env.json(&["claim", &id, "--agent", "a1"]);
    let stolen = env.json(&["claim", &id, "--agent", "a2", "--steal"]);
    assert_eq!(stolen["token"], 2);
    let (files, n_events) = (env.issue_files(), events(&env).len());

    // The old token on the second entry: refused, naming that entry; nothing written.
    let entries = |token: u64| {
        json!([
            {"op": "update", "id": other, "title": "fine"},
            {"op": "update", "id": id, "title": "zombie", "claim_token": token},
        ])
    };
    let f = batch_file(env.path(), "old.json", &entries(1));
    let e = env.json_err(&["batch", &f], 4);
    assert_eq!(
        (e["code"].clone(), e["entry"].clone(), e["presented"].clone()),
        (json!("CLAIM_FENCED"), json!(1), json!(1))
    );
    assert_eq!((env.issue_files(), events(&env).len()), (files.clone(), n_events));
    // It stands for the command's token, for its own entry only: with the current token in
    // one entry, the command's old one still fences the entry without one.
    let mixed = json!([
        {"op": "update", "id": id, "title": "mine", "claim_token": 2},
        {"op": "update", "id": id, "priority": "high"},
    ]);
    let f = batch_file(env.path(), "mixed.json", &mixed);
    let e = env.json_err(&["batch", &f, "--claim-token", "1"], 4);
    assert_eq!((e["code"].clone(), e["entry"].clone()), (json!("CLAIM_FENCED"), json!(1)));
    assert_eq!(env.issue_files(), files);
    // The right token passes.
    let f = batch_file(env.path(), "new.json", &entries(2));
    let reply = env.json(&["batch", &f]);
    assert_eq!(reply["issues"].as_array().unwrap().len(), 2, "{reply}");
    assert_eq!(env.json(&["issue", "show", &id])["title"], "zombie");

    let bad = json!([{"op": "delete", "id": id, "claim_token": "two"}]);
    let e = env.json_err(&["batch", &batch_file(env.path(), "bad.json", &bad)], 1);
    assert_eq!((e["code"].clone(), e["entry"].clone()), (json!("BATCH_INVALID"), json!(0)));
}
