//! Trust in cloned repositories: an auto gate whose definition came with the repository
//! (config.json written by someone else) never runs until trusted on this machine
//! (`gate trust`, `gate define`, `JIT_TRUST_ALL_GATES`), a changed definition needs trusting
//! again, `gate list` shows trust; where the trust is kept (the git common dir, shared by
//! worktrees, one folder per tracker; `.jit/local/` outside git); gate definitions that
//! cannot run; readiness with auto prechecks; discovery stopping at git boundaries.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::*;

/// Replace the config's gate registry, as a clone or a merge would bring it.
fn write_gates(env: &TestEnv, gates: Value) {
    let path = env.jit_dir().join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["gates"] = gates;
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

/// A precheck that, if it ever ran, would leave `OWNED` in the project.
fn hostile_gates() -> Value {
    json!({"setup": {"stage": "precheck", "mode": "auto", "shell": true,
                     "command": ["echo owned > OWNED"], "timeout_s": 600}})
}

fn ready_issue_with(env: &TestEnv, gate: &str) -> String {
    let id = env.json(&["issue", "create", "Start me", "--state", "ready"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["gate", "add", &id, gate]);
    id
}

fn issue_bytes(env: &TestEnv, id: &str) -> Vec<u8> {
    std::fs::read(env.issues_dir().join(format!("{id}.json"))).unwrap()
}

fn stderr_of(env: &TestEnv, args: &[&str]) -> (Option<i32>, String) {
    let out = env.run(args);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_cloned_repository_cannot_run_its_commands_before_they_are_trusted() {
    let env = TestEnv::new();
    write_gates(&env, hostile_gates());
    let id = ready_issue_with(&env, "setup");
    let before = issue_bytes(&env, &id);

    let e = env.json_err(&["issue", "update", &id, "--state", "in_progress"], 4);
    assert_eq!(e["code"], "GATE_UNTRUSTED");
    assert_eq!(e["gates"], json!(["setup"]));
    assert!(e["hint"].as_str().unwrap().contains("`jit gate trust setup`"), "{e}");
    let (code, stderr) = stderr_of(&env, &["issue", "update", &id, "--state", "in_progress"]);
    assert_eq!(code, Some(4));
    assert_eq!(
        stderr,
        "error: auto gate `setup` is not trusted on this machine, so nothing was run\n\
         hint: review what it runs (`jit gate show setup`), then `jit gate trust setup`\n"
    );
    // Every path that runs gates refuses the same way, before running or writing anything.
    assert_eq!(env.json_err(&["gate", "run", &id], 4)["code"], "GATE_UNTRUSTED");
    assert_eq!(env.json_err(&["gate", "run", &id, "setup"], 4)["code"], "GATE_UNTRUSTED");
    assert!(!env.path().join("OWNED").exists(), "the clone's command ran");
    assert_eq!(issue_bytes(&env, &id), before, "a refused command wrote the issue");

    // The person reads it, trusts it, and from then on it runs.
    let listed = env.json(&["gate", "trust"]);
    assert_eq!(listed["gates"][0]["name"], "setup");
    assert_eq!(listed["gates"][0]["trusted"], false);
    assert_eq!(issue_bytes(&env, &id), before);
    let t = env.json(&["gate", "trust", "setup"]);
    assert_eq!(
        (&t["gates"][0]["trusted"], &t["gates"][0]["changed"]),
        (&json!(true), &json!(true))
    );
    let sha = t["gates"][0]["sha256"].as_str().unwrap();
    assert!(sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()), "{sha}");
    assert_eq!(env.json(&["gate", "trust", "setup"])["gates"][0]["changed"], false);
    let moved = env.json(&["issue", "update", &id, "--state", "in_progress"]);
    assert_eq!(moved["state"], "in_progress");
    assert_eq!(std::fs::read_to_string(env.path().join("OWNED")).unwrap(), "owned\n");
}

#[test]
fn a_changed_definition_is_untrusted_again_and_list_shows_trust() {
    let env = TestEnv::new();
    env.ok(&["gate", "define", "review", "--stage", "precheck", "--mode", "manual"]);
    // `gate define` on this machine trusts what it defines.
    let defined: Value = serde_json::from_str(&env.ok(&[
        "--json", "gate", "define", "lint", "--stage", "precheck", "--mode", "auto", "--", "touch",
        "LINTED",
    ]))
    .unwrap();
    assert_eq!(defined["trusted"], true);
    let list = env.json(&["gate", "list"]);
    assert_eq!(list[0]["trusted"], true);
    assert_eq!(list[1].get("trusted"), None, "a manual gate runs nothing: no trust to show");
    let id = ready_issue_with(&env, "lint");
    env.ok(&["gate", "run", &id]);
    assert!(env.path().join("LINTED").exists());
    std::fs::remove_file(env.path().join("LINTED")).unwrap();

    // Someone changes the command in config.json (a pull, a merge, an editor).
    let path = env.jit_dir().join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["gates"]["lint"]["command"] = json!(["touch", "CHANGED"]);
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let before = issue_bytes(&env, &id);
    assert_eq!(env.json_err(&["gate", "run", &id], 4)["gates"], json!(["lint"]));
    assert!(!env.path().join("CHANGED").exists());
    assert_eq!(issue_bytes(&env, &id), before);
    assert_eq!(env.json(&["gate", "list"])[0]["trusted"], false);
    assert_eq!(env.json(&["gate", "show", "lint"])["trusted"], false);
    let text = env.ok(&["gate", "list"]);
    assert_eq!(
        text,
        "lint             precheck  auto   untrusted touch CHANGED\n\
         review           precheck  manual -\n"
    );
    assert!(env.ok(&["gate", "show", "lint"]).contains("NOT trusted on this machine"));
    // A layout change alone (the same definition, keys reordered) keeps the trust.
    env.ok(&["gate", "trust", "lint"]);
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let lint = config["gates"]["lint"].take();
    let reordered: serde_json::Map<String, Value> =
        lint.as_object().unwrap().clone().into_iter().rev().collect();
    config["gates"]["lint"] = Value::Object(reordered);
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    assert!(env.ok(&["gate", "list"]).contains(" trusted "));

    // untrust withdraws it; unknown names and manual gates are refused.
    assert_eq!(env.json(&["gate", "untrust", "lint"])["gates"][0]["changed"], true);
    assert_eq!(env.json(&["gate", "list"])[0]["trusted"], false);
    assert_eq!(env.json_err(&["gate", "trust", "lnt"], 3)["suggestion"], "lint");
    assert_eq!(env.json_err(&["gate", "trust", "review"], 1)["code"], "GATE_NOT_AUTO");
    assert_eq!(env.json_err(&["gate", "untrust", "nope"], 3)["code"], "GATE_UNKNOWN");
    let out = env.run(&["gate", "trust", "lint", "--all"]);
    assert_eq!(out.status.code(), Some(2), "names and --all together: {}", describe(&out));
    let all = env.json(&["gate", "trust", "--all"]);
    assert_eq!(
        all["gates"],
        json!([{"name": "lint", "sha256": all["gates"][0]["sha256"],
                                     "trusted": true, "changed": true}])
    );
    let (code, stderr) = stderr_of(&env, &["gate", "trust"]);
    assert_eq!((code, stderr.as_str()), (Some(0), "every auto gate is trusted on this machine\n"));
}

#[test]
fn ci_trusts_through_the_environment_only_when_asked() {
    let env = TestEnv::new();
    write_gates(&env, hostile_gates());
    let id = ready_issue_with(&env, "setup");
    let out = env
        .cmd(&["issue", "update", &id, "--state", "in_progress", "--json"])
        .env("JIT_TRUST_ALL_GATES", "maybe")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&e["error"]["code"], &e["error"]["field"]),
        (&json!("INVALID_VALUE"), &json!("JIT_TRUST_ALL_GATES"))
    );
    for off in ["0", ""] {
        let out =
            env.cmd(&["gate", "list", "--json"]).env("JIT_TRUST_ALL_GATES", off).output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v[0]["trusted"], false, "JIT_TRUST_ALL_GATES={off:?}");
    }
    assert!(!env.path().join("OWNED").exists());
    let out = env
        .cmd(&["issue", "update", &id, "--state", "in_progress", "--json"])
        .env("JIT_TRUST_ALL_GATES", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(env.path().join("OWNED").exists());
    // Nothing was recorded: without the variable the gate is as untrusted as before.
    assert_eq!(env.json(&["gate", "list"])[0]["trusted"], false);
}

