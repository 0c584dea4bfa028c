//! The event log through the binary: `jit events` over hand-written segments (many months, a
//! torn last line, garbage, doubled lines, a FIFO), its filters, limit and since, `--actor`
//! and `JIT_ACTOR`, and the `.gitattributes` that `jit init` writes.

use std::fs;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::common::{TestEnv, describe, have_tool};

/// Issue ids the events below name (never created as issues unless a test does).
const ID_A: &str = "01kjpwf170qz44c40bzgf4563a";
const ID_B: &str = "01kjpwf170qz44c40bzgf4563b";
const ID_C: &str = "01kjq0000000000000000000cc";

/// An event line as jit writes it.
fn event(
    n: u32,
    at: &str,
    actor: &str,
    op: &str,
    issues: &[(&str, Option<u64>, Option<u64>)],
) -> Value {
    let issues: Vec<Value> =
        issues.iter().map(|(id, b, a)| json!({"id": id, "before": b, "after": a})).collect();
    json!({
        "id": format!("01kjpwf170qz44c40bzgf4{n:04}"),
        "at": at,
        "actor": actor,
        "op": op,
        "issues": issues,
        "duration_ms": n,
        "lock_wait_ms": 0,
    })
}

fn events_dir(env: &TestEnv) -> PathBuf {
    env.jit_dir().join("events")
}

/// Write `lines` (events, or raw text for anything else) as the segment `name`.
fn segment(env: &TestEnv, name: &str, lines: &[Value]) {
    fs::create_dir_all(events_dir(env)).unwrap();
    let mut text = String::new();
    for l in lines {
        match l {
            Value::String(raw) => text.push_str(raw),
            e => text.push_str(&serde_json::to_string(e).unwrap()),
        }
        text.push('\n');
    }
    fs::write(events_dir(env).join(name), text).unwrap();
}

/// Three months of history: ops named after their order (`op1` oldest).
fn history(env: &TestEnv) {
    segment(
        env,
        "2025-11.jsonl",
        &[
            event(1, "2025-11-30T10:00:00.000000Z", "alice", "create", &[(ID_A, None, Some(1))]),
            event(2, "2025-11-30T11:00:00.000000Z", "bob", "update", &[(ID_A, Some(1), Some(2))]),
        ],
    );
    segment(
        env,
        "2025-12.jsonl",
        &[event(3, "2025-12-31T23:00:00.000000Z", "alice", "create", &[(ID_B, None, Some(1))])],
    );
    segment(
        env,
        "2026-01.jsonl",
        &[
            event(
                4,
                "2026-01-01T12:00:00.000000Z",
                "agent:claude-1",
                "bulk_update",
                &[(ID_A, Some(2), Some(3)), (ID_B, Some(1), Some(2))],
            ),
            event(5, "2026-01-02T03:00:00.000000Z", "bob", "delete", &[(ID_A, Some(3), None)]),
        ],
    );
}

fn durations(v: &Value) -> Vec<u64> {
    v["events"].as_array().unwrap().iter().map(|e| e["duration_ms"].as_u64().unwrap()).collect()
}

#[test]
fn events_are_shown_newest_first_across_segments() {
    let env = TestEnv::fixed();
    history(&env);
    let out = env.run(&["events"]);
    assert_eq!(
        (String::from_utf8_lossy(&out.stdout).as_ref(), String::from_utf8_lossy(&out.stderr).as_ref()),
        (
            "\
2026-01-02T03:00:00Z  bob             delete       01kjpwf170qz44c40bzgf4563a 3→deleted  5 ms
2026-01-01T12:00:00Z  agent:claude-1  bulk_update  01kjpwf170qz44c40bzgf4563a 2→3, 01kjpwf170qz44c40bzgf4563b 1→2  4 ms
2025-12-31T23:00:00Z  alice           create       01kjpwf170qz44c40bzgf4563b new→1  3 ms
2025-11-30T11:00:00Z  bob             update       01kjpwf170qz44c40bzgf4563a 1→2  2 ms
2025-11-30T10:00:00Z  alice           create       01kjpwf170qz44c40bzgf4563a new→1  1 ms
",
            ""
        ),
        "{}",
        describe(&out)
    );
    assert_eq!(out.status.code(), Some(0));
    let v = env.json(&["events"]);
    assert_eq!(durations(&v), [5, 4, 3, 2, 1]);
    assert_eq!((v["more"].clone(), v["skipped_lines"].clone()), (json!(false), json!(0)));
    // The same shape as on disk, key for key.
    let line = fs::read_to_string(events_dir(&env).join("2025-12.jsonl")).unwrap();
    assert_eq!(v["events"][2], serde_json::from_str::<Value>(&line).unwrap());
}

