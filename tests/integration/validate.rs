//! `jit validate`: each kind of damage, made by hand in a real repository, is found with its
//! code, path and issue, and makes the command exit 6; a clean repository exits 0 with no
//! findings; a generated corpus of 1,000 malformed issue files is reported file by file; and
//! nothing stored changes.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::*;

/// `jit validate --json` (plus `extra`): its exit code and report.
fn validate(env: &TestEnv, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["validate", "--json"];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", describe(&out)));
    (out.status.code().unwrap(), v)
}

/// The findings as (code, path, issue), leaving out the index's and the gate trust's (info
/// about the machine, not about the damage a test made), and the event log's disagreement
/// with hand-edited versions (info, tested in `fix.rs`).
fn found(v: &Value) -> Vec<(String, String, Option<String>)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            !["INDEX_STALE", "GATE_UNTRUSTED", "EVENTS_DISAGREE"]
                .contains(&f["code"].as_str().unwrap())
        })
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap().to_string(),
                f["issue"].as_str().map(String::from),
            )
        })
        .collect()
}

fn issue_path(id: &str) -> String {
    format!(".jit/issues/{id}.json")
}

fn file_of(env: &TestEnv, id: &str) -> std::path::PathBuf {
    env.issues_dir().join(format!("{id}.json"))
}

