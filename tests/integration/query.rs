//! The filter language end to end: `jit query`, `issue list --filter` and
//! `issue bulk-update --filter` through the real binary — results, options, `--explain`,
//! errors, bulk reports, the confirmation threshold, and SIGKILL during a bulk update.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

// ---------------------------------------------------------------------------------------------
// A small varied repository

/// One issue of the fixture: how to make it.
struct Spec {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    /// States to move through with `issue update --state`, in order.
    states: &'static [&'static str],
    priority: &'static str,
    labels: &'static [&'static str],
    assignee: Option<&'static str>,
    /// Creation time, when not [`FIXED_NOW`].
    created: Option<&'static str>,
}

const SPECS: &[Spec] = &[
    Spec {
        name: "login",
        title: "Fix the login page",
        description: "Users bounce off it",
        states: &["ready"],
        priority: "high",
        labels: &["epic:phase5.2", "component:auth"],
        assignee: Some("agent:claude-1"),
        created: None,
    },
    Spec {
        name: "search",
        title: "Search box",
        description: "It should support free text queries",
        states: &[],
        priority: "normal",
        labels: &["component:search"],
        assignee: None,
        created: None,
    },
    Spec {
        name: "crash",
        title: "Crash on startup",
        description: "",
        states: &["ready"],
        priority: "low",
        labels: &["epic:foo"],
        assignee: Some("agent:gpt"),
        created: None,
    },
    Spec {
        name: "legacy",
        title: "Legacy exporter",
        description: "",
        states: &[],
        priority: "critical",
        labels: &["resolution:wontfix"],
        assignee: Some("alice"),
        created: None,
    },
    Spec {
        name: "shipped",
        title: "Ship the release",
        description: "",
        states: &["in_progress", "done"],
        priority: "high",
        labels: &[],
        assignee: Some("agent:claude-2"),
        created: None,
    },
    Spec {
        name: "dropped",
        title: "Dropped plan",
        description: "",
        states: &["rejected"],
        priority: "normal",
        labels: &["epic:foo", "type:bug"],
        assignee: None,
        created: None,
    },
    Spec {
        name: "ancient",
        title: "Ancient request",
        description: "",
        states: &[],
        priority: "normal",
        labels: &["epic:foo"],
        assignee: None,
        created: Some("2019-06-01T00:00:00Z"),
    },
    Spec {
        // 27 hours before FIXED_NOW: not `updated<24h`.
        name: "recent",
        title: "Idea from yesterday",
        description: "",
        states: &[],
        priority: "low",
        labels: &[],
        assignee: None,
        created: Some("2026-01-01T00:00:00Z"),
    },
];

struct Fixture {
    env: TestEnv,
    /// name → id
    ids: BTreeMap<&'static str, String>,
}

impl Fixture {
    fn build() -> Fixture {
        let env = TestEnv::fixed();
        let mut ids = BTreeMap::new();
        for s in SPECS {
            let mut args = vec!["issue", "create", s.title, "-d", s.description, "-p", s.priority];
            for l in s.labels {
                args.extend(["-l", l]);
            }
            if let Some(a) = s.assignee {
                args.extend(["--assignee", a]);
            }
            args.push("--json");
            let mut cmd = env.cmd(&args);
            if let Some(t) = s.created {
                assert!(s.states.is_empty(), "old issues are never updated (updated_at stays old)");
                cmd.env("JIT_NOW", t);
            }
            let out = cmd.output().expect("run jit");
            assert_success(&out, &args);
            let id = parse(&out)["id"].as_str().unwrap().to_string();
            for st in s.states {
                env.json(&["issue", "update", &id, "--state", st]);
            }
            ids.insert(s.name, id);
        }
        Fixture { env, ids }
    }

    fn name_of(&self, id: &str) -> &'static str {
        self.ids.iter().find(|(_, v)| *v == id).map(|(k, _)| *k).unwrap_or("<unknown>")
    }

    /// Names of the issues in a JSON array, in its order.
    fn names(&self, list: &Value) -> Vec<&'static str> {
        ids_of(list).iter().map(|id| self.name_of(id)).collect()
    }

    /// Names `jit query EXPR --json` returns, sorted.
    fn query(&self, expr: &str) -> Vec<&'static str> {
        let mut v = self.names(&self.env.json(&["query", expr]));
        v.sort_unstable();
        v
    }
}

fn parse(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", describe(out)))
}

fn ids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

/// The examples of the design, each with the fixture issues it must return.
fn examples(fx: &Fixture) -> Vec<(String, Vec<&'static str>)> {
    let login = &fx.ids["login"];
    let mut v: Vec<(String, Vec<&'static str>)> = vec![
        ("state:ready".into(), vec!["crash", "login"]),
        (
            "state:backlog OR state:ready".into(),
            vec!["ancient", "crash", "legacy", "login", "recent", "search"],
        ),
        ("label:epic:phase5.2".into(), vec!["login"]),
        ("label:component:*".into(), vec!["login", "search"]),
        ("label:wontfix".into(), vec!["legacy"]),
        ("assignee:none".into(), vec!["ancient", "dropped", "recent", "search"]),
        ("assignee:agent:*".into(), vec!["crash", "login", "shipped"]),
        ("(state:ready AND label:epic:foo) OR priority:critical".into(), vec!["crash", "legacy"]),
        ("state:ready AND (label:epic:foo OR priority:critical)".into(), vec!["crash"]),
        ("priority>=high NOT label:wontfix".into(), vec!["login", "shipped"]),
        ("priority<normal".into(), vec!["crash", "recent"]),
        ("title:\"login page\"".into(), vec!["login"]),
        ("\"free text\"".into(), vec!["search"]),
        ("\"text free\"".into(), vec![]),
        ("created>2020-01-01".into(), all_but(&["ancient"])),
        ("created<2020-01-01".into(), vec!["ancient"]),
        ("updated<24h".into(), all_but(&["ancient", "recent"])),
        ("is:open".into(), all_but(&["dropped", "shipped"])),
        ("is:closed".into(), vec!["dropped", "shipped"]),
        ("closed<24h".into(), vec!["dropped", "shipped"]),
        ("is:assigned".into(), vec!["crash", "legacy", "login", "shipped"]),
        ("is:unassigned".into(), vec!["ancient", "dropped", "recent", "search"]),
        ("NOT label:epic:foo AND is:open".into(), vec!["legacy", "login", "recent", "search"]),
        ("STATE:READY and Label:EPIC:FOO".into(), vec!["crash"]),
    ];
    // All fixture ids share the clock's 10 time characters: 16 characters single one out.
    v.push((format!("id:{}*", &login[..16]), vec!["login"]));
    v.push((format!("id:{}", &login[..16].to_uppercase()), vec!["login"]));
    v
}

