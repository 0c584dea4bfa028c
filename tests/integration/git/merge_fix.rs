//! `jit validate --fix` after real `git merge`s of two clones: what no per-file merge can
//! settle (a cycle of both branches' edges, a dependency on an issue the other branch deleted,
//! one issue claimed in both clones) is settled as docs/validate.md says; work in progress
//! whose merged dependencies are not done is reported (info) and left.

use serde_json::{Value, json};

use super::{T0, T1, T2, World, assert_no_markers, read_issue};
use crate::common::{describe, have_tool};

fn id(v: Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// The (code, issue) of a report's findings or actions, but the infos about the index and
/// the event log, which a merge makes and which heal themselves (docs/validate.md).
fn codes(report: &Value, key: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = report[key]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"))
        .iter()
        .filter(|f| !matches!(f["code"].as_str(), Some("INDEX_STALE" | "EVENTS_DISAGREE")))
        .map(|f| {
            let issue = f["issue"].as_str().unwrap_or_default().to_string();
            (f["code"].as_str().unwrap().to_string(), issue)
        })
        .collect();
    out.sort();
    out
}

/// Branch a: X depends on Y, Z depends on D. Branch b (later): Y depends on X, D deleted.
/// After the merge, validate names the cycle and the dangling dependency; `--fix` removes the
/// cycle's newest edge (Y → X, made later) and Z's dependency on D; validate is then clean and
/// a second `--fix` does nothing.
#[test]
fn fix_after_a_merge_breaks_a_cycle_of_both_branches_and_a_dependency_on_a_deleted_issue() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let a = w.repo("a");
    let x = id(w.jit_json(&a, T0, &["issue", "create", "X", "--state", "ready"]));
    let y = id(w.jit_json(&a, T0, &["issue", "create", "Y", "--state", "ready"]));
    let z = id(w.jit_json(&a, T0, &["issue", "create", "Z", "--state", "ready"]));
    let d = id(w.jit_json(&a, T0, &["issue", "create", "D", "--state", "ready"]));
    w.commit(&a, "issues");
    w.git(w.dir.path(), &["clone", "-q", a.to_str().unwrap(), "b"]);
    let b = w.path("b");
    w.jit(&b, T0, &["git-setup"]);

    w.jit(&a, T1, &["dep", "add", &x, &y]);
    w.jit(&a, T1, &["dep", "add", &z, &d]);
    w.commit(&a, "a");
    w.jit(&b, T2, &["dep", "add", &y, &x]);
    w.jit(&b, T2, &["issue", "delete", &d, "--yes"]);
    w.commit(&b, "b");
    w.git(&a, &["pull", "-q", "--no-rebase", "--no-edit", "../b", "main"]);
    assert_no_markers(&a);
    assert!(!super::issue_file(&a, &d).exists(), "the delete merged");

    let out = w.jit_run(&a, T2, &["validate", "--json"]);
    assert_eq!(out.status.code(), Some(6), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = codes(&report, "findings");
    assert!(found.contains(&("DEP_MISSING".into(), z.clone())), "{report}");
    assert!(found.iter().any(|(c, _)| c == "DEP_CYCLE"), "{report}");

    let out = w.jit_run(&a, T2, &["validate", "--fix", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let fix: Value = serde_json::from_slice(&out.stdout).unwrap();
    let removed: Vec<(String, String, String)> = fix["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            (s("code"), s("issue"), s("target"))
        })
        .collect();
    assert_eq!(
        removed,
        vec![
            ("DEP_MISSING".to_string(), z.clone(), d.clone()),
            ("DEP_CYCLE".to_string(), y.clone(), x.clone()),
        ],
        "{fix}"
    );
    assert_eq!(codes(&fix, "remaining"), vec![], "{fix}");
    assert_eq!(read_issue(&a, &x)["dependencies"], json!([y]), "a's edge kept");
    assert_eq!(read_issue(&a, &y)["dependencies"], json!([]), "the newest edge removed");
    assert_eq!(read_issue(&a, &z)["dependencies"], json!([]));

    let report = w.jit_json(&a, T2, &["validate"]);
    assert_eq!(codes(&report, "findings"), vec![], "{report}");
    let again = w.jit_json(&a, T2, &["validate", "--fix"]);
    assert_eq!(again["actions"], json!([]), "idempotent: {again}");
}

/// One issue claimed in both clones (alice in b, bob later in a) and X started in a while b
/// gave it a dependency not done. After the merge, `--fix` releases the issue claimed twice to
/// ready and raises its claim token above both claims' (alice's, which the merge dropped, is
/// the higher), so neither agent's token passes and
/// the next claim gets a newer one; X stays in progress (STATE_BLOCKED is info, left to a
/// person) and `--fix` exits 0.
#[test]
fn fix_after_a_merge_releases_an_issue_claimed_in_both_clones_and_fences_both_agents() {
    if !have_tool("git", "git") {
        return;
    }
    let w = World::new();
    let a = w.repo("a");
    let shared = id(w.jit_json(&a, T0, &["issue", "create", "Shared", "--state", "ready"]));
    let x = id(w.jit_json(&a, T0, &["issue", "create", "X", "--state", "ready"]));
    let y = id(w.jit_json(&a, T0, &["issue", "create", "Y"]));
    w.commit(&a, "issues");
    w.git(w.dir.path(), &["clone", "-q", a.to_str().unwrap(), "b"]);
    let b = w.path("b");
    w.jit(&b, T0, &["git-setup"]);
    // alice's is b's second claim of it: token 2, above bob's 1, which the merge keeps.
    w.jit(&b, T0, &["claim", &shared, "--agent", "alice"]);
    w.jit(&b, T0, &["release", &shared]);
    let alice = w.jit_json(&b, T1, &["claim", &shared, "--agent", "alice"]);
    assert_eq!(alice["token"], json!(2));
    w.jit(&b, T1, &["dep", "add", &x, &y]);
    w.commit(&b, "b");
    let bob = w.jit_json(&a, T2, &["claim", &shared, "--agent", "bob"]);
    w.jit(&a, T2, &["issue", "update", &x, "--state", "in_progress"]);
    w.commit(&a, "a");
    w.git(&a, &["pull", "-q", "--no-rebase", "--no-edit", "../b", "main"]);
    assert_no_markers(&a);

    let dry = w.jit_run(&a, T2, &["validate", "--fix", "--dry-run", "--json"]);
    assert_eq!(dry.status.code(), Some(6), "a repair of a warning would be made");
    let out = w.jit_run(&a, T2, &["validate", "--fix", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let fix: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(codes(&fix, "actions"), vec![("CLAIM_MERGED".to_string(), shared.clone())], "{fix}");
    assert_eq!(fix["actions"][0]["action"], json!("release_claim"));
    assert_eq!(codes(&fix, "remaining"), vec![("STATE_BLOCKED".to_string(), x.clone())]);

    let issue = read_issue(&a, &shared);
    assert_eq!(bob["token"], json!(1));
    let (ta, tb) = (alice["token"].as_u64().unwrap(), bob["token"].as_u64().unwrap());
    let fence = ta.max(tb) + 1;
    assert_eq!(
        (&issue["state"], &issue["assignee"], &issue["claim"]["token"]),
        (&json!("ready"), &Value::Null, &json!(fence))
    );
    assert_eq!(read_issue(&a, &x)["state"], json!("in_progress"), "STATE_BLOCKED is left");
    for token in [ta, tb] {
        let t = token.to_string();
        let args = ["issue", "update", &shared, "--title", "mine", "--claim-token", &t, "--json"];
        let out = w.jit_run(&a, T2, &args);
        assert_eq!(out.status.code(), Some(4), "token {t} is fenced: {}", describe(&out));
        let err: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(err["error"]["code"], json!("CLAIM_FENCED"));
    }
    // (Later than bob's claim: a claim at the very instant of the merged one would look like it.)
    let t3 = "2026-03-01T12:00:00Z";
    let next = w.jit_json(&a, t3, &["claim", &shared, "--agent", "carol"]);
    assert!(next["token"].as_u64().unwrap() > fence, "{next}");

    let report = w.jit_json(&a, t3, &["validate"]);
    assert_eq!(codes(&report, "findings"), vec![("STATE_BLOCKED".to_string(), x)], "{report}");
}
