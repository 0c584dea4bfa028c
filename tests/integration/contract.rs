//! The `--json` contract: every response and error shape as a snapshot (an accidental
//! change of the contract fails here; review an intended one with `cargo insta review`),
//! `jit schema`, and the contract's defects fixed on the way.

use std::fs;
use std::process::Stdio;

use serde_json::{Map, Value, json};

use crate::common::{TestEnv, describe};

/// `v` as a pretty JSON snapshot named `name`, with the repository's path (in error details)
/// written as `[REPO]`.
fn snap(env: &TestEnv, name: &str, v: &Value) {
    let text = serde_json::to_string_pretty(v).unwrap();
    let root = env.path().to_string_lossy().into_owned();
    insta::assert_snapshot!(name, text.replace(&root, "[REPO]"));
}

/// `jit ARGS --json` in `env`, whatever its exit code: `{"exit": N, "stdout": <JSON>}`.
fn call(env: &TestEnv, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = env.run(&all);
    let stdout: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: bad JSON ({e}): {}", describe(&out)));
    json!({ "exit": out.status.code(), "stdout": stdout })
}

/// A small project made through the binary: three issues, a dependency, two gates.
fn project() -> (TestEnv, [String; 3]) {
    let env = TestEnv::fixed();
    let a = env.create("Login page");
    let b = env.create("Session store");
    let c = env.create("Release notes");
    env.ok(&["issue", "update", &a, "-p", "high", "--add-label", "area:auth", "--state", "ready"]);
    env.ok(&["issue", "update", &b, "--state", "ready"]);
    env.ok(&["dep", "add", &a, &b]);
    env.ok(&["gate", "define", "review", "--stage", "postcheck", "--mode", "manual"]);
    env.ok(&["gate", "define", "tests", "--stage", "postcheck", "--mode", "auto", "--", "true"]);
    env.ok(&["gate", "add", &a, "review"]);
    (env, [a, b, c])
}

#[test]
fn every_read_response_keeps_its_shape() {
    let (env, [a, b, c]) = project();
    env.ok(&["gate", "pass", &a, "review", "--by", "alice", "--note", "LGTM"]);
    let mut all = Map::new();
    let reads: Vec<(&str, Vec<&str>)> = vec![
        ("issue show", vec!["issue", "show", &a]),
        ("issue list", vec!["issue", "list"]),
        ("issue list --fields", vec!["issue", "list", "--fields", "id,title,assignee,labels"]),
        ("issue list --count", vec!["issue", "list", "--count"]),
        ("query", vec!["query", "state:ready", "--sort", "priority:desc", "--limit", "1"]),
        ("query --explain", vec!["query", "--explain", "a OR NOT label:x:*"]),
        ("ready", vec!["ready"]),
        ("blocked", vec!["blocked"]),
        ("graph deps", vec!["graph", "deps", &a]),
        ("graph rdeps", vec!["graph", "rdeps", &b]),
        ("graph roots", vec!["graph", "roots"]),
        ("graph leaves", vec!["graph", "leaves"]),
        ("graph order", vec!["graph", "order"]),
        ("graph path", vec!["graph", "path", &a, &b]),
        ("graph export", vec!["graph", "export"]),
        ("gate list", vec!["gate", "list"]),
        ("gate show", vec!["gate", "show", "tests"]),
        ("gate history", vec!["gate", "history", &a]),
        ("schema", vec!["schema"]),
    ];
    for (name, args) in reads {
        all.insert(name.into(), call(&env, &args));
    }
    let _ = c;
    snap(&env, "contract-reads", &Value::Object(all));
}

