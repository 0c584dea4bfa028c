//! jit under real git: `init` and `git-setup` register the merge driver, and `git merge` of
//! two clones' divergent edits merges issue files field by field (see docs/git.md). git runs
//! with a config of its own in the temp dir, never the machine's.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::common::{TestEnv, assert_success, describe, have_tool, jit_bin};

/// Two (or more) repositories in one temp dir, a git that ignores the machine's config, and
/// `jit` on PATH for the driver git runs.
struct World {
    dir: tempfile::TempDir,
    seed: std::cell::Cell<u64>,
}

impl World {
    fn new() -> World {
        let w = World { dir: tempfile::tempdir().unwrap(), seed: std::cell::Cell::new(1) };
        std::fs::write(w.dir.path().join("gitconfig"), "").unwrap();
        w
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn path_env(&self) -> std::ffi::OsString {
        let bin_dir = Path::new(jit_bin()).parent().unwrap().to_path_buf();
        let rest = std::env::var_os("PATH").unwrap_or_default();
        std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(&rest))).unwrap()
    }

    /// The environment every git and jit command of the test gets.
    fn env<'c>(&self, c: &'c mut Command) -> &'c mut Command {
        crate::disk::without_jit_env(c)
            .env("HOME", self.dir.path())
            .env("GIT_CONFIG_GLOBAL", self.path("gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .env("PATH", self.path_env())
    }

    fn git_cmd(&self, dir: &Path, args: &[&str]) -> Command {
        let mut c = Command::new("git");
        c.args(args).current_dir(dir).stdin(Stdio::null());
        self.env(&mut c);
        c
    }

    fn git_run(&self, dir: &Path, args: &[&str]) -> Output {
        self.git_cmd(dir, args).output().expect("run git")
    }

    fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git_run(dir, args);
        assert!(out.status.success(), "git {} failed: {}", args.join(" "), describe(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `jit` in `dir` at the instant `now` (which decides who wins a both-sided change).
    fn jit_run<S: AsRef<OsStr>>(&self, dir: &Path, now: &str, args: &[S]) -> Output {
        let s = self.seed.get();
        self.seed.set(s + 1);
        let mut c = Command::new(jit_bin());
        c.args(args).current_dir(dir).stdin(Stdio::null());
        self.env(&mut c).env("JIT_NOW", now).env("JIT_SEED", s.to_string());
        c.output().expect("run jit")
    }

    fn jit<S: AsRef<OsStr>>(&self, dir: &Path, now: &str, args: &[S]) -> String {
        let out = self.jit_run(dir, now, args);
        assert_success(&out, args);
        String::from_utf8(out.stdout).unwrap()
    }

    fn jit_json(&self, dir: &Path, now: &str, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.jit(dir, now, &all)).unwrap()
    }

    /// A git repository with a jit tracker made by `jit init` inside it.
    fn repo(&self, name: &str) -> PathBuf {
        let dir = self.path(name);
        std::fs::create_dir(&dir).unwrap();
        self.git(&dir, &["init", "-q", "-b", "main"]);
        self.jit(&dir, T0, &["init"]);
        dir
    }

    fn commit(&self, dir: &Path, message: &str) {
        self.git(dir, &["add", "-A"]);
        self.git(dir, &["commit", "-q", "-m", message]);
    }
}

const T0: &str = "2026-03-01T09:00:00Z";
const T1: &str = "2026-03-01T10:00:00Z";
const T2: &str = "2026-03-01T11:00:00Z";

fn issue_file(dir: &Path, id: &str) -> PathBuf {
    dir.join(".jit/issues").join(format!("{id}.json"))
}

fn read_issue(dir: &Path, id: &str) -> Value {
    serde_json::from_slice(&std::fs::read(issue_file(dir, id)).unwrap()).unwrap()
}

/// No file under `.jit/` holds a conflict marker.
fn assert_no_markers(dir: &Path) {
    for e in std::fs::read_dir(dir.join(".jit/issues")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for marker in ["<<<<<<<", "=======", ">>>>>>>"] {
            assert!(!text.contains(marker), "conflict marker in {text}");
        }
    }
}

/// Every file under `dir` (recursively) with its bytes, in path order.
fn snapshot_tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                files.push((p, bytes));
            }
        }
    }
    files.sort();
    files
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn init_in_a_git_work_tree_sets_up_the_driver_and_git_setup_is_idempotent() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let dir = w.path("p");
    std::fs::create_dir(&dir).unwrap();
    w.git(&dir, &["init", "-q", "-b", "main"]);
    let report = w.jit_json(&dir, T0, &["init"]);
    assert_eq!(report["created"], json!(true));
    let git = &report["git"];
    assert_eq!(git["gitattributes_changed"], json!(true));
    assert_eq!(
        git["config"],
        json!([
            {"key": "merge.jit.name", "value": "jit field-wise merge of issue files", "changed": true},
            {"key": "merge.jit.driver", "value": "jit merge-driver %O %A %B %P", "changed": true},
        ])
    );
    let attrs = std::fs::read_to_string(dir.join(".jit/.gitattributes")).unwrap();
    assert!(attrs.lines().any(|l| l == "issues/*.json merge=jit"), "{attrs}");
    assert_eq!(
        w.git(&dir, &["config", "--local", "merge.jit.driver"]),
        "jit merge-driver %O %A %B %P\n"
    );
    let check =
        w.git(&dir, &["check-attr", "merge", "--", ".jit/issues/x.json", ".jit/config.json"]);
    assert_eq!(check, ".jit/issues/x.json: merge: jit\n.jit/config.json: merge: unspecified\n");

    // Again: nothing to do, in both commands.
    let again = w.jit_json(&dir, T0, &["git-setup"]);
    assert_eq!(again["gitattributes_changed"], json!(false));
    assert!(again["config"].as_array().unwrap().iter().all(|c| c["changed"] == json!(false)));
    let out = w.jit(&dir, T0, &["git-setup"]);
    assert!(out.ends_with("is already set up for jit; nothing to do\n"), "{out}");
    let out = w.jit(&dir, T0, &["init"]);
    assert!(out.ends_with("; nothing to do\n"), "init says nothing of git when set: {out}");

    // A user's own attribute lines are kept; a lost driver line is put back.
    std::fs::write(dir.join(".jit/.gitattributes"), "*.md diff").unwrap();
    w.git(&dir, &["config", "--local", "--unset", "merge.jit.driver"]);
    let out = w.jit(&dir, T0, &["git-setup"]);
    assert_eq!(
        out,
        format!(
            "Wrote {}\nSet git config merge.jit.driver = jit merge-driver %O %A %B %P\n",
            dir.join(".jit/.gitattributes").display()
        )
    );
    let attrs = std::fs::read_to_string(dir.join(".jit/.gitattributes")).unwrap();
    assert_eq!(attrs, "*.md diff\nissues/*.json merge=jit\nevents/*.jsonl merge=union\n");
}

