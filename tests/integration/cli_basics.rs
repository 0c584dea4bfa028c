//! The core commands end to end: init, create, show, list, update, delete.

use serde_json::{Value, json};

use crate::common::*;

#[test]
fn init_is_idempotent_and_creates_the_layout() {
    let env = TestEnv::bare();
    let first = env.ok(&["init"]);
    assert!(first.contains("Initialized jit repository"), "{first}");
    for p in ["config.json", "issues", ".gitignore"] {
        assert!(env.jit_dir().join(p).exists(), "{p}");
    }
    let gi = std::fs::read_to_string(env.jit_dir().join(".gitignore")).unwrap();
    for entry in ["/lock", "/lock.info", "/journal/", "/index/", ".tmp.*"] {
        assert!(gi.lines().any(|l| l == entry), "{entry} missing from .gitignore");
    }
    let config = std::fs::read(env.jit_dir().join("config.json")).unwrap();
    let again = env.ok(&["init"]);
    assert!(again.contains("already exists"), "{again}");
    assert_eq!(std::fs::read(env.jit_dir().join("config.json")).unwrap(), config);
    assert_eq!(env.json(&["init"])["created"], json!(false));
}

#[test]
fn create_show_round_trip_with_fixed_clock() {
    let env = TestEnv::fixed();
    let v = env.json(&[
        "issue",
        "create",
        "Fix the login page",
        "-d",
        "Users bounce",
        "-p",
        "high",
        "-l",
        "type:bug",
        "-l",
        "area:auth",
        "--assignee",
        "agent:one",
    ]);
    assert_eq!(v["title"], "Fix the login page");
    assert_eq!(v["description"], "Users bounce");
    assert_eq!(v["state"], "backlog");
    assert_eq!(v["priority"], "high");
    assert_eq!(v["assignee"], "agent:one");
    assert_eq!(v["labels"], json!(["area:auth", "type:bug"]));
    assert_eq!(v["version"], 1);
    assert_eq!(v["created_at"], "2026-01-02T03:04:05Z");
    assert_eq!(v["closed_at"], Value::Null);
    let id = v["id"].as_str().unwrap();
    assert_eq!(id.len(), 26);
    assert_eq!(env.json(&["issue", "show", id]), v);
    assert_eq!(env.json(&["issue", "show", &id[..6]]), v, "a unique prefix works");
    assert_eq!(env.json(&["issue", "show", &id.to_uppercase()]), v, "ids are case-insensitive");
    let card = env.ok(&["issue", "show", id]);
    assert!(card.starts_with(&format!("{id}  Fix the login page\n")), "{card}");
    assert!(card.contains("labels    area:auth, type:bug"), "{card}");
}

#[test]
fn title_flag_and_description_from_stdin() {
    let env = TestEnv::new();
    let mut c = env.cmd(&["issue", "create", "--title", "From flag", "-d", "-", "--json"]);
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all("line one\nline two ✓\n".as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_success(&out, &["create"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["title"], "From flag");
    assert_eq!(v["description"], "line one\nline two ✓\n");
}

#[test]
fn files_are_pretty_with_stable_key_order_and_final_newline() {
    let env = TestEnv::fixed();
    let id = env.create("Keys");
    let text = std::fs::read_to_string(env.issues_dir().join(format!("{id}.json"))).unwrap();
    assert!(text.ends_with("}\n"));
    let keys: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  \""))
        .map(|l| l.trim().split('"').nth(1).unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "title",
            "description",
            "state",
            "priority",
            "assignee",
            "labels",
            "dependencies",
            "gates",
            "context",
            "artifacts",
            "version",
            "created_at",
            "updated_at",
            "closed_at"
        ]
    );
}