/// Edit the JSON of an issue file by hand.
fn edit(env: &TestEnv, id: &str, f: impl FnOnce(&mut Value)) {
    let p = file_of(env, id);
    let mut v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[test]
fn a_clean_repository_exits_0_with_no_findings() {
    let env = TestEnv::fixed();
    let a = env.create("First");
    let b = env.json(&["issue", "create", "Second", "--depends-on", &a, "-l", "type:bug"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["issue", "update", &b, "--state", "ready"]);
    env.ok(&["issue", "list"]);
    let before = env.issue_files();
    let (code, v) = validate(&env, &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["findings"], json!([]));
    assert_eq!(v["counts"], json!({"error": 0, "warning": 0, "info": 0}));
    assert_eq!(
        (v["checked"]["issues"].as_u64(), v["checked"]["dependencies"].as_u64()),
        (Some(2), Some(1))
    );
    let out = env.run(&["validate"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "No problems found in 2 issues.\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no progress bar off a terminal");
    assert!(env.issue_files() == before, "validate changed an issue file");
    // The summary line counts in the singular where there is one.
    env.ok(&["issue", "delete", &b, "--yes"]);
    env.ok(&["issue", "list"]);
    // The deleted issue's record stays in the index until a compaction: info, said so.
    let out = env.run(&["validate"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 record of issues whose file is gone (deleted): never shown"),
        "{text}"
    );
    assert!(text.ends_with("\n0 errors, 0 warnings, 1 info in 1 issue.\n"), "{text}");
    std::fs::write(env.issues_dir().join("notes.txt"), "mine\n").unwrap();
    let out = env.run(&["validate"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("\n0 errors, 1 warning, 1 info in 1 issue.\n"), "{text}");
}

/// One damage per case: (name, what to do to a repository holding issues A and B (B depends
/// on A), the findings expected as (code, path, issue)).
type Damage = fn(&TestEnv, &str, &str) -> Vec<(&'static str, String, Option<String>)>;

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[test]
fn every_kind_of_damage_is_found_with_code_path_and_issue() {
    let cases: Vec<(&str, Damage)> = vec![
        ("truncated", |env, a, _| {
            let p = file_of(env, a);
            let bytes = std::fs::read(&p).unwrap();
            std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
            vec![("ISSUE_TRUNCATED", issue_path(a), some(a))]
        }),
        ("empty file", |env, a, _| {
            std::fs::write(file_of(env, a), b"").unwrap();
            vec![("ISSUE_TRUNCATED", issue_path(a), some(a))]
        }),
        ("not json", |env, a, _| {
            std::fs::write(file_of(env, a), b"{\"id\": nope}\n").unwrap();
            vec![("ISSUE_UNPARSEABLE", issue_path(a), some(a))]
        }),
        ("conflict markers", |env, a, _| {
            let p = file_of(env, a);
            let text = std::fs::read_to_string(&p).unwrap().replace(
                "  \"title\": \"First\",\n",
                "<<<<<<< HEAD\n  \"title\": \"First\",\n=======\n  \"title\": \"Other\",\n>>>>>>> b\n",
            );
            std::fs::write(&p, text).unwrap();
            vec![("ISSUE_CONFLICT_MARKERS", issue_path(a), some(a))]
        }),
        ("bad state", |env, a, _| {
            edit(env, a, |v| v["state"] = json!("doing"));
            vec![("ISSUE_SCHEMA", issue_path(a), some(a))]
        }),
        ("bad priority", |env, a, _| {
            edit(env, a, |v| v["priority"] = json!(3));
            vec![("ISSUE_SCHEMA", issue_path(a), some(a))]
        }),
        ("missing title", |env, a, _| {
            edit(env, a, |v| drop(v.as_object_mut().unwrap().remove("title")));
            vec![("ISSUE_SCHEMA", issue_path(a), some(a))]
        }),
        ("timestamp out of range", |env, a, _| {
            edit(env, a, |v| v["created_at"] = json!("12026-01-01T00:00:00Z"));
            vec![("ISSUE_SCHEMA", issue_path(a), some(a))]
        }),
        ("title with a line break", |env, a, _| {
            edit(env, a, |v| v["title"] = json!("two\nlines"));
            vec![("ISSUE_INVALID_VALUE", issue_path(a), some(a))]
        }),
        ("duplicate label", |env, a, _| {
            edit(env, a, |v| v["labels"] = json!(["type:bug", "type:bug"]));
            vec![("ISSUE_INVALID_VALUE", issue_path(a), some(a))]
        }),
        ("reserved assignee", |env, a, _| {
            edit(env, a, |v| v["assignee"] = json!("none"));
            vec![("ISSUE_INVALID_VALUE", issue_path(a), some(a))]
        }),
        ("assignee with a space", |env, a, _| {
            edit(env, a, |v| v["assignee"] = json!("two words"));
            vec![("ISSUE_INVALID_VALUE", issue_path(a), some(a))]
        }),
        ("updated before created", |env, a, _| {
            edit(env, a, |v| v["updated_at"] = json!("2020-01-01T00:00:00.000000Z"));
            vec![("ISSUE_INVALID_VALUE", issue_path(a), some(a))]
        }),
        ("version exhausted", |env, a, _| {
            edit(env, a, |v| v["version"] = json!(u64::MAX));
            vec![("ISSUE_VERSION_EXHAUSTED", issue_path(a), some(a))]
        }),
        ("id mismatch", |env, a, _| {
            let other = "01kjm0000000000000000000zz";
            edit(env, a, |v| v["id"] = json!(other));
            vec![("ISSUE_ID_MISMATCH", issue_path(a), some(a))]
        }),
        ("duplicate id", |env, a, _| {
            let copy = "01kjm0000000000000000000zz";
            std::fs::copy(file_of(env, a), file_of(env, copy)).unwrap();
            vec![("ISSUE_DUPLICATE_ID", issue_path(copy), some(copy))]
        }),
        ("symbolic link", |env, a, _| {
            let p = file_of(env, a);
            std::fs::rename(&p, env.path().join("elsewhere.json")).unwrap();
            std::os::unix::fs::symlink(env.path().join("elsewhere.json"), &p).unwrap();
            vec![("ISSUE_NOT_REGULAR", issue_path(a), some(a))]
        }),
        ("fifo", |env, _, _| {
            let id = "01kjm0000000000000000000zz";
            let st = Command::new("mkfifo").arg(file_of(env, id)).status().unwrap();
            assert!(st.success());
            vec![("ISSUE_NOT_REGULAR", issue_path(id), some(id))]
        }),
        ("directory", |env, _, _| {
            let id = "01kjm0000000000000000000zz";
            std::fs::create_dir(file_of(env, id)).unwrap();
            vec![("ISSUE_NOT_REGULAR", issue_path(id), some(id))]
        }),
        ("foreign file", |env, _, _| {
            std::fs::write(env.issues_dir().join("README.md"), "notes").unwrap();
            vec![("FOREIGN_FILE", ".jit/issues/README.md".into(), None)]
        }),
        ("temp file of a killed writer", |env, a, _| {
            let name = format!(".tmp.999999999.0.{a}.json");
            std::fs::write(env.issues_dir().join(&name), "{\"id\"").unwrap();
            vec![("TEMP_FILE", format!(".jit/issues/{name}"), None)]
        }),
        ("dependency missing", |env, a, b| {
            std::fs::remove_file(file_of(env, a)).unwrap();
            vec![("DEP_MISSING", issue_path(b), some(b))]
        }),
        ("dependency on itself", |env, a, _| {
            edit(env, a, |v| v["dependencies"] = json!([a]));
            vec![("DEP_SELF", issue_path(a), some(a))]
        }),
        ("cycle", |env, a, b| {
            edit(env, a, |v| v["dependencies"] = json!([b]));
            let first = a.min(b);
            vec![("DEP_CYCLE", issue_path(first), some(first))]
        }),
        ("gate not in the registry", |env, a, _| {
            edit(env, a, |v| v["gates"] = json!({"lint": {"status": "pending"}}));
            vec![("GATE_UNKNOWN", issue_path(a), some(a))]
        }),
        ("label outside the namespaces", |env, a, _| {
            let cfg = env.jit_dir().join("config.json");
            let mut c: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
            c["label_namespaces"] = json!({"component": "part of the code"});
            std::fs::write(&cfg, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
            edit(env, a, |v| v["labels"] = json!(["team:parsing"]));
            vec![("LABEL_NAMESPACE", issue_path(a), some(a))]
        }),
        ("config unreadable", |env, _, _| {
            std::fs::write(env.jit_dir().join("config.json"), "{\"schema\": 1,").unwrap();
            vec![("CONFIG_INVALID", ".jit/config.json".into(), None)]
        }),
        ("gate that cannot run", |env, _, _| {
            let cfg = env.jit_dir().join("config.json");
            let mut c: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
            c["gates"] = json!({"lint": {"stage": "precheck", "mode": "auto", "command": []}});
            std::fs::write(&cfg, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
            vec![("GATE_DEF_INVALID", ".jit/config.json".into(), None)]
        }),
        ("journal record in flight", |env, a, _| {
            let content = std::fs::read_to_string(file_of(env, a)).unwrap();
            let name = journal_record(
                env,
                &[json!({"op": "write", "path": format!("issues/{a}.json"), "content": content})],
            );
            vec![("JOURNAL_PENDING", format!(".jit/journal/{name}"), None)]
        }),
        ("journal record that cannot be applied", |env, _, _| {
            std::fs::create_dir_all(env.jit_dir().join("blocker")).unwrap();
            let name =
                journal_record(env, &[json!({"op": "write", "path": "blocker", "content": "x"})]);
            let path = format!(".jit/journal/{name}");
            vec![
                ("JOURNAL_BLOCKED", path.clone(), None),
                ("JOURNAL_PENDING", path, None),
                ("STORE_FOREIGN_ENTRY", ".jit/blocker".into(), None),
            ]
        }),
        ("journal record never finished", |env, _, _| {
            let dir = env.jit_dir().join("journal");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(".tmp.999999999.0.1.json"), "{\"format\":1").unwrap();
            vec![("JOURNAL_INCOMPLETE", ".jit/journal/.tmp.999999999.0.1.json".into(), None)]
        }),
        ("journal record damaged", |env, _, _| {
            let dir = env.jit_dir().join("journal");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("1.json"), "{\"format\":1,\"checksum\":1,\"ops\":[]}").unwrap();
            vec![("JOURNAL_DAMAGED", ".jit/journal/1.json".into(), None)]
        }),
        ("lock file a directory", |env, _, _| {
            let lock = env.jit_dir().join("lock");
            let _ = std::fs::remove_file(&lock);
            std::fs::create_dir(&lock).unwrap();
            vec![("LOCK_FILE_INVALID", ".jit/lock".into(), None)]
        }),
        ("issues directory a file", |env, _, _| {
            std::fs::rename(env.issues_dir(), env.path().join("moved")).unwrap();
            std::fs::write(env.issues_dir(), "").unwrap();
            vec![("ISSUES_DIR_INVALID", ".jit/issues".into(), None)]
        }),
    ];
    for (name, damage) in cases {
        let env = TestEnv::fixed();
        let a = env.create("First");
        let b = env.json(&["issue", "create", "Second", "--depends-on", &a])["id"]
            .as_str()
            .unwrap()
            .to_string();
        let mut want: Vec<(String, String, Option<String>)> =
            damage(&env, &a, &b).into_iter().map(|(c, p, i)| (c.to_string(), p, i)).collect();
        want.sort_by(|x, y| (&x.1, &x.0).cmp(&(&y.1, &y.0)));
        let (code, v) = validate(&env, &[]);
        assert_eq!(found(&v), want, "{name}: {v:#}");
        assert_eq!(code, 6, "{name}: {v:#}");
    }
}

/// Write a sound journal record (as a crashed multi-file commit leaves it); returns its name.
pub fn journal_record(env: &TestEnv, ops: &[Value]) -> String {
    let dir = env.jit_dir().join("journal");
    std::fs::create_dir_all(&dir).unwrap();
    // The ops as jit serialises them: `op` first, then `path`, then `content`.
    let text: Vec<String> = ops
        .iter()
        .map(|o| {
            let mut s = format!("{{\"op\":{},\"path\":{}", o["op"], o["path"]);
            if let Some(c) = o.get("content") {
                s += &format!(",\"content\":{c}");
            }
            s + "}"
        })
        .collect();
    let ops_text = format!("[{}]", text.join(","));
    let checksum = crc32fast::hash(ops_text.as_bytes());
    let rec = format!("{{\"format\":1,\"checksum\":{checksum},\"seq\":1,\"ops\":{ops_text}}}");
    std::fs::write(dir.join("1000.json"), rec).unwrap();
    "1000.json".into()
}

#[test]
fn info_findings_do_not_fail_the_check() {
    let env = TestEnv::fixed();
    let a = env.create("First");
    edit(&env, &a, |v| v["created_at"] = json!("2026-01-02T03:04:05Z"));
    std::fs::write(env.jit_dir().join("lock.info"), "garbage").unwrap();
    let (code, v) = validate(&env, &[]);
    assert_eq!(
        found(&v),
        [
            ("ISSUE_TIMESTAMP_FORM".to_string(), issue_path(&a), Some(a.clone())),
            ("LOCK_INFO_INVALID".to_string(), ".jit/lock.info".to_string(), None),
        ]
    );
    assert_eq!(code, 0, "{v:#}");
}

#[test]
fn a_full_disk_is_named() {
    let env = TestEnv::fixed();
    env.create("First");
    let out = env.cmd(&["validate", "--json"]).env("JIT_TEST_FAULT", "enospc").output().unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found(&v), [("DISK_FULL".to_string(), ".jit/".to_string(), None)]);
    // An interrupted change that a full disk keeps from finishing: every write would fail.
    let id = env.create("Second");
    let content = std::fs::read_to_string(file_of(&env, &id)).unwrap();
    let op = json!({"op": "write", "path": format!("issues/{id}.json"), "content": content});
    let name = journal_record(&env, &[op]);
    let out = env.cmd(&["validate", "--json"]).env("JIT_TEST_FAULT", "enospc").output().unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let record = format!(".jit/journal/{name}");
    assert_eq!(
        found(&v),
        [
            ("DISK_FULL".to_string(), ".jit/".to_string(), None),
            ("JOURNAL_BLOCKED".to_string(), record.clone(), None),
            ("JOURNAL_PENDING".to_string(), record, None),
        ]
    );
}

#[test]
fn temp_files_of_many_killed_writers_are_each_named() {
    let env = TestEnv::fixed();
    let a = env.create("First");
    for n in 0..50 {
        std::fs::write(env.issues_dir().join(format!(".tmp.99999999{}.{n}.{a}.json", n % 10)), "{")
            .unwrap();
    }
    let (code, v) = validate(&env, &["--only", "TEMP_FILE"]);
    assert_eq!(code, 6);
    assert_eq!(v["by_code"], json!({"TEMP_FILE": 50}));
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["fixable"] == true && f["fix"]["action"] == "remove_temp_file")
    );
}

#[test]
fn only_filters_by_code_and_refuses_unknown_codes() {
    let env = TestEnv::fixture("broken");
    let (code, v) = validate(&env, &["--only", "dep_cycle,DEP_MISSING", "--only", "TEMP_FILE"]);
    assert_eq!(code, 6);
    assert_eq!(v["by_code"], json!({"DEP_CYCLE": 1, "DEP_MISSING": 1, "TEMP_FILE": 1}));
    let (code, v) = validate(&env, &["--only", "ISSUE_UNMERGED"]);
    assert_eq!((code, &v["findings"]), (0, &json!([])));
    let err = env.json_err(&["validate", "--only", "DEP_CYCEL"], 2);
    assert_eq!(err["code"], "USAGE");
    assert!(err["message"].as_str().unwrap().contains("did you mean `DEP_CYCLE`?"), "{err}");
}

#[test]
fn validate_waits_for_a_writer_and_times_out_naming_it() {
    if !have_tool("flock", "util-linux") {
        return;
    }
    let env = TestEnv::fixed();
    env.create("First");
    let mut holder = Command::new("flock")
        .arg(env.jit_dir())
        .arg("cat")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Held once a non-blocking attempt fails.
    while Command::new("flock").arg("-n").arg(env.jit_dir()).arg("true").status().unwrap().success()
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let err = env.json_err(&["validate", "--timeout-ms", "100"], 75);
    assert_eq!(err["code"], "LOCK_TIMEOUT");
    drop(holder.stdin.take());
    holder.wait().unwrap();
    let (code, _) = validate(&env, &[]);
    assert_eq!(code, 0);
    // A shared holder (as validate is) lets another check run and keeps every writer out.
    let mut shared = Command::new("flock")
        .arg("-s")
        .arg(env.jit_dir())
        .arg("cat")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while Command::new("flock").arg("-n").arg(env.jit_dir()).arg("true").status().unwrap().success()
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let (code, _) = validate(&env, &["--timeout-ms", "100"]);
    assert_eq!(code, 0, "two shared holders at once");
    let before = env.issue_files();
    let err = env.json_err(&["issue", "create", "Blocked", "--timeout-ms", "100"], 75);
    assert_eq!(err["code"], "LOCK_TIMEOUT");
    assert!(env.issue_files() == before);
    drop(shared.stdin.take());
    shared.wait().unwrap();
}

/// An unfinished git merge that conflicted on an issue file: the issue vanishes from
/// listings with a warning; validate names the file twice (unmerged, and conflict markers),
/// with the git commands that settle it.
#[test]
fn a_merge_conflict_in_an_issue_file_is_named_with_git_commands() {
    if !have_tool("git", "git") {
        return;
    }
    let env = TestEnv::fixed();
    let a = env.create("First");
    let git = |args: &[&str]| git_in(env.path(), args);
    for args in [&["init", "-q", "-b", "main"][..], &["add", "-A"], &["commit", "-qm", "one"]] {
        assert!(git(args).status.success());
    }
    assert!(git(&["checkout", "-qb", "other"]).status.success());
    env.ok(&["issue", "update", &a, "--title", "Theirs"]);
    assert!(git(&["commit", "-qam", "theirs"]).status.success());
    assert!(git(&["checkout", "-q", "main"]).status.success());
    env.ok(&["issue", "update", &a, "--title", "Ours"]);
    assert!(git(&["commit", "-qam", "ours"]).status.success());
    assert!(!git(&["merge", "-q", "other"]).status.success(), "the merge conflicts");
    let (code, v) = validate(&env, &[]);
    let p = issue_path(&a);
    assert_eq!(
        found(&v),
        [
            // The tracker was made outside git, so this clone never registered the driver.
            ("GIT_DRIVER_MISSING".to_string(), ".jit/.gitattributes".to_string(), None),
            ("ISSUE_CONFLICT_MARKERS".to_string(), p.clone(), Some(a.clone())),
            ("ISSUE_UNMERGED".to_string(), p.clone(), Some(a.clone())),
        ]
    );
    assert_eq!(code, 6);
    let unmerged = v["findings"].as_array().unwrap().iter().find(|f| f["code"] == "ISSUE_UNMERGED");
    assert_eq!(
        unmerged.unwrap()["git_commands"],
        json!(["jit git-setup", format!("git checkout -m -- {p}"), format!("git add {p}")])
    );
}

/// git in `dir`, with no config of the machine's (the tracker was made outside git, so
/// git merges issue files as text).
fn git_in(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap()
}

/// Deleted on one side, edited on the other: the file is unmerged with the edited content,
/// and validate names both ways to settle it.
#[test]
fn an_issue_deleted_on_one_side_of_a_merge_is_named() {
    if !have_tool("git", "git") {
        return;
    }
    let env = TestEnv::fixed();
    let a = env.create("First");
    let git = |args: &[&str]| git_in(env.path(), args);
    for args in [&["init", "-q", "-b", "main"][..], &["add", "-A"], &["commit", "-qm", "one"]] {
        assert!(git(args).status.success());
    }
    assert!(git(&["checkout", "-qb", "other"]).status.success());
    env.ok(&["issue", "update", &a, "--title", "Edited"]);
    assert!(git(&["commit", "-qam", "edit"]).status.success());
    assert!(git(&["checkout", "-q", "main"]).status.success());
    env.ok(&["issue", "delete", &a, "--yes"]);
    assert!(git(&["commit", "-qam", "delete"]).status.success());
    assert!(!git(&["merge", "-q", "other"]).status.success(), "the merge conflicts");
    let (code, v) = validate(&env, &[]);
    let p = issue_path(&a);
    assert_eq!(
        found(&v),
        [
            ("GIT_DRIVER_MISSING".to_string(), ".jit/.gitattributes".to_string(), None),
            ("ISSUE_UNMERGED".to_string(), p.clone(), Some(a.clone())),
        ]
    );
    assert_eq!(code, 6);
    let f = v["findings"].as_array().unwrap().iter().find(|f| f["code"] == "ISSUE_UNMERGED");
    assert_eq!(f.unwrap()["git_commands"], json!([format!("git add {p}"), format!("git rm {p}")]));
}

/// The kinds of malformed issue file the corpus is made of, each with the one finding it
/// must get.
const CORPUS_KINDS: &[&str] = &[
    "ISSUE_TRUNCATED",
    "ISSUE_UNPARSEABLE",
    "ISSUE_CONFLICT_MARKERS",
    "ISSUE_SCHEMA",
    "ISSUE_INVALID_VALUE",
    "ISSUE_VERSION_EXHAUSTED",
    "ISSUE_TIMESTAMP_FORM",
    "ISSUE_ID_MISMATCH",
    "ISSUE_NOT_REGULAR",
    "FOREIGN_FILE",
    "TEMP_FILE",
    "DEP_MISSING",
    "DEP_SELF",
    "GATE_UNKNOWN",
];

/// A tiny deterministic generator (xorshift), so the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A valid issue file's JSON for `id`, as jit writes it.
fn valid_issue(id: &str) -> Value {
    json!({
        "id": id, "title": "Generated", "description": "", "state": "backlog",
        "priority": "normal", "assignee": null, "labels": [], "dependencies": [], "gates": {},
        "context": {}, "artifacts": [], "version": 1,
        "created_at": "2026-01-02T03:04:05.000000Z", "updated_at": "2026-01-02T03:04:05.000000Z",
        "closed_at": null
    })
}

/// An id from a number: 26 lowercase Crockford characters, starting `01`.
fn corpus_id(n: usize, tag: char) -> String {
    format!("01{tag}{n:0>23}")
}

/// Write one malformed entry of `kind` (variant chosen by `rng`); returns its path.
fn write_malformed(issues: &Path, n: usize, kind: &str, rng: &mut Rng) -> String {
    let id = corpus_id(n, 'c');
    let file = issues.join(format!("{id}.json"));
    let pretty = |v: &Value| serde_json::to_vec_pretty(v).unwrap();
    let mut v = valid_issue(&id);
    match kind {
        "ISSUE_TRUNCATED" => {
            let bytes = pretty(&v);
            let cut = 1 + rng.below(bytes.len() - 2);
            std::fs::write(&file, &bytes[..cut]).unwrap();
        }
        "ISSUE_UNPARSEABLE" => {
            let junk: [&[u8]; 3] = [b"{\"id\": nope}", b"not json at all", b"{\"a\": 1}}"];
            std::fs::write(&file, junk[rng.below(3)]).unwrap();
        }
        "ISSUE_CONFLICT_MARKERS" => {
            let text = String::from_utf8(pretty(&v)).unwrap().replace(
                "  \"title\": \"Generated\",\n",
                "<<<<<<< ours\n  \"title\": \"A\",\n=======\n  \"title\": \"B\",\n>>>>>>> theirs\n",
            );
            std::fs::write(&file, text).unwrap();
        }
        "ISSUE_SCHEMA" => {
            match rng.below(5) {
                0 => v["state"] = json!("doing"),
                1 => v["priority"] = json!("urgent"),
                2 => drop(v.as_object_mut().unwrap().remove("version")),
                3 => v["version"] = json!("one"),
                _ => v["updated_at"] = json!("yesterday"),
            }
            std::fs::write(&file, pretty(&v)).unwrap();
        }
        "ISSUE_INVALID_VALUE" => {
            match rng.below(5) {
                0 => v["title"] = json!("line\nbreak"),
                1 => v["labels"] = json!(["type:bug", "type:bug"]),
                2 => v["assignee"] = json!("-"),
                3 => v["assignee"] = json!("two words"),
                _ => v["version"] = json!(0),
            }
            std::fs::write(&file, pretty(&v)).unwrap();
        }
        "ISSUE_VERSION_EXHAUSTED" => {
            v["version"] = json!(u64::MAX);
            std::fs::write(&file, pretty(&v)).unwrap();
        }
        "ISSUE_TIMESTAMP_FORM" => {
            v["created_at"] = json!("2026-01-02T03:04:05Z");
            std::fs::write(&file, pretty(&v)).unwrap();
        }
        "ISSUE_ID_MISMATCH" => {
            v["id"] = json!(corpus_id(n, 'm'));
            std::fs::write(&file, pretty(&v)).unwrap();
        }
        "ISSUE_NOT_REGULAR" => {
            if rng.below(2) == 0 {
                std::fs::create_dir(&file).unwrap();
            } else {
                std::os::unix::fs::symlink("/nonexistent/target.json", &file).unwrap();
            }
        }
        "FOREIGN_FILE" => {
            let name = format!("notes-{n}.txt");
            std::fs::write(issues.join(&name), "x").unwrap();
            return format!(".jit/issues/{name}");
        }
        "TEMP_FILE" => {
            let name = format!(".tmp.999999999.{n}.{id}.json");
            std::fs::write(issues.join(&name), "{").unwrap();
            return format!(".jit/issues/{name}");
        }
        "DEP_MISSING" => {
            v["dependencies"] = json!([corpus_id(n, 'd')]);
            std::fs::write(&file, pretty(&v)).unwrap();
        }
        "DEP_SELF" => {
            v["dependencies"] = json!([id]);
            std::fs::write(&file, pretty(&v)).unwrap();
        }
        "GATE_UNKNOWN" => {
            v["gates"] = json!({"lint": {"status": "pending"}});
            std::fs::write(&file, pretty(&v)).unwrap();
        }
        other => panic!("unknown kind {other}"),
    }
    issue_path(&id)
}

/// Write the corpus into `issues`: 1,000 malformed entries, by path with their kind.
pub fn write_corpus(issues: &Path) -> BTreeMap<String, &'static str> {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut want: BTreeMap<String, &str> = BTreeMap::new();
    for n in 0..1000 {
        let kind = CORPUS_KINDS[rng.below(CORPUS_KINDS.len())];
        let path = write_malformed(issues, n, kind, &mut rng);
        want.insert(path, kind);
    }
    want
}

#[test]
fn a_corpus_of_1000_malformed_files_is_reported_file_by_file() {
    let env = TestEnv::fixed();
    let valid: Vec<String> = (0..5).map(|i| env.create(&format!("Valid {i}"))).collect();
    let before = env.issue_files();
    let want = write_corpus(&env.issues_dir());
    let kinds: std::collections::BTreeSet<&str> = want.values().copied().collect();
    assert_eq!(kinds.len(), CORPUS_KINDS.len(), "every kind is in the corpus");
    let (code, v) = validate(&env, &[]);
    assert_eq!(code, 6);
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (c, p, _) in found(&v) {
        got.entry(p).or_default().push(c);
    }
    for (path, kind) in &want {
        assert_eq!(got.get(path).map(Vec::as_slice), Some(&[kind.to_string()][..]), "{path}");
    }
    assert_eq!(got.len(), want.len(), "no finding for a valid file: {got:?}");
    for id in &valid {
        let i = before.iter().position(|(n, _)| *n == format!("{id}.json")).unwrap();
        assert_eq!(std::fs::read(file_of(&env, id)).unwrap(), before[i].1, "valid files untouched");
    }
}

#[test]
fn hints_about_damage_point_to_validate() {
    let env = TestEnv::fixture("broken");
    let err = env.json_err(&["graph", "order"], 6);
    let hint = err["hint"].as_str().unwrap();
    assert!(hint.ends_with("`jit validate --fix` removes the newest edge of each)"), "{err}");
    let err = env.json_err(&["issue", "show", "01kjsj7s8053qy6cxjcvrg6htj"], 74);
    assert!(
        err["hint"].as_str().unwrap().ends_with("(`--restore-from-git` puts back git's version)"),
        "{err}"
    );
    let out = env.run(&["issue", "list"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let skipped: Vec<&str> = stderr.lines().filter(|l| l.contains("skipped")).collect();
    assert_eq!(skipped.len(), 2, "{stderr}");
    assert!(
        skipped.iter().all(|l| l.ends_with("`jit validate --fix` repairs what it safely can)")),
        "{stderr}"
    );
}