#[test]
fn outside_git_init_is_silent_and_git_setup_refuses() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let dir = w.path("plain");
    std::fs::create_dir(&dir).unwrap();
    let out = w.jit_run(&dir, T0, &["init"]);
    assert_success(&out, &["init"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("Initialized jit repository in {}\n", dir.join(".jit").display())
    );
    assert_eq!(stderr(&out), "");
    // The attributes are written anyway (a project put in git later merges right from its
    // first commit); only the git config waits for `jit git-setup`.
    let attrs = std::fs::read_to_string(dir.join(".jit/.gitattributes")).unwrap();
    assert!(attrs.ends_with("issues/*.json merge=jit\nevents/*.jsonl merge=union\n"), "{attrs}");
    assert_eq!(w.jit_json(&dir, T0, &["init"])["git"], Value::Null);

    let before = snapshot_tree(&dir.join(".jit"));
    let out = w.jit_run(&dir, T0, &["git-setup", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["code"], json!("NOT_A_GIT_REPOSITORY"));
    assert_eq!(err["error"]["path"], json!(dir.to_string_lossy()));
    let out = w.jit_run(&dir, T0, &["git-setup"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(&format!("error: {} is not in a git work tree\n", dir.display())),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot_tree(&dir.join(".jit")), before, "nothing written");
}

/// Two clones edit the same issues; `git merge` merges them field by field.
#[test]
fn two_clones_merge_field_by_field_without_conflict_markers() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let a = w.repo("a");
    let id = |v: Value| v["id"].as_str().unwrap().to_string();
    let title = id(w.jit_json(&a, T0, &["issue", "create", "Login page"]));
    let labels = id(w.jit_json(&a, T0, &["issue", "create", "Labels", "-l", "type:bug"]));
    let state = id(w.jit_json(&a, T0, &["issue", "create", "State"]));
    let x = id(w.jit_json(&a, T0, &["issue", "create", "X", "--state", "ready"]));
    let y = id(w.jit_json(&a, T0, &["issue", "create", "Y", "--state", "ready"]));
    w.commit(&a, "issues");

    let b = w.path("b");
    w.git(w.dir.path(), &["clone", "-q", a.to_str().unwrap(), "b"]);
    // git config is not versioned: the clone has the attributes but not the driver yet.
    assert!(!w.git_run(&b, &["config", "merge.jit.driver"]).status.success());
    let setup = w.jit_json(&b, T0, &["git-setup"]);
    assert_eq!(setup["gitattributes_changed"], json!(false));

    // b, earlier: the title, a label, a state, and Y depends on X.
    w.jit(&b, T1, &["issue", "update", &title, "--title", "The login page"]);
    w.jit(&b, T1, &["issue", "update", &labels, "--add-label", "area:ui"]);
    w.jit(&b, T1, &["issue", "update", &state, "--state", "rejected"]);
    w.jit(&b, T1, &["dep", "add", &y, &x]);
    w.commit(&b, "b's edits");
    // a, later: other labels, another state, and X depends on Y.
    w.jit(
        &a,
        T2,
        &["issue", "update", &labels, "--add-label", "area:auth", "--remove-label", "type:bug"],
    );
    w.jit(&a, T2, &["issue", "update", &state, "--state", "ready"]);
    w.jit(&a, T2, &["dep", "add", &x, &y]);
    w.commit(&a, "a's edits");

    w.git(&a, &["pull", "-q", "--no-rebase", "--no-edit", "../b", "main"]);
    assert_no_markers(&a);
    assert_eq!(w.git(&a, &["status", "--porcelain"]), "", "merged and committed");

    let t = read_issue(&a, &title);
    assert_eq!(t["title"], json!("The login page"));
    assert_eq!(t["version"], json!(2), "only b changed it: b's file as it is");
    let l = read_issue(&a, &labels);
    assert_eq!(l["labels"], json!(["area:auth", "area:ui"]), "type:bug removed by a");
    assert_eq!(l["version"], json!(3), "max(2, 2) + 1");
    assert_eq!(l["updated_at"], json!("2026-03-01T11:00:00.000000Z"));
    let s = read_issue(&a, &state);
    assert_eq!((&s["state"], &s["closed_at"]), (&json!("ready"), &Value::Null), "a was later");
    assert_eq!(
        s["merge_overrides"],
        json!([{"field": "state", "kept": "ready", "dropped": "rejected",
                "dropped_at": "2026-03-01T10:00:00.000000Z"}])
    );
    assert_eq!(read_issue(&a, &x)["dependencies"], json!([y]));
    assert_eq!(read_issue(&a, &y)["dependencies"], json!([x]));

    // What jit says about the cycle the two branches made together: listings work and say
    // nothing of it; the graph commands name it.
    let out = w.jit_run(&a, T2, &["issue", "list"]);
    assert_success(&out, &["issue", "list"]);
    assert_eq!(stderr(&out), "");
    let out = w.jit_run(&a, T2, &["graph", "order", "--json"]);
    assert_eq!(out.status.code(), Some(6), "{}", describe(&out));
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["code"], json!("GRAPH_CYCLE"));
    assert_eq!(err["error"]["cycle"].as_array().unwrap().len(), 3, "x → y → x: {err}");
    let out = w.jit_run(&a, T2, &["graph", "roots"]);
    assert!(
        stderr(&out).starts_with("warning: the dependency graph has a cycle: "),
        "{}",
        describe(&out)
    );
    let ready = w.jit_json(&a, T2, &["ready"]).to_string();
    assert!(ready.contains(&state), "{ready}");
    assert!(!ready.contains(&x) && !ready.contains(&y), "each waits for the other: {ready}");
    // The card shows the override compactly.
    let card = w.jit(&a, T2, &["issue", "show", &state]);
    assert!(
        card.contains(
            "  merge     state: kept \"ready\", dropped \"rejected\" (from 2026-03-01T10:00:00Z)\n"
        ),
        "{card}"
    );
    // A later jit write keeps the record.
    w.jit(&a, T2, &["issue", "update", &state, "--priority", "high"]);
    assert_eq!(read_issue(&a, &state)["merge_overrides"][0]["field"], json!("state"));
}

