//! Repository discovery stops at git boundaries: a git repository nested under a directory
//! with `.jit/` does not write to the outer tracker; `JIT_CEILING_DIRECTORIES` stops the
//! search as `GIT_CEILING_DIRECTORIES` does; `--repo` and `JIT_DIR` are not affected; `init`
//! warns when it makes a tracker inside another.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::common::*;

fn jit(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(jit_bin());
    crate::disk::without_jit_env(&mut c);
    c.args(args).current_dir(dir).stdin(Stdio::null());
    c
}

fn json_err(out: &Output, code: i32) -> Value {
    assert_eq!(out.status.code(), Some(code), "{}", describe(out));
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["error"].clone()
}

/// An outer project with a tracker holding one issue, and `inner/` below it.
fn outer_with_inner() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    assert!(jit(t.path(), &["init"]).output().unwrap().status.success());
    assert!(jit(t.path(), &["issue", "create", "Outer work"]).output().unwrap().status.success());
    let inner = t.path().join("inner");
    std::fs::create_dir_all(inner.join("src/deep")).unwrap();
    (t, inner)
}

fn outer_issue_count(t: &tempfile::TempDir) -> usize {
    std::fs::read_dir(t.path().join(".jit/issues")).unwrap().count()
}

#[test]
fn a_nested_git_repository_does_not_use_the_tracker_above_it() {
    let (t, inner) = outer_with_inner();
    // Before it is a git repository, inner/ is part of the outer project.
    let out = jit(&inner.join("src"), &["issue", "list", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    std::fs::create_dir(inner.join(".git")).unwrap(); // what `git init` makes, as far as jit looks
    let out =
        jit(&inner.join("src/deep"), &["issue", "create", "Mine", "--json"]).output().unwrap();
    let e = json_err(&out, 3);
    assert_eq!(e["code"], "REPO_NOT_FOUND");
    assert_eq!(e["reason"], "git_work_tree");
    assert_eq!(e["stopped_at"], json!(inner.to_string_lossy()));
    assert_eq!(e["path"], json!(inner.join("src/deep").to_string_lossy()));
    assert_eq!(outer_issue_count(&t), 1, "the outer tracker was written");
    let out = jit(&inner.join("src"), &["issue", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: no jit repository found in {src} or its parents up to {top}, the top of the \
             git work tree that holds it (discovery does not leave a git repository)\n\
             hint: run `jit init` in {top} to give it its own tracker, or pass --repo PATH / set \
             JIT_DIR to use one outside it\n",
            src = inner.join("src").display(),
            top = inner.display()
        )
    );

    // A worktree or submodule has a `.git` file: a boundary too.
    std::fs::remove_dir(inner.join(".git")).unwrap();
    std::fs::write(inner.join(".git"), "gitdir: ../.git/modules/inner\n").unwrap();
    let out = jit(&inner, &["issue", "list", "--json"]).output().unwrap();
    assert_eq!(json_err(&out, 3)["reason"], "git_work_tree");

    // --repo and JIT_DIR still reach the outer tracker on purpose.
    let out = jit(&inner, &["--repo", "..", "issue", "list", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = jit(&inner, &["issue", "list", "--json"]).env("JIT_DIR", "..").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    // `jit init` inside makes the nested repository's own tracker, and says it is nested.
    let out = jit(&inner, &["init"]).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "warning: this tracker is inside the one in {}; commands run in {} and below now use \
             the new one\n",
            t.path().join(".jit").display(),
            inner.display()
        )
    );
    let out = jit(&inner.join("src/deep"), &["issue", "create", "Mine"]).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(outer_issue_count(&t), 1);
    // Run again, init warns no more: it made nothing.
    let out = jit(&inner, &["init"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn a_tracker_at_the_top_of_a_work_tree_is_found_from_below() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join(".git")).unwrap();
    std::fs::create_dir_all(t.path().join("a/b")).unwrap();
    assert!(jit(t.path(), &["init"]).output().unwrap().status.success());
    let out = jit(&t.path().join("a/b"), &["issue", "create", "Below", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

#[test]
fn ceiling_directories_stop_the_search_as_git_does() {
    let (t, inner) = outer_with_inner();
    let deep = inner.join("src/deep");
    let with_ceiling = |ceilings: &str| {
        jit(&deep, &["issue", "list", "--json"])
            .env("JIT_CEILING_DIRECTORIES", ceilings)
            .output()
            .unwrap()
    };
    // Never into a ceiling: with `inner` one, the search ends at inner/src.
    let e = json_err(&with_ceiling(&format!("/nonexistent:{}", inner.display())), 3);
    assert_eq!(e["reason"], "ceiling");
    assert_eq!(e["stopped_at"], json!(inner.join("src").to_string_lossy()));
    assert!(e["message"].as_str().unwrap().contains("JIT_CEILING_DIRECTORIES"), "{e}");
    // The outer project itself as the ceiling: its .jit/ is not reached either.
    assert_eq!(json_err(&with_ceiling(&t.path().display().to_string()), 3)["reason"], "ceiling");
    // Relative and empty entries are ignored, as git ignores them; the start is always searched.
    let out = with_ceiling("inner::src");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = jit(t.path(), &["issue", "list", "--json"])
        .env("JIT_CEILING_DIRECTORIES", t.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = with_ceiling(&format!("{}/", t.path().join("elsewhere").display()));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}