fn all_but(excluded: &[&str]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> =
        SPECS.iter().map(|s| s.name).filter(|n| !excluded.contains(n)).collect();
    v.sort_unstable();
    v
}

// ---------------------------------------------------------------------------------------------
// Results

#[test]
fn query_returns_exactly_the_matching_issues() {
    let fx = Fixture::build();
    for (expr, mut want) in examples(&fx) {
        want.sort_unstable();
        assert_eq!(fx.query(&expr), want, "query {expr}");
    }
    // Results are full issue objects, identical to `issue show`, newest first by default.
    let list = fx.env.json(&["query", "is:closed"]);
    let ids = ids_of(&list);
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "default order is newest first");
    for v in list.as_array().unwrap() {
        assert_eq!(*v, fx.env.json(&["issue", "show", v["id"].as_str().unwrap()]));
    }
    // The human form is a table with one row per match.
    let table = fx.env.ok(&["query", "state:ready"]);
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.contains("Fix the login page") && table.contains("Crash on startup"), "{table}");
    assert!(!table.contains("Search box"), "{table}");
}

#[test]
fn list_filter_gives_the_same_results_as_query() {
    let fx = Fixture::build();
    for (expr, _) in examples(&fx) {
        let q = fx.env.json(&["query", &expr]);
        let l = fx.env.json(&["issue", "list", "--filter", &expr]);
        assert_eq!(q, l, "filter {expr}");
        let qc = fx.env.json(&["query", &expr, "--count"]);
        let lc = fx.env.json(&["issue", "list", "--filter", &expr, "--count"]);
        assert_eq!(qc, lc, "count {expr}");
    }
    // Without a filter, list shows everything.
    assert_eq!(ids_of(&fx.env.json(&["issue", "list"])).len(), SPECS.len());
}

// ---------------------------------------------------------------------------------------------
// Options

fn rank(priority: &str) -> u8 {
    ["low", "normal", "high", "critical"].iter().position(|p| *p == priority).unwrap() as u8
}

#[test]
fn count_limit_and_sort() {
    let fx = Fixture::build();
    let env = &fx.env;
    assert_eq!(env.ok(&["query", "is:open", "--count"]), "6\n");
    assert_eq!(env.json(&["query", "is:open", "--count"]), json!({"count": 6}));
    assert_eq!(env.json(&["query", "label:nothing:here", "--count"]), json!({"count": 0}));
    assert_eq!(env.ok(&["issue", "list", "--filter", "is:closed", "--count"]), "2\n");

    let all = env.json(&["query", "is:open"]);
    let limited = env.json(&["query", "is:open", "--limit", "2"]);
    assert_eq!(limited, json!(all.as_array().unwrap()[..2]), "--limit keeps the first N");
    assert_eq!(env.json(&["query", "is:open", "--limit", "0"]), json!([]));

    // priority:desc — highest first; ties newest first.
    let by_prio = env.json(&["query", "created>2000-01-01", "--sort", "priority:desc"]);
    let mut want: Vec<&Value> = by_prio.as_array().unwrap().iter().collect();
    want.sort_by(|a, b| {
        let (pa, pb) =
            (rank(a["priority"].as_str().unwrap()), rank(b["priority"].as_str().unwrap()));
        pb.cmp(&pa).then_with(|| b["id"].as_str().cmp(&a["id"].as_str()))
    });
    assert_eq!(by_prio.as_array().unwrap().iter().collect::<Vec<_>>(), want);
    assert_eq!(fx.names(&by_prio)[0], "legacy", "the critical issue comes first");
    let top = env.json(&["query", "is:open", "--sort", "priority:desc", "--limit", "1"]);
    assert_eq!(fx.names(&top), ["legacy"], "--limit applies after sorting");

    let by_title = env.json(&["query", "created>2000-01-01", "--sort", "title"]);
    assert_eq!(
        fx.names(&by_title),
        ["ancient", "crash", "dropped", "login", "recent", "legacy", "search", "shipped"],
        "titles ascending"
    );
    let by_title_desc = env.json(&["query", "created>2000-01-01", "--sort", "title:desc"]);
    let mut rev = fx.names(&by_title);
    rev.reverse();
    assert_eq!(fx.names(&by_title_desc), rev);

    // created ascending: the two old issues first, the rest (same instant) newest id first.
    let by_created = fx.names(&env.json(&["issue", "list", "--sort", "created"]));
    assert_eq!(by_created[..2], ["ancient", "recent"]);
    let rest = env.json(&["query", "created:2026-01-02"]);
    assert_eq!(by_created[2..], fx.names(&rest)[..], "ties keep newest first");
}