/// An untrusted auto postcheck: the move to done is refused before the issue becomes gated.
#[test]
fn an_untrusted_postcheck_leaves_the_issue_as_it_was() {
    let env = TestEnv::new();
    write_gates(
        &env,
        json!({"ship": {"stage": "postcheck", "mode": "auto",
                                      "command": ["touch", "SHIPPED"]}}),
    );
    let id = env.json(&["issue", "create", "Ship it", "--state", "ready"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["issue", "update", &id, "--state", "in_progress"]);
    env.ok(&["gate", "add", &id, "ship"]);
    let before = issue_bytes(&env, &id);
    assert_eq!(
        env.json_err(&["issue", "update", &id, "--state", "done"], 4)["code"],
        "GATE_UNTRUSTED"
    );
    assert_eq!(issue_bytes(&env, &id), before, "not moved to gated");
    assert!(!env.path().join("SHIPPED").exists());
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", describe(&out));
}

/// `jit --json ARGS` in `dir` (the global flag first, so a gate command after `--` keeps its
/// words); exit 0 required.
fn jit_in(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    crate::disk::jit_json(dir, &all)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn trust_lives_in_the_git_common_dir_shared_by_worktrees_one_folder_per_tracker() {
    let t = tempfile::tempdir().unwrap();
    let main = t.path().join("main");
    std::fs::create_dir(&main).unwrap();
    git(&main, &["init", "-q"]);
    jit_in(&main, &["init"]);
    std::fs::create_dir(main.join("tools")).unwrap();
    jit_in(&main.join("tools"), &["init"]); // a second tracker in the same clone
    jit_in(
        &main,
        &["gate", "define", "lint", "--stage", "precheck", "--mode", "auto", "--", "true"],
    );
    let trackers = main.join(".git/jit/trackers");
    assert_eq!(
        files_under(&trackers),
        [trackers.join("root/lock"), trackers.join("root/trusted-gates.json")]
    );
    assert!(!main.join(".jit/local").exists(), "in git, nothing local under .jit/");
    // The tracker in tools/ has its own trust: lint there is another definition.
    std::fs::copy(main.join(".jit/config.json"), main.join("tools/.jit/config.json")).unwrap();
    assert_eq!(jit_in(&main.join("tools"), &["gate", "list"])[0]["trusted"], false);
    jit_in(&main.join("tools"), &["gate", "trust", "lint"]);
    assert!(trackers.join("root%2Ftools/trusted-gates.json").is_file());

    // A worktree of the same clone sees the same trust; git status shows no local state.
    git(&main, &["add", "-A"]);
    git(&main, &["commit", "-q", "-m", "tracker"]);
    git(&main, &["worktree", "add", "-q", "../wt"]);
    let wt = t.path().join("wt");
    assert_eq!(jit_in(&wt, &["gate", "list"])[0]["trusted"], true);
    assert_eq!(jit_in(&wt.join("tools"), &["gate", "list"])[0]["trusted"], true);
    jit_in(&wt, &["gate", "untrust", "lint"]);
    assert_eq!(jit_in(&main, &["gate", "list"])[0]["trusted"], false, "shared, not copied");
    let status =
        Command::new("git").args(["status", "--porcelain"]).current_dir(&main).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&status.stdout), "");
}