#[test]
fn limit_reads_from_the_end_and_says_when_there_is_more() {
    let env = TestEnv::fixed();
    history(&env);
    let v = env.json(&["events", "--limit", "2"]);
    assert_eq!((durations(&v), v["more"].clone()), (vec![5, 4], json!(true)));
    let out = env.run(&["events", "--limit", "2"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "showing the newest 2; --limit N or --all for more\n"
    );
    let v = env.json(&["events", "--limit", "5"]);
    assert_eq!((durations(&v).len(), v["more"].clone()), (5, json!(false)));
    // The default is 50: 60 events show 50, and `--all` shows them all.
    let many: Vec<Value> = (0..60)
        .map(|n| event(100 + n, "2026-01-02T00:00:00.000000Z", "a", "update", &[]))
        .collect();
    segment(&env, "2026-01.jsonl", &many);
    let v = env.json(&["events"]);
    assert_eq!((durations(&v).len(), v["more"].clone()), (50, json!(true)));
    assert_eq!(durations(&v)[0], 159, "the newest first");
    let v = env.json(&["events", "--all"]);
    assert_eq!((durations(&v).len(), v["more"].clone()), (63, json!(false)));
}

#[test]
fn filters_by_issue_actor_op_and_since() {
    let env = TestEnv::fixed();
    history(&env);
    let d = |args: &[&str]| durations(&env.json(&[&["events"], args].concat()));
    // A deleted issue: its full id, or a prefix matched against the events' ids.
    assert_eq!(d(&["--issue", ID_A]), [5, 4, 2, 1]);
    assert_eq!(d(&["--issue", &ID_B.to_uppercase()]), [4, 3]);
    assert_eq!(d(&["--issue", "01kjpwf1"]), [5, 4, 3, 2, 1]);
    assert_eq!(d(&["--issue", ID_C]), Vec::<u64>::new());
    assert_eq!(d(&["--op", "create"]), [3, 1]);
    assert_eq!(d(&["--actor", "bob"]), [5, 2]);
    assert_eq!(d(&["--actor", "bob", "--op", "update", "--issue", ID_A]), [2]);
    // JIT_ACTOR says who is acting; it filters nothing.
    let out = env.cmd(&["events", "--json"]).env("JIT_ACTOR", "bob").output().unwrap();
    assert_eq!(durations(&serde_json::from_slice(&out.stdout).unwrap()).len(), 5);
    // Since: the clock is 2026-01-02T03:04:05Z.
    assert_eq!(d(&["--since", "24h"]), [5, 4]);
    assert_eq!(d(&["--since", "1h"]), [5]);
    assert_eq!(d(&["--since", "2026-01-01"]), [5, 4]);
    assert_eq!(d(&["--since", "2025-12-31T23:00:00Z"]), [5, 4, 3]);
    assert_eq!(d(&["--since", "2025-12-31T23:00:00.000001Z"]), [5, 4]);
    assert_eq!(d(&["--since", "2025-12-01T01:00:00+02:00"]), [5, 4, 3]);
    assert_eq!(d(&["--since", "2w", "--limit", "1"]), [5]);
    assert_eq!(d(&["--since", "2030-01-01"]), Vec::<u64>::new());
}

#[test]
fn an_existing_issue_is_named_by_a_unique_prefix_and_an_ambiguous_one_is_refused() {
    let env = TestEnv::fixed();
    let a = env.create("first");
    let b = env.create("second");
    segment(
        &env,
        "2026-01.jsonl",
        &[
            event(1, "2026-01-01T00:00:00.000000Z", "x", "create", &[(&a, None, Some(1))]),
            event(2, "2026-01-01T00:00:01.000000Z", "x", "create", &[(&b, None, Some(1))]),
        ],
    );
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let unique = &b[..common + 1];
    assert_eq!(durations(&env.json(&["events", "--issue", unique])), [2]);
    let e = env.json_err(&["events", "--issue", &a[..common.max(4)]], 1);
    assert_eq!(e["code"], "AMBIGUOUS_ID");
    assert_eq!(env.json_err(&["events", "--issue", "01k"], 1)["code"], "INVALID_ID");
}

#[test]
fn torn_garbage_and_doubled_lines_are_skipped_and_counted() {
    let env = TestEnv::fixed();
    let e1 = event(1, "2026-01-01T00:00:00.000000Z", "alice", "create", &[(ID_A, None, Some(1))]);
    let e2 =
        event(2, "2026-01-01T00:00:01.000000Z", "alice", "update", &[(ID_A, Some(1), Some(2))]);
    segment(
        &env,
        "2026-01.jsonl",
        &[e1.clone(), json!("not json"), e2.clone(), e1.clone(), json!("")],
    );
    let seg = events_dir(&env).join("2026-01.jsonl");
    let mut bytes = fs::read(&seg).unwrap();
    bytes.extend_from_slice(br#"{"id":"01kjpwf170qz44c40bzgf40003","at":"2026-01-01T0"#);
    fs::write(&seg, bytes).unwrap();
    let out = env.run(&["events"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "warning: skipped 2 lines of the event log that are not events (torn by a crash, or \
         damaged)\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2, "the doubled line once");
    let v = env.json(&["events"]);
    assert_eq!((durations(&v), v["skipped_lines"].clone()), (vec![1, 2], json!(2)));
    assert_eq!(fs::read(&seg).unwrap().last(), Some(&b'0'), "reading changes nothing");
}

#[test]
fn a_fifo_or_link_named_like_a_segment_is_skipped_not_waited_on() {
    if !have_tool("mkfifo", "coreutils") {
        return;
    }
    let env = TestEnv::fixed();
    history(&env);
    let fifo = events_dir(&env).join("2026-02.jsonl");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let link = events_dir(&env).join("2026-03.jsonl");
    std::os::unix::fs::symlink(events_dir(&env).join("2025-11.jsonl"), &link).unwrap();
    let out = env.run(&["events", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(durations(&v), [5, 4, 3, 2, 1]);
    let skipped: Vec<&str> =
        v["skipped_files"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(skipped, [link.to_str().unwrap(), fifo.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        format!(
            "warning: skipped {}: not a regular file\nwarning: skipped {}: not a regular file\n",
            link.display(),
            fifo.display()
        )
    );
}

#[test]
fn an_events_link_is_not_followed() {
    let env = TestEnv::fixed();
    let elsewhere = env.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    fs::write(
        elsewhere.join("2026-01.jsonl"),
        format!("{}\n", event(1, "2026-01-01T00:00:00.000000Z", "a", "b", &[])),
    )
    .unwrap();
    std::os::unix::fs::symlink(&elsewhere, events_dir(&env)).unwrap();
    let out = env.run(&["events", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(durations(&v), Vec::<u64>::new());
    assert_eq!(v["skipped_files"], json!([events_dir(&env).to_str().unwrap()]));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("warning: skipped {}: not a directory\n", events_dir(&env).display())
    );
}

#[test]
fn human_output_is_terminal_safe() {
    let env = TestEnv::fixed();
    segment(
        &env,
        "2026-01.jsonl",
        &[event(1, "2026-01-01T00:00:00.000000Z", "ev\u{1b}[2Jil", "op\nx", &[])],
    );
    assert_eq!(env.ok(&["events"]), "2026-01-01T00:00:00Z  ev\\u{1b}[2Jil  op\\u{a}x  -  1 ms\n");
    assert_eq!(env.json(&["events"])["events"][0]["actor"], "ev\u{1b}[2Jil");
}

#[test]
fn no_log_yet_is_an_empty_answer() {
    let env = TestEnv::fixed();
    let out = env.run(&["events"]);
    assert_eq!(
        (out.status.code(), out.stdout.as_slice(), String::from_utf8_lossy(&out.stderr).as_ref()),
        (Some(0), &b""[..], "no matching events\n")
    );
    let v = env.json(&["events"]);
    assert_eq!(v, json!({"events": [], "more": false, "skipped_lines": 0, "skipped_files": []}));
}

#[test]
fn bad_arguments_get_stable_codes() {
    let env = TestEnv::fixed();
    let e = env.json_err(&["events", "--since", "yesterday"], 1);
    assert_eq!(e["code"], "INVALID_ARGUMENT");
    assert_eq!(
        e["message"],
        "--since `yesterday` is not a time: use YYYY-MM-DD, an RFC 3339 timestamp, or an age \
         like 30m, 24h, 7d or 2w"
    );
    assert_eq!(env.json_err(&["events", "--since", "2026-02-30"], 1)["code"], "INVALID_ARGUMENT");
    for args in [&["events", "--limit", "0"][..], &["events", "--limit", "2", "--all"]] {
        assert_eq!(env.json_err(args, 2)["code"], "USAGE");
    }
    // `--actor` and `JIT_ACTOR` are checked like an assignee, by every command that opens
    // the repository; an empty JIT_ACTOR counts as unset.
    let e = env.json_err(&["issue", "list", "--actor", "a b"], 1);
    assert_eq!(e["code"], "INVALID_ARGUMENT");
    assert!(e["message"].as_str().unwrap().starts_with("invalid actor `a b`"), "{e}");
    let out = env.cmd(&["issue", "list", "--json"]).env("JIT_ACTOR", "none").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let out = env.cmd(&["issue", "list", "--json"]).env("JIT_ACTOR", "").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    env.ok(&["issue", "list", "--actor", "agent:claude-1"]);
}

#[test]
fn init_writes_gitattributes_and_repairs_missing_lines_keeping_the_users() {
    let env = TestEnv::fixed();
    let ga = env.jit_dir().join(".gitattributes");
    let new = fs::read_to_string(&ga).unwrap();
    assert!(new.starts_with("# jit: how git merges these files"), "{new}");
    assert!(new.ends_with("\nissues/*.json merge=jit\nevents/*.jsonl merge=union\n"), "{new}");
    fs::write(&ga, "*.png binary").unwrap();
    let v = env.json(&["init"]);
    assert_eq!(
        (v["created"].clone(), v["repaired"].clone()),
        (json!(false), json!([".gitattributes"]))
    );
    assert_eq!(
        fs::read_to_string(&ga).unwrap(),
        "*.png binary\nissues/*.json merge=jit\nevents/*.jsonl merge=union\n"
    );
    let v = env.json(&["init"]);
    assert_eq!(v["repaired"], json!([]), "nothing missing: nothing written");
    fs::remove_file(&ga).unwrap();
    let out = env.ok(&["init"]);
    assert!(out.contains("re-created the missing .gitattributes"), "{out}");
    assert!(fs::read_to_string(&ga).unwrap().contains("events/*.jsonl merge=union\n"));
}

#[test]
fn git_merges_segments_as_a_union() {
    if !have_tool("git", "git") {
        return;
    }
    let env = TestEnv::fixed();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(env.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", env.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", describe(&out));
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["config", "user.email", "t@example.com"]);
    git(&["config", "user.name", "t"]);
    let e = |n: u32| event(n, &format!("2026-01-01T00:00:0{n}.000000Z"), "a", "update", &[]);
    segment(&env, "2026-01.jsonl", &[e(1)]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "base"]);
    git(&["checkout", "-q", "-b", "side"]);
    segment(&env, "2026-01.jsonl", &[e(1), e(2)]);
    git(&["commit", "-q", "-am", "side"]);
    git(&["checkout", "-q", "main"]);
    segment(&env, "2026-01.jsonl", &[e(1), e(3)]);
    git(&["commit", "-q", "-am", "main"]);
    git(&["merge", "-q", "--no-edit", "side"]);
    let mut got = durations(&env.json(&["events"]));
    got.sort();
    assert_eq!(got, [1, 2, 3], "both sides' events, no conflict");
}

#[test]
fn limit_and_since_read_only_the_end_of_the_history() {
    let env = TestEnv::fixed();
    // Damage early in the history is never reached by a read of the newest events (nor by
    // the look-ahead that tells whether there are more): what was not read was not counted.
    let mut old = vec![json!("garbage"); 1000];
    old.push(event(1, "2025-12-01T00:00:00.000000Z", "a", "update", &[]));
    segment(&env, "2025-12.jsonl", &old);
    let mut new = vec![json!("garbage"); 500];
    new.extend((2..6).map(|n| event(n, "2026-01-01T00:00:00.000000Z", "a", "update", &[])));
    segment(&env, "2026-01.jsonl", &new);
    let v = env.json(&["events", "--limit", "3"]);
    assert_eq!(
        (durations(&v), v["more"].clone(), v["skipped_lines"].clone()),
        (vec![5, 4, 3], json!(true), json!(0))
    );
    let v = env.json(&["events", "--since", "2026-01-01"]);
    assert_eq!((durations(&v), v["skipped_lines"].clone()), (vec![5, 4, 3, 2], json!(500)));
    let v = env.json(&["events", "--all"]);
    assert_eq!((durations(&v), v["skipped_lines"].clone()), (vec![5, 4, 3, 2, 1], json!(1500)));
}

/// One logged event: its op and (id, before, after) of each issue.
type Logged = (String, Vec<(String, Value, Value)>);

/// The events of the log, oldest first.
fn logged(env: &TestEnv) -> Vec<Logged> {
    let v = env.json(&["events", "--all"]);
    let mut out: Vec<_> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let issues = e["issues"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    (i["id"].as_str().unwrap().to_string(), i["before"].clone(), i["after"].clone())
                })
                .collect();
            (e["op"].as_str().unwrap().to_string(), issues)
        })
        .collect();
    out.reverse();
    out
}

/// Every committed change appends exactly one event, with the versions before and after and
/// the actor; a change that writes nothing or is refused appends none.
#[test]
fn every_committed_change_appends_one_event_and_a_refused_one_none() {
    let env = TestEnv::new();
    let a = env.create("First");
    let b = env.create("Second");
    env.ok(&["issue", "update", &a, "--add-label", "x:1"]);
    env.ok(&["issue", "update", &a, "--add-label", "x:1"]); // already there: no write
    let refused = env.run(&["issue", "update", &a, "--if-version", "1", "--title", "T"]);
    assert_eq!(refused.status.code(), Some(4), "{}", describe(&refused));
    let refused = env.run(&["issue", "update", &a, "--state", "done"]);
    assert_eq!(refused.status.code(), Some(4), "{}", describe(&refused));
    env.ok(&["dep", "add", &b, &a]);
    env.ok(&["issue", "bulk-update", "--filter", "state:backlog", "--priority", "high"]);
    env.ok(&["--actor", "alice", "issue", "delete", &a, "--yes"]);
    let n = |v: u64| json!(v);
    assert_eq!(
        logged(&env),
        vec![
            ("create".into(), vec![(a.clone(), Value::Null, n(1))]),
            ("create".into(), vec![(b.clone(), Value::Null, n(1))]),
            ("update".into(), vec![(a.clone(), n(1), n(2))]),
            ("dep_add".into(), vec![(b.clone(), n(1), n(2))]),
            ("bulk_update".into(), {
                let mut both = vec![(a.clone(), n(2), n(3)), (b.clone(), n(2), n(3))];
                both.sort_by(|x, y| x.0.cmp(&y.0));
                both
            }),
            ("delete".into(), {
                let mut both = vec![(a.clone(), n(3), Value::Null), (b.clone(), n(3), n(4))];
                both.sort_by(|x, y| x.0.cmp(&y.0));
                both
            }),
        ]
    );
    let last = &env.json(&["events", "--limit", "1"])["events"][0];
    assert_eq!(last["actor"], "alice");
    assert_eq!(last["command"], format!("jit issue delete {a}"));
}
