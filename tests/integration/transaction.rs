//! The one write path: a transaction commits all it staged or nothing, holds the lock for its
//! whole life, bumps each issue's version once, and a refused move through gates is one
//! commit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jit::api;
use jit::clock::Clock;
use jit::model::IssueId;
use jit::repo::tx::PreparedFile;
use jit::repo::{OpenOptions, Repo};

use crate::common::TestEnv;

fn open(env: &TestEnv) -> Repo {
    let opts = OpenOptions {
        repo: Some(env.path().to_path_buf()),
        cwd: env.path().to_path_buf(),
        command: "test".into(),
        ..Default::default()
    };
    Repo::open(&opts, Clock::system()).expect("open")
}

/// Every tracked file of the repository (issues and config), with its bytes.
fn tracked(env: &TestEnv) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let config = env.jit_dir().join("config.json");
    files.insert(config.clone(), std::fs::read(&config).unwrap());
    for e in std::fs::read_dir(env.issues_dir()).unwrap() {
        let p = e.unwrap().path();
        files.insert(p.clone(), std::fs::read(&p).unwrap());
    }
    files
}

fn id(text: &str) -> IssueId {
    text.parse().unwrap()
}

/// Another process's write, with no wait for the lock: its exit code.
fn write_now(env: &TestEnv, issue: &str) -> i32 {
    let out = env.run(&["--timeout-ms", "0", "issue", "update", issue, "--title", "Other"]);
    out.status.code().unwrap()
}

#[test]
fn a_dropped_transaction_changes_nothing_and_leaves_the_lock_free() {
    let env = TestEnv::new();
    let a = env.create("Written");
    let b = env.create("Deleted");
    env.ok(&["dep", "add", &a, &b]);
    let before = tracked(&env);
    let repo = open(&env);
    {
        let mut tx = repo.begin().unwrap();
        let mut issue = tx.load(id(&a)).unwrap().clone();
        issue.title = "Changed".into();
        tx.stage(issue).unwrap();
        let req = api::CreateIssue { title: "Created".into(), ..Default::default() };
        let template = jit::repo::ops::create::template(&repo, &req).unwrap();
        let new =
            jit::repo::ops::create::build(&repo, &template, &mut Clock::system().rng()).unwrap();
        let file = PreparedFile::new(&repo, &new).unwrap();
        tx.stage_create(new, Some(file)).unwrap();
        tx.stage_delete(id(&b)).unwrap();
        let mut config = tx.config().unwrap().clone();
        config.bulk_confirm = 7;
        tx.stage_config(config);
        // Held for the transaction's whole life: another process cannot write.
        assert_eq!(write_now(&env, &a), 75, "the lock is held while the transaction lives");
    }
    assert_eq!(tracked(&env), before, "every file as it was, no temp file left");
    assert_eq!(write_now(&env, &a), 0, "the lock is free once the transaction is dropped");
}

#[test]
fn a_commit_reports_versions_before_and_after_and_bumps_once() {
    let env = TestEnv::new();
    let a = env.create("A");
    let b = env.create("B");
    let repo = open(&env);
    let mut tx = repo.begin().unwrap();
    for title in ["A1", "A2"] {
        let mut issue = tx.load(id(&a)).unwrap().clone();
        issue.title = title.into();
        assert_eq!(tx.stage(issue).unwrap().version, 2, "staged twice, bumped once");
    }
    tx.stage_delete(id(&b)).unwrap();
    let done = tx.commit("test").unwrap();
    let mut want = vec![
        jit::repo::IssueChange { id: id(&a), before: Some(1), after: Some(2) },
        jit::repo::IssueChange { id: id(&b), before: Some(1), after: None },
    ];
    want.sort_by_key(|c| c.id);
    assert_eq!(done.issues, want);
    assert_eq!((done.op, done.command.as_str(), done.config), ("test", "test", false));
    assert!(done.duration >= done.lock_wait);
    let shown = env.json(&["issue", "show", &a]);
    assert_eq!((shown["title"].as_str(), shown["version"].as_u64()), (Some("A2"), Some(2)));
    assert!(!env.issues_dir().join(format!("{}.json", b)).exists());

    // Nothing staged, or staged as it was: nothing written, nothing reported.
    let before = tracked(&env);
    let mut tx = repo.begin().unwrap();
    let same = tx.load(id(&a)).unwrap().clone();
    tx.stage(same).unwrap();
    let done = tx.commit("test").unwrap();
    assert!(!done.changed());
    assert_eq!(tracked(&env), before);
}

