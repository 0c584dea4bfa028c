//! `jit validate --fix`: each kind of damage, made by hand in a real repository, is repaired
//! (or moved into quarantine with a note); the dry run lists exactly what the fix then does
//! and changes nothing; a second fix changes nothing and `validate` then exits 0.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::*;

/// `jit validate --fix --json` (plus `extra`): exit code and reply.
fn fix(env: &TestEnv, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["validate", "--fix", "--json"];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", describe(&out)));
    (out.status.code().unwrap(), v)
}

/// The actions without their sentences (a dry run says "would ...").
fn actions(v: &Value) -> Vec<Value> {
    v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let mut a = a.clone();
            a.as_object_mut().unwrap().remove("message");
            a
        })
        .collect()
}

fn codes(v: &Value, key: &str) -> Vec<String> {
    v[key].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap().to_string()).collect()
}

/// Every entry under `.jit/` (but lock.info, which taking the lock rewrites) with its bytes,
/// or its kind for what is not a regular file.
fn tree(env: &TestEnv) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let root = env.jit_dir();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if rel == "lock.info" {
                continue;
            }
            let content = if m.is_dir() {
                stack.push(p.clone());
                b"<dir>".to_vec()
            } else if m.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                b"<special>".to_vec()
            };
            out.insert(rel, content);
        }
    }
    out
}

fn file_of(env: &TestEnv, id: &str) -> std::path::PathBuf {
    env.issues_dir().join(format!("{id}.json"))
}