/// A delete on one branch and an edit on the other: git stops with a modify/delete conflict,
/// jit keeps working and names the two git commands that settle it, and both work.
#[test]
fn delete_here_and_edit_there_stops_the_merge_and_jit_says_how_to_settle_it() {
    if !have_tool("git", "git") {
        return;
    }
    for keep in [true, false] {
        let w = World::new();
        let a = w.repo("a");
        let id =
            w.jit_json(&a, T0, &["issue", "create", "Doomed"])["id"].as_str().unwrap().to_string();
        let other =
            w.jit_json(&a, T0, &["issue", "create", "Other"])["id"].as_str().unwrap().to_string();
        w.commit(&a, "issues");
        w.git(w.dir.path(), &["clone", "-q", a.to_str().unwrap(), "b"]);
        let b = w.path("b");
        w.jit(&b, T0, &["git-setup"]);
        w.jit(&b, T1, &["issue", "update", &id, "--title", "Saved"]);
        w.commit(&b, "edit");
        w.jit(&a, T1, &["issue", "delete", &id, "--yes"]);
        w.commit(&a, "delete");

        let out = w.git_run(&a, &["pull", "--no-rebase", "--no-edit", "../b", "main"]);
        assert!(!out.status.success(), "git stops: {}", describe(&out));
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("CONFLICT (modify/delete)"), "{said}");
        assert_no_markers(&a);

        let path = format!(".jit/issues/{id}.json");
        let advice = format!(
            "warning: {path} was deleted on one side of the merge and edited on the other (git \
             status: deleted by us); keep the edited issue: `git add {path}`, or accept the \
             delete: `git rm {path}`\n"
        );
        let out = w.jit_run(&a, T1, &["issue", "list"]);
        assert_success(&out, &["issue", "list"]);
        assert_eq!(stderr(&out), advice);
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(listed.contains("Saved") && listed.contains("Other"), "{listed}");
        let out = w.jit_run(&a, T1, &["issue", "show", &id]);
        assert_success(&out, &["issue", "show"]);
        assert_eq!(stderr(&out), advice);

        if keep {
            w.git(&a, &["add", &path]);
        } else {
            w.git(&a, &["rm", "-q", &path]);
        }
        w.git(&a, &["commit", "-q", "--no-edit"]);
        let out = w.jit_run(&a, T1, &["issue", "list", "--json"]);
        assert_eq!(stderr(&out), "", "settled: no more warning");
        let ids: Vec<String> = serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        if keep {
            assert!(ids.contains(&id) && ids.contains(&other), "{ids:?}");
            assert_eq!(read_issue(&a, &id)["title"], json!("Saved"));
        } else {
            assert_eq!(ids, std::slice::from_ref(&other));
        }
    }
}

