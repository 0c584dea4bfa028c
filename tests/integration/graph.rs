//! Dependencies and the graph end to end: `dep add|rm`, `issue create --depends-on`, the
//! refusals (self, missing, cycle) and their all-or-nothing behaviour, a race of opposite
//! edges between processes, `ready` / `blocked`, the graph query predicates, `graph …`
//! (closures with depth, roots, leaves, order, path, export) and a cycle made by hand editing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Output, Stdio};

use serde_json::{Value, json};

use crate::common::*;

fn issue_path(env: &TestEnv, id: &str) -> PathBuf {
    env.issues_dir().join(format!("{id}.json"))
}

fn read_issue_bytes(env: &TestEnv, id: &str) -> Vec<u8> {
    std::fs::read(issue_path(env, id)).unwrap()
}

/// Create an issue with extra `issue create` arguments; returns its id.
fn create_with(env: &TestEnv, title: &str, extra: &[&str]) -> String {
    let mut args = vec!["issue", "create", title];
    args.extend_from_slice(extra);
    env.json(&args)["id"].as_str().unwrap().to_string()
}

/// Move an issue to `state` through the allowed transitions.
fn set_state(env: &TestEnv, id: &str, state: &str) {
    if state == "done" {
        env.ok(&["issue", "update", id, "--state", "in_progress"]);
    }
    env.ok(&["issue", "update", id, "--state", state]);
}

