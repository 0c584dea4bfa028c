//! The hand-made repositories in `fixtures/` (see fixtures/README.md): `small`, a consistent
//! project of eight issues, one of them hand-formatted with a field jit does not know; and
//! `broken`, the same project with the damage hand edits and bad merges make. Read commands
//! give the documented answers on both and change no stored file.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::common::*;

/// Every file under `.jit/` except the derived and local ones (index, lock, lock.info).
fn stored_files(env: &TestEnv) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if ["index", "lock", "lock.info"].contains(&rel.as_str()) {
                continue;
            }
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&env.jit_dir(), &env.jit_dir(), &mut out);
    out
}

fn titles(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap()).collect()
}

const DESIGN: &str = "01kjmdeb8053qy6cxjcvrg6htj";
const WRITER: &str = "01kjmdeb80b0ee3zre9bhs82dw";
const JOURNAL: &str = "01kjpzv28053qy6cxjcvrg6htj";
const INDEX: &str = "01kjpzv280b0ee3zre9bhs82dw";
const BULK: &str = "01kjsj7s8053qy6cxjcvrg6htj";
const RELEASE: &str = "01kjsj7s80b0ee3zre9bhs82dw";

#[test]
fn the_small_project_reads_as_written() {
    let env = TestEnv::fixture("small");
    let before = stored_files(&env);
    let all = env.json(&["issue", "list"]);
    assert_eq!(
        titles(&all),
        [
            "Fix crash on empty filter",
            "Release 0.1",
            "Bulk update",
            "Query parser",
            "Index listing",
            "Add the journal",
            "Write the atomic writer",
            "Design the storage format"
        ]
    );
    assert_eq!(titles(&env.json(&["ready"])), ["Query parser", "Index listing"]);
    let blocked = env.json(&["blocked"]);
    assert_eq!(titles(&blocked), ["Release 0.1", "Bulk update"]);
    assert_eq!(
        titles(&blocked[0]["blocked_by"]),
        ["Add the journal", "Index listing", "Bulk update"]
    );
    let q = |f: &str| titles(&env.json(&["query", f])).join(" | ");
    assert_eq!(q("label:epic:storage AND is:open"), "Index listing | Add the journal");
    assert_eq!(q("crash"), "Fix crash on empty filter | Add the journal"); // title, description
    assert_eq!(q("description:atomically"), "Design the storage format");
    assert_eq!(q("gate:review:failed"), "Fix crash on empty filter");
    assert_eq!(q("gate:tests AND is:blocked"), "Release 0.1");
    assert_eq!(q(&format!("depends-on:{WRITER}")), "Index listing | Add the journal");
    assert_eq!(q("assignee:agent:*"), "Add the journal");
    // Dependencies come before their dependents.
    let order = env.json(&["graph", "order"]);
    let pos = |id: &str| order.as_array().unwrap().iter().position(|i| i["id"] == id).unwrap();
    for (a, b) in [(DESIGN, WRITER), (WRITER, JOURNAL), (WRITER, INDEX), (BULK, RELEASE)] {
        assert!(pos(a) < pos(b), "{a} before {b}");
    }
    // The hand-formatted file: read like any other, its unknown field shown and kept.
    let shown = env.json(&["issue", "show", INDEX]);
    assert_eq!((&shown["title"], &shown["estimate_days"]), (&json!("Index listing"), &json!(3)));
    // validate: no error or warning (exit 0); the hand-written timestamps (no fraction) and
    // the auto gate nobody here trusted yet are info.
    let out = env.run(&["validate", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((&report["counts"]["error"], &report["counts"]["warning"]), (&json!(0), &json!(0)));
    let mut by_code = report["by_code"].as_object().unwrap().clone();
    by_code.remove("INDEX_STALE"); // whether copied files are recorded yet depends on timing
    assert_eq!(Value::Object(by_code), json!({"GATE_UNTRUSTED": 1, "ISSUE_TIMESTAMP_FORM": 8}));
    assert_eq!(report["checked"]["issues"], 8);
    assert!(stored_files(&env) == before, "reading changed a stored file");

    let updated = env.json(&["issue", "update", INDEX, "-p", "high"]);
    assert_eq!(updated["estimate_days"], 3);
    let file = std::fs::read_to_string(env.issues_dir().join(format!("{INDEX}.json"))).unwrap();
    assert!(file.starts_with("{\n  \"id\": ") && file.ends_with("}\n"), "rewritten as jit writes");
    assert!(file.contains("\n  \"estimate_days\": 3\n"), "{file}");
}

#[test]
fn the_broken_project_is_read_around_its_damage() {
    let env = TestEnv::fixture("broken");
    let before = stored_files(&env);
    let truncated = format!("{BULK}.json");
    let misnamed = "01kjsj7s80zzzzzzzzzzzzzzzz.json";
    // Every read command works, naming the two files it cannot read, and nothing else; its
    // exit code says the result is partial (1).
    let reads: [&[&str]; 9] = [
        &["issue", "list"],
        &["issue", "list", "--json"],
        &["query", "is:open", "--json"],
        &["ready"],
        &["blocked", "--json"],
        &["graph", "roots"],
        &["graph", "leaves"],
        &["graph", "deps", INDEX],
        &["graph", "export", "--format", "mermaid"],
    ];
    for args in reads {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let skipped: Vec<&str> = stderr.lines().filter(|l| l.contains("skipped")).collect();
        assert_eq!(skipped.len(), 2, "{args:?}: {stderr}");
        assert!(skipped[0].contains(&truncated) && skipped[1].contains(misnamed), "{stderr}");
    }
    // Nothing is ready: a failed precheck, a gate missing from the registry, a missing
    // dependency, a cycle.
    assert_eq!(titles(&env.json_partial(&["ready"])), Vec::<&str>::new());
    let blocked = env.json_partial(&["blocked"]);
    let index = blocked.as_array().unwrap().iter().find(|b| b["id"] == INDEX).unwrap();
    assert_eq!(index["blocked_by"], json!([{"id": "01kjm0000000000000000000zz", "missing": true}]));
    // A label outside the declared namespaces is still read.
    assert_eq!(titles(&env.json_partial(&["query", "label:team:*"])), ["Query parser"]);
    // The cycle is an error where an order is asked for, naming every issue on it.
    let err = env.json_err(&["graph", "order"], 6);
    assert_eq!(err["code"], "GRAPH_CYCLE");
    let cycle: Vec<&str> =
        err["cycle"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    for id in [DESIGN, WRITER, RELEASE] {
        assert!(cycle.contains(&id), "{id} in {cycle:?}");
    }
    // The unreadable files themselves are errors when asked for by name.
    for id in [BULK, "01kjsj7s80zzzzzzzzzzzzzzzz"] {
        assert_eq!(env.json_err(&["issue", "show", id], 74)["code"], "CORRUPT_FILE");
    }
    // validate names each known problem, with its path and issue, and exits 6.
    let out = env.run(&["validate", "--json"]);
    assert_eq!(out.status.code(), Some(6), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems: Vec<(&str, &str, &Value)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .map(|f| (f["code"].as_str().unwrap(), f["path"].as_str().unwrap(), &f["issue"]))
        .collect();
    let p = |id: &str| format!(".jit/issues/{id}.json");
    let (tmp, notes) =
        (".jit/issues/.tmp.4242.0.01kjpzv28053qy6cxjcvrg6htj.json", ".jit/issues/notes.txt");
    let query = "01kjpzv280vs233yhwg3dgcdz9";
    let (mis, dp, ip, qp, bp) = (p(&misnamed[..26]), p(DESIGN), p(INDEX), p(query), p(BULK));
    assert_eq!(
        problems,
        [
            ("TEMP_FILE", tmp, &Value::Null),
            ("DEP_CYCLE", dp.as_str(), &json!(DESIGN)),
            ("DEP_MISSING", ip.as_str(), &json!(INDEX)),
            ("GATE_UNKNOWN", qp.as_str(), &json!(query)),
            ("LABEL_NAMESPACE", qp.as_str(), &json!(query)),
            ("ISSUE_TRUNCATED", bp.as_str(), &json!(BULK)),
            ("ISSUE_DUPLICATE_ID", mis.as_str(), &json!(&misnamed[..26])),
            ("FOREIGN_FILE", notes, &Value::Null),
        ]
    );
    let cycle = report["findings"].as_array().unwrap().iter().find(|f| f["code"] == "DEP_CYCLE");
    let cycle: Vec<&str> =
        cycle.unwrap()["cycle"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    for id in [DESIGN, WRITER, RELEASE] {
        assert!(cycle.contains(&id), "{id} in {cycle:?}");
    }
    assert!(stored_files(&env) == before, "reading changed a stored file");
}

/// What people read: the human output of the read commands on `small`, as snapshots
/// (`tests/integration/snapshots/`; review changes with `cargo insta review`).
#[test]
fn human_output_of_the_small_project() {
    let env = TestEnv::fixture("small");
    let commands: [(&str, &[&str]); 10] = [
        ("list", &["issue", "list"]),
        ("list-fields", &["issue", "list", "--fields", "id,state,labels,title"]),
        ("show-card", &["issue", "show", "01kjsj7s80v"]),
        ("show-hand-formatted", &["issue", "show", INDEX]),
        ("ready", &["ready"]),
        ("blocked", &["blocked"]),
        ("graph-deps", &["graph", "deps", RELEASE]),
        ("graph-order", &["graph", "order"]),
        ("query-count", &["query", "is:open", "--count"]),
        (
            "explain",
            &["query", "--explain", "(state:ready AND label:epic:*) OR priority>=high NOT crash"],
        ),
    ];
    for (name, args) in commands {
        insta::assert_snapshot!(name, env.ok(args), &args.join(" "));
    }
    let err = env.run(&["query", "stat:ready AND priority:hihg"]);
    assert_eq!(err.status.code(), Some(1), "a user error");
    insta::assert_snapshot!(
        "filter-error",
        String::from_utf8_lossy(&err.stderr),
        "stderr of a bad filter"
    );
}
