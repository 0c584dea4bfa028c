//! `jit mcp`: a client speaking JSON-RPC over the server's pipes. Every tool's result is
//! compared with the CLI's `--json` for the same operation; changes made behind the server's
//! back (another process, git, a hand edit, an overflowed notification queue) are seen by the
//! next call; hostile input leaves the server serving and the store unchanged.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

use serde_json::{Value, json};

use crate::common::{TestEnv, have_tool};

/// A running `jit mcp` and the client end of its pipes.
pub struct Mcp {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Mcp {
    /// Start the server in `env`'s repository and initialize the session.
    pub fn start(env: &TestEnv) -> Mcp {
        Mcp::start_with(env.cmd(&["mcp"]).stderr(Stdio::inherit()))
    }

    /// [`Mcp::start`] with a command of the caller's (its environment, its stderr).
    pub fn start_with(cmd: &mut std::process::Command) -> Mcp {
        let mut child =
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("start jit mcp");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut m = Mcp { child, stdin, stdout, next_id: 1 };
        let init = m.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "jit-tests", "version": "0"}
            }),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "jit", "{init}");
        m.send_line(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string());
        m
    }

    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// The next message the server sends that is not a notification.
    fn read_reply(&mut self) -> Value {
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "the server closed its output");
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            if v.get("id").is_some() {
                return v;
            }
        }
    }

    /// Send a request, return the whole response (`result` or `error`).
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_line(&msg.to_string());
        let reply = self.read_reply();
        assert_eq!(reply["id"], id, "{reply}");
        reply
    }

    /// `tools/call`: the result object (`content`, `structuredContent`, `isError`).
    pub fn call_raw(&mut self, tool: &str, args: Value) -> Value {
        let reply = self.request("tools/call", json!({"name": tool, "arguments": args}));
        reply.get("result").cloned().unwrap_or_else(|| panic!("no result: {reply}"))
    }

    /// A call that must succeed: its JSON, as the text content has it (what `--json` prints).
    pub fn call(&mut self, tool: &str, args: Value) -> Value {
        let r = self.call_raw(tool, args);
        assert_ne!(r["isError"], true, "{tool}: {r}");
        text_json(&r)
    }

    /// A call that must fail: the `error` object of its structured content.
    pub fn call_err(&mut self, tool: &str, args: Value) -> Value {
        let r = self.call_raw(tool, args);
        assert_eq!(r["isError"], true, "{tool}: {r}");
        assert_eq!(text_json(&r), r["structuredContent"], "text and structured agree");
        r["structuredContent"]["error"].clone()
    }

    /// Close stdin and wait: the server exits 0.
    pub fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "jit mcp exited with {status}");
    }
}

impl Drop for Mcp {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn text_json(result: &Value) -> Value {
    let text = result["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{result}"));
    serde_json::from_str(text).unwrap()
}

fn batch_file(env: &TestEnv, entries: &Value) -> String {
    let p = env.path().join("batch.json");
    std::fs::write(&p, entries.to_string()).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn tools_list_is_small_and_annotated_truthfully() {
    let env = TestEnv::new();
    let mut m = Mcp::start(&env);
    let list = m.request("tools/list", json!({}));
    let tools = list["result"]["tools"].as_array().unwrap().clone();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "query",
            "show",
            "create",
            "update",
            "bulk_update",
            "batch",
            "claim",
            "release",
            "renew",
            "dep_add",
            "dep_rm",
            "gate_pass",
            "gate_fail",
            "ready",
            "status",
            "validate"
        ]
    );
    for t in &tools {
        let a = &t["annotations"];
        let read_only =
            ["query", "show", "ready", "status", "validate"].contains(&t["name"].as_str().unwrap());
        assert_eq!(a["readOnlyHint"], read_only, "{t}");
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
        assert!(t["inputSchema"]["properties"]["timeout_ms"].is_object(), "{t}");
    }
    let size = list["result"].to_string().len();
    // docs/mcp.md states the size; keep it small (beads' server: 10.5k tokens).
    assert!(size < 16_000, "tools/list is {size} bytes");
    m.finish();
}