fn edit(env: &TestEnv, id: &str, f: impl FnOnce(&mut Value)) {
    let p = file_of(env, id);
    let mut v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

use crate::validate::journal_record;

/// The dry run, then the fix, then a second fix and `validate`: the checks every case shares.
/// Returns the fix's reply.
fn dry_run_fix_and_fix_again(env: &TestEnv, name: &str, extra: &[&str]) -> Value {
    let before = tree(env);
    let mut dry_args = vec!["--dry-run"];
    dry_args.extend_from_slice(extra);
    let (dry_code, dry) = fix(env, &dry_args);
    assert_eq!(tree(env), before, "{name}: the dry run changed something: {dry:#}");
    assert_eq!(dry["dry_run"], json!(true));
    let (code, done) = fix(env, extra);
    assert_eq!(code, 0, "{name}: {done:#}");
    assert_eq!(actions(&dry), actions(&done), "{name}: the dry run listed other repairs");
    let serious = dry["actions"].as_array().unwrap().iter().any(|a| a["severity"] != "info");
    assert_eq!(dry_code, if serious { 6 } else { 0 }, "{name}: exit of the dry run");
    assert!(!done["actions"].as_array().unwrap().is_empty(), "{name}: nothing done");
    for a in done["actions"].as_array().unwrap() {
        let Some(to) = a["to"].as_str() else { continue };
        assert!(std::fs::symlink_metadata(env.path().join(to)).is_ok(), "{name}: {to} missing");
        if a["action"] == "quarantine" {
            let note: Value = serde_json::from_slice(
                &std::fs::read(env.path().join(format!("{to}.note.json"))).unwrap(),
            )
            .unwrap();
            assert_eq!(note["from"], a["path"], "{name}: {note:#}");
            assert_eq!(note["code"], a["code"], "{name}: {note:#}");
        }
    }
    let after = tree(env);
    let (code, again) = fix(env, extra);
    assert_eq!((code, again["actions"].clone()), (0, json!([])), "{name}: {again:#}");
    assert_eq!(tree(env), after, "{name}: the second fix changed something");
    let out = env.run(&["validate"]);
    assert_eq!(out.status.code(), Some(0), "{name}: {}", describe(&out));
    done
}

type Damage = fn(&TestEnv, &str, &str) -> Vec<(&'static str, &'static str)>;

#[test]
fn every_repairable_damage_is_repaired_once_and_the_dry_run_says_so() {
    let cases: Vec<(&str, Damage)> = vec![
        ("truncated", |env, a, _| {
            let p = file_of(env, a);
            let bytes = std::fs::read(&p).unwrap();
            std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
            // B depended on A: that dependency goes too, or it would dangle.
            vec![("ISSUE_TRUNCATED", "quarantine"), ("DEP_MISSING", "remove_dependency")]
        }),
        ("not json", |env, _, b| {
            std::fs::write(file_of(env, b), b"{\"id\": nope}\n").unwrap();
            vec![("ISSUE_UNPARSEABLE", "quarantine")]
        }),
        ("conflict markers", |env, _, b| {
            let p = file_of(env, b);
            let text = std::fs::read_to_string(&p).unwrap().replace(
                "  \"title\": \"Second\",\n",
                "<<<<<<< HEAD\n  \"title\": \"Second\",\n=======\n  \"title\": \"Other\",\n>>>>>>> b\n",
            );
            std::fs::write(&p, text).unwrap();
            vec![("ISSUE_CONFLICT_MARKERS", "quarantine")]
        }),
        ("bad state", |env, _, b| {
            edit(env, b, |v| v["state"] = json!("doing"));
            vec![("ISSUE_SCHEMA", "quarantine")]
        }),
        ("id mismatch", |env, _, b| {
            edit(env, b, |v| v["id"] = json!("01kjm0000000000000000000zz"));
            vec![("ISSUE_ID_MISMATCH", "rename")]
        }),
        ("duplicate id", |env, a, _| {
            std::fs::copy(file_of(env, a), file_of(env, "01kjm0000000000000000000zz")).unwrap();
            vec![("ISSUE_DUPLICATE_ID", "quarantine")]
        }),
        ("symbolic link", |env, _, b| {
            let p = file_of(env, b);
            std::fs::rename(&p, env.path().join("elsewhere.json")).unwrap();
            std::os::unix::fs::symlink(env.path().join("elsewhere.json"), &p).unwrap();
            vec![("ISSUE_NOT_REGULAR", "quarantine")]
        }),
        ("fifo", |env, _, _| {
            let st = Command::new("mkfifo")
                .arg(file_of(env, "01kjm0000000000000000000zz"))
                .status()
                .unwrap();
            assert!(st.success());
            vec![("ISSUE_NOT_REGULAR", "quarantine")]
        }),
        ("directory", |env, _, _| {
            std::fs::create_dir(file_of(env, "01kjm0000000000000000000zz")).unwrap();
            vec![("ISSUE_NOT_REGULAR", "quarantine")]
        }),
        ("foreign file", |env, _, _| {
            std::fs::write(env.issues_dir().join("README.md"), "notes").unwrap();
            vec![("FOREIGN_FILE", "quarantine")]
        }),
        ("temp files of killed writers", |env, a, _| {
            for n in 0..3 {
                let name = format!(".tmp.999999999.{n}.{a}.json");
                std::fs::write(env.issues_dir().join(name), "{\"id\"").unwrap();
            }
            vec![("TEMP_FILE", "remove_temp_file"); 3]
        }),
        ("dependency missing", |env, _, b| {
            edit(env, b, |v| v["dependencies"] = json!(["01kjm0000000000000000000zz"]));
            vec![("DEP_MISSING", "remove_dependency")]
        }),
        ("dependency on itself", |env, a, _| {
            edit(env, a, |v| v["dependencies"] = json!([a]));
            vec![("DEP_SELF", "remove_dependency")]
        }),
        ("cycle", |env, a, b| {
            edit(env, a, |v| v["dependencies"] = json!([b]));
            vec![("DEP_CYCLE", "remove_dependency")]
        }),
        ("gate not in the registry", |env, a, _| {
            edit(env, a, |v| v["gates"] = json!({"lint": {"status": "pending"}}));
            vec![("GATE_UNKNOWN", "remove_gate")]
        }),
        ("journal record in flight", |env, a, _| {
            let content = std::fs::read_to_string(file_of(env, a)).unwrap();
            let content = content.replace("\"First\"", "\"First, rolled forward\"");
            journal_record(
                env,
                &[json!({"op": "write", "path": format!("issues/{a}.json"), "content": content})],
            );
            vec![("JOURNAL_PENDING", "roll_forward")]
        }),
        ("journal record never finished", |env, _, _| {
            let dir = env.jit_dir().join("journal");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(".tmp.999999999.0.1.json"), "{\"format\":1").unwrap();
            vec![("JOURNAL_INCOMPLETE", "discard_record")]
        }),
        ("journal record damaged", |env, _, _| {
            let dir = env.jit_dir().join("journal");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("1.json"), "{\"format\":1,\"checksum\":1,\"ops\":[]}").unwrap();
            vec![("JOURNAL_DAMAGED", "quarantine_record")]
        }),
        ("torn event line", |env, _, _| {
            let seg = env.jit_dir().join("events/2026-01.jsonl");
            let mut bytes = std::fs::read(&seg).unwrap();
            bytes.extend_from_slice(b"{\"id\":\"01kj\xff");
            std::fs::write(&seg, bytes).unwrap();
            vec![("EVENT_LINE_TORN", "cut_event_lines")]
        }),
        ("index damaged", |env, _, _| {
            env.ok(&["issue", "list"]);
            for e in std::fs::read_dir(env.jit_dir().join("index")).unwrap() {
                let p = e.unwrap().path();
                let mut bytes = std::fs::read(&p).unwrap();
                bytes.extend_from_slice(b"junk after the last record");
                std::fs::write(&p, bytes).unwrap();
            }
            vec![("INDEX_DAMAGED", "rebuild_index")]
        }),
        ("lock file replaced by a directory", |env, _, _| {
            let lock = env.jit_dir().join("lock");
            std::fs::remove_file(&lock).unwrap();
            std::fs::create_dir(&lock).unwrap();
            std::fs::write(lock.join("kept"), "a file of someone's").unwrap();
            vec![("LOCK_FILE_INVALID", "quarantine")]
        }),
    ];
    for (name, damage) in cases {
        let env = TestEnv::fixed();
        let a = env.create("First");
        let b = env.json(&["issue", "create", "Second", "--depends-on", &a])["id"]
            .as_str()
            .unwrap()
            .to_string();
        let mut want: Vec<(String, String)> =
            damage(&env, &a, &b).into_iter().map(|(c, x)| (c.into(), x.into())).collect();
        want.sort();
        let done = dry_run_fix_and_fix_again(&env, name, &[]);
        let mut got: Vec<(String, String)> = done["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["code"].as_str().unwrap().into(), a["action"].as_str().unwrap().into()))
            .collect();
        got.sort();
        assert_eq!(got, want, "{name}: {done:#}");
    }
}