/// Without the driver (a clone where `git-setup` was never run) git leaves conflict markers;
/// jit skips the file with a warning that names the way out, and that way works mid-merge.
#[test]
fn a_clone_without_the_driver_is_told_how_to_remerge() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let a = w.repo("a");
    let id = w.jit_json(&a, T0, &["issue", "create", "Shared"])["id"].as_str().unwrap().to_string();
    w.commit(&a, "issue");
    w.git(w.dir.path(), &["clone", "-q", a.to_str().unwrap(), "b"]);
    let b = w.path("b");
    w.jit(&b, T1, &["issue", "update", &id, "--add-label", "x:1"]);
    w.commit(&b, "b");
    w.jit(&a, T2, &["issue", "update", &id, "--add-label", "y:1"]);
    w.commit(&a, "a");
    // In b, which has no driver: git merges by lines and fails.
    let out = w.git_run(&b, &["pull", "--no-rebase", "--no-edit", "../a", "main"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let path = format!(".jit/issues/{id}.json");
    let out = w.jit_run(&b, T2, &["issue", "list"]);
    // A partial listing (the conflicted file is left out): exit 1, output whole.
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let warned = stderr(&out);
    assert!(
        warned.contains(&format!(
            "warning: {path} is unmerged: git did not merge it with jit's merge driver; run `jit \
         git-setup` if this clone lacks it and make sure `jit` is on PATH, then `git checkout \
         -m -- {path}` and `git add {path}`\n"
        )),
        "{warned}"
    );
    // The file with markers is no issue: `issue show` refuses it with a hint that works in
    // the middle of a merge (`git checkout -- PATH` does not: "path is unmerged").
    let out = w.jit_run(&b, T2, &["issue", "show", &id, "--json"]);
    assert_eq!(out.status.code(), Some(74), "{}", describe(&out));
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["code"], json!("CORRUPT_FILE"));
    let hint = err["error"]["hint"].as_str().unwrap();
    assert!(hint.starts_with("fix or restore the file (e.g. `git checkout HEAD -- "), "{hint}");
    // The way out, step by step.
    w.jit(&b, T2, &["git-setup"]);
    w.git(&b, &["checkout", "-m", "--", &path]);
    assert_no_markers(&b);
    w.git(&b, &["add", &path]);
    w.git(&b, &["commit", "-q", "--no-edit"]);
    assert_eq!(read_issue(&b, &id)["labels"], json!(["x:1", "y:1"]));
    let out = w.jit_run(&b, T2, &["issue", "list"]);
    assert_eq!(stderr(&out), "");
}

#[test]
fn merge_driver_writes_ours_and_refuses_bad_input_untouched() {
    let env = TestEnv::fixed();
    let id = env.create("One");
    let file = env.issues_dir().join(format!("{id}.json"));
    let base = std::fs::read(&file).unwrap();
    env.ok(&["issue", "update", &id, "--add-label", "a:1"]);
    let ours = std::fs::read(&file).unwrap();
    std::fs::write(&file, &base).unwrap();
    env.ok(&["issue", "update", &id, "--add-label", "b:1"]);
    let theirs = std::fs::read(&file).unwrap();
    let d = env.path();
    for (name, bytes) in [("O", &base), ("A", &ours), ("B", &theirs)] {
        std::fs::write(d.join(name), bytes).unwrap();
    }
    let v = env.json(&["merge-driver", "O", "A", "B", "issues/x.json"]);
    assert_eq!(v["id"], json!(id));
    assert_eq!(v["version"], json!(3));
    let merged: Value = serde_json::from_slice(&std::fs::read(d.join("A")).unwrap()).unwrap();
    assert_eq!(merged["labels"], json!(["a:1", "b:1"]));

    // Both added the same id: git passes an empty base.
    std::fs::write(d.join("E"), "").unwrap();
    std::fs::write(d.join("A"), &ours).unwrap();
    assert_success(&env.run(&["merge-driver", "E", "A", "B", "p"]), &["merge-driver"]);
    let merged: Value = serde_json::from_slice(&std::fs::read(d.join("A")).unwrap()).unwrap();
    assert_eq!(merged["labels"], json!(["a:1", "b:1"]));

    // Not an issue, or another issue: exit 1, OURS left as it was.
    let other = env.create("Two");
    std::fs::copy(env.issues_dir().join(format!("{other}.json")), d.join("C")).unwrap();
    std::fs::write(d.join("M"), "<<<<<<< HEAD\n").unwrap();
    std::fs::write(d.join("A"), &ours).unwrap();
    for (args, says) in [
        (["O", "A", "M"], "theirs is not an issue file"),
        (["M", "A", "B"], "base is not an issue file"),
        (["O", "A", "C"], "but theirs is issue"),
    ] {
        let mut all = vec!["merge-driver"];
        all.extend(args);
        all.push(".jit/issues/p.json");
        let out = env.run(&all);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let err = stderr(&out);
        assert!(err.starts_with("error: cannot merge .jit/issues/p.json: "), "{err}");
        assert!(err.contains(says), "{err}");
        assert_eq!(std::fs::read(d.join("A")).unwrap(), ours, "OURS untouched");
        let e = env.json_err(&all, 1);
        assert_eq!(e["code"], json!("MERGE_FAILED"));
        assert_eq!(e["path"], json!(".jit/issues/p.json"));
    }
    // Plumbing: not in the main help list.
    let help = env.ok(&["--help"]);
    assert!(!help.contains("merge-driver") && help.contains("git-setup"), "{help}");
}

