//! The journal's findings of the crash campaign, through the binary: a failed multi-file
//! change reports what really happened; a damaged record is reported by every command until
//! settled; an old record never rolls a later change back; a record that cannot be applied
//! stops writers with the fix named, and not readers; new directories are made durable.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::*;
use crate::disk::parse_json;

/// The files of `issues/` (temp files aside), by name.
fn files(env: &TestEnv) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(env.issues_dir())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().starts_with(".tmp."))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

fn journal(env: &TestEnv) -> Vec<String> {
    std::fs::read_dir(env.jit_dir().join("journal"))
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

fn list(env: &TestEnv) -> Value {
    let out = env.cmd(&["issue", "list", "--json"]).output().unwrap();
    assert!(out.status.success(), "list: {}", describe(&out));
    parse_json(&out)
}

/// Five open issues, a bulk-update to try on them, and what it makes of them.
struct Bulk {
    template: TestEnv,
    old: BTreeMap<String, Vec<u8>>,
    new: BTreeMap<String, Vec<u8>>,
    new_list: Value,
}

const BULK: [&str; 7] =
    ["issue", "bulk-update", "--filter", "is:open", "--add-label", "t:x", "--yes"];

fn bulk() -> Bulk {
    let template = TestEnv::fixed();
    for t in ["one", "two", "three", "four", "five"] {
        template.create(t);
    }
    let old = files(&template);
    let clean = template.copy();
    clean.ok(&BULK);
    Bulk { old, new: files(&clean), new_list: list(&clean), template }
}

/// Whatever a fault does to a bulk-update, what the command reports is what happened: exit 0
/// means made; `CHANGE_PENDING` means readers see it made and the next write finishes it;
/// any other error means nothing changed (no record left, and the next write changes
/// nothing). Reads never fail. (Before, a disk full after the record was durable said
/// "nothing was changed" and the next command made the change.)
#[test]
fn a_failed_multi_file_change_reports_what_happened() {
    let b = bulk();
    let mut faults: Vec<String> = (0..8).map(|k| format!("enospc:{k}")).collect();
    for step in ["renamed", "journal_record", "journal_apply", "before_dir_sync", "after_dir_sync"]
    {
        faults.extend((1..=6).map(|n| format!("eio:{step}:{n}")));
    }
    // A failure while applying, and another while putting the files back.
    faults.extend((1..=8).map(|n| format!("eio:journal_apply:2,eio:before_dir_sync:{n}")));
    let (mut nothing, mut pending) = (0, 0);
    for fault in &faults {
        let env = b.template.copy();
        let out = env.cmd(&BULK).arg("--json").env("JIT_TEST_FAULT", fault).output().unwrap();
        let code = if out.status.success() {
            "OK".to_string()
        } else {
            assert_eq!(out.status.code(), Some(74), "{fault}: {}", describe(&out));
            parse_json(&out)["error"]["code"].as_str().unwrap().to_string()
        };
        let seen = list(&env);
        match code.as_str() {
            "OK" => assert_eq!(files(&env), b.new, "{fault}: acknowledged"),
            "CHANGE_PENDING" => {
                pending += 1;
                assert_eq!(seen, b.new_list, "{fault}: readers see the pending change whole");
                assert_eq!(journal(&env).len(), 1, "{fault}: the record stays");
            }
            _ => {
                nothing += 1;
                assert_eq!(files(&env), b.old, "{fault}: {code} said nothing was changed");
                assert!(journal(&env).is_empty(), "{fault}: {code} left {:?}", journal(&env));
                let hint = parse_json(&out)["error"]["hint"].as_str().unwrap_or("").to_string();
                assert!(!hint.contains("next jit"), "{fault}: {hint}");
            }
        }
        env.ok(&["issue", "create", "probe", "--json"]);
        let mut after = files(&env);
        after.retain(|_, v| !String::from_utf8_lossy(v).contains("\"probe\""));
        let want = if code == "OK" || code == "CHANGE_PENDING" { &b.new } else { &b.old };
        assert_eq!(&after, want, "{fault} ({code}): the next write");
    }
    assert!(nothing > 10 && pending > 0, "faults tried: {nothing} nothing, {pending} pending");
}

/// Put a damaged record where a crashed commit's would be.
fn plant(env: &TestEnv, name: &str, bytes: &[u8]) {
    let dir = env.jit_dir().join("journal");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// A damaged record (empty, cut short, zero-filled, bad checksum) is set aside, and every
/// command says so, reads included, and `validate` reports it, until it is settled. (Before,
/// it was quarantined silently, with exit 0 and no warning.)
#[test]
fn a_damaged_record_is_reported_by_every_command_until_settled() {
    let b = bulk();
    // A real record of this bulk-update, left pending by a crash right after it was written.
    let env = b.template.copy();
    let out = env.cmd(&BULK).env("JIT_TEST_FAULT", "crash:journal_record").output().unwrap();
    assert!(!out.status.success());
    let name = journal(&env).pop().unwrap();
    let good = std::fs::read(env.jit_dir().join("journal").join(&name)).unwrap();
    let mut bad_sum: Value = serde_json::from_slice(&good).unwrap();
    bad_sum["checksum"] = json!(bad_sum["checksum"].as_u64().unwrap() ^ 1);
    let damaged: [(&str, Vec<u8>); 4] = [
        ("empty", vec![]),
        ("cut short", good[..good.len() / 2].to_vec()),
        ("zero-filled", vec![0; good.len()]),
        ("bad checksum", serde_json::to_vec(&bad_sum).unwrap()),
    ];
    for (kind, bytes) in damaged {
        let env = b.template.copy();
        plant(&env, "1000.json", &bytes);
        let q = "quarantine/journal-1000.json";
        // Reads say so before any writer has moved it (validate too).
        let v = env.cmd(&["validate", "--json"]).output().unwrap();
        assert_eq!(v.status.code(), Some(6), "{kind}");
        assert!(parse_json(&v)["findings"].to_string().contains("JOURNAL_DAMAGED"), "{kind}");
        let out = env.cmd(&["issue", "create", "after", "--json"]).output().unwrap();
        assert!(out.status.success(), "{kind}: {}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.contains(q) && err.contains("half made"), "{kind}: {err}");
        assert_eq!(files(&env).len(), b.old.len() + 1, "{kind}: not applied");
        for args in
            [&["issue", "list"][..], &["query", "is:open", "--count"], &["issue", "create", "x"]]
        {
            let out = env.cmd(args).output().unwrap();
            assert!(out.status.success(), "{kind} {args:?}: {}", describe(&out));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(q), "{kind} {args:?} says nothing: {err}");
        }
        let v = env.cmd(&["validate", "--json"]).output().unwrap();
        assert_eq!(v.status.code(), Some(6), "{kind}");
        let found = parse_json(&v)["findings"].clone();
        let f = found.as_array().unwrap().iter().find(|f| f["code"] == "JOURNAL_QUARANTINED");
        assert_eq!(f.unwrap()["path"], json!(format!(".jit/{q}")), "{kind}: {found}");
        // Settled (what `validate --fix` does: a note beside it): the warnings stop.
        std::fs::write(env.jit_dir().join(format!("{q}.settled")), "checked by hand").unwrap();
        let out = env.cmd(&["issue", "list"]).output().unwrap();
        assert!(out.stderr.is_empty(), "{kind}: {}", describe(&out));
        assert!(env.jit_dir().join(q).exists(), "{kind}: kept");
    }
}

/// A record whose removal was lost (a power loss with `relaxed` durability) comes back after
/// a later acknowledged update of one of its issues: recovery leaves that update alone.
/// (Before, the record was applied again and the issue went from version 4 back to 3.)
#[test]
fn an_old_record_never_rolls_a_later_update_back() {
    let env = TestEnv::fixed();
    let ids: Vec<String> = ["one", "two", "three"].iter().map(|t| env.create(t)).collect();
    env.ok(&["issue", "update", &ids[0], "--title", "one, v2"]);
    let relaxed = |args: &[&str]| {
        let out = env.cmd(args).env("JIT_DURABILITY", "relaxed").output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
    };
    relaxed(&BULK);
    let done = std::fs::read_dir(env.jit_dir().join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("journal."))
        .expect("the finished record is kept in index/");
    relaxed(&["issue", "update", &ids[0], "--title", "one, v4"]);
    let v4 = std::fs::read(env.issues_dir().join(format!("{}.json", ids[0]))).unwrap();
    // The power loss: the record is back in journal/.
    plant(&env, "1000.json", &std::fs::read(&done).unwrap());
    let before = files(&env);
    let shown = env.json(&["issue", "show", &ids[0]]);
    assert_eq!((shown["version"].clone(), shown["title"].clone()), (json!(4), json!("one, v4")));
    env.ok(&["issue", "create", "next"]);
    let now = std::fs::read(env.issues_dir().join(format!("{}.json", ids[0]))).unwrap();
    assert_eq!(String::from_utf8_lossy(&now), String::from_utf8_lossy(&v4));
    for (name, bytes) in &before {
        assert_eq!(files(&env).get(name), Some(bytes), "{name} changed");
    }
    assert!(journal(&env).is_empty());
}

/// A pending record whose target became a directory: writers stop with `JOURNAL_BLOCKED`
/// naming the path and what to do, readers answer; once the directory is moved aside, the
/// next write finishes the change. (Before, every command failed with `IO_ERROR`.)
#[test]
fn a_record_that_cannot_be_applied_stops_writers_not_readers() {
    let b = bulk();
    let env = b.template.copy();
    let out = env.cmd(&BULK).env("JIT_TEST_FAULT", "crash:journal_apply:1").output().unwrap();
    assert!(!out.status.success());
    // The last file of the change is not written yet: put a directory there.
    let (last, _) = b.new.iter().next_back().unwrap();
    let target = env.issues_dir().join(last);
    std::fs::remove_file(&target).unwrap();
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("x"), "mine").unwrap();
    for args in [&["issue", "list", "--json"][..], &["query", "is:open", "--count", "--json"]] {
        let out = env.cmd(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
    }
    let id = last.trim_end_matches(".json");
    let first = b.new.keys().next().unwrap().trim_end_matches(".json");
    let out = env.cmd(&["issue", "show", first, "--json"]).output().unwrap();
    assert!(out.status.success(), "show: {}", describe(&out));
    assert!(parse_json(&out)["labels"].to_string().contains("t:x"), "the change, seen whole");
    for args in [
        &["issue", "create", "blocked", "--json"][..],
        &["issue", "update", first, "-p", "high", "--json"],
    ] {
        let out = env.cmd(args).output().unwrap();
        assert_eq!(out.status.code(), Some(74), "{args:?}: {}", describe(&out));
        let e = parse_json(&out)["error"].clone();
        assert_eq!(e["code"], "JOURNAL_BLOCKED", "{e}");
        let hint = e["hint"].as_str().unwrap();
        assert!(hint.contains(&format!("{id}.json")) && hint.contains("move"), "{hint}");
    }
    let aside = env.path().join("moved-aside");
    std::fs::rename(&target, &aside).unwrap();
    env.ok(&["issue", "create", "after"]);
    let mut now = files(&env);
    now.retain(|_, v| !String::from_utf8_lossy(v).contains("\"after\""));
    assert_eq!(now, b.new, "the change finished");
    assert_eq!(std::fs::read_to_string(aside.join("x")).unwrap(), "mine");
}

/// The directory entries jit makes are fsynced in their parent: `.jit` and `issues/` by
/// `init`, `journal/` by the first multi-file change (seen with strace).
#[test]
fn new_directories_are_made_durable() {
    if !have_tool("strace", "strace") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trace = |args: &[&str]| -> String {
        let log = dir.path().join("trace.log");
        let mut c = Command::new("strace");
        c.args(["-f", "-qq", "-y", "-o"]).arg(&log);
        c.args(["-e", "trace=mkdir,mkdirat,fsync,fdatasync"]).arg(jit_bin()).args(args);
        c.current_dir(dir.path()).env("JIT_NOW", FIXED_NOW);
        crate::disk::without_jit_env(&mut c);
        let out = c.output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
        std::fs::read_to_string(&log).unwrap()
    };
    let root = std::fs::canonicalize(dir.path()).unwrap().to_string_lossy().into_owned();
    let synced_after = |log: &str, made: &str, parent: &str| {
        let lines: Vec<&str> = log.lines().collect();
        let at = lines.iter().position(|l| l.contains("mkdir") && l.contains(&format!("{made}\"")));
        let at = at.unwrap_or_else(|| panic!("no mkdir of {made}: {log}"));
        assert!(
            lines[at..].iter().any(|l| l.contains("fsync(") && l.contains(&format!("<{parent}>"))),
            "{made} made but {parent} never fsynced after it: {log}"
        );
    };
    let log = trace(&["init"]);
    synced_after(&log, ".jit", &root);
    synced_after(&log, "issues", &format!("{root}/.jit"));
    let env_run = |args: &[&str]| {
        let mut c = Command::new(jit_bin());
        c.args(args).current_dir(dir.path());
        crate::disk::without_jit_env(&mut c);
        let out = c.output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
        parse_json(&out)
    };
    let id = env_run(&["issue", "create", "a", "--json"])["id"].as_str().unwrap().to_string();
    env_run(&["issue", "create", "b", "--depends-on", &id, "--json"]);
    assert!(!dir.path().join(".jit/journal").exists());
    let log = trace(&["issue", "delete", &id, "--yes"]);
    synced_after(&log, "journal", &format!("{root}/.jit"));
}