#[test]
fn every_write_response_keeps_its_shape() {
    let bare = TestEnv::bare();
    let mut all = Map::new();
    let init = serde_json::to_string(&call(&bare, &["init"])).unwrap();
    let init = init.replace(&*bare.path().to_string_lossy(), "[REPO]");
    all.insert("init".into(), serde_json::from_str(&init).unwrap());
    let (env, [a, b, c]) = project();
    let writes: Vec<(&str, Vec<&str>)> = vec![
        ("issue create", vec!["issue", "create", "Docs", "-l", "type:doc", "-d", "Write them"]),
        ("issue update", vec!["issue", "update", &c, "--state", "ready", "--assignee", "bob"]),
        ("dep add", vec!["dep", "add", &c, &b]),
        ("dep rm", vec!["dep", "rm", &c, &b]),
        ("gate define", vec!["gate", "define", "lint", "--stage", "precheck", "--mode", "manual"]),
        ("gate add", vec!["gate", "add", &c, "lint", "tests"]),
        ("gate fail", vec!["gate", "fail", &c, "lint", "--by", "ci"]),
        ("gate pass", vec!["gate", "pass", &c, "lint"]),
        ("gate run", vec!["gate", "run", &c]),
        ("gate rm", vec!["gate", "rm", &c, "tests"]),
        ("gate untrust", vec!["gate", "untrust", "tests"]),
        ("gate trust", vec!["gate", "trust", "tests"]),
        ("gate trust (list)", vec!["gate", "trust"]),
        ("gate remove", vec!["gate", "remove", "lint", "--force"]),
        (
            "issue bulk-update --dry-run",
            vec!["issue", "bulk-update", "--filter", "state:ready", "-p", "low", "--dry-run"],
        ),
        ("issue bulk-update", vec!["issue", "bulk-update", "--filter", "state:ready", "-p", "low"]),
        ("issue delete", vec!["issue", "delete", &b, "--yes"]),
    ];
    for (name, args) in writes {
        all.insert(name.into(), call(&env, &args));
    }
    let _ = a;
    // Durations of gate runs vary from run to run.
    let run = &mut all["gate run"]["stdout"]["results"];
    for r in run.as_array_mut().unwrap() {
        r["duration_ms"] = json!("[ms]");
    }
    let trusted = &mut all["gate trust"]["stdout"]["gates"];
    for g in trusted.as_array_mut().unwrap() {
        g["sha256"] = json!("[sha256]");
    }
    snap(&env, "contract-writes", &Value::Object(all));
}

#[test]
fn every_error_family_keeps_its_shape() {
    let (env, [a, b, c]) = project();
    let long = "x".repeat(2000);
    let shared = &a[..10];
    let errors: Vec<(&str, Vec<&str>)> = vec![
        ("ISSUE_NOT_FOUND", vec!["issue", "show", "zzzzzzzz"]),
        ("AMBIGUOUS_ID", vec!["issue", "show", shared]),
        ("INVALID_ID", vec!["issue", "show", "ab"]),
        ("INVALID_VALUE", vec!["issue", "list", "--fields", "titel"]),
        ("INVALID_STATE", vec!["issue", "update", &c, "--state", "redy"]),
        ("INVALID_LABEL", vec!["issue", "update", &c, "--add-label", "nolabel"]),
        ("TOO_LONG", vec!["issue", "create", &long]),
        ("INVALID_ARGUMENT", vec!["issue", "list", "--sort", "id:up"]),
        ("FILTER_SYNTAX", vec!["query", "state:ready AND"]),
        ("FILTER_UNKNOWN_FIELD", vec!["query", "stat:ready"]),
        ("TRANSITION_REFUSED", vec!["issue", "update", &c, "--state", "done"]),
        ("VERSION_CONFLICT", vec!["issue", "update", &c, "-p", "low", "--if-version", "9"]),
        ("DEP_CYCLE", vec!["dep", "add", &b, &a]),
        ("DEP_SELF", vec!["dep", "add", &a, &a]),
        ("ISSUE_BLOCKED", vec!["issue", "update", &a, "--state", "in_progress"]),
        ("GATE_UNKNOWN", vec!["gate", "show", "reviw"]),
        ("PATH_NOT_FOUND", vec!["graph", "path", &b, &a]),
        ("CONFIRMATION_REQUIRED", vec!["issue", "delete", &c]),
        ("USAGE", vec!["issue", "frobnicate"]),
        ("USAGE (graph export)", vec!["graph", "export", "--format", "mermaid"]),
    ];
    let mut all = Map::new();
    for (name, args) in errors {
        all.insert(name.into(), call(&env, &args));
    }
    env.ok(&["issue", "update", &b, "--state", "in_progress"]);
    env.ok(&["issue", "update", &b, "--state", "done"]);
    env.ok(&["issue", "update", &a, "--state", "in_progress"]);
    all.insert("GATES_NOT_PASSED".into(), call(&env, &["issue", "update", &a, "--state", "done"]));
    let path = env.issues_dir().join(format!("{c}.json"));
    fs::write(&path, "{ torn").unwrap();
    all.insert("CORRUPT_FILE".into(), call(&env, &["issue", "show", &c]));
    let elsewhere = TestEnv::bare();
    let mut not_found = call(&elsewhere, &["issue", "list"]);
    let searched = elsewhere.path().to_string_lossy().into_owned();
    let text = serde_json::to_string(&not_found).unwrap().replace(&searched, "[DIR]");
    not_found = serde_json::from_str(&text).unwrap();
    all.insert("REPO_NOT_FOUND".into(), not_found);
    // Every error has the same frame: an `error` object with code, message and hint.
    for (name, v) in &all {
        let e = v["stdout"]["error"].as_object().unwrap_or_else(|| panic!("{name}: {v}"));
        assert!(e["code"].is_string() && e["message"].is_string(), "{name}: {v}");
        assert!(e.contains_key("hint"), "{name}: {v}");
    }
    snap(&env, "contract-errors", &Value::Object(all));
}