#[test]
fn every_tool_answers_as_the_cli_does() {
    let env = TestEnv::new();
    let mut m = Mcp::start(&env);
    // create, then the CLI reads the same issue.
    let a = m.call(
        "create",
        json!({"title": "first", "priority": "high", "labels": ["area:x"], "state": "ready"}),
    );
    let id_a = a["id"].as_str().unwrap().to_string();
    assert_eq!(a, env.json(&["issue", "show", &id_a]));
    let b = m.call("create", json!({"title": "second", "depends_on": [id_a]}));
    let id_b = b["id"].as_str().unwrap().to_string();
    assert_eq!(b, env.json(&["issue", "show", &id_b]));
    // show, query, ready: the same JSON as the CLI's.
    assert_eq!(m.call("show", json!({"ids": [id_b]})), env.json(&["issue", "show", &id_b]));
    assert_eq!(
        m.call("query", json!({"filter": "state:ready"})),
        env.json(&["query", "state:ready"])
    );
    assert_eq!(
        m.call(
            "query",
            json!({"filter": "label:area:*", "fields": ["id", "title"], "sort": "title"})
        ),
        env.json(&["query", "label:area:*", "--fields", "id,title", "--sort", "title"])
    );
    assert_eq!(m.call("query", json!({"count": true})), env.json(&["issue", "list", "--count"]));
    assert_eq!(m.call("ready", json!({})), env.json(&["ready"]));
    // A limit that cuts the result says so.
    let cut = m.call("query", json!({"limit": 1, "sort": "title"}));
    assert_eq!(cut["truncated"], true, "{cut}");
    assert_eq!(cut["items"], env.json(&["issue", "list", "--limit", "1", "--sort", "title"]));
    // update with if_version; a stale version is the CLI's conflict.
    let u = m.call("update", json!({"id": id_b, "title": "renamed", "if_version": 1}));
    assert_eq!(u, env.json(&["issue", "show", &id_b]));
    let e = m.call_err("update", json!({"id": id_b, "title": "x", "if_version": 1}));
    let cli = env.json_err(&["issue", "update", &id_b, "--title", "x", "--if-version", "1"], 4);
    assert_eq!(e["code"], cli["code"]);
    assert_eq!(e["code"], "VERSION_CONFLICT");
    // bulk_update dry run: the CLI's report.
    let dry =
        m.call("bulk_update", json!({"filter": "state:ready", "priority": "low", "dry_run": true}));
    let cli = env.json(&[
        "issue",
        "bulk-update",
        "--filter",
        "state:ready",
        "--priority",
        "low",
        "--dry-run",
    ]);
    assert_eq!(dry, cli);
    // dep_rm / dep_add.
    let d = m.call("dep_rm", json!({"id": id_b, "deps": [id_a]}));
    assert_eq!(d, env.json(&["issue", "show", &id_b]));
    let d = m.call("dep_add", json!({"id": id_b, "deps": [id_a]}));
    assert_eq!(d, env.json(&["issue", "show", &id_b]));
    // batch (dry run, then for real), as the CLI's batch.
    let entries = json!([{"op": "create", "key": "k", "title": "from batch"}, {"op": "update", "id": id_a, "priority": "critical"}]);
    let dry = m.call("batch", json!({"entries": entries, "dry_run": true}));
    assert_eq!(dry["dry_run"], true, "{dry}");
    let done = m.call("batch", json!({"entries": entries}));
    assert_eq!(env.json(&["issue", "show", &id_a])["priority"], "critical", "{done}");
    // claim, renew, release.
    let c = m.call("claim", json!({"agent": "bot", "id": id_a}));
    assert_eq!(c["issue"], env.json(&["issue", "show", &id_a]));
    let r = m.call("renew", json!({"id": id_a, "agent": "bot"}));
    assert_eq!(r["token"], c["issue"]["claim"]["token"], "{r} {c}");
    let rel = m.call("release", json!({"id": id_a, "agent": "bot"}));
    assert_eq!(rel, env.json(&["issue", "show", &id_a]));
    // No issue available is an answer, not a failure, and the CLI's.
    let none = m.call("claim", json!({"agent": "bot", "filter": "title:nothing-matches"}));
    let cli = env.json_err(&["claim", "--agent", "bot", "--filter", "title:nothing-matches"], 5);
    assert_eq!(none["error"]["code"], cli["code"]);
    // gate_pass / gate_fail on a gate the issue does not have: the CLI's error.
    for (tool, word) in [("gate_pass", "pass"), ("gate_fail", "fail")] {
        let e = m.call_err(tool, json!({"id": id_a, "gate": "review"}));
        let cli = env.json_err(&["gate", word, &id_a, "review"], 1);
        assert_eq!(e["code"], cli["code"], "{e}");
    }
    // status and validate.
    assert_eq!(m.call("status", json!({}))["counts"], env.json(&["status"])["counts"]);
    let v = m.call("validate", json!({}));
    assert_eq!(v["findings"], json!([]), "{v}");
    m.finish();
}