/// A linked worktree shares the clone's git config, so the driver set up once serves it; its
/// `.git` is a file naming the git directory, where jit finds the unfinished merge.
#[test]
fn a_linked_worktree_merges_with_the_driver_and_is_warned_about_a_delete() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let a = w.repo("a");
    let id = |v: Value| v["id"].as_str().unwrap().to_string();
    let both = id(w.jit_json(&a, T0, &["issue", "create", "Both"]));
    let doomed = id(w.jit_json(&a, T0, &["issue", "create", "Doomed"]));
    w.commit(&a, "issues");
    w.git(&a, &["worktree", "add", "-q", "-b", "side", "../wt"]);
    let wt = w.path("wt");
    assert!(wt.join(".git").is_file());
    w.jit(&wt, T1, &["issue", "update", &both, "--add-label", "side:1"]);
    w.jit(&wt, T1, &["issue", "update", &doomed, "--title", "Kept"]);
    w.commit(&wt, "side");
    w.jit(&a, T2, &["issue", "update", &both, "--add-label", "main:1"]);
    w.jit(&a, T2, &["issue", "delete", &doomed, "--yes"]);
    w.commit(&a, "main");

    let out = w.git_run(&wt, &["merge", "--no-edit", "main"]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert_no_markers(&wt);
    assert_eq!(read_issue(&wt, &both)["labels"], json!(["main:1", "side:1"]));
    let path = format!(".jit/issues/{doomed}.json");
    let out = w.jit_run(&wt, T2, &["issue", "list"]);
    assert_success(&out, &["issue", "list"]);
    assert_eq!(
        stderr(&out),
        format!(
            "warning: {path} was deleted on one side of the merge and edited on the other (git \
             status: deleted by them); keep the edited issue: `git add {path}`, or accept the \
             delete: `git rm {path}`\n"
        )
    );
    w.git(&wt, &["rm", "-q", &path]);
    w.git(&wt, &["commit", "-q", "--no-edit"]);
    let out = w.jit_run(&wt, T2, &["issue", "list", "--json"]);
    assert_eq!(stderr(&out), "");
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}

/// Without git on PATH: `init` sets nothing up and says nothing; `git-setup` says git is
/// missing (GIT_FAILED) instead of calling the project no git repository.
#[test]
fn without_git_installed_init_is_silent_and_git_setup_says_so() {
    let env = TestEnv::bare();
    let empty = env.path().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let out = env.cmd(&["init"]).env("PATH", &empty).output().unwrap();
    assert_success(&out, &["init"]);
    assert_eq!(stderr(&out), "");
    assert!(env.jit_dir().join(".gitattributes").is_file(), "written without git too");
    let out = env.cmd(&["git-setup", "--json"]).env("PATH", &empty).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["code"], json!("GIT_FAILED"));
    assert_eq!(err["error"]["command"], json!("rev-parse --show-toplevel"));
    assert_eq!(
        err["error"]["message"],
        json!("`git rev-parse --show-toplevel` failed: git is not installed (not found on PATH)")
    );
}