#[test]
fn list_is_newest_first_and_json_is_an_array_of_full_objects() {
    let env = TestEnv::new();
    let ids: Vec<String> = (0..5).map(|i| env.create(&format!("issue {i}"))).collect();
    let list = env.json(&["issue", "list"]);
    let got: Vec<&str> =
        list.as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.reverse();
    assert_eq!(got, want);
    for v in list.as_array().unwrap() {
        assert_eq!(*v, env.json(&["issue", "show", v["id"].as_str().unwrap()]));
    }
    let table = env.ok(&["issue", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID"), "{table}");
    assert!(lines[1].contains("issue 4") && lines[5].contains("issue 0"), "{table}");
}

#[test]
fn update_changes_fields_and_bumps_version() {
    let env = TestEnv::new();
    let id = env.create("Update me");
    let v = env.json(&[
        "issue",
        "update",
        &id,
        "--state",
        "ready",
        "--priority",
        "critical",
        "--add-label",
        "type:bug",
        "--assignee",
        "agent:x",
        "--context",
        "pr=7",
        "--context",
        r#"meta={"a":[1,"b"]}"#,
        "--title",
        "Updated",
        "-d",
        "new text",
    ]);
    assert_eq!(v["state"], "ready");
    assert_eq!(v["priority"], "critical");
    assert_eq!(v["labels"], json!(["type:bug"]));
    assert_eq!(v["assignee"], "agent:x");
    assert_eq!(v["context"], json!({"pr": 7, "meta": {"a": [1, "b"]}}));
    assert_eq!(v["title"], "Updated");
    assert_eq!(v["description"], "new text");
    assert_eq!(v["version"], 2);
    let v = env.json(&["issue", "update", &id, "--unassign", "--remove-label", "type:bug"]);
    assert_eq!(
        (v["assignee"].clone(), v["labels"].clone(), v["version"].clone()),
        (Value::Null, json!([]), json!(3))
    );
    // Already in that shape: nothing written, version kept.
    let v = env.json(&["issue", "update", &id, "--state", "ready"]);
    assert_eq!(v["version"], 3);
    // The short forms: -s state, -p priority, -a assignee (create takes them too).
    let v = env.json(&["issue", "update", &id, "-s", "in_progress", "-p", "low", "-a", "agent:y"]);
    assert_eq!(
        (&v["state"], &v["priority"], &v["assignee"]),
        (&json!("in_progress"), &json!("low"), &json!("agent:y"))
    );
    let v =
        env.json(&["issue", "create", "Short flags", "-s", "ready", "-a", "agent:z", "-p", "high"]);
    assert_eq!(
        (&v["state"], &v["priority"], &v["assignee"]),
        (&json!("ready"), &json!("high"), &json!("agent:z"))
    );
}

#[test]
fn closing_sets_closed_at_and_reopening_clears_it() {
    let env = TestEnv::new();
    let id = env.create("Close me");
    env.json(&["issue", "update", &id, "--state", "in_progress"]);
    let v = env.json(&["issue", "update", &id, "--state", "done"]);
    assert!(v["closed_at"].is_string());
    let v = env.json(&["issue", "update", &id, "--state", "ready"]);
    assert_eq!(v["closed_at"], Value::Null);
}

#[test]
fn if_version_is_compare_and_swap() {
    let env = TestEnv::new();
    let id = env.create("CAS");
    env.json(&["issue", "update", &id, "--priority", "high", "--if-version", "1"]);
    let before = env.issue_files();
    let e = env.json_err(&["issue", "update", &id, "--priority", "low", "--if-version", "1"], 4);
    assert_eq!(e["code"], "VERSION_CONFLICT");
    assert_eq!((e["expected"].clone(), e["actual"].clone()), (json!(1), json!(2)));
    assert_eq!(env.issue_files(), before);
}

#[test]
fn unknown_fields_are_kept_on_rewrite() {
    let env = TestEnv::new();
    let id = env.create("Future");
    let path = env.issues_dir().join(format!("{id}.json"));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["x_from_the_future"] = json!({"nested": [1, 2, 3]});
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let after = env.json(&["issue", "update", &id, "--priority", "low"]);
    assert_eq!(after["x_from_the_future"], json!({"nested": [1, 2, 3]}));
    let on_disk: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(on_disk["x_from_the_future"], json!({"nested": [1, 2, 3]}));
}

#[test]
fn delete_removes_the_issue_and_every_reference_to_it() {
    let env = TestEnv::new();
    let a = env.create("A");
    let b = env.create("B");
    let c = env.create("C");
    // Dependencies arrive with the graph commands; write one by hand here.
    for from in [&b, &c] {
        let path = env.issues_dir().join(format!("{from}.json"));
        let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        v["dependencies"] = json!([a]);
        std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }
    let e = env.json_err(&["issue", "delete", &a], 1);
    assert_eq!(e["code"], "CONFIRMATION_REQUIRED");
    assert!(env.issues_dir().join(format!("{a}.json")).exists());
    let out = env.json(&["issue", "delete", &a, "--yes"]);
    assert_eq!(out["deleted"], json!(a));
    let mut removed: Vec<String> = out["references_removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().into())
        .collect();
    removed.sort();
    assert_eq!(removed, vec![b.clone(), c.clone()]);
    assert!(!env.issues_dir().join(format!("{a}.json")).exists());
    for x in [&b, &c] {
        let v = env.json(&["issue", "show", x]);
        assert_eq!(v["dependencies"], json!([]));
        assert_eq!(v["version"], 2);
    }
    assert_eq!(std::fs::read_dir(env.jit_dir().join("journal")).unwrap().count(), 0);
    env.json_err(&["issue", "show", &a], 3);
}

/// `jit ARGS` on a pseudo-terminal (util-linux `script`), answering `answer`; what it
/// printed, both streams, with the terminal's line ends.
fn on_a_terminal(env: &TestEnv, args: &str, answer: &str) -> String {
    let mut c = std::process::Command::new("script");
    crate::disk::without_jit_env(&mut c);
    c.current_dir(env.path()).args([
        "-q",
        "-e",
        "-c",
        &format!("{} {args}", jit_bin()),
        "/dev/null",
    ]);
    let mut child =
        c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(answer.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

#[test]
fn delete_on_a_terminal_asks_naming_unchecked_files_first() {
    let env = TestEnv::new();
    let a = env.create("Asked about");
    // A title no jit command accepts, as a hand edit could leave it.
    let path = env.issues_dir().join(format!("{a}.json"));
    let mut issue: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    issue["title"] = json!("Asked \u{1b}[2J about");
    std::fs::write(&path, serde_json::to_vec_pretty(&issue).unwrap()).unwrap();
    let broken = env.create("Broken");
    std::fs::write(env.issues_dir().join(format!("{broken}.json")), "{ not json").unwrap();
    let said = on_a_terminal(&env, &format!("issue delete {a}"), "n\n");
    let warning = said.find("warning: skipped").expect(&said);
    let question =
        said.find(&format!("Delete issue {a} \"Asked \\u{{1b}}[2J about\"?")).expect(&said);
    assert!(warning < question, "the warning comes before the question: {said}");
    assert!(said.contains("not deleted") && said.matches("warning:").count() == 1, "{said}");
    assert!(env.issues_dir().join(format!("{a}.json")).exists(), "answered no");
    let said = on_a_terminal(&env, &format!("issue delete {a}"), "y\n");
    assert!(
        said.contains(&format!("Deleted {a}")) && said.matches("warning:").count() == 1,
        "{said}"
    );
    assert!(!env.issues_dir().join(format!("{a}.json")).exists(), "answered yes");
}

#[test]
fn repository_is_found_from_subdirectories_and_by_flag_or_env() {
    let env = TestEnv::new();
    let id = env.create("Found");
    let sub = env.path().join("a/b/c");
    std::fs::create_dir_all(&sub).unwrap();
    let out = env.cmd(&["issue", "show", &id, "--json"]).current_dir(&sub).output().unwrap();
    assert_success(&out, &["show"]);
    let elsewhere = TestEnv::bare();
    let out = elsewhere.cmd(&["issue", "list", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["error"]["code"], "REPO_NOT_FOUND");
    let by_flag = elsewhere
        .cmd(&["--repo", env.path().to_str().unwrap(), "issue", "show", &id])
        .output()
        .unwrap();
    assert_success(&by_flag, &["--repo"]);
    let by_env =
        elsewhere.cmd(&["issue", "show", &id]).env("JIT_DIR", env.jit_dir()).output().unwrap();
    assert_success(&by_env, &["JIT_DIR"]);
    // Set but empty counts as unset: the repository is found by searching, as without it.
    for var in ["JIT_DIR", "JIT_LOCK_TIMEOUT_MS", "JIT_DURABILITY"] {
        let out = env.cmd(&["issue", "show", &id]).current_dir(&sub).env(var, "").output().unwrap();
        assert_success(&out, &[var]);
    }
}

#[test]
fn version_help_and_completions() {
    let env = TestEnv::bare();
    assert!(env.ok(&["--version"]).starts_with("jit "));
    for cmd in [
        &["issue", "create", "--help"][..],
        &["issue", "update", "--help"],
        &["issue", "list", "--help"],
        &["init", "--help"],
    ] {
        let help = env.ok(cmd);
        assert!(help.contains("Examples:"), "{cmd:?}: {help}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let script = env.ok(&["completions", shell]);
        assert!(script.contains("issue") && script.len() > 500, "{shell}");
    }
    let page = env.ok(&["man"]);
    assert!(page.contains(".TH jit 1") && page.contains("jit\\-issue(1)"), "{page}");
    assert!(page.contains("jit \\- a repository"), "the NAME line: {page}");
    let dir = env.path().join("man1");
    env.ok(&["man", "--out", dir.to_str().unwrap()]);
    let create = std::fs::read_to_string(dir.join("jit-issue-create.1")).unwrap();
    assert!(create.contains("depends\\-on"), "{create}");
    assert!(dir.join("jit-graph-export.1").exists() && dir.join("jit.1").exists());
    // With --json, the same as JSON values.
    let v = env.json(&["completions", "fish"]);
    assert_eq!(v["shell"], "fish");
    assert_eq!(v["script"].as_str().unwrap(), env.ok(&["completions", "fish"]));
    assert_eq!(env.json(&["man"])["page"].as_str().unwrap(), page);
    let v = env.json(&["man", "--out", dir.to_str().unwrap()]);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(v["pages"], json!(files), "every page written, and only those");
}

#[test]
fn init_puts_back_missing_pieces_and_says_so() {
    let env = TestEnv::new();
    std::fs::remove_file(env.jit_dir().join(".gitignore")).unwrap();
    let out = env.ok(&["init"]);
    assert!(out.contains("re-created the missing .gitignore"), "{out}");
    assert!(env.jit_dir().join(".gitignore").exists());
    let v = env.json(&["init"]);
    assert_eq!((v["created"].clone(), v["repaired"].clone()), (json!(false), json!([])));
    // A lost config.json next to existing issues is a repair, not a new repository.
    let id = env.create("Kept");
    std::fs::remove_file(env.jit_dir().join("config.json")).unwrap();
    let v = env.json(&["init"]);
    assert_eq!(
        (v["created"].clone(), v["repaired"].clone()),
        (json!(false), json!(["config.json"]))
    );
    assert_eq!(env.json(&["issue", "show", &id])["title"], "Kept");
}

#[test]
fn completions_into_a_closed_pipe_exit_quietly() {
    use std::io::Read;
    let env = TestEnv::bare();
    let mut child = env
        .cmd(&["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 8];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then the pipe closes
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(out.stderr.is_empty(), "{}", describe(&out));
}