/// Write `dependencies` straight into an issue file, as a hand edit or a merge would.
fn hand_set_deps(env: &TestEnv, id: &str, deps: &[&str]) {
    let path = issue_path(env, id);
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["dependencies"] = json!(deps);
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// The `id` fields of a JSON array of objects, in order.
fn ids_of(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect()
}

fn set_of(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// The ids `jit query EXPR` matches, as a set.
fn query(env: &TestEnv, expr: &str) -> BTreeSet<String> {
    ids_of(&env.json(&["query", expr])).into_iter().collect()
}

fn deps_on_disk(env: &TestEnv, id: &str) -> Vec<String> {
    let v: Value = serde_json::from_slice(&read_issue_bytes(env, id)).unwrap();
    v["dependencies"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().into()).collect()
}

/// `{id: depth}` from `graph deps|rdeps --json`.
fn depths(v: &Value) -> BTreeMap<String, u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| (x["id"].as_str().unwrap().to_string(), x["depth"].as_u64().unwrap()))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Run and require exit 0 and no panic; returns the output.
fn run_ok(env: &TestEnv, args: &[&str]) -> Output {
    let out = env.run(args);
    assert_success(&out, args);
    assert!(!stderr(&out).contains("panicked"), "{}", describe(&out));
    out
}

#[test]
fn dep_add_rm_and_create_depends_on() {
    let env = TestEnv::new();
    let a = env.create("A");
    let b = env.create("B");
    let c = env.create("C");

    let v = env.json(&["dep", "add", &a, &b, &c[..16]]);
    assert_eq!(v["id"], json!(a));
    assert_eq!(v["dependencies"], json!([b, c]), "a prefix names the dependency too");
    assert_eq!(v["version"], 2);
    assert_eq!(deps_on_disk(&env, &a), vec![b.clone(), c.clone()]);

    // Adding what is already there writes nothing.
    let before = read_issue_bytes(&env, &a);
    let v = env.json(&["dep", "add", &a, &b]);
    assert_eq!(v["version"], 2);
    assert_eq!(read_issue_bytes(&env, &a), before);
    let human = env.ok(&["dep", "add", &a, &b]);
    assert!(human.starts_with("added nothing\n"), "{human}");

    let v = env.json(&["dep", "rm", &a, &b]);
    assert_eq!(v["dependencies"], json!([c]));
    assert_eq!(v["version"], 3);
    assert_eq!(deps_on_disk(&env, &a), vec![c.clone()]);
    let human = env.ok(&["dep", "rm", &a, &c]);
    assert!(human.starts_with(&format!("removed {c}\n")), "{human}");
    assert!(deps_on_disk(&env, &a).is_empty());

    let d = env.json(&["issue", "create", "D", "--depends-on", &a, "--depends-on", &c[..16]]);
    assert_eq!(d["dependencies"], json!([a, c]));
    let d = d["id"].as_str().unwrap().to_string();
    assert_eq!(deps_on_disk(&env, &d), vec![a.clone(), c.clone()]);

    // A new issue cannot depend on a missing one; nothing is created.
    let gone = env.create("Gone");
    env.ok(&["issue", "delete", &gone, "--yes"]);
    let files = env.issue_files();
    let e = env.json_err(&["issue", "create", "E", "--depends-on", &a, "--depends-on", &gone], 4);
    assert_eq!(e["code"], "DEP_MISSING");
    assert!(e["message"].as_str().unwrap().contains(&gone), "{e}");
    assert_eq!(env.issue_files(), files);

    // A dependency that no longer names an issue (a hand edit) can still be removed by full id.
    hand_set_deps(&env, &b, &[&gone]);
    let v = env.json(&["dep", "rm", &b, &gone]);
    assert_eq!(v["dependencies"], json!([]));
}

#[test]
fn dep_add_refuses_self_missing_and_cycles() {
    let env = TestEnv::new();
    let a = env.create("A");
    let b = env.create("B");
    let c = env.create("C");
    env.ok(&["dep", "add", &a, &b]);
    env.ok(&["dep", "add", &b, &c]);
    let gone = env.create("Gone");
    env.ok(&["issue", "delete", &gone, "--yes"]);
    let files = env.issue_files();

    let e = env.json_err(&["dep", "add", &a, &a], 4);
    assert_eq!(e["code"], "DEP_SELF");
    assert_eq!(env.issue_files(), files);

    for missing in [gone.as_str(), "0000"] {
        let e = env.json_err(&["dep", "add", &a, missing], 4);
        assert_eq!(e["code"], "DEP_MISSING", "{missing}");
        assert!(e["message"].as_str().unwrap().contains(missing), "{e}");
        assert_eq!(env.issue_files(), files);
    }

    // c → a closes a → b → c; the error names the whole cycle, starting at the edited issue.
    let e = env.json_err(&["dep", "add", &c, &a], 4);
    assert_eq!(e["code"], "DEP_CYCLE");
    assert_eq!(e["cycle"], json!([c, a, b, c]));
    let named = format!("{c} → {a} → {b} → {c}");
    assert!(e["message"].as_str().unwrap().contains(&named), "{e}");
    assert!(e["hint"].is_string(), "{e}");
    assert_eq!(env.issue_files(), files);

    // The same in human mode: the cycle on stderr, exit 4, nothing on stdout.
    let out = env.run(&["dep", "add", &c, &a]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.starts_with("error: ") && err.contains(&named), "{err}");
    assert!(err.contains("hint: "), "{err}");

    // A two-issue cycle is named too.
    let e = env.json_err(&["dep", "add", &b, &a], 4);
    assert_eq!(e["cycle"], json!([b, a, b]));
    assert_eq!(env.issue_files(), files);
}

#[test]
fn dep_add_of_several_is_all_or_nothing() {
    let env = TestEnv::new();
    let a = env.create("A");
    let b = env.create("B");
    let c = env.create("C");
    let d = env.create("D");
    env.ok(&["dep", "add", &a, &b]);
    let gone = env.create("Gone");
    env.ok(&["issue", "delete", &gone, "--yes"]);
    let files = env.issue_files();
    let d_bytes = read_issue_bytes(&env, &d);

    // One bad dependency among good ones: none is added, whatever its position.
    for (args, code) in [
        (vec![&d, &a, &b, &gone], "DEP_MISSING"),
        (vec![&d, &gone, &a], "DEP_MISSING"),
        (vec![&d, &a, &d, &b], "DEP_SELF"),
        (vec![&b, &c, &d, &a], "DEP_CYCLE"),
    ] {
        let mut all = vec!["dep", "add"];
        all.extend(args.iter().map(|s| s.as_str()));
        let e = env.json_err(&all, 4);
        assert_eq!(e["code"], code, "{all:?}");
        assert_eq!(env.issue_files(), files, "{all:?} changed a file");
    }
    assert_eq!(read_issue_bytes(&env, &d), d_bytes);

    // A batch whose own edges would close a cycle through the issue is refused as a whole.
    env.ok(&["dep", "add", &c, &d]);
    let files = env.issue_files();
    let e = env.json_err(&["dep", "add", &d, &b, &c], 4);
    assert_eq!(e["code"], "DEP_CYCLE");
    assert_eq!(e["cycle"], json!([d, c, d]));
    assert_eq!(env.issue_files(), files);

    // And the good ones alone go in, in the order given, duplicates once.
    let v = env.json(&["dep", "add", &d, &b, &a, &b]);
    assert_eq!(v["dependencies"], json!([b, a]));
}

#[test]
fn opposite_edges_added_at_once_never_both_succeed() {
    let env = TestEnv::new();
    let mut edges = Vec::new();
    for round in 0..24 {
        let a = env.create(&format!("A{round}"));
        let b = env.create(&format!("B{round}"));
        let spawn = |from: &str, to: &str| {
            env.cmd(&["dep", "add", from, to, "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let first = spawn(&a, &b);
        let second = spawn(&b, &a);
        let outs = [first.wait_with_output().unwrap(), second.wait_with_output().unwrap()];
        let won: Vec<bool> = outs.iter().map(|o| o.status.success()).collect();
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: exactly one of A→B and B→A may succeed\n{}\n{}",
            describe(&outs[0]),
            describe(&outs[1])
        );
        let loser = &outs[if won[0] { 1 } else { 0 }];
        assert_eq!(loser.status.code(), Some(4), "{}", describe(loser));
        let e: Value = serde_json::from_slice(&loser.stdout).unwrap();
        assert_eq!(e["error"]["code"], "DEP_CYCLE", "{e}");
        edges.push(if won[0] { (a, b) } else { (b, a) });
    }
    run_ok(&env, &["graph", "order"]);
    for (from, to) in &edges {
        assert_eq!(deps_on_disk(&env, from), vec![to.clone()]);
        assert!(deps_on_disk(&env, to).is_empty());
    }
}

#[test]
fn ready_and_blocked_are_derived_from_the_graph() {
    let env = TestEnv::new();
    // Created one after another so that "oldest first" has a meaning (ids are time-ordered).
    let make = |title: &str, extra: &[&str]| {
        let id = create_with(&env, title, extra);
        std::thread::sleep(std::time::Duration::from_millis(3));
        id
    };
    let dep = make("Dependency", &["--state", "ready"]);
    let low = make("Low", &["--state", "ready", "-p", "low"]);
    let high_old = make("High old", &["--state", "ready", "-p", "high"]);
    let normal = make("Normal", &["--state", "ready"]);
    let high_new = make("High new", &["--state", "ready", "-p", "high"]);
    let blocked = make("Blocked", &["--state", "ready", "-p", "critical", "--depends-on", &dep]);
    let backlog = make("Backlog", &[]);
    let blocked_backlog = make("Blocked backlog", &["--depends-on", &dep]);
    let finished = make("Finished", &["--state", "ready", "--depends-on", &dep]);
    set_state(&env, &dep, "in_progress");
    // A closed issue is never blocked, even with a dependency that is not done.
    env.ok(&["issue", "update", &finished, "--state", "rejected"]);

    let ready = ids_of(&env.json(&["ready"]));
    assert_eq!(ready, vec![high_old.clone(), high_new.clone(), normal.clone(), low.clone()]);
    assert_eq!(ids_of(&env.json(&["ready", "--limit", "1"])), vec![high_old.clone()]);
    let table = env.ok(&["ready"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    assert!(lines[1].contains("High old") && lines[4].contains("Low"), "{table}");

    let b = env.json(&["blocked"]);
    let got: BTreeSet<String> = ids_of(&b).into_iter().collect();
    assert_eq!(got, set_of(&[&blocked, &blocked_backlog]), "{b}");
    for entry in b.as_array().unwrap() {
        assert_eq!(entry["blocked_by"].as_array().unwrap().len(), 1, "{b}");
        assert_eq!(entry["blocked_by"][0]["id"], json!(dep));
        assert_eq!(entry["blocked_by"][0]["state"], "in_progress");
    }
    let human = env.ok(&["blocked"]);
    let line = human.lines().find(|l| l.ends_with(" [in_progress] Dependency")).expect(&human);
    assert_short(
        line.trim_start().strip_prefix("blocked by ").unwrap().split(' ').next().unwrap(),
        &dep,
    );
    assert!(!human.contains(&backlog) && !human.contains(&finished), "{human}");

    // Finishing the dependency makes the dependent ready without writing to it: readiness is
    // derived on every read, never stored, so nothing is "promoted".
    let before = read_issue_bytes(&env, &blocked);
    let before_backlog = read_issue_bytes(&env, &blocked_backlog);
    set_state(&env, &dep, "done");
    assert_eq!(read_issue_bytes(&env, &blocked), before, "the dependent was written");
    assert_eq!(read_issue_bytes(&env, &blocked_backlog), before_backlog);
    let ready = ids_of(&env.json(&["ready"]));
    assert_eq!(ready, vec![blocked.clone(), high_old, high_new, normal, low]);
    assert_eq!(env.json(&["blocked"]), json!([]));
    let out = run_ok(&env, &["blocked"]);
    assert!(out.stdout.is_empty() && stderr(&out).contains("nothing is blocked"));

    // Reopening the dependency blocks the dependent again; still no write to it.
    env.ok(&["issue", "update", &dep, "--state", "ready"]);
    assert_eq!(ids_of(&env.json(&["blocked"])).len(), 2);
    assert!(!ids_of(&env.json(&["ready"])).contains(&blocked));
    assert_eq!(read_issue_bytes(&env, &blocked), before);
}

#[test]
fn a_missing_dependency_blocks() {
    let env = TestEnv::new();
    let a = create_with(&env, "A", &["--state", "ready"]);
    let gone = env.create("Gone");
    env.ok(&["issue", "delete", &gone, "--yes"]);
    hand_set_deps(&env, &a, &[&gone]);
    assert_eq!(env.json(&["ready"]), json!([]));
    let b = env.json(&["blocked"]);
    assert_eq!(ids_of(&b), vec![a.clone()]);
    assert_eq!(b[0]["blocked_by"], json!([{"id": gone, "missing": true}]));
    let human = env.ok(&["blocked"]);
    assert!(human.contains("(no such issue)"), "{human}");
    assert_eq!(query(&env, "is:blocked"), set_of(&[&a]));
}

#[test]
fn query_predicates_over_the_graph() {
    let env = TestEnv::new();
    let b = create_with(&env, "B", &["--state", "ready"]);
    let c = create_with(&env, "C", &["--state", "ready"]);
    let a = create_with(&env, "A", &["--state", "ready", "--depends-on", &b, "--depends-on", &c]);
    let d = create_with(&env, "D", &["--state", "ready", "--depends-on", &a]);
    let e = create_with(&env, "E", &["--state", "ready"]);
    let f = create_with(&env, "F", &["--depends-on", &c]);
    set_state(&env, &b, "done");

    assert_eq!(query(&env, "is:ready"), set_of(&[&c, &e]));
    assert_eq!(query(&env, "is:blocked"), set_of(&[&a, &d, &f]));
    assert_eq!(query(&env, &format!("depends-on:{b}")), set_of(&[&a]));
    assert_eq!(query(&env, &format!("depends-on:{}", &c[..16])), set_of(&[&a, &f]));
    assert_eq!(query(&env, &format!("blocks:{a}")), set_of(&[&b, &c]));
    assert_eq!(query(&env, &format!("blocks:{d}")), set_of(&[&a]));
    assert_eq!(query(&env, &format!("blocks:{e}")), BTreeSet::new());
    assert_eq!(query(&env, "has:deps"), set_of(&[&a, &d, &f]));
    assert_eq!(query(&env, "NOT has:deps"), set_of(&[&b, &c, &e]));
    assert_eq!(query(&env, &format!("is:blocked AND depends-on:{a}")), set_of(&[&d]));
    assert_eq!(query(&env, &format!("is:ready OR blocks:{a}")), set_of(&[&b, &c, &e]));

    // The predicates agree with the `ready` and `blocked` commands.
    let ready: BTreeSet<String> = ids_of(&env.json(&["ready"])).into_iter().collect();
    assert_eq!(query(&env, "is:ready"), ready);
    let blocked: BTreeSet<String> = ids_of(&env.json(&["blocked"])).into_iter().collect();
    assert_eq!(query(&env, "is:blocked"), blocked);

    // Finishing C unblocks A (B is done) but not D (A is not done).
    set_state(&env, &c, "done");
    assert_eq!(query(&env, "is:ready"), set_of(&[&a, &e]));
    assert_eq!(query(&env, "is:blocked"), set_of(&[&d]));
    // The same predicates work in `issue list --filter`.
    let v = env.json(&["issue", "list", "--filter", "is:blocked"]);
    assert_eq!(ids_of(&v), vec![d.clone()]);
}

#[test]
fn deps_and_rdeps_with_depth() {
    let env = TestEnv::new();
    let d = env.create("D");
    let c = create_with(&env, "C", &["--depends-on", &d]);
    let b = create_with(&env, "B", &["--depends-on", &c]);
    let e = env.create("E");
    let a = create_with(&env, "A", &["--depends-on", &b, "--depends-on", &e]);
    let x = create_with(&env, "X", &["--depends-on", &b]);
    let m = |pairs: &[(&String, u64)]| -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };

    let whole = m(&[(&b, 1), (&e, 1), (&c, 2), (&d, 3)]);
    assert_eq!(depths(&env.json(&["graph", "deps", &a])), whole);
    assert_eq!(depths(&env.json(&["graph", "deps", &a, "--depth", "0"])), whole);
    assert_eq!(depths(&env.json(&["graph", "deps", &a, "--depth", "1"])), m(&[(&b, 1), (&e, 1)]));
    assert_eq!(
        depths(&env.json(&["graph", "deps", &a[..16], "--depth", "2"])),
        m(&[(&b, 1), (&e, 1), (&c, 2)])
    );
    assert_eq!(depths(&env.json(&["graph", "deps", &a, "--depth", "9"])), whole);
    assert_eq!(env.json(&["graph", "deps", &d]), json!([]));
    let v = env.json(&["graph", "deps", &a, "--depth", "1"]);
    let first = v.as_array().unwrap().iter().find(|n| n["id"] == json!(b)).unwrap();
    assert_eq!((first["title"].clone(), first["state"].clone()), (json!("B"), json!("backlog")));

    let up = m(&[(&c, 1), (&b, 2), (&a, 3), (&x, 3)]);
    assert_eq!(depths(&env.json(&["graph", "rdeps", &d])), up);
    assert_eq!(depths(&env.json(&["graph", "rdeps", &d, "--depth", "2"])), m(&[(&c, 1), (&b, 2)]));
    assert_eq!(depths(&env.json(&["graph", "rdeps", &b, "--depth", "1"])), m(&[(&a, 1), (&x, 1)]));
    assert_eq!(env.json(&["graph", "rdeps", &a]), json!([]));

    // Human output indents by depth.
    let text = env.ok(&["graph", "deps", &a]);
    let line = text.lines().find(|l| l.ends_with(" [backlog] D")).expect(&text);
    assert!(line.starts_with("    ") && !line.starts_with("     "), "depth 3: {text}");
    assert_short(line.trim_start().split(' ').next().unwrap(), &d);
    let line = text.lines().find(|l| l.ends_with(" [backlog] B")).expect(&text);
    assert_short(line.split(' ').next().unwrap(), &b); // depth 1: not indented

    let err = env.json_err(&["graph", "deps", "0000"], 3);
    assert_eq!(err["code"], "ISSUE_NOT_FOUND");
}

#[test]
fn roots_leaves_order_and_path() {
    let env = TestEnv::new();
    let d = env.create("D");
    let b = create_with(&env, "B", &["--depends-on", &d]);
    let c = create_with(&env, "C", &["--depends-on", &d]);
    let a = create_with(&env, "A", &["--depends-on", &b, "--depends-on", &c]);
    let e = env.create("E");
    let all = set_of(&[&a, &b, &c, &d, &e]);
    let edges = [(&a, &b), (&a, &c), (&b, &d), (&c, &d)];

    let roots: BTreeSet<String> = ids_of(&env.json(&["graph", "roots"])).into_iter().collect();
    assert_eq!(roots, set_of(&[&d, &e]), "roots depend on nothing");
    let leaves: BTreeSet<String> = ids_of(&env.json(&["graph", "leaves"])).into_iter().collect();
    assert_eq!(leaves, set_of(&[&a, &e]), "nothing depends on leaves");

    let order = ids_of(&env.json(&["graph", "order"]));
    assert_eq!(order.len(), 5, "{order:?}");
    assert_eq!(order.iter().cloned().collect::<BTreeSet<_>>(), all);
    let pos = |id: &String| order.iter().position(|x| x == id).unwrap();
    for (from, to) in edges {
        assert!(pos(to) < pos(from), "{to} must come before {from}: {order:?}");
    }
    let text = env.ok(&["graph", "order"]);
    assert_eq!(text.lines().count(), 5, "{text}");

    let p = env.json(&["graph", "path", &a, &d]);
    let p = ids_of(&p["path"]);
    assert_eq!(p.len(), 3, "{p:?}");
    assert_eq!((&p[0], &p[2]), (&a, &d));
    assert!(p[1] == b || p[1] == c, "{p:?}");
    let text = env.ok(&["graph", "path", &a[..16], &d[..16]]);
    let lines: Vec<&str> = text.lines().collect();
    let (first, last) = (lines[0], lines[lines.len() - 1]);
    assert!(first.starts_with("  ") && first.ends_with(" A"), "{text}");
    assert_short(first.split_whitespace().next().unwrap(), &a);
    assert!(last.starts_with("→ ") && last.ends_with(" D"), "{text}");
    assert_short(last.split_whitespace().nth(1).unwrap(), &d);

    // Against the arrows, or between unrelated issues, there is no path.
    for (from, to) in [(&d, &a), (&b, &c), (&e, &a)] {
        let err = env.json_err(&["graph", "path", from, to], 3);
        assert_eq!(err["code"], "PATH_NOT_FOUND");
        assert_eq!((err["from"].clone(), err["to"].clone()), (json!(from), json!(to)));
    }
    let out = env.run(&["graph", "path", &d, &a]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("no dependency path"), "{}", describe(&out));
}

/// Pipe DOT text through Graphviz (the calling test has checked `have_tool("dot", ...)`).
fn graphviz_accepts(dot_text: &str) {
    let child = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => panic!(
            "Graphviz `dot` is needed by this test but cannot be run ({e}); install the \
             `graphviz` package (.ci/run does so)"
        ),
    };
    child.stdin.take().unwrap().write_all(dot_text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "dot -Tsvg refused the export:\n{}\n{dot_text}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"), "{}", describe(&out));
}

/// Parse Mermaid output: every line after the header must be a node or an edge line.
fn parse_mermaid(text: &str) -> (BTreeMap<String, String>, BTreeSet<(String, String)>) {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("flowchart"), "{text}");
    let is_id = |s: &str| s.len() == 26 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    let mut nodes = BTreeMap::new();
    let mut edges = BTreeSet::new();
    for line in lines {
        let body = line.strip_prefix("  n").unwrap_or_else(|| panic!("bad line {line:?}"));
        if let Some((from, to)) = body.split_once(" --> n") {
            assert!(is_id(from) && is_id(to), "bad edge line {line:?}");
            edges.insert((from.to_string(), to.to_string()));
        } else {
            let (id, rest) = body.split_at(26.min(body.len()));
            assert!(is_id(id), "bad node line {line:?}");
            let label = rest
                .strip_prefix("[\"")
                .and_then(|r| r.strip_suffix("\"]"))
                .unwrap_or_else(|| panic!("bad node line {line:?}"));
            assert!(!label.contains('"'), "unescaped quote in {line:?}");
            nodes.insert(id.to_string(), label.to_string());
        }
    }
    (nodes, edges)
}

#[test]
fn export_as_dot_mermaid_and_json() {
    if !have_tool("dot", "graphviz") {
        return;
    }
    let env = TestEnv::new();
    let d = create_with(&env, r#"Say "hi" \ then <b>#1</b>; done"#, &["-l", "area:x"]);
    let b = create_with(&env, "B [brackets] {braces}", &["-l", "area:x", "--depends-on", &d]);
    let c = create_with(&env, "C", &["--depends-on", &d]);
    let a = create_with(&env, "A", &["-l", "area:x", "--depends-on", &b, "--depends-on", &c]);
    let lone = env.create("Lone");
    let all = set_of(&[&a, &b, &c, &d, &lone]);
    let pair = |x: &String, y: &String| (x.clone(), y.clone());
    let all_edges: BTreeSet<_> =
        [pair(&a, &b), pair(&a, &c), pair(&b, &d), pair(&c, &d)].into_iter().collect();

    // DOT: Graphviz accepts it; every node and edge is there.
    let dot = env.ok(&["graph", "export", "--format", "dot"]);
    assert!(dot.starts_with("digraph"), "{dot}");
    graphviz_accepts(&dot);
    for id in &all {
        assert!(dot.contains(&format!("\"{id}\" [label=")), "{id} missing:\n{dot}");
    }
    for (x, y) in &all_edges {
        assert!(dot.contains(&format!("\"{x}\" -> \"{y}\";")), "{dot}");
    }
    assert_eq!(dot.matches(" -> ").count(), 4, "{dot}");
    assert!(dot.contains(r#"Say \"hi\" \\ then"#), "{dot}");
    assert_eq!(env.ok(&["graph", "export"]), dot, "dot is the default format");

    // Mermaid: the header, then only well-formed node and edge lines.
    let mm = env.ok(&["graph", "export", "--format", "mermaid"]);
    let (nodes, edges) = parse_mermaid(&mm);
    assert_eq!(nodes.keys().cloned().collect::<BTreeSet<_>>(), all);
    assert_eq!(edges, all_edges);
    let label = &nodes[&d];
    assert!(label.contains("#quot;hi#quot;") && label.contains("#lt;b#gt;#35;1"), "{label}");
    // The label starts with the short id: a unique prefix, whose length depends on the ids.
    let short = label.split_whitespace().next().unwrap();
    assert!(short.len() >= 4 && d.starts_with(short), "{label}");
    assert!(label.ends_with("(backlog)"), "{label}");

    // JSON: nodes with id, title, state; edges from → to.
    let j = env.json(&["graph", "export", "--format", "json"]);
    let jnodes: BTreeSet<String> = ids_of(&j["nodes"]).into_iter().collect();
    assert_eq!(jnodes, all);
    let node_d = j["nodes"].as_array().unwrap().iter().find(|n| n["id"] == json!(d)).unwrap();
    assert_eq!(node_d["title"], r#"Say "hi" \ then <b>#1</b>; done"#);
    assert_eq!(node_d["state"], "backlog");
    let jedges: BTreeSet<(String, String)> = j["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from"].as_str().unwrap().into(), e["to"].as_str().unwrap().into()))
        .collect();
    assert_eq!(jedges, all_edges);

    // A bad format or filter is refused before anything is read, even outside a repository.
    let e = env.json_err(&["graph", "export", "--format", "svg"], 1);
    assert_eq!((e["code"].clone(), e["suggestion"].clone()), (json!("INVALID_VALUE"), Value::Null));
    let bare = TestEnv::bare();
    assert_eq!(bare.json_err(&["graph", "export", "--format", "dott"], 1)["suggestion"], "dot");
    assert_eq!(
        bare.json_err(&["graph", "export", "--filter", "stat:x"], 1)["code"],
        "FILTER_INVALID"
    );

    // --filter keeps the matching nodes and only the edges between them.
    let f = env.json(&["graph", "export", "--format", "json", "--filter", "label:area:x"]);
    assert_eq!(ids_of(&f["nodes"]).into_iter().collect::<BTreeSet<_>>(), set_of(&[&a, &b, &d]));
    let fedges: Vec<(String, String)> = f["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from"].as_str().unwrap().into(), e["to"].as_str().unwrap().into()))
        .collect();
    assert_eq!(fedges.into_iter().collect::<BTreeSet<_>>(), [pair(&a, &b), pair(&b, &d)].into());
    let fm = env.ok(&["graph", "export", "--format", "mermaid", "--filter", "label:area:x"]);
    let (fnodes, fedges) = parse_mermaid(&fm);
    assert_eq!(fnodes.len(), 3);
    assert_eq!(fedges, [pair(&a, &b), pair(&b, &d)].into());
    let fd = env.ok(&["graph", "export", "--filter", &format!("blocks:{a}")]);
    graphviz_accepts(&fd);
    assert!(fd.contains(&format!("\"{b}\" [")) && !fd.contains(&format!("\"{a}\" [")), "{fd}");
    assert_eq!(fd.matches(" -> ").count(), 0, "{fd}");

    // A title edited by hand can hold a line break (jit itself refuses one): every format
    // still comes out well-formed.
    let path = env.issues_dir().join(format!("{lone}.json"));
    let mut raw: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    raw["title"] = json!("line one\nline \"two\"\r\tend");
    std::fs::write(&path, serde_json::to_vec_pretty(&raw).unwrap()).unwrap();
    let (nodes, _) = parse_mermaid(&env.ok(&["graph", "export", "--format", "mermaid"]));
    assert!(nodes[&lone].contains("line one line #quot;two#quot;"), "{}", nodes[&lone]);
    graphviz_accepts(&env.ok(&["graph", "export"]));
    let j = env.json(&["graph", "export", "--format", "json"]);
    assert!(j["nodes"].as_array().unwrap().iter().any(|n| n["title"] == raw["title"]));

    let e = env.json_err(&["graph", "export", "--format", "mermeid"], 1);
    assert_eq!(e["code"], "INVALID_VALUE");
    assert_eq!(e["suggestion"], "mermaid");
    let e = env.json_err(&["graph", "export", "--filter", "stat:ready"], 1);
    assert!(e["code"].as_str().unwrap().starts_with("FILTER"), "{e}");
}

#[test]
fn a_hand_edited_cycle_is_reported_and_everything_else_still_works() {
    if !have_tool("dot", "graphviz") {
        return;
    }
    let env = TestEnv::new();
    let a = create_with(&env, "A", &["--state", "ready"]);
    let b = create_with(&env, "B", &["--state", "ready"]);
    let c = create_with(&env, "C", &["--state", "ready"]);
    let d = create_with(&env, "D", &["--state", "ready", "--depends-on", &a]);
    let e = create_with(&env, "E", &["--state", "ready"]);
    // a → b → c → a, written straight into the files (as a hand edit or a merge could).
    hand_set_deps(&env, &a, &[&b]);
    hand_set_deps(&env, &b, &[&c]);
    hand_set_deps(&env, &c, &[&a]);
    let ring = set_of(&[&a, &b, &c]);

    let err = env.json_err(&["graph", "order"], 6);
    assert_eq!(err["code"], "GRAPH_CYCLE");
    let cycle: Vec<String> =
        err["cycle"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().into()).collect();
    assert_eq!(cycle.len(), 4, "{err}");
    assert_eq!(cycle[0], cycle[3], "{err}");
    assert_eq!(cycle[..3].iter().cloned().collect::<BTreeSet<_>>(), ring, "{err}");
    for w in cycle.windows(2) {
        assert_eq!(deps_on_disk(&env, &w[0]), vec![w[1].clone()], "{err}: not an edge");
    }
    assert!(err["message"].as_str().unwrap().contains(&cycle.join(" → ")), "{err}");
    let out = env.run(&["graph", "order"]);
    assert_eq!(out.status.code(), Some(6), "{}", describe(&out));
    assert!(stderr(&out).contains(&cycle.join(" → ")), "{}", describe(&out));

    // The other graph commands still answer, with a warning on stderr.
    for args in [
        vec!["graph", "deps", &a],
        vec!["graph", "rdeps", &a],
        vec!["graph", "roots"],
        vec!["graph", "leaves"],
        vec!["graph", "export", "--format", "dot"],
        vec!["graph", "export", "--format", "mermaid"],
        vec!["graph", "export", "--format", "json"],
    ] {
        let out = run_ok(&env, &args);
        let err = stderr(&out);
        assert!(err.contains("warning:") && err.contains("cycle"), "{args:?}: {err}");
    }
    let deps = depths(&env.json(&["graph", "deps", &a]));
    assert_eq!(deps.keys().cloned().collect::<BTreeSet<_>>(), set_of(&[&b, &c]));
    let rdeps = depths(&env.json(&["graph", "rdeps", &a]));
    assert_eq!(rdeps.keys().cloned().collect::<BTreeSet<_>>(), set_of(&[&b, &c, &d]));
    assert_eq!(ids_of(&env.json(&["graph", "roots"])), vec![e.clone()]);
    let leaves: BTreeSet<String> = ids_of(&env.json(&["graph", "leaves"])).into_iter().collect();
    assert_eq!(leaves, set_of(&[&d, &e]));
    graphviz_accepts(&env.ok(&["graph", "export"]));
    let (_, edges) = parse_mermaid(&env.ok(&["graph", "export", "--format", "mermaid"]));
    assert_eq!(edges.len(), 4);
    let p = env.json(&["graph", "path", &a, &c]);
    assert_eq!(ids_of(&p["path"]), vec![a.clone(), b.clone(), c.clone()]);

    // ready and blocked work too: everything on or behind the cycle is blocked.
    run_ok(&env, &["ready"]);
    run_ok(&env, &["blocked"]);
    assert_eq!(ids_of(&env.json(&["ready"])), vec![e.clone()]);
    let blocked: BTreeSet<String> = ids_of(&env.json(&["blocked"])).into_iter().collect();
    assert_eq!(blocked, set_of(&[&a, &b, &c, &d]));
    assert_eq!(query(&env, "is:blocked"), blocked);

    // Edits keep refusing new cycles (and terminate) while the old one is there.
    let err = env.json_err(&["dep", "add", &a, &d], 4);
    assert_eq!(err["code"], "DEP_CYCLE");
    assert_eq!(err["cycle"], json!([a, d, a]));
    env.json(&["dep", "add", &e, &a]);

    // Removing one edge of the cycle makes the order work again.
    env.json(&["dep", "rm", &c, &a]);
    let order = ids_of(&env.json(&["graph", "order"]));
    assert_eq!(order.len(), 5);
    let out = run_ok(&env, &["graph", "roots"]);
    assert!(!stderr(&out).contains("warning"), "{}", describe(&out));
}

#[test]
fn work_cannot_start_on_a_blocked_issue() {
    let env = TestEnv::new();
    let dep = env.json(&["issue", "create", "dependency", "--state", "ready"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = env.json(&["issue", "create", "dependent", "--state", "ready", "--depends-on", &dep])
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = env.issue_files();
    let e = env.json_err(&["issue", "update", &id, "--state", "in_progress"], 4);
    assert_eq!(e["code"], "ISSUE_BLOCKED");
    assert_eq!(e["blockers"], serde_json::json!([dep]));
    assert_eq!(env.issue_files(), before, "a refused start writes nothing");
    let out = env.run(&[
        "issue",
        "bulk-update",
        "--filter",
        &format!("id:{id}"),
        "--state",
        "in_progress",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["errors"][0]["code"], "ISSUE_BLOCKED");
    assert_eq!(report["modified"], 0);
    assert_eq!(env.issue_files(), before);
    for s in ["in_progress", "done"] {
        env.json(&["issue", "update", &dep, "--state", s]);
    }
    assert_eq!(
        env.json(&["issue", "update", &id, "--state", "in_progress"])["state"],
        "in_progress"
    );
}

/// Human output names an issue by a prefix of its id (its shortest unique prefix, at least 8
/// characters); `--json` by the full id.
#[track_caller]
fn assert_short(shown: &str, full: &str) {
    assert!(shown.len() >= 8 && shown.len() < 26 && full.starts_with(shown), "{shown} for {full}");
}

/// `graph deps`/`rdeps` of `start`, human output, with the command as the first line.
fn tree_of(env: &TestEnv, args: &[&str]) -> String {
    let out = env.run(args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    format!("$ jit {}\n{}{}", args.join(" "), String::from_utf8_lossy(&out.stdout), stderr(&out))
}

#[test]
fn deps_of_a_diamond_print_as_a_tree_with_the_shared_issue_once() {
    let env = TestEnv::fixed();
    let d = env.create("D shared");
    let b = create_with(&env, "B left", &["--depends-on", &d]);
    let c = create_with(&env, "C right", &["--depends-on", &d]);
    let a = create_with(&env, "A top", &["--depends-on", &b, "--depends-on", &c]);
    let mut all = String::new();
    for args in [
        vec!["graph", "deps", &a],
        vec!["graph", "rdeps", &d],
        vec!["graph", "deps", &d],
        vec!["graph", "rdeps", &a],
    ] {
        all += &tree_of(&env, &args);
    }
    insta::assert_snapshot!("graph-deps-diamond", all);
}

#[test]
fn deps_of_a_deeper_graph_print_depth_first_and_honour_depth() {
    let env = TestEnv::fixed();
    // A → B → C → D → E, a shortcut A → D, B → F, and G → A.
    let e = env.create("E bottom");
    let d = create_with(&env, "D", &["--depends-on", &e]);
    let c = create_with(&env, "C", &["--depends-on", &d]);
    let f = env.create("F side");
    let b = create_with(&env, "B", &["--depends-on", &c, "--depends-on", &f]);
    let a = create_with(&env, "A top", &["--depends-on", &b, "--depends-on", &d]);
    let _g = create_with(&env, "G above", &["--depends-on", &a]);
    let mut all = String::new();
    for args in [
        vec!["graph", "deps", &a],
        vec!["graph", "deps", &a, "--depth", "1"],
        vec!["graph", "deps", &a, "--depth", "2"],
        vec!["graph", "rdeps", &e],
        vec!["graph", "rdeps", &e, "--depth", "2"],
    ] {
        all += &tree_of(&env, &args);
    }
    insta::assert_snapshot!("graph-deps-deeper", all);
    // --json is still each issue once, at its shortest distance.
    let depths: BTreeMap<String, u64> = env
        .json(&["graph", "deps", &a])
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap().to_string(), n["depth"].as_u64().unwrap()))
        .collect();
    let want: BTreeMap<String, u64> = [(&b, 1), (&d, 1), (&c, 2), (&f, 2), (&e, 2)]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    assert_eq!(depths, want);
}

#[test]
fn empty_graph_listings_say_so_on_stderr_and_print_an_empty_array_in_json() {
    let env = TestEnv::new();
    for (args, says) in [
        (&["graph", "order"][..], "no issues\n"),
        (&["graph", "roots"], "no issues\n"),
        (&["graph", "leaves"], "no issues\n"),
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        assert_eq!((stdout_of(&out), stderr(&out)), (String::new(), says.to_string()), "{args:?}");
        assert_eq!(env.json(args), json!([]), "{args:?}");
        let out = env.run(&[args, &["-q"]].concat());
        assert_eq!((out.stdout.len(), out.stderr.len()), (0, 0), "--quiet: {args:?}");
    }
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