/// A clone where the driver was never registered: every write warns once (a batch of several
/// changes too), `validate` reports it as info (exit 0) with the command, and `git-setup`
/// silences both. A driver registered in the global git config counts as well.
#[test]
fn a_clone_without_the_driver_warns_once_per_write_until_git_setup() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let a = w.repo("a");
    let id = w.jit_json(&a, T0, &["issue", "create", "Shared"])["id"].as_str().unwrap().to_string();
    w.commit(&a, "issue");
    w.git(w.dir.path(), &["clone", "-q", a.to_str().unwrap(), "b"]);
    let b = w.path("b");
    let warning = "warning: this clone has not registered jit's merge driver, so git would merge \
                   issue files line by line (conflict markers, lost fields): run `jit git-setup` \
                   (git config is not cloned)\n";

    let out = w.jit_run(&b, T1, &["issue", "update", &id, "--add-label", "x:1"]);
    assert_success(&out, &["issue", "update"]);
    assert_eq!(stderr(&out), warning);
    let batch = w.path("batch.json");
    std::fs::write(
        &batch,
        r#"[{"op":"create","key":"n","title":"New"},{"op":"dep_add","id":"@n","depends_on":["SHARED"]}]"#
            .replace("SHARED", &id),
    )
    .unwrap();
    let out = w.jit_run(&b, T1, &["batch", batch.to_str().unwrap()]);
    assert_success(&out, &["batch"]);
    assert_eq!(stderr(&out), warning, "one warning for the whole batch");
    // Reads and refused writes say nothing.
    let out = w.jit_run(&b, T1, &["issue", "list"]);
    assert_eq!(stderr(&out), "");
    let out = w.jit_run(&b, T1, &["issue", "update", &id, "--if-version", "1", "--title", "T"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(!stderr(&out).contains("merge driver"), "{}", stderr(&out));

    let out = w.jit_run(&b, T1, &["validate", "--json"]);
    assert_eq!(out.status.code(), Some(0), "info only: {}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == json!("GIT_DRIVER_MISSING"))
        .collect();
    assert_eq!(found.len(), 1, "{report}");
    assert_eq!(found[0]["severity"], json!("info"));
    assert_eq!(found[0]["path"], json!(".jit/.gitattributes"));
    assert_eq!(found[0]["git_commands"], json!(["jit git-setup"]));

    w.jit(&b, T1, &["git-setup"]);
    let out = w.jit_run(&b, T2, &["issue", "update", &id, "--add-label", "x:2"]);
    assert_success(&out, &["issue", "update"]);
    assert_eq!(stderr(&out), "");
    let report = w.jit_json(&b, T2, &["validate"]);
    assert!(!report.to_string().contains("GIT_DRIVER_MISSING"), "{report}");

    // Registered only in the global config (which git reads and jit asks git about).
    w.git(w.dir.path(), &["clone", "-q", a.to_str().unwrap(), "c"]);
    let c = w.path("c");
    w.git(&c, &["config", "--global", "merge.jit.driver", "jit merge-driver %O %A %B %P"]);
    let out = w.jit_run(&c, T2, &["issue", "update", &id, "--add-label", "x:3"]);
    assert_success(&out, &["issue", "update"]);
    assert_eq!(stderr(&out), "");
}

/// Set a file's mtime back to `to` (nanoseconds kept), as `touch -r` or an unpacking tool would.
fn set_mtime(path: &Path, to: std::time::SystemTime) {
    let d = to.duration_since(std::time::UNIX_EPOCH).unwrap();
    let stamp = format!("@{}.{:09}", d.as_secs(), d.subsec_nanos());
    let out = Command::new("touch").args(["-m", "-d", &stamp]).arg(path).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
}

/// The index never answers from a record of the file's old content after git rewrote it:
/// `git checkout`, `git stash pop`, `git rebase` and `git pull`, each replacing an issue file
/// by one of the same size whose mtime is then set back to the old one (so only the ctime,
/// which nobody can set back, tells them apart). Before each, a listing records the old file
/// in the index and is old enough to be trusted.
#[test]
fn the_index_notices_checkout_stash_pop_rebase_and_pull_with_same_size_edits() {
    if !have_tool("git", "git") || !have_tool("touch", "coreutils") {
        return;
    }
    let w = World::new();
    let a = w.repo("a");
    let id = |v: Value| v["id"].as_str().unwrap().to_string();
    let x = id(w.jit_json(&a, T0, &["issue", "create", "Title AAAA"]));
    let y = id(w.jit_json(&a, T0, &["issue", "create", "Other"]));
    w.commit(&a, "issues");
    let path = issue_file(&a, &x);
    let title = |dir: &Path| -> String {
        // The listing (index) and `show` (the file) must agree, and the caller checks the value.
        let listed = w.jit_json(dir, T2, &["issue", "list"]);
        let listed = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == json!(x))
            .map(|i| i["title"].as_str().unwrap().to_string())
            .unwrap();
        let queried = w.jit_json(dir, T2, &["query", &format!("id:{x}"), "--fields", "title"]);
        assert_eq!(queried[0]["title"], json!(listed), "query and list agree");
        listed
    };
    // Record the current file in the index, trusted (older than the racy window), then let git
    // rewrite it, restoring the mtime it had.
    let through_git = |dir: &Path, args: &[&[&str]]| {
        std::thread::sleep(std::time::Duration::from_millis(250));
        let file = issue_file(dir, &x);
        title(dir);
        let before = std::fs::metadata(&file).unwrap();
        for a in args {
            w.git(dir, a);
        }
        let after = std::fs::metadata(&file).unwrap();
        assert_eq!(before.len(), after.len(), "a same-size edit");
        set_mtime(&file, before.modified().unwrap());
    };

    // checkout: a branch where the title differs by the same number of bytes.
    w.git(&a, &["checkout", "-q", "-b", "other"]);
    w.jit(&a, T1, &["issue", "update", &x, "--title", "Title BBBB"]);
    w.commit(&a, "B");
    through_git(&a, &[&["checkout", "-q", "main"]]);
    assert_eq!(title(&a), "Title AAAA", "checkout main");
    through_git(&a, &[&["checkout", "-q", "other"]]);
    assert_eq!(title(&a), "Title BBBB", "checkout other");

    // stash pop: an uncommitted same-size edit stashed, then brought back.
    w.jit(&a, T1, &["issue", "update", &x, "--title", "Title CCCC"]);
    through_git(&a, &[&["stash", "-q"]]);
    assert_eq!(title(&a), "Title BBBB", "stashed");
    through_git(&a, &[&["stash", "pop", "-q"]]);
    assert_eq!(title(&a), "Title CCCC", "stash pop");
    w.git(&a, &["checkout", "-q", "--", "."]);

    // rebase: main moves X on; a branch from before that edits another issue is rebased on it.
    w.git(&a, &["checkout", "-q", "main"]);
    w.git(&a, &["checkout", "-q", "-b", "topic"]);
    w.jit(&a, T1, &["issue", "update", &y, "--title", "Other 2"]);
    w.commit(&a, "topic");
    w.git(&a, &["checkout", "-q", "main"]);
    w.jit(&a, T1, &["issue", "update", &x, "--title", "Title DDDD"]);
    w.commit(&a, "D");
    w.git(&a, &["checkout", "-q", "topic"]);
    through_git(&a, &[&["rebase", "-q", "main"]]);
    assert_eq!(title(&a), "Title DDDD", "rebase onto main");

    // pull: a clone changes X, the first repository pulls it (a fast-forward).
    w.git(&a, &["checkout", "-q", "main"]);
    w.git(w.dir.path(), &["clone", "-q", a.to_str().unwrap(), "b"]);
    let b = w.path("b");
    w.jit(&b, T2, &["git-setup"]);
    w.jit(&b, T2, &["issue", "update", &x, "--title", "Title EEEE"]);
    w.commit(&b, "E");
    through_git(&a, &[&["pull", "-q", "--no-rebase", "--no-edit", "../b", "main"]]);
    assert_eq!(title(&a), "Title EEEE", "pull");
    assert!(path.exists());
}

/// What a merge leaves that no per-file merge settles, beyond cycles: an issue claimed by an
/// agent in each clone (the merge keeps the later claim; validate names both agents until the
/// claim is settled), and work in progress whose merged dependencies are not done.
#[test]
fn validate_names_a_claim_won_by_a_merge_and_work_its_merged_dependencies_forbid() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let a = w.repo("a");
    let id = |v: Value| v["id"].as_str().unwrap().to_string();
    let shared = id(w.jit_json(&a, T0, &["issue", "create", "Shared", "--state", "ready"]));
    let x = id(w.jit_json(&a, T0, &["issue", "create", "X", "--state", "ready"]));
    let y = id(w.jit_json(&a, T0, &["issue", "create", "Y"]));
    w.commit(&a, "issues");
    w.git(w.dir.path(), &["clone", "-q", a.to_str().unwrap(), "b"]);
    let b = w.path("b");
    w.jit(&b, T0, &["git-setup"]);

    // b, earlier: alice claims Shared; Y becomes a dependency of X.
    w.jit(&b, T1, &["claim", &shared, "--agent", "alice"]);
    w.jit(&b, T1, &["dep", "add", &x, &y]);
    w.commit(&b, "b");
    // a, later: bob claims Shared too (a's local state knows nothing of b's); X starts.
    w.jit(&a, T2, &["claim", &shared, "--agent", "bob"]);
    w.jit(&a, T2, &["issue", "update", &x, "--state", "in_progress"]);
    w.commit(&a, "a");
    w.git(&a, &["pull", "-q", "--no-rebase", "--no-edit", "../b", "main"]);
    assert_no_markers(&a);
    assert_eq!(read_issue(&a, &shared)["claim"]["agent"], json!("bob"), "the later claim");

    let out = w.jit_run(&a, T2, &["validate", "--json"]);
    assert_eq!(out.status.code(), Some(6), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let of = |code: &str| -> Vec<Value> {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == json!(code))
            .cloned()
            .collect()
    };
    let claim = of("CLAIM_MERGED");
    assert_eq!(claim.len(), 1, "{report}");
    assert_eq!(claim[0]["issue"], json!(shared));
    assert_eq!(claim[0]["severity"], json!("warning"));
    let msg = claim[0]["message"].as_str().unwrap();
    assert!(msg.contains("kept bob's claim") && msg.contains("dropped alice's"), "{msg}");
    let blocked = of("STATE_BLOCKED");
    assert_eq!(blocked.len(), 1, "{report}");
    assert_eq!(blocked[0]["issue"], json!(x));
    assert!(blocked[0]["message"].as_str().unwrap().contains(&y), "{report}");

    // Settled: bob releases Shared, X goes back to ready; validate is clean of both.
    w.jit(&a, T2, &["release", &shared, "--agent", "bob"]);
    w.jit(&a, T2, &["issue", "update", &x, "--state", "ready"]);
    let report = w.jit_json(&a, T2, &["validate"]);
    let text = report.to_string();
    assert!(!text.contains("CLAIM_MERGED") && !text.contains("STATE_BLOCKED"), "{report}");
}