#[test]
fn the_results_of_repairs_are_what_they_say() {
    let env = TestEnv::fixed();
    let a = env.create("First");
    let b = env.json(&["issue", "create", "Second", "--depends-on", &a])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = env.create("Third");
    // A cycle of three whose newest edge is c → a (c changed last), a gate not in the
    // registry, a misnamed file, a torn event line.
    edit(&env, &a, |v| v["dependencies"] = json!([c]));
    edit(&env, &c, |v| {
        v["dependencies"] = json!([b]);
        v["updated_at"] = json!("2026-01-05T00:00:00.000000Z");
        v["gates"] = json!({"lint": {"status": "passed"}});
    });
    let seg = env.jit_dir().join("events/2026-01.jsonl");
    let events_before = std::fs::read_to_string(&seg).unwrap();
    std::fs::write(&seg, format!("{events_before}{{\"torn\n")).unwrap();
    let (code, v) = fix(&env, &[]);
    assert_eq!(code, 0, "{v:#}");
    let shown = env.json(&["issue", "show", &c]);
    assert_eq!(shown["dependencies"], json!([]), "the newest edge, c → b, is gone");
    assert_eq!(shown["gates"], json!({}));
    assert_eq!(env.json(&["issue", "show", &a])["dependencies"], json!([c]), "kept");
    let q = v["quarantine"].as_str().unwrap();
    let gate: Value = serde_json::from_slice(
        &std::fs::read(env.path().join(format!("{q}/gates/{c}.lint.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(gate["definition"]["status"], json!("passed"), "the removed gate is kept");
    let cut: Value = serde_json::from_slice(
        &std::fs::read(env.path().join(format!("{q}/events/2026-01.jsonl.cut.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(cut["lines"][0]["text"], json!("{\"torn"));
    let text = std::fs::read_to_string(&seg).unwrap();
    assert!(text.starts_with(&events_before), "the good lines are kept as they were");
    assert!(!text.contains("torn"));
    // One commit, one event, for the whole fix.
    let events = env.json(&["events", "--op", "validate_fix"])["events"].clone();
    assert_eq!(events.as_array().unwrap().len(), 1, "{events:#}");
}

#[test]
fn a_damaged_file_is_restored_from_git_only_when_asked() {
    if !have_tool("git", "git") {
        return;
    }
    let env = TestEnv::fixed();
    let a = env.create("First");
    let git = |args: &[&str]| {
        let out = Command::new("git").current_dir(env.path()).args(args).output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]);
    let good = std::fs::read(file_of(&env, &a)).unwrap();
    std::fs::write(file_of(&env, &a), &good[..good.len() / 3]).unwrap();
    let (code, dry) = fix(&env, &["--dry-run"]);
    assert_eq!(code, 6);
    let of = |v: &Value, code: &str| {
        v["actions"].as_array().unwrap().iter().find(|a| a["code"] == code).unwrap().clone()
    };
    let said = of(&dry, "ISSUE_TRUNCATED")["message"].as_str().unwrap().to_string();
    assert!(said.contains("--restore-from-git"), "{said}");
    let done = dry_run_fix_and_fix_again(&env, "restore", &["--restore-from-git"]);
    let restored = of(&done, "ISSUE_TRUNCATED");
    assert_eq!(restored["action"], json!("restore_from_git"));
    assert_eq!(std::fs::read(file_of(&env, &a)).unwrap(), good);
    let kept = env.path().join(restored["to"].as_str().unwrap());
    assert_eq!(std::fs::read(kept).unwrap(), &good[..good.len() / 3], "the damaged bytes kept");
}

#[test]
fn an_unmerged_file_is_left_to_git() {
    if !have_tool("git", "git") {
        return;
    }
    let env = TestEnv::fixed();
    let a = env.create("First");
    let rel = format!(".jit/issues/{a}.json");
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(env.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .unwrap()
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "base"]);
    git(&["checkout", "-qb", "other"]);
    edit(&env, &a, |v| v["title"] = json!("Theirs"));
    git(&["commit", "-qam", "theirs"]);
    git(&["checkout", "-q", "main"]);
    edit(&env, &a, |v| v["title"] = json!("Ours"));
    git(&["commit", "-qam", "ours"]);
    git(&["merge", "-q", "other"]); // no driver set up: a conflict with markers
    let before = std::fs::read(env.path().join(&rel)).unwrap();
    let (code, v) = fix(&env, &[]);
    assert_eq!(code, 6, "{v:#}");
    let acted: Vec<&Value> = v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] != "rebuild_index")
        .collect();
    assert!(acted.is_empty(), "{v:#}");
    assert!(codes(&v, "remaining").contains(&"ISSUE_UNMERGED".to_string()), "{v:#}");
    assert_eq!(std::fs::read(env.path().join(&rel)).unwrap(), before, "left to git");
}

#[test]
fn an_expired_lease_is_released_and_logged() {
    let env = TestEnv::fixed();
    let id = env.create("Work");
    env.ok(&["issue", "update", &id, "--state", "ready"]);
    let at = |now: &str, args: &[&str]| env.cmd(args).env("JIT_NOW", now).output().unwrap();
    let out = at("2026-03-01T10:00:00Z", &["claim", "--agent", "a1", "--lease", "10m"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = at("2026-03-01T11:00:00Z", &["validate", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(codes(&v, "findings").contains(&"LEASE_EXPIRED".to_string()), "{v:#}");
    let out = at("2026-03-01T11:00:00Z", &["validate", "--fix", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["actions"][0]["action"], json!("release_claim"), "{v:#}");
    let shown = env.json(&["issue", "show", &id]);
    assert_eq!((shown["state"].clone(), shown["assignee"].clone()), (json!("ready"), json!(null)));
    let expiries = env.json(&["events", "--op", "lease_expired"])["events"].clone();
    assert_eq!(expiries.as_array().unwrap().len(), 1, "{expiries:#}");
    let out = at("2026-03-01T11:00:00Z", &["validate", "--fix", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((out.status.code(), v["actions"].clone()), (Some(0), json!([])));
}

#[test]
fn a_full_disk_gets_its_temp_files_and_index_freed() {
    let env = TestEnv::fixed();
    let a = env.create("First");
    env.ok(&["issue", "list"]);
    for n in 0..20 {
        std::fs::write(env.issues_dir().join(format!(".tmp.999999999.{n}.{a}.json")), "{").unwrap();
    }
    let out = env.cmd(&["validate", "--fix", "--json"]).env("JIT_TEST_FAULT", "enospc").output();
    let out = out.unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(6), "the disk is still full: {v:#}");
    assert_eq!(codes(&v, "remaining"), ["DISK_FULL"], "{v:#}");
    assert!(v["freed_bytes"].as_u64().unwrap() > 20, "{v:#}");
    assert!(!env.jit_dir().join("index").exists(), "the index is removed to free space");
    let temps = std::fs::read_dir(env.issues_dir()).unwrap().count();
    assert_eq!(temps, 1, "only the issue file is left");
    assert_eq!(env.json(&["issue", "show", &a])["title"], json!("First"));
}

#[test]
fn documents_that_lead_nowhere_are_reported_and_pruned_only_when_asked() {
    let env = TestEnv::fixed();
    let a = env.create("First");
    std::fs::create_dir_all(env.path().join("docs")).unwrap();
    std::fs::write(env.path().join("docs/spec.md"), "spec").unwrap();
    env.ok(&["doc", "add", &a, "docs/spec.md", "--label", "spec"]);
    env.ok(&["doc", "add", &a, "docs/spec.md"]); // the same path again: no change
    std::fs::remove_file(env.path().join("docs/spec.md")).unwrap();
    let (code, v) = fix(&env, &[]);
    assert_eq!(code, 6, "{v:#}");
    assert_eq!(codes(&v, "remaining"), ["DOC_MISSING"], "reported, never removed: {v:#}");
    assert_eq!(env.json(&["doc", "list", &a]).as_array().unwrap().len(), 1);
    let done = dry_run_fix_and_fix_again(&env, "prune", &["--prune-docs"]);
    assert_eq!(done["actions"][0]["action"], json!("remove_document"));
    assert_eq!(env.json(&["doc", "list", &a]), json!([]));
}

#[test]
fn the_fix_reply_keeps_its_shape() {
    let env = TestEnv::fixed();
    let a = env.create("First");
    std::fs::write(env.issues_dir().join("notes.txt"), "x").unwrap();
    std::fs::write(env.issues_dir().join(format!(".tmp.999999999.0.{a}.json")), "{").unwrap();
    edit(&env, &a, |v| v["dependencies"] = json!(["01kjm0000000000000000000zz"]));
    let (_, mut dry) = fix(&env, &["--dry-run"]);
    let (_, mut done) = fix(&env, &[]);
    // Whether the index has caught up with files just written depends on the clock.
    for v in [&mut dry, &mut done] {
        v["remaining"].as_array_mut().unwrap().retain(|f| f["code"] != "INDEX_STALE");
        v["counts"]["info"] = json!(null);
    }
    let text = serde_json::to_string_pretty(&json!({"dry_run": dry, "fix": done})).unwrap();
    insta::assert_snapshot!("validate-fix", text);
}

/// The 1,000-file corpus of `validate.rs`, repaired: the valid files are untouched, every
/// repairable file leaves `issues/`, and a second fix changes nothing.
#[test]
fn a_corpus_of_1000_malformed_files_is_repaired_idempotently() {
    let env = TestEnv::fixed();
    let valid: Vec<String> = (0..5).map(|i| env.create(&format!("Valid {i}"))).collect();
    let before: Vec<Vec<u8>> =
        valid.iter().map(|id| std::fs::read(file_of(&env, id)).unwrap()).collect();
    crate::validate::write_corpus(&env.issues_dir());
    let (code, v) = fix(&env, &[]);
    // What no repair can settle stays: values jit would refuse, exhausted versions.
    assert_eq!(code, 6, "{}", v["remaining"]);
    let left: std::collections::BTreeSet<String> = codes(&v, "remaining").into_iter().collect();
    // (And the index catching up with the files just written, depending on the clock.)
    let allowed =
        ["ISSUE_INVALID_VALUE", "ISSUE_VERSION_EXHAUSTED", "ISSUE_TIMESTAMP_FORM", "INDEX_STALE"];
    assert!(left.iter().all(|c| allowed.contains(&c.as_str())), "{left:?}");
    for (id, bytes) in valid.iter().zip(&before) {
        assert_eq!(&std::fs::read(file_of(&env, id)).unwrap(), bytes, "valid files untouched");
    }
    let after = tree(&env);
    let (code, again) = fix(&env, &[]);
    assert_eq!((code, again["actions"].clone()), (6, json!([])));
    assert_eq!(tree(&env), after, "the second fix changed something");
}

#[test]
fn versions_the_event_log_disagrees_with_are_info() {
    let env = TestEnv::fixed();
    let a = env.create("First");
    env.ok(&["issue", "update", &a, "--title", "Again"]);
    edit(&env, &a, |v| v["version"] = json!(1)); // put back by hand, behind the log
    let out = env.run(&["validate", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = v["findings"].as_array().unwrap().iter().find(|f| f["code"] == "EVENTS_DISAGREE");
    let f = f.unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!((f["severity"].clone(), f["issue"].clone()), (json!("info"), json!(a)));
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("at version 1 but the event log has the issue at 2")
    );
}

#[test]
fn document_paths_never_lead_outside_the_project() {
    let env = TestEnv::fixed();
    let a = env.create("First");
    std::fs::create_dir_all(env.path().join("docs")).unwrap();
    std::fs::write(env.path().join("docs/spec.md"), "spec").unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.md"), "s").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.md"), env.path().join("link.md"))
        .unwrap();
    let before = env.issue_files();
    let secret = outside.path().join("secret.md");
    for bad in ["../secret.md", "/etc/passwd", secret.to_str().unwrap(), "link.md", "docs/no.md"] {
        let e = env.json_err(&["doc", "add", &a, bad], 1);
        assert_eq!(e["code"], "DOCUMENT_PATH_INVALID", "{bad}: {e}");
    }
    assert!(env.issue_files() == before, "a refused doc add changed nothing");
    // A path typed in a subdirectory is stored relative to the project.
    let out = env
        .cmd(&["doc", "add", &a, "spec.md", "--label", "spec", "--json"])
        .current_dir(env.path().join("docs"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        env.json(&["doc", "list"]),
        json!([{"id": a, "path": "docs/spec.md", "label": "spec"}])
    );
    let e = env.json_err(&["doc", "rm", &a, "docs/other.md"], 3);
    assert_eq!(e["code"], "DOCUMENT_NOT_FOUND");
    env.ok(&["doc", "rm", &a, "docs/spec.md"]);
    assert_eq!(env.json(&["doc", "list", &a]), json!([]));
}

/// A directory in place of `.jit/lock` stops every writer (`NOT_A_REGULAR_FILE`); `--fix`
/// still gets in, moves it into quarantine whole, and the next write makes the file again.
#[test]
fn a_lock_file_replaced_by_a_directory_is_moved_aside_and_writes_work_again() {
    let env = TestEnv::fixed();
    env.create("First");
    let lock = env.jit_dir().join("lock");
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir(&lock).unwrap();
    std::fs::write(lock.join("kept"), "a file of someone's").unwrap();
    let refused = env.run(&["issue", "create", "Second", "--json"]);
    assert_eq!(refused.status.code(), Some(74), "{}", describe(&refused));
    let out = env.run(&["validate", "--fix"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\n1 repair made.\n"), "{text}");
    let q = std::fs::read_dir(env.jit_dir().join("quarantine")).unwrap().next().unwrap().unwrap();
    assert_eq!(std::fs::read_to_string(q.path().join("lock/kept")).unwrap(), "a file of someone's");
    assert!(q.path().join("lock.note.json").is_file());
    assert!(lock.is_file(), "made again by the fix's commit");
    env.ok(&["issue", "create", "Second"]);
    assert_eq!(env.run(&["validate"]).status.code(), Some(0));
}