#[test]
fn changes_behind_the_servers_back_are_seen_by_the_next_call() {
    if !have_tool("git", "git") {
        return;
    }
    let env = TestEnv::new();
    let id = env.create("original title");
    let mut m = Mcp::start(&env);
    let titles = |m: &mut Mcp| -> Vec<String> {
        let v = m.call("query", json!({}));
        let mut t: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["title"].as_str().unwrap().to_string())
            .collect();
        t.sort();
        t
    };
    assert_eq!(titles(&mut m), ["original title"]);
    // Another process.
    env.create("made by the cli");
    assert_eq!(titles(&mut m), ["made by the cli", "original title"]);
    // A hand edit in place, same size, mtime restored.
    let path = env.issues_dir().join(format!("{id}.json"));
    let before = std::fs::metadata(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("original title", "ORIGINAL TITLE")).unwrap();
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(before.modified().unwrap()).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), before.len());
    assert_eq!(titles(&mut m), ["ORIGINAL TITLE", "made by the cli"]);
    assert_eq!(m.call("show", json!({"ids": [id]}))["title"], "ORIGINAL TITLE");
    // A git checkout.
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(env.path())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "one"]);
    env.ok(&["issue", "update", &id, "--title", "changed after the commit"]);
    assert_eq!(titles(&mut m), ["changed after the commit", "made by the cli"]);
    git(&["checkout", "--", ".jit/issues"]);
    assert_eq!(titles(&mut m), ["ORIGINAL TITLE", "made by the cli"]);
    // An overflowed notification queue, while the server is idle: more events than the
    // kernel queues, then an edit; the next call re-checks everything.
    let max: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16384);
    for i in 0..max / 2 + 16 {
        let p = env.issues_dir().join(format!(".tmp.flood{i}"));
        std::fs::write(&p, b"").unwrap();
        std::fs::remove_file(&p).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("ORIGINAL TITLE", "after the flood")).unwrap();
    assert_eq!(titles(&mut m), ["after the flood", "made by the cli"]);
    // A config change is picked up: a bulk update over the new confirmation threshold.
    let cfg = env.jit_dir().join("config.json");
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    c["bulk_confirm"] = json!(1);
    std::fs::write(&cfg, serde_json::to_string_pretty(&c).unwrap()).unwrap();
    let e = m.call_err("bulk_update", json!({"filter": "state:backlog", "priority": "low"}));
    assert_eq!(e["code"], "BULK_CONFIRM_REQUIRED", "{e}");
    m.finish();
}

#[test]
fn malformed_and_hostile_requests_leave_the_server_serving_and_the_store_unchanged() {
    let env = TestEnv::new();
    let id = env.create("keep me");
    let before = env.issue_files();
    let mut m = Mcp::start(&env);
    // Not JSON at all: a JSON-RPC error or nothing, and the server goes on.
    m.send_line("{ this is not json");
    // An unknown tool: a JSON-RPC error.
    let r = m.request("tools/call", json!({"name": "rm_rf", "arguments": {}}));
    assert!(r["error"].is_object(), "{r}");
    // Wrong argument types and unknown arguments: tool errors with the contract's code.
    let e = m.call_err("create", json!({"title": 42}));
    assert_eq!(e["code"], "INVALID_ARGUMENT", "{e}");
    let e = m.call_err("update", json!({"id": id, "priority": ["high"]}));
    assert_eq!(e["code"], "INVALID_ARGUMENT", "{e}");
    let e = m.call_err("update", json!({"id": id, "changes": {"title": "nested"}}));
    assert_eq!(e["code"], "INVALID_ARGUMENT", "an unknown argument is refused: {e}");
    let e = m.call_err("show", json!({"ids": "not a list"}));
    assert_eq!(e["code"], "INVALID_ARGUMENT", "{e}");
    let e = m.call_err("claim", json!({"agent": "x", "timeout_ms": "soon"}));
    assert_eq!(e["code"], "INVALID_ARGUMENT", "{e}");
    let e = m.call_err("query", json!({"filter": "stat:ready"}));
    assert_eq!(e["code"], env.json_err(&["query", "stat:ready"], 1)["code"], "{e}");
    // A huge request (a 16 MiB line): the SDK's transport drops a line over its limit
    // unanswered; nothing is written and the next call is served.
    let huge = "x".repeat(16 << 20);
    let msg = json!({"jsonrpc": "2.0", "id": 1000, "method": "tools/call",
        "params": {"name": "update", "arguments": {"id": id, "title": huge}}});
    m.send_line(&msg.to_string());
    // Still serving, nothing changed.
    assert_eq!(m.call("show", json!({"ids": [id]}))["title"], "keep me");
    assert_eq!(env.issue_files(), before);
    m.finish();
}