#[test]
fn schema_documents_every_command_of_the_table() {
    let env = TestEnv::fixed();
    let names = env.json(&["schema"]);
    let mut all = Map::new();
    for name in names["commands"].as_array().unwrap() {
        let words: Vec<&str> = name.as_str().unwrap().split(' ').collect();
        let mut args = vec!["schema"];
        args.extend(&words);
        // The same document with and without --json.
        let doc = env.json(&args);
        let plain: Value = serde_json::from_str(&env.ok(&args)).unwrap();
        assert_eq!(doc, plain);
        assert_eq!(doc["command"], *name);
        assert!(doc["request"].is_object() && doc["response"].is_object(), "{doc}");
        all.insert(name.as_str().unwrap().into(), doc);
    }
    assert!(all.contains_key("issue list") && all.contains_key("error"));
    let e = env.json_err(&["schema", "isue", "list"], 1);
    assert_eq!(
        (e["code"].clone(), e["suggestion"].clone()),
        (json!("INVALID_VALUE"), json!("issue list"))
    );
    snap(&env, "contract-schema", &Value::Object(all));
}

/// The response a command prints must match its schema's top-level type: an array or an
/// object, and the required keys of an object.
#[test]
fn responses_have_the_type_their_schema_names() {
    let (env, [a, b, _]) = project();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("issue list", vec!["issue", "list"]),
        ("issue show", vec!["issue", "show", &a]),
        ("ready", vec!["ready"]),
        ("blocked", vec!["blocked"]),
        ("graph deps", vec!["graph", "deps", &a]),
        ("graph path", vec!["graph", "path", &a, &b]),
        ("graph export", vec!["graph", "export"]),
        ("gate list", vec!["gate", "list"]),
        ("gate history", vec!["gate", "history", &a]),
        ("issue update", vec!["issue", "update", &a, "--add-label", "x:1"]),
        ("dep rm", vec!["dep", "rm", &a, &b]),
        ("dep add", vec!["dep", "add", &a, &b]),
        ("issue bulk-update", vec!["issue", "bulk-update", "--filter", "label:x:1", "-p", "low"]),
        ("issue create", vec!["issue", "create", "Another"]),
    ];
    for (name, args) in cases {
        let words: Vec<&str> = name.split(' ').collect();
        let mut s = vec!["schema"];
        s.extend(&words);
        let schema = env.json(&s)["response"].clone();
        let v = env.json(&args);
        let is = |t: &str| {
            schema["type"] == t
                || schema["anyOf"].as_array().is_some_and(|xs| xs.iter().any(|x| x["type"] == t))
        };
        match &v {
            Value::Array(_) => assert!(is("array"), "{name}: {schema}"),
            Value::Object(o) => {
                assert!(is("object"), "{name}: {schema}");
                for k in schema["required"].as_array().into_iter().flatten() {
                    assert!(o.contains_key(k.as_str().unwrap()), "{name}: {k} missing in {v}");
                }
            }
            _ => panic!("{name}: {v}"),
        }
    }
}