#[test]
fn fields_project_in_the_order_asked() {
    let fx = Fixture::build();
    let env = &fx.env;
    let out = env.run(&["query", "state:ready", "--fields", "title,id", "--json"]);
    assert_success(&out, &["query --fields"]);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let list = parse(&out);
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let obj = row.as_object().unwrap();
        assert_eq!(obj.len(), 2, "exactly the fields asked for: {row}");
        let (title, id) = (obj["title"].as_str().unwrap(), obj["id"].as_str().unwrap());
        assert_eq!(title, SPECS.iter().find(|s| s.name == fx.name_of(id)).unwrap().title);
        // Key order is part of the contract: check the raw text.
        let raw = format!("{{\"title\":{},\"id\":\"{id}\"}}", json!(title));
        assert!(text.contains(&raw), "{raw} not in {text}");
    }
    let text = env.ok(&["query", "state:ready", "--fields", "id,title", "--json"]);
    assert!(text.starts_with("[{\"id\":"), "{text}");
    // A field named twice appears once (JSON has no duplicate keys), with its value.
    let login = &fx.ids["login"];
    let id_filter = format!("id:{login}");
    let text = env.ok(&["query", &id_filter, "--fields", "id,title,id", "--json"]);
    assert_eq!(text, format!("[{{\"id\":\"{login}\",\"title\":\"Fix the login page\"}}]\n"));
    let table = env.ok(&["query", &id_filter, "--fields", "id,id"]);
    assert_eq!(table, format!("ID\n{login}\n"));
    // Absent values project as null.
    let v = env.json(&[
        "query",
        "assignee:none is:open",
        "--fields",
        "assignee,closed_at",
        "--limit",
        "1",
    ]);
    assert_eq!(v, json!([{"assignee": null, "closed_at": null}]));
    // A table with only those columns.
    let table = env.ok(&["query", "label:epic:phase5.2", "--fields", "title,priority"]);
    assert_eq!(
        table.lines().next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["TITLE", "PRIORITY"]
    );
    assert!(table.lines().nth(1).unwrap().starts_with("Fix the login page"), "{table}");
}