#[test]
fn a_call_past_its_timeout_is_abandoned_before_it_commits() {
    if !have_tool("flock", "util-linux") {
        return;
    }
    let env = TestEnv::new();
    let id = env.create("waiting");
    let before = env.issue_files();
    let mut m = Mcp::start(&env);
    let holder = crate::errors::LockHolder::hold(&env.jit_dir());
    let e = m.call_err("update", json!({"id": id, "title": "late", "timeout_ms": 300}));
    assert_eq!(e["code"], "DEADLINE_EXCEEDED", "{e}");
    assert_eq!(e["timeout_ms"], 300);
    drop(holder);
    assert_eq!(env.issue_files(), before);
    // The server goes on, and the next call commits.
    assert_eq!(m.call("update", json!({"id": id, "title": "now"}))["title"], "now");
    m.finish();
}

#[test]
fn a_client_that_goes_away_mid_call_leaves_a_whole_commit_or_none() {
    let env = TestEnv::new();
    let ids: Vec<String> = (0..20).map(|i| env.create(&format!("i{i}"))).collect();
    let mut m = Mcp::start(&env);
    let msg = json!({"jsonrpc": "2.0", "id": 99, "method": "tools/call", "params": {"name": "bulk_update", "arguments": {"filter": "state:ready", "priority": "critical", "yes": true}}});
    m.send_line(&msg.to_string());
    // Gone before the answer: the server ends, the change is all or nothing.
    drop(m);
    let prios: Vec<Value> =
        ids.iter().map(|i| env.json(&["issue", "show", i])["priority"].clone()).collect();
    assert!(prios.iter().all(|p| *p == prios[0]), "{prios:?}");
    assert!(env.json(&["validate"])["findings"].as_array().unwrap().is_empty());
}