#[test]
fn graph_export_under_json_prints_json() {
    let (env, [a, b, _]) = project();
    let g = env.json(&["graph", "export"]);
    assert_eq!(g["edges"], json!([{"from": a, "to": b}]));
    assert_eq!(g["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(env.json(&["graph", "export", "--format", "json"]), g);
    for format in ["dot", "mermaid"] {
        let e = env.json_err(&["graph", "export", "--format", format], 2);
        assert_eq!(e["code"], "USAGE");
        assert_eq!(
            e["message"],
            format!(
                "--json prints the graph as JSON; it cannot be combined with --format {format}"
            )
        );
    }
    assert!(env.ok(&["graph", "export"]).starts_with("digraph jit {"), "DOT without --json");
}

#[test]
fn issue_show_prints_each_issue_once_as_one_object_per_line() {
    let (env, [a, b, _]) = project();
    let one = env.json(&["issue", "show", &a]);
    assert_eq!(one["id"], *a);
    let out = env.ok(&["issue", "show", &a, &b, &a[..20], &a.to_uppercase(), "--json"]);
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!((&lines[0], lines[1]["id"].as_str()), (&one, Some(b.as_str())));
    // Human output too shows a repeated issue once.
    let cards = env.ok(&["issue", "show", &a, &a]);
    assert_eq!(cards.matches(a.as_str()).count(), 1, "{cards}");
}

#[test]
fn a_committed_write_whose_stdout_fails_exits_0_with_its_result_on_stderr() {
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let env = TestEnv::fixed();
    let full = || fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = env.cmd(&["issue", "create", "Once", "--json"]).stdout(full()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let mut lines = stderr.lines();
    let warning: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(warning["warning"]["code"], "OUTPUT_LOST");
    assert_eq!(warning["warning"]["committed"], true);
    let result: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(result["title"], "Once");
    assert_eq!(lines.next(), None);
    let listed = env.json(&["issue", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "created exactly once");
    assert_eq!(listed[0]["id"], result["id"]);
    // Human mode: a warning line, then the human result.
    let out = env.cmd(&["issue", "create", "Twice"]).stdout(full()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with(
            "warning: the change is committed, but its result could not be written to stdout ("
        ),
        "{stderr}"
    );
    assert!(stderr.contains("Twice"), "{stderr}");
    // A read that cannot write its output is still an I/O error: nothing was done.
    let out = env.cmd(&["issue", "list"]).stdout(full()).output().unwrap();
    assert_eq!(out.status.code(), Some(74), "{}", describe(&out));
    // A failed write keeps its exit code; its error, which stdout could not take, goes to
    // stderr.
    let mut update = env.cmd(&["issue", "update", "zzzzzzzz", "-p", "low", "--json"]);
    let out = update.stdout(full()).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let e: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(e["error"]["code"], "ISSUE_NOT_FOUND");
    let out = env.cmd(&["issue", "show", "zzzzzzzz"]).stdout(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn listings_say_when_they_left_files_out_and_name_misnamed_ones() {
    let (env, [a, _, _]) = project();
    let file = fs::read(env.issues_dir().join(format!("{a}.json"))).unwrap();
    let names =
        [format!("{}.json", a.to_uppercase()), format!("{a}.json.bak"), "x (copy).json".into()];
    for n in &names {
        fs::write(env.issues_dir().join(n), &file).unwrap();
    }
    // Hidden files and foreign ones are not issue files meant: left to `jit validate`.
    fs::write(env.issues_dir().join("notes.txt"), "hi").unwrap();
    fs::write(env.issues_dir().join(".swp"), "hi").unwrap();
    for args in [
        &["issue", "list", "--json"][..],
        &["query", "is:open", "--count", "--json"],
        &["ready", "--json"],
        &["blocked", "--json"],
        &["graph", "roots", "--json"],
        &["graph", "export", "--json"],
        &["issue", "list"],
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        assert!(serde_json::from_slice::<Value>(&out.stdout).is_ok() || !args.contains(&"--json"));
        let stderr = String::from_utf8(out.stderr).unwrap();
        let warned: Vec<&str> =
            stderr.lines().filter(|l| l.starts_with("warning: skipped")).collect();
        assert_eq!(warned.len(), 3, "{args:?}: {stderr}");
        for n in &names {
            assert!(
                warned
                    .iter()
                    .any(|w| w.contains(n.as_str()) && w.contains("not an issue file name")),
                "{n}: {stderr}"
            );
        }
    }
    assert_eq!(env.json_partial(&["issue", "list"]).as_array().unwrap().len(), 3);
    // Once they are gone, reads are whole again.
    for n in &names {
        fs::remove_file(env.issues_dir().join(n)).unwrap();
    }
    assert_eq!(env.json(&["issue", "list"]).as_array().unwrap().len(), 3);
}

/// More error families: gates, dependencies, the configuration, the graph, the disk.
#[test]
fn the_other_error_families_keep_their_shape() {
    let (env, [a, b, c]) = project();
    let errors: Vec<(&str, Vec<&str>)> = vec![
        ("INVALID_PRIORITY", vec!["issue", "update", &c, "-p", "urgnt"]),
        ("INVALID_TITLE", vec!["issue", "create", "two\nlines"]),
        ("DEP_MISSING", vec!["dep", "add", &c, "01kdyak348zzzzzzzzzzzzzzzz"]),
        (
            "GATE_EXISTS",
            vec!["gate", "define", "review", "--stage", "precheck", "--mode", "manual"],
        ),
        ("GATE_IN_USE", vec!["gate", "remove", "review"]),
        ("GATE_NOT_ATTACHED", vec!["gate", "pass", &c, "review"]),
        ("GATE_NOT_AUTO", vec!["gate", "trust", "review"]),
    ];
    let mut all = Map::new();
    for (name, args) in errors {
        all.insert(name.into(), call(&env, &args));
    }
    // An auto gate whose definition changed behind jit's back is no longer trusted.
    let config = env.jit_dir().join("config.json");
    let mut v: Value = serde_json::from_slice(&fs::read(&config).unwrap()).unwrap();
    v["gates"]["tests"]["command"] = json!(["false"]);
    v["bulk_confirm"] = json!(1);
    fs::write(&config, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    env.ok(&["gate", "add", &c, "tests"]);
    all.insert("GATE_UNTRUSTED".into(), call(&env, &["gate", "run", &c]));
    all.insert(
        "BULK_CONFIRM_REQUIRED".into(),
        call(&env, &["issue", "bulk-update", "--filter", "is:open", "-p", "low"]),
    );
    let mut faulty = env.cmd(&["issue", "update", &c, "-p", "low", "--json"]);
    let out = faulty.env("JIT_TEST_FAULT", "enospc").output().unwrap();
    let disk: Value = serde_json::from_slice(&out.stdout).unwrap();
    let disk = serde_json::to_string(&disk).unwrap();
    // The temporary file's name holds the process id.
    let tmp = redact_after(&disk, ".tmp.", ".");
    all.insert(
        "DISK_FULL".into(),
        json!({"exit": out.status.code(), "stdout": serde_json::from_str::<Value>(&tmp).unwrap()}),
    );
    // A cycle made by hand.
    let path = env.issues_dir().join(format!("{b}.json"));
    let mut issue: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    issue["dependencies"] = json!([a]);
    fs::write(&path, serde_json::to_vec_pretty(&issue).unwrap()).unwrap();
    all.insert("GRAPH_CYCLE".into(), call(&env, &["graph", "order"]));
    fs::write(&config, "{ not json").unwrap();
    all.insert("CONFIG_INVALID".into(), call(&env, &["issue", "list"]));
    for (name, v) in &all {
        let e = v["stdout"]["error"].as_object().unwrap_or_else(|| panic!("{name}: {v}"));
        assert_eq!(e["code"], **name, "{v}");
    }
    snap(&env, "contract-errors-more", &Value::Object(all));
}

/// `text` with what follows each `start` up to the next `end` after it replaced by `[pid]`.
fn redact_after(text: &str, start: &str, end: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(start) {
        out.push_str(&rest[..i + start.len()]);
        rest = &rest[i + start.len()..];
        let j = rest.find(end).unwrap_or(rest.len());
        out.push_str("[pid]");
        rest = &rest[j..];
    }
    out.push_str(rest);
    out
}