/// Two worktrees of one clone: an issue made in one reaches the other by commit and merge;
/// claims are shared through the git common dir, so `jit status` in the other worktree shows
/// the claim of an issue it does not have yet (no state, no title), and that worktree cannot
/// claim it once the merge brought it.
#[test]
fn worktrees_share_claims_and_status_shows_claims_of_issues_not_merged_yet() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let a = w.repo("a");
    w.jit(&a, T0, &["issue", "create", "First"]);
    w.commit(&a, "first");
    let wt = w.path("wt");
    w.git(&a, &["worktree", "add", "-q", "-b", "side", wt.to_str().unwrap()]);
    let n = w.jit_json(&a, T0, &["issue", "create", "New", "--state", "ready"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    w.commit(&a, "new");
    w.jit(&a, T1, &["claim", &n, "--agent", "alice"]);

    let status = w.jit_json(&wt, T1, &["status"]);
    let lease = status["leases"].as_array().unwrap().iter().find(|l| l["id"] == json!(n));
    let lease = lease.unwrap_or_else(|| panic!("the other worktree's claim: {status}"));
    assert_eq!(
        (&lease["agent"], &lease["state"], &lease["title"]),
        (&json!("alice"), &Value::Null, &json!(""))
    );
    let out = w.jit_run(&wt, T1, &["claim", &n, "--agent", "bob"]);
    assert_eq!(out.status.code(), Some(3), "not here yet: {}", describe(&out));

    // The claim committed in a reaches the worktree with a merge.
    w.commit(&a, "claimed");
    w.git(&wt, &["merge", "-q", "--no-edit", "main"]);
    let status = w.jit_json(&wt, T1, &["status"]);
    let lease = status["leases"].as_array().unwrap().iter().find(|l| l["id"] == json!(n)).unwrap();
    assert_eq!((&lease["state"], &lease["title"]), (&json!("in_progress"), &json!("New")));
    let out = w.jit_run(&wt, T1, &["claim", &n, "--agent", "bob", "--json"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["code"], json!("ALREADY_CLAIMED"));
}

/// A tracker in a scratch folder of a git work tree (a benchmark's under `target/`), with the
/// folder in `GIT_CEILING_DIRECTORIES`, is outside git for jit as for git: `init` registers no
/// driver in the enclosing clone, writes do not warn about one, and local state (a claim's
/// lease) stays in `.jit/local/` instead of the enclosing clone's git dir.
#[test]
fn git_ceiling_directories_keep_a_scratch_tracker_out_of_the_enclosing_clone() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let outer = w.path("outer");
    std::fs::create_dir(&outer).unwrap();
    w.git(&outer, &["init", "-q", "-b", "main"]);
    let scratch = outer.join("target/scratch");
    let repo = scratch.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let ceiling = std::fs::canonicalize(&scratch).unwrap();
    let run = |args: &[&str]| {
        let s = w.seed.get();
        w.seed.set(s + 1);
        let mut c = Command::new(jit_bin());
        c.args(args).current_dir(&repo).stdin(Stdio::null());
        w.env(&mut c).env("JIT_NOW", T0).env("JIT_SEED", s.to_string());
        c.env("GIT_CEILING_DIRECTORIES", &ceiling);
        c.output().unwrap()
    };
    let out = run(&["init"]);
    assert_success(&out, &["init"]);
    assert!(!stderr(&out).contains("git config"), "{}", describe(&out));
    let config = w.git(&outer, &["config", "--local", "--list"]);
    assert!(!config.contains("merge.jit"), "the enclosing clone's config: {config}");
    let out = run(&["issue", "create", "Scratch", "--state", "ready", "--json"]);
    assert_success(&out, &["issue", "create"]);
    assert_eq!(stderr(&out), "", "no driver warning outside git");
    let out = run(&["claim", "--agent", "bench", "--json"]);
    assert_success(&out, &["claim"]);
    assert!(repo.join(".jit/local").is_dir(), "local state beside the tracker");
    assert!(!outer.join(".git/jit").exists(), "nothing in the enclosing clone's git dir");
    // Without the ceiling the same tracker is in the clone, and the write says the driver is
    // missing there.
    let mut c = Command::new(jit_bin());
    c.args(["issue", "create", "In the clone"]).current_dir(&repo).stdin(Stdio::null());
    w.env(&mut c).env("JIT_NOW", T0).env("JIT_SEED", "99");
    let out = c.output().unwrap();
    assert_success(&out, &["issue", "create"]);
    assert!(stderr(&out).contains("jit git-setup"), "{}", describe(&out));
}

mod merge_fix;
mod remote_claims;