#[test]
fn ten_servers_claiming_from_one_pool_never_hand_out_an_issue_twice() {
    let env = TestEnv::new();
    let entries: Vec<Value> = (0..200)
        .map(|i| json!({"op": "create", "title": format!("job {i}"), "state": "ready"}))
        .collect();
    let file = batch_file(&env, &Value::Array(entries));
    env.ok(&["batch", &file]);
    let servers: Vec<Mcp> = (0..10).map(|_| Mcp::start(&env)).collect();
    let claimed: Vec<Vec<String>> = std::thread::scope(|s| {
        let workers: Vec<_> = servers
            .into_iter()
            .enumerate()
            .map(|(n, mut m)| {
                s.spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        let c = m.call("claim", json!({"agent": format!("agent{n}")}));
                        if c.get("error").is_some() {
                            assert_eq!(c["error"]["code"], "NO_ISSUE_AVAILABLE", "{c}");
                            break;
                        }
                        got.push(c["issue"]["id"].as_str().unwrap().to_string());
                    }
                    m.finish();
                    got
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut all: Vec<String> = claimed.concat();
    assert_eq!(all.len(), 200, "every issue claimed once");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 200, "no issue handed out twice");
}

#[test]
fn the_official_python_sdk_connects_lists_and_calls() {
    if !have_tool("python3", "python3") {
        return;
    }
    let has_sdk = std::process::Command::new("python3")
        .args(["-c", "import mcp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_sdk {
        eprintln!("skipped: it needs the MCP Python SDK (pip install mcp; .ci/run does)");
        return;
    }
    let env = TestEnv::new();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mcp_client.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg("check")
        .arg(crate::common::jit_bin())
        .arg(env.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::common::describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["tools"].as_array().unwrap().len() >= 16, "{v}");
    assert_eq!(v["created"]["title"], "from python");
    assert_eq!(v["claimed"]["issue"]["id"], v["created"]["id"]);
    assert_eq!(v["queried"][0]["id"], v["created"]["id"]);
}

use std::path::Path;

#[test]
fn every_write_tool_takes_an_idempotency_key_and_a_retry_changes_nothing() {
    let env = TestEnv::fixed();
    env.ok(&["gate", "define", "review", "--stage", "postcheck", "--mode", "manual"]);
    let [a, b] = ["A", "B"].map(|t| env.create(t));
    env.ok(&["gate", "add", &a, "review"]);
    let mut m = Mcp::start(&env);
    // The schema says so, for every write tool but renew (it only moves a lease's expiry).
    let list = m.request("tools/list", json!({}));
    for t in list["result"]["tools"].as_array().unwrap() {
        let keyed = t["inputSchema"]["properties"]["idempotency_key"]["type"] == "string";
        let write = t["annotations"]["readOnlyHint"] == false;
        assert_eq!(keyed, write && t["name"] != "renew", "{t}");
    }
    let cases = [
        ("create", json!({"title": "New one", "priority": "high"})),
        ("update", json!({"id": a, "priority": "high", "add_labels": ["area:x"]})),
        ("dep_add", json!({"id": a, "deps": [b]})),
        ("dep_rm", json!({"id": a, "deps": [b]})),
        ("gate_pass", json!({"id": a, "gate": "review", "note": "ok"})),
        ("gate_fail", json!({"id": a, "gate": "review", "by": "alice"})),
        ("bulk_update", json!({"filter": "priority:high", "state": "ready"})),
        ("claim", json!({"id": a, "agent": "agent:one"})),
        ("release", json!({"id": a, "agent": "agent:one"})),
        ("batch", json!({"entries": [{"op": "create", "title": "batched"}]})),
    ];
    for (i, (tool, args)) in cases.iter().enumerate() {
        let mut args = args.clone();
        args["idempotency_key"] = json!(format!("agent-1:step-{i}"));
        let first = m.call(tool, args.clone());
        let written = crate::idempotency::store(&env);
        let again = m.call(tool, args.clone());
        assert_eq!(again, first, "{tool}: the first result");
        assert_eq!(crate::idempotency::store(&env), written, "{tool}: nothing written");
        // The key with another request is refused, and changes nothing.
        let mut other = args.clone();
        other["idempotency_key"] = json!("agent-1:step-0");
        if i > 0 {
            let e = m.call_err(tool, other);
            assert_eq!(e["code"], "IDEMPOTENCY_KEY_REUSED", "{tool}: {e}");
            assert_eq!(crate::idempotency::store(&env), written, "{tool}: refused");
        }
    }
    // One event per case: each committed once.
    let events = env.json(&["events", "--limit", "1000"])["events"].as_array().unwrap().len();
    assert_eq!(events, 1 + 2 + 1 + cases.len(), "define, 2 creates, gate add, then one each");
    let e = m.call_err("create", json!({"title": "x", "idempotency_key": "a b"}));
    assert_eq!(e["code"], "INVALID_IDEMPOTENCY_KEY", "{e}");
    let e = m.call_err("create", json!({"title": "x", "idempotency_key": 7}));
    assert_eq!(e["code"], "INVALID_ARGUMENT", "{e}");
    let e = m.call_err("renew", json!({"id": a, "idempotency_key": "k"}));
    assert_eq!(e["code"], "INVALID_ARGUMENT", "renew takes no key: {e}");
    m.finish();
}

/// Without inotify (the per-user limit of instances used up, simulated by a fault hook), the
/// server says so once on stderr and serves every call cold: nothing it answers is stale.
#[test]
fn without_inotify_the_server_reads_cold_and_says_so() {
    let env = TestEnv::new();
    let id = env.create("Before");
    let log = env.path().join("mcp-stderr.log");
    let mut cmd = env.cmd(&["mcp"]);
    cmd.env("JIT_TEST_FAULT", "no_inotify").stderr(std::fs::File::create(&log).unwrap());
    let mut m = Mcp::start_with(&mut cmd);
    assert_eq!(m.call("show", json!({"ids": [id]}))["title"], "Before");
    // A same-size edit in place with the mtime put back: only a cold read's full compare of
    // stamps (size, mtime, ctime, inode) can see it.
    let path = env.issues_dir().join(format!("{id}.json"));
    let meta = std::fs::metadata(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap().replace("\"Before\"", "\"Behind\"");
    std::fs::write(&path, text).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(meta.modified().unwrap())
        .unwrap();
    let listed = m.call("query", json!({"filter": "title:Behind"}));
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let other = env.create("Made by the CLI");
    assert_eq!(m.call("show", json!({"ids": [other]}))["title"], "Made by the CLI");
    m.finish();
    let said = std::fs::read_to_string(&log).unwrap();
    assert_eq!(said.matches("cannot watch the issue files for changes").count(), 1, "{said}");
    assert!(said.contains("fs.inotify.max_user_instances"), "{said}");
}