#[test]
fn a_version_that_cannot_go_up_is_refused_when_staged() {
    let env = TestEnv::new();
    let a = env.create("A");
    let path = env.issues_dir().join(format!("{a}.json"));
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["version"] = u64::MAX.into();
    let bytes = format!("{}\n", serde_json::to_string_pretty(&v).unwrap());
    std::fs::write(&path, &bytes).unwrap();
    let repo = open(&env);
    let mut tx = repo.begin().unwrap();
    let mut issue = tx.load(id(&a)).unwrap().clone();
    issue.title = "B".into();
    let err = tx.stage(issue).unwrap_err();
    assert_eq!(err.code(), "VERSION_EXHAUSTED");
    drop(tx);
    assert_eq!(std::fs::read(&path).unwrap(), bytes.as_bytes());
}

/// Operations applied in one transaction see each other's changes: an issue created earlier
/// can be named by a prefix of its id, one deleted earlier is not found; all commit as one.
#[test]
fn later_operations_of_a_transaction_see_the_earlier_ones() {
    use jit::repo::ops;
    let env = TestEnv::new();
    let old = env.create("Old");
    let gone = env.create("Gone");
    let repo = open(&env);
    let mut tx = repo.begin().unwrap();
    let req = api::CreateIssue { title: "New".into(), ..Default::default() };
    let new = ops::create::apply(&mut tx, &req).unwrap();
    let prefix = new.id.to_string()[..12].to_string();
    let edit = api::DepEdit { id: old.clone(), deps: vec![prefix] };
    let done = ops::dep_add::apply(&mut tx, &edit).unwrap();
    assert_eq!(done.changed, vec![new.id]);
    ops::delete::apply(&mut tx, &api::DeleteIssue { id: gone.clone() }).unwrap();
    let edit = api::DepEdit { id: old.clone(), deps: vec![gone.clone()] };
    let err = ops::dep_add::apply(&mut tx, &edit).unwrap_err();
    assert_eq!(err.code(), "DEP_MISSING");
    let committed = tx.commit("batch").unwrap();
    assert_eq!(committed.issues.len(), 3, "{committed:?}");
    let shown = env.json(&["issue", "show", &old]);
    assert_eq!(shown["dependencies"], serde_json::json!([new.id.to_string()]));
    assert_eq!(shown["version"], 2);
    assert_eq!(env.json(&["issue", "show", &new.id.to_string()])["version"], 1);
    let out = env.run(&["issue", "show", &gone]);
    assert_eq!(out.status.code(), Some(3));
}

fn version(env: &TestEnv, issue: &str) -> u64 {
    env.json(&["issue", "show", issue])["version"].as_u64().unwrap()
}

/// A refused move to done records the auto postcheck's result and makes the issue gated in
/// ONE commit: the version goes up by one, and the error is reported as before.
#[test]
fn a_refused_postcheck_is_one_commit() {
    let env = TestEnv::new();
    env.ok(&["gate", "define", "tests", "--stage", "postcheck", "--mode", "auto", "--", "false"]);
    let a = env.create("A");
    env.ok(&["gate", "add", &a, "tests"]);
    env.ok(&["issue", "update", &a, "--state", "in_progress"]);
    let v = version(&env, &a);
    let err = env.json_err(&["issue", "update", &a, "--state", "done"], 4);
    assert_eq!(err["code"], "GATES_NOT_PASSED");
    assert_eq!(err["state"], "gated");
    let shown = env.json(&["issue", "show", &a]);
    assert_eq!(shown["state"], "gated");
    assert_eq!(shown["gates"]["tests"]["status"], "failed");
    assert_eq!(shown["version"].as_u64(), Some(v + 1), "one commit, one version");
}

/// No file of the project outside the transaction and `storage/` takes the writers' lock or
/// writes a tracked file (index upkeep by readers is in `storage/`; `init` creates the
/// repository, before there is one to lock; `gate trust|untrust` change only this machine's
/// trust file, in `repo/gates.rs`, never a tracked file; `repo/git.rs` writes
/// `.jit/.gitattributes` for `init` and `git-setup`, a file no operation reads; `jit
/// merge-driver` writes the file git hands it, outside any repository's state).
#[test]
fn only_the_transaction_writes() {
    let forbidden = [
        // (The shared mode, `acquire_shared`, is for checkers that only read: allowed.)
        "RepoLock::acquire(",
        "RepoLock::try_acquire(",
        "atomic::write(",
        "atomic::write_no_dir_sync(",
        "atomic::install",
        "atomic::prepare",
        "journal::commit(",
        "TrustStore::update(",
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
            let allowed = rel.starts_with("storage/")
                || [
                    "repo/tx.rs",
                    "repo/init.rs",
                    "repo/gates.rs",
                    "repo/git.rs",
                    "cli/commands/merge_driver.rs",
                ]
                .contains(&rel.as_str())
                || rel.ends_with("tests.rs");
            if allowed || !rel.ends_with(".rs") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            // Unit tests make their fixtures as they like.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for f in forbidden {
                if code.contains(f) {
                    found.push(format!("{rel}: {f}"));
                }
            }
        }
    }
    assert!(found.is_empty(), "writes outside the transaction: {found:#?}");
}