#[test]
fn outside_git_trust_is_kept_in_an_ignored_folder_and_init_repairs_old_gitignores() {
    let env = TestEnv::new();
    env.ok(&["gate", "define", "lint", "--stage", "precheck", "--mode", "auto", "--", "true"]);
    assert!(env.jit_dir().join("local/trusted-gates.json").is_file());
    let gitignore = env.jit_dir().join(".gitignore");
    assert!(std::fs::read_to_string(&gitignore).unwrap().lines().any(|l| l == "/local/"));
    // A .gitignore written before local state existed gets the line, the rest kept.
    std::fs::write(&gitignore, "/lock\n/lock.info\n/journal/\n/index/\n.tmp.*\n# mine").unwrap();
    let report = env.json(&["init"]);
    assert_eq!(report["repaired"], json!([".gitignore (/local/)"]));
    assert_eq!(
        std::fs::read_to_string(&gitignore).unwrap(),
        "/lock\n/lock.info\n/journal/\n/index/\n.tmp.*\n# mine\n/local/\n"
    );
    assert_eq!(env.json(&["init"])["repaired"], json!([]), "repaired once");
    // A damaged trust file is reported where a gate would run, not taken as "nothing".
    std::fs::write(env.jit_dir().join("local/trusted-gates.json"), "{").unwrap();
    let id = ready_issue_with(&env, "lint");
    assert_eq!(env.json_err(&["gate", "run", &id], 74)["code"], "CORRUPT_FILE");
}

/// Trust updates are read-modify-writes of one shared file: made under a lock, so processes
/// trusting different gates at once lose none of them.
#[test]
fn concurrent_trusts_lose_no_update() {
    let env = TestEnv::new();
    let names: Vec<String> = (0..12).map(|i| format!("g{i:02}")).collect();
    let gates: serde_json::Map<String, Value> = names
        .iter()
        .map(|n| (n.clone(), json!({"stage": "precheck", "mode": "auto", "command": ["true"]})))
        .collect();
    write_gates(&env, Value::Object(gates));
    let children: Vec<_> = names
        .iter()
        .map(|n| env.cmd(&["gate", "trust", n]).stdout(Stdio::null()).spawn().unwrap())
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let list = env.json(&["gate", "list"]);
    let trusted: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["trusted"] == true)
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(trusted, names.iter().map(String::as_str).collect::<Vec<_>>());
}

/// Outside git, `.jit/local/` travels with a copy or an archive of a project: a trust file
/// that came along (written in another folder) trusts nothing here.
#[test]
fn a_trust_file_brought_with_a_copied_project_trusts_nothing() {
    let theirs = TestEnv::new();
    write_gates(&theirs, hostile_gates());
    theirs.ok(&["gate", "trust", "setup"]);
    let mine = TestEnv::bare();
    copy_tree(theirs.path(), mine.path());
    assert!(mine.jit_dir().join("local/trusted-gates.json").is_file());
    assert_eq!(mine.json(&["gate", "list"])[0]["trusted"], false);
    let id = ready_issue_with(&mine, "setup");
    assert_eq!(mine.json_err(&["gate", "run", &id], 4)["code"], "GATE_UNTRUSTED");
    assert!(!mine.path().join("OWNED").exists());
    // Trusting here replaces the foreign file's content.
    mine.ok(&["gate", "trust", "setup"]);
    assert_eq!(mine.json(&["gate", "list"])[0]["trusted"], true);
}