#[test]
fn bad_sort_or_field_names_are_errors_with_suggestions() {
    let fx = Fixture::build();
    let env = &fx.env;
    let e = env.json_err(&["query", "is:open", "--fields", "id,titel"], 1);
    assert_eq!(e["code"], "INVALID_VALUE");
    assert_eq!((e["value"].clone(), e["suggestion"].clone()), (json!("titel"), json!("title")));
    assert!(e["allowed"].as_array().unwrap().contains(&json!("labels")), "{e}");
    let e = env.json_err(&["issue", "list", "--fields", "lables"], 1);
    assert_eq!(e["suggestion"], "labels");

    let e = env.json_err(&["query", "is:open", "--sort", "bogus"], 1);
    assert_eq!(e["code"], "INVALID_VALUE");
    assert_eq!(e["value"], "bogus");
    let e = env.json_err(&["query", "is:open", "--sort", "prority:desc"], 1);
    assert_eq!(e["suggestion"], "priority");
    let e = env.json_err(&["issue", "list", "--sort", "title:sideways"], 1);
    assert_eq!(e["code"], "INVALID_ARGUMENT");
    // Case does not matter in sort keys and directions, as in filters.
    assert_eq!(
        env.json(&["query", "is:open", "--sort", "Priority:DESC"]),
        env.json(&["query", "is:open", "--sort", "priority:desc"])
    );
    // --limit 0 shows nothing and says nothing.
    let out = env.run(&["query", "is:open", "--limit", "0"]);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        describe(&out)
    );

    let out = env.run(&["query", "is:open", "--sort", "bogus"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no partial output before the error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: ") && err.contains("hint: "), "{err}");
}

// ---------------------------------------------------------------------------------------------
// --explain

const EXPLAIN_INPUT: &str = "state:ready label:epic:foo or not priority>=high";

#[test]
fn explain_prints_the_normal_form_and_tree_outside_any_repository() {
    let env = TestEnv::bare();
    let text = env.ok(&["query", "--explain", EXPLAIN_INPUT]);
    assert_eq!(
        text,
        "query: (state:ready AND label:epic:foo) OR NOT priority>=high\n\
         OR\n\
         ├── AND\n\
         │   ├── state:ready\n\
         │   └── label:epic:foo\n\
         └── NOT\n    \
             └── priority>=high\n"
    );
    let v = env.json(&["query", "--explain", EXPLAIN_INPUT]);
    assert_eq!(v["query"], "(state:ready AND label:epic:foo) OR NOT priority>=high");
    assert_eq!(
        v["ast"],
        json!({"or": [
            {"and": [
                {"term": "state:ready", "span": [0, 11]},
                {"term": "label:epic:foo", "span": [12, 26]},
            ]},
            {"not": {"term": "priority>=high", "span": [34, 48]}},
        ]})
    );
    // The printed form means the same: explaining it again gives the same text.
    let again = env.json(&["query", "--explain", v["query"].as_str().unwrap()]);
    assert_eq!(again["query"], v["query"]);
    // Errors are still reported without a repository; running the query needs one.
    let e = env.json_err(&["query", "--explain", "stat:ready"], 1);
    assert_eq!(e["code"], "FILTER_INVALID");
    let e = env.json_err(&["query", "state:ready"], 3);
    assert_eq!(e["code"], "REPO_NOT_FOUND");
    assert!(!env.jit_dir().exists(), "explain created nothing");
}

// ---------------------------------------------------------------------------------------------
// Errors

fn position(line: u64, column: u64, offset: u64, length: u64) -> Value {
    json!({"line": line, "column": column, "offset": offset, "length": length})
}

#[test]
fn syntax_errors_carry_position_and_expectation() {
    let env = TestEnv::new();
    env.create("something");
    let before = env.issue_files();
    let cases: &[(&str, Value, &[&str])] = &[
        ("state:ready AND", position(1, 16, 15, 0), &["a term"]),
        ("state:ready OR", position(1, 15, 14, 0), &["a term"]),
        ("", position(1, 1, 0, 0), &["a term"]),
        ("   ", position(1, 4, 3, 0), &["a term"]),
        ("(state:ready", position(1, 13, 12, 0), &["`)`", "`AND`", "`OR`", "a term"]),
        ("state:ready)", position(1, 12, 11, 1), &["`AND`", "`OR`", "a term", "end of input"]),
        ("state:ready\n  AND ()", position(2, 8, 19, 1), &["a term"]),
    ];
    for (input, pos, expected) in cases {
        for cmd in [
            vec!["query", input],
            vec!["issue", "list", "--filter", input],
            vec!["issue", "bulk-update", "--filter", input, "--state", "ready"],
        ] {
            let e = env.json_err(&cmd, 1);
            assert_eq!(e["code"], "FILTER_SYNTAX", "{cmd:?}: {e}");
            assert_eq!(e["position"], *pos, "{input:?}: {e}");
            assert_eq!(e["expected"], json!(expected), "{input:?}: {e}");
            assert_eq!(e["input"], *input);
            assert!(e["message"].as_str().unwrap().starts_with("invalid filter: unexpected"));
        }
    }
    assert_eq!(env.issue_files(), before);
}

#[test]
fn misspelt_fields_and_values_get_suggestions() {
    let env = TestEnv::new();
    let cases: &[(&str, Value, &str)] = &[
        ("stat:ready", position(1, 1, 0, 4), "state"),
        ("state:redy", position(1, 7, 6, 4), "ready"),
        ("is:open priorty>=high", position(1, 9, 8, 7), "priority"),
        ("priority:hihg", position(1, 10, 9, 4), "high"),
        ("state:in-progres", position(1, 7, 6, 10), "in_progress"),
        ("is:opne", position(1, 4, 3, 4), "open"),
    ];
    for (input, pos, suggestion) in cases {
        let e = env.json_err(&["query", input], 1);
        assert_eq!(e["code"], "FILTER_INVALID", "{input}: {e}");
        assert_eq!(e["position"], *pos, "{input}: {e}");
        assert_eq!(e["suggestion"], *suggestion, "{input}: {e}");
        assert_eq!(e["hint"], format!("did you mean `{suggestion}`?"));
    }
    // Invalid without a suggestion: a bad date, an operator on a field that has no order.
    for input in ["created>yesterday", "label>epic:foo", "updated<24x"] {
        let e = env.json_err(&["query", input], 1);
        assert_eq!(e["code"], "FILTER_INVALID", "{input}: {e}");
        assert_eq!(e["suggestion"], Value::Null, "{input}: {e}");
    }
}

#[test]
fn human_errors_show_a_caret_under_the_spot_and_a_hint() {
    let env = TestEnv::new();
    let out = env.run(&["query", "state:redy"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: invalid filter: `redy` is not a state"), "{err}");
    assert!(err.contains("  |\n1 | state:redy\n  |       ^^^^\n"), "{err}");
    assert!(err.ends_with("hint: did you mean `ready`?\n"), "{err}");

    let out = env.run(&["issue", "list", "--filter", "stat:ready"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("1 | stat:ready\n  | ^^^^\n"), "{err}");
    assert!(err.contains("hint: did you mean `state`?"), "{err}");

    let out = env.run(&["query", "(state:ready"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: invalid filter: unexpected end of input; expected"), "{err}");
    assert!(err.contains("1 | (state:ready\n  |             ^\n"), "{err}");
}

/// Characters that look right on screen but are not the language's: the error names the
/// character, the caret stands under it, and the code is the language's usual one.
#[test]
fn look_alike_characters_are_named_and_pointed_at() {
    let env = TestEnv::new();
    env.create("something");
    let before = env.issue_files();
    let cases: &[(&str, &str, Value, &str, &str, Value)] = &[
        (
            "state:r\u{435}ady",
            "FILTER_INVALID",
            position(1, 8, 7, 2),
            "invalid filter: `r\u{435}ady` is not a state: '\u{435}' (U+0435 CYRILLIC SMALL \
             LETTER IE) is not the ASCII letter 'e'; one of: backlog, ready, in_progress, gated, \
             done, rejected at line 1, column 8",
            "1 | state:r\u{435}ady\n  |        ^\n",
            json!("ready"),
        ),
        (
            "state:ready\u{a0}label:x",
            "FILTER_SYNTAX",
            position(1, 12, 11, 2),
            "invalid filter: U+00A0 NO-BREAK SPACE is not a space here; use an ASCII space (or \
             quote the text that holds it) at line 1, column 12",
            "1 | state:ready\u{a0}label:x\n  |            ^\n",
            Value::Null,
        ),
        (
            "is:open state\u{ff1a}ready",
            "FILTER_INVALID",
            position(1, 14, 13, 3),
            "invalid filter: '\u{ff1a}' (U+FF1A FULLWIDTH COLON) is not an operator: use ':' at \
             line 1, column 14",
            "1 | is:open state\u{ff1a}ready\n  |              ^^\n",
            json!("state:ready"),
        ),
        (
            "title:\"a\\y\"",
            "FILTER_SYNTAX",
            position(1, 9, 8, 2),
            "invalid filter: `\\y` is not an escape: inside quotes `\\\\` is a backslash and `\\\"` \
             a quote, and no other character follows a backslash at line 1, column 9",
            "1 | title:\"a\\y\"\n  |         ^^\n",
            Value::Null,
        ),
    ];
    for (input, code, pos, message, snippet, suggestion) in cases {
        let e = env.json_err(&["query", input], 1);
        assert_eq!(e["code"], *code, "{input}: {e}");
        assert_eq!(e["position"], *pos, "{input}: {e}");
        assert_eq!(e["message"], *message, "{input}: {e}");
        assert_eq!(e["suggestion"], *suggestion, "{input}: {e}");
        let out = env.run(&["issue", "bulk-update", "--filter", input, "--state", "ready"]);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert!(out.stdout.is_empty(), "{}", describe(&out));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with(&format!("error: {message}\n  |\n{snippet}")), "{err}");
        if let Some(s) = suggestion.as_str() {
            assert!(err.ends_with(&format!("hint: did you mean `{s}`?\n")), "{err}");
        }
    }
    assert_eq!(env.issue_files(), before, "a refused filter changes nothing");
    // Letters of any script are fine where text is meant, and so are those spaces in quotes.
    for ok in [
        "\u{431}\u{430}\u{433}",
        "label:\u{442}\u{438}\u{43f}:\u{431}\u{430}\u{433}",
        "title:\"a\u{a0}b\"",
        "\u{432}\u{440}\u{435}\u{43c}\u{44f}\u{ff1a}10",
    ] {
        let out = env.run(&["query", "--explain", ok]);
        assert!(out.status.success(), "{ok}: {}", describe(&out));
    }
}

#[test]
fn huge_and_deeply_nested_filters_are_refused_not_crashed() {
    let env = TestEnv::new();
    env.create("something");
    let nested = format!("{}state:ready{}", "(".repeat(100), ")".repeat(100));
    let nots = format!("{}state:ready", "NOT ".repeat(100));
    let long = "a ".repeat(2500);
    // 3-byte characters: the length limit falls inside one.
    let wide = "€".repeat(1700);
    let wide_words = "é ".repeat(1700);
    for input in [&nested, &nots, &long, &wide, &wide_words] {
        for json in [true, false] {
            let mut args = vec!["query", input.as_str()];
            if json {
                args.push("--json");
            }
            let out = env.run(&args);
            assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("panicked"), "{stderr}");
            if json {
                let e = &parse(&out)["error"];
                assert_eq!(e["code"], "FILTER_INVALID", "{e}");
                let msg = e["message"].as_str().unwrap();
                assert!(msg.contains("limit") || msg.contains("nests deeper"), "{msg}");
            } else {
                assert!(stderr.starts_with("error: invalid filter"), "{stderr}");
            }
        }
    }
    // Just inside the limits still works.
    let ok = format!("{}state:backlog{}", "(".repeat(60), ")".repeat(60));
    assert_eq!(env.json(&["query", &ok, "--count"]), json!({"count": 1}));
}

// ---------------------------------------------------------------------------------------------
// bulk-update

/// Run with `--json` whatever the exit code; returns (exit code, parsed stdout).
fn run_json(env: &TestEnv, args: &[&str]) -> (i32, Value) {
    let mut all = args.to_vec();
    all.push("--json");
    let out = env.run(&all);
    (out.status.code().expect("exited"), parse(&out))
}

fn journal_is_empty(env: &TestEnv) -> bool {
    std::fs::read_dir(env.jit_dir().join("journal")).map_or(true, |mut d| d.next().is_none())
}

#[test]
fn bulk_update_reports_and_dry_run_predicts_the_real_run() {
    let env = TestEnv::fixed();
    let a = env.create("a");
    let b = env.create("b");
    let already = env.create("already");
    env.json(&["issue", "update", &already, "--state", "ready", "--add-label", "triage:seen"]);
    let gated = env.create("gated");
    env.json(&["issue", "update", &gated, "--state", "in_progress"]);
    env.json(&["issue", "update", &gated, "--state", "gated"]);
    let closed = env.create("closed");
    env.json(&["issue", "update", &closed, "--state", "rejected"]);

    let args = [
        "issue",
        "bulk-update",
        "--filter",
        "is:open",
        "--state",
        "ready",
        "--add-label",
        "triage:seen",
    ];
    let before = env.issue_files();
    let (dry_code, dry) = run_json(&env, &[&args[..], &["--dry-run"]].concat());
    assert_eq!(env.issue_files(), before, "a dry run writes nothing");
    assert!(journal_is_empty(&env));

    let (code, real) = run_json(&env, &args);
    assert_eq!((dry_code, code), (1, 1), "a refused transition makes the exit 1");
    let mut expected_ids = vec![a.clone(), b.clone()];
    expected_ids.sort();
    let expected = json!({
        "operation": "bulk-update",
        "filter": "is:open",
        "changes": {"state": "ready", "add_labels": ["triage:seen"]},
        "dry_run": false,
        "matched": 4,
        "modified": 2,
        "skipped": 1,
        "errors": [{
            "id": gated,
            "code": "TRANSITION_REFUSED",
            "message": format!("cannot move issue {gated} from gated to ready"),
        }],
        "issue_ids": expected_ids,
    });
    let mut sorted = real.clone();
    sort_ids(&mut sorted);
    assert_eq!(sorted, expected);
    let mut dry_sorted = dry.clone();
    sort_ids(&mut dry_sorted);
    dry_sorted["dry_run"] = json!(false);
    assert_eq!(dry_sorted, expected, "the dry run reported exactly what the real run did");

    // Modified issues changed; the skipped, refused and unmatched ones are byte-identical.
    for id in [&a, &b] {
        let v = env.json(&["issue", "show", id]);
        assert_eq!(
            (v["state"].clone(), v["labels"].clone()),
            (json!("ready"), json!(["triage:seen"]))
        );
        assert_eq!(v["version"], 2);
    }
    let after = env.issue_files();
    for id in [&already, &gated, &closed] {
        let name = format!("{id}.json");
        let file = |fs: &[(String, Vec<u8>)]| fs.iter().find(|(n, _)| *n == name).cloned();
        assert_eq!(file(&after), file(&before), "{name} untouched");
    }
    assert!(journal_is_empty(&env), "no journal record left");

    // Again: everything that can be so already is; the gated one is still refused.
    let (code, again) = run_json(&env, &args);
    assert_eq!(code, 1);
    assert_eq!((again["modified"].clone(), again["skipped"].clone()), (json!(0), json!(3)));
    assert_eq!(env.issue_files(), after);

    // Without anything refused, exit 0, modified or skipped alike.
    let (code, ok) = run_json(
        &env,
        &["issue", "bulk-update", "--filter", "is:open NOT state:gated", "--priority", "high"],
    );
    assert_eq!(code, 0, "{ok}");
    assert_eq!((ok["matched"].clone(), ok["modified"].clone()), (json!(3), json!(3)));
    let (code, ok) = run_json(
        &env,
        &["issue", "bulk-update", "--filter", "is:open NOT state:gated", "--priority", "high"],
    );
    assert_eq!((code, ok["skipped"].clone(), ok["errors"].clone()), (0, json!(3), json!([])));
    let text = env.ok(&[
        "issue",
        "bulk-update",
        "--filter",
        "priority:high",
        "--dry-run",
        "--state",
        "backlog",
    ]);
    assert_eq!(text, "matched 3, would modify 3, skipped 0 (already so), failed 0\n");
}

fn sort_ids(report: &mut Value) {
    let mut ids: Vec<String> = report["issue_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    report["issue_ids"] = json!(ids);
}

fn set_bulk_confirm(env: &TestEnv, n: u64) {
    let path = env.jit_dir().join("config.json");
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    cfg["bulk_confirm"] = json!(n);
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
}

#[test]
fn bulk_update_over_the_threshold_needs_yes() {
    let env = TestEnv::new();
    set_bulk_confirm(&env, 3);
    let ids: Vec<String> = (0..4).map(|i| env.create(&format!("issue {i}"))).collect();
    let before = env.issue_files();
    let change = ["issue", "bulk-update", "--filter", "is:open", "--add-label", "x:y"];
    let e = env.json_err(&change, 1);
    assert_eq!(e["code"], "BULK_CONFIRM_REQUIRED");
    assert_eq!(e["matched"], 4);
    assert!(e["hint"].as_str().unwrap().contains("--yes"), "{e}");
    assert_eq!(env.issue_files(), before, "nothing changed");
    let out = env.run(&change);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than bulk_confirm (3)"));
    assert_eq!(env.issue_files(), before);

    // A dry run needs no confirmation; exactly the threshold needs none either.
    let dry = env.json(&[&change[..], &["--dry-run"]].concat());
    assert_eq!((dry["matched"].clone(), dry["modified"].clone()), (json!(4), json!(4)));
    let three = format!("is:open NOT id:{}", ids[0]);
    let v = env.json(&["issue", "bulk-update", "--filter", &three, "--add-label", "x:y"]);
    assert_eq!(v["modified"], 3);
    let v = env.json(&[&change[..], &["--yes"]].concat());
    assert_eq!((v["modified"].clone(), v["skipped"].clone()), (json!(1), json!(3)));
    assert_eq!(env.json(&["query", "label:x:y", "--count"]), json!({"count": 4}));
    assert!(journal_is_empty(&env));
}

#[test]
fn default_threshold_is_one_hundred() {
    let env = TestEnv::new();
    let template = env.create("template");
    let mut rng = XorShift::new(7);
    let ids = clone_issue(&env, &template, 100, &mut rng);
    let before = env.issue_files();
    let e = env.json_err(&["issue", "bulk-update", "--filter", "is:open", "--priority", "low"], 1);
    assert_eq!(
        (e["code"].clone(), e["matched"].clone()),
        (json!("BULK_CONFIRM_REQUIRED"), json!(101))
    );
    assert_eq!(env.issue_files(), before);
    let hundred = format!("is:open NOT id:{}", ids[0]);
    let v = env.json(&["issue", "bulk-update", "--filter", &hundred, "--priority", "low"]);
    assert_eq!((v["matched"].clone(), v["modified"].clone()), (json!(100), json!(100)));
}

// ---------------------------------------------------------------------------------------------
// SIGKILL during a bulk update

/// A small deterministic random source (xorshift64*), so runs repeat.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A fresh valid id: 26 lowercase Crockford base32 characters, the first 0-7 (128 bits).
fn random_id(rng: &mut XorShift) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut s = String::with_capacity(26);
    s.push(ALPHABET[rng.below(8) as usize] as char);
    for _ in 0..25 {
        s.push(ALPHABET[rng.below(32) as usize] as char);
    }
    s
}

/// Write `n` copies of issue `template` straight into `.jit/issues/`, each under a new id
/// (much faster than `n` runs of `issue create`). Returns the new ids.
fn clone_issue(env: &TestEnv, template: &str, n: usize, rng: &mut XorShift) -> Vec<String> {
    let text = std::fs::read_to_string(env.issues_dir().join(format!("{template}.json"))).unwrap();
    let needle = format!("\"id\": \"{template}\"");
    assert_eq!(text.matches(&needle).count(), 1, "{text}");
    let mut ids = BTreeSet::new();
    while ids.len() < n {
        let id = random_id(rng);
        if id != template && ids.insert(id.clone()) {
            let body = text.replace(&needle, &format!("\"id\": \"{id}\""));
            std::fs::write(env.issues_dir().join(format!("{id}.json")), body).unwrap();
        }
    }
    ids.into_iter().collect()
}

/// Every issue file parsed (each must be valid and named by its id): id → labels.
fn labels_on_disk(env: &TestEnv) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(env.issues_dir()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp.") {
            continue; // a dead writer's temp file: not an issue
        }
        let id = name.strip_suffix(".json").unwrap_or_else(|| panic!("foreign file {name}"));
        let bytes = std::fs::read(env.issues_dir().join(&name)).unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!("{name} does not parse ({e}): {}", String::from_utf8_lossy(&bytes))
        });
        assert_eq!(v["id"], id, "{name}");
        let labels = v["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().into());
        out.insert(id.to_string(), labels.collect());
    }
    out
}

const KILL_ROUNDS: u64 = 40;

#[test]
fn killed_bulk_update_is_all_or_nothing() {
    let env = TestEnv::new();
    let template = env.create("crash template");
    let mut rng = XorShift::new(0xb01c);
    let mut originals = clone_issue(&env, &template, 499, &mut rng);
    originals.push(template);
    let bulk = |k: u64| {
        let label = format!("round:r{k}");
        let mut c = env.cmd(&[
            "issue",
            "bulk-update",
            "--filter",
            "is:open",
            "--add-label",
            &label,
            "--yes",
        ]);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c
    };

    // One uncut run sizes the window the kills are spread over.
    let start = Instant::now();
    let status = bulk(0).status().unwrap();
    let window_us = start.elapsed().as_micros() as u64;
    assert!(status.success());
    let disk = labels_on_disk(&env);
    assert!(originals.iter().all(|id| disk[id].contains(&"round:r0".to_string())));

    let (mut all, mut none, mut killed) = (0, 0, 0);
    let mut leftover_temps = 0;
    for k in 1..=KILL_ROUNDS {
        let matched: Vec<String> = labels_on_disk(&env).into_keys().collect();
        let mut child = bulk(k).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(window_us)));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.signal() == Some(9) {
            killed += 1;
        } else {
            assert!(status.success(), "round {k}: {status:?}");
        }
        // The next writer finishes or discards what the kill interrupted.
        env.ok(&["issue", "create", &format!("recovery {k}")]);
        assert!(journal_is_empty(&env), "round {k}: journal record left after recovery");

        let label = format!("round:r{k}");
        let disk = labels_on_disk(&env);
        let n = matched.iter().filter(|id| disk[*id].contains(&label)).count();
        assert!(n == 0 || n == matched.len(), "round {k}: {n} of {} issues changed", matched.len());
        if status.success() {
            assert_eq!(n, matched.len(), "round {k}: acknowledged but not applied");
        }
        let via_index = env.json(&["query", &format!("label:{label}"), "--count"]);
        assert_eq!(via_index, json!({"count": n}), "round {k}: the index disagrees with the files");
        if n == 0 {
            none += 1
        } else {
            all += 1
        }
        leftover_temps = std::fs::read_dir(env.issues_dir())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".tmp."))
            .count();
    }
    eprintln!(
        "bulk-update kills: {KILL_ROUNDS} rounds over a {window_us} us window, {killed} killed; \
         all {all}, none {none}; {leftover_temps} temp files left in issues/"
    );
    assert!(killed > 0, "no kill interrupted a bulk update");
    assert!(originals.iter().all(|id| labels_on_disk(&env).contains_key(id)), "an issue vanished");
}

// ---------------------------------------------------------------------------------------------
// The reserved assignee names `none` and `-`

fn hand_set(env: &TestEnv, id: &str, key: &str, value: Value) {
    let path = env.issues_dir().join(format!("{id}.json"));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v[key] = value;
    let mut bytes = serde_json::to_vec_pretty(&v).unwrap();
    bytes.push(b'\n');
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn none_and_dash_are_reserved_assignees_and_a_quoted_none_is_the_name() {
    let env = TestEnv::new();
    let id = env.create("plain");
    let before = env.issue_files();
    for name in ["none", "None", "-"] {
        let e = env.json_err(&["issue", "create", "x", "--assignee", name], 1);
        assert_eq!(e["code"], "INVALID_ARGUMENT", "{name}: {e}");
        assert!(e["message"].as_str().unwrap().contains("reserved"), "{e}");
        let e = env.json_err(&["issue", "update", &id, "--assignee", name], 1);
        assert_eq!(e["code"], "INVALID_ARGUMENT", "{name}: {e}");
    }
    assert_eq!(env.issue_files(), before, "a refused name changes nothing");

    // Files edited by hand can still hold them: shown in quotes, found by the quoted form.
    let (named_none, named_dash) = (env.create("named none"), env.create("named dash"));
    let unassigned = env.create("nobody");
    hand_set(&env, &named_none, "assignee", json!("none"));
    hand_set(&env, &named_dash, "assignee", json!("-"));
    let ids = |q: &str| -> BTreeSet<String> {
        env.json(&["query", q])
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids("assignee:none"), BTreeSet::from([id.clone(), unassigned.clone()]));
    assert_eq!(ids("assignee:NONE"), ids("is:unassigned"));
    assert_eq!(ids("assignee:\"none\""), BTreeSet::from([named_none.clone()]));
    assert_eq!(ids("assignee:\"-\""), BTreeSet::from([named_dash.clone()]));
    assert_eq!(ids("assignee:-"), BTreeSet::from([named_dash.clone()]));
    let explained = env.ok(&["query", "--explain", "assignee:\"None\" OR assignee:none"]);
    assert!(explained.starts_with("query: assignee:\"none\" OR assignee:none\n"), "{explained}");

    let card = env.ok(&["issue", "show", &named_none]);
    assert!(card.contains("\n  assignee  \"none\"\n"), "{card}");
    let card = env.ok(&["issue", "show", &named_dash]);
    assert!(card.contains("\n  assignee  \"-\"\n"), "{card}");
    let card = env.ok(&["issue", "show", &unassigned]);
    assert!(card.contains("\n  assignee  -\n"), "{card}");
    let table = env.ok(&["issue", "list"]);
    let row = |title: &str| table.lines().find(|l| l.contains(title)).unwrap().to_string();
    assert!(row("named none").contains("  \"none\"  "), "{table}");
    assert!(row("named dash").contains("  \"-\"  "), "{table}");
    assert!(row("nobody").contains("  -  "), "{table}");
    let fields = env.ok(&["issue", "list", "--fields", "title,assignee"]);
    let row =
        |title: &str| fields.lines().find(|l| l.starts_with(title)).unwrap().trim_end().to_string();
    assert!(row("named none").ends_with("\"none\""), "{fields}");
    assert!(row("named dash").ends_with("\"-\""), "{fields}");
    assert!(row("nobody").ends_with(" -"), "{fields}");
    // Such an issue can still be changed, and its name cleared.
    env.ok(&["issue", "update", &named_none, "--unassign"]);
    assert_eq!(ids("assignee:\"none\""), BTreeSet::new());
}

// ---------------------------------------------------------------------------------------------
// Timestamps of any width

fn is_fixed_width(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 27
        && b[19] == b'.'
        && b[20..26].iter().all(u8::is_ascii_digit)
        && b[26] == b'Z'
        && t[..19].parse::<jiff::civil::DateTime>().is_ok()
}

#[test]
fn timestamps_of_any_width_sort_by_instant_and_writes_use_six_digits() {
    let env = TestEnv::new();
    // As text these sort the other way round: `.5Z` < `Z`, and an offset sorts anywhere.
    let written = [
        ("z-plain", "2026-01-01T00:00:00Z"),
        ("half", "2026-01-01T00:00:00.5Z"),
        ("micro", "2026-01-01T00:00:00.123456Z"),
        ("offset", "2026-01-01T00:59:59.9+01:00"),
        ("nano", "2026-01-01T00:00:00.000001999Z"),
    ];
    let mut ids = BTreeMap::new();
    for (name, at) in written {
        let id = env.create(name);
        hand_set(&env, &id, "created_at", json!(at));
        ids.insert(id, name);
    }
    let names = |v: &Value| -> Vec<&str> {
        v.as_array().unwrap().iter().map(|i| ids[i["id"].as_str().unwrap()]).collect()
    };
    let by_created = env.json(&["issue", "list", "--sort", "created"]);
    assert_eq!(names(&by_created), ["offset", "z-plain", "nano", "micro", "half"]);
    let desc = env.json(&["query", "created>=2026-01-01", "--sort", "created:desc"]);
    assert_eq!(names(&desc), ["half", "micro", "nano", "z-plain"]);
    let after = env.json(&["query", "created>2026-01-01T00:00:00.2Z"]);
    assert_eq!(names(&after), ["half"]);
    let exact = env.json(&["query", "created:2026-01-01T00:00:00.500Z"]);
    assert_eq!(names(&exact), ["half"]);

    // Any write puts every timestamp of the file in the one fixed width, keeping the instant.
    let (half, _) = ids.iter().find(|(_, n)| **n == "half").unwrap();
    env.ok(&["issue", "update", half, "--priority", "high"]);
    let path = env.issues_dir().join(format!("{half}.json"));
    let file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(file["created_at"], "2026-01-01T00:00:00.500000Z");
    assert!(is_fixed_width(file["updated_at"].as_str().unwrap()), "{file}");
    let fresh = env.create("fresh");
    let path = env.issues_dir().join(format!("{fresh}.json"));
    let file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for key in ["created_at", "updated_at"] {
        assert!(is_fixed_width(file[key].as_str().unwrap()), "{key}: {file}");
    }
    env.ok(&["issue", "update", &fresh, "--state", "ready"]);
    env.ok(&["issue", "update", &fresh, "--state", "in_progress"]);
    env.ok(&["issue", "update", &fresh, "--state", "done"]);
    let file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(is_fixed_width(file["closed_at"].as_str().unwrap()), "{file}");
}

#[test]
fn date_bounds_at_the_end_of_the_calendar_and_bad_offsets() {
    let env = TestEnv::new();
    let all: BTreeSet<String> = [env.create("one"), env.create("two")].into();
    let ids = |q: &str| -> BTreeSet<String> {
        let v = env.json(&["query", q]);
        v.as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
    };
    for q in [
        "created>9999-12-31",
        "created>=9999-12-31",
        "created:9999-12-31",
        "updated>9999-12-31T12:00:00Z",
    ] {
        assert_eq!(ids(q), BTreeSet::new(), "{q}");
    }
    for q in [
        "created<9999-12-31",
        "created<=9999-12-31",
        "created<9999-12-31T23:59:59.999999999-23:59",
        "created>0000-01-01",
        "created<999999999w",
    ] {
        assert_eq!(ids(q), all, "{q}");
    }
    assert_eq!(ids("created>999999999w"), BTreeSet::new());
    let e = env.json_err(&["query", "created>2026-01-01T00:00:00+25:00"], 1);
    assert_eq!(e["code"], "FILTER_INVALID", "{e}");
    assert_eq!(e["position"], position(1, 9, 8, 25), "{e}");
    assert!(e["message"].as_str().unwrap().contains("the offset +25:00 is out of range"), "{e}");
}
