//! The fair lock: writers waiting for the repository lock are served in arrival order (the
//! ticket queue on `.jit/lock`, in front of the directory lock), a waiter killed in the queue
//! holds nobody up, a stopped one only for a moment, a deleted queue file loses no update,
//! and the timeout still fires.
//!
//! Every test holds the lock from outside (`flock .jit cat`), starts its writers one after
//! another, and starts the next only once the one before holds its place in the queue, seen
//! in `/proc/locks` (one held byte-range lock per waiter on `.jit/lock`): the order of
//! arrival is then a fact, not a guess from sleeps.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::*;
use crate::errors::LockHolder;

/// Places held in the queue of the lock file `lock` (as opened now): the held (not awaited)
/// OFD locks on its inode.
fn queued(lock: &Path) -> usize {
    let Ok(meta) = std::fs::metadata(lock) else { return 0 };
    let inode = format!(":{} ", meta.ino());
    let locks = std::fs::read_to_string("/proc/locks").expect("read /proc/locks");
    locks
        .lines()
        .filter(|l| l.contains("OFDLCK") && !l.contains("->") && l.contains(&inode))
        .count()
}

/// Wait (polling) until `done` holds; the bound only turns a hang into a failure.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..12_000 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("never happened: {what}");
}

/// Start `jit issue update ID --add-label LABEL --json` (with `extra` global flags first)
/// and wait until it holds place number `place` in the queue of `.jit/lock`.
fn queue_update(env: &TestEnv, id: &str, label: &str, extra: &[&str], place: usize) -> Child {
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["issue", "update", id, "--add-label", label, "--json"]);
    let mut child =
        env.cmd(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run jit");
    let lock = env.jit_dir().join("lock");
    wait_until(&format!("{label} queued at place {place}"), || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{label} ended before it queued: {status}");
        }
        queued(&lock) >= place
    });
    child
}

/// The version an update acknowledged (exit 0, JSON on stdout).
fn acked_version(out: &Output) -> u64 {
    assert_eq!(out.status.code(), Some(0), "{}", describe(out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    v["version"].as_u64().expect("a version")
}

fn labels(env: &TestEnv, id: &str) -> Vec<String> {
    let shown = env.json(&["issue", "show", id]);
    shown["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().into()).collect()
}

const PATIENT: &[&str] = &["--timeout-ms", "600000"];

#[test]
fn waiters_are_served_in_the_order_they_arrived() {
    if !have_tool("flock", "util-linux") {
        return;
    }
    const WRITERS: usize = 8;
    let env = TestEnv::new();
    let id = env.create("Contended");
    let holder = LockHolder::hold(&env.jit_dir());
    let writers: Vec<Child> =
        (0..WRITERS).map(|k| queue_update(&env, &id, &format!("q:w{k}"), PATIENT, k + 1)).collect();
    drop(holder);
    let versions: Vec<u64> =
        writers.into_iter().map(|w| acked_version(&w.wait_with_output().unwrap())).collect();
    let in_order: Vec<u64> = (2..2 + WRITERS as u64).collect();
    assert_eq!(versions, in_order, "the k-th to arrive made version k + 2");
    let mut want: Vec<String> = (0..WRITERS).map(|k| format!("q:w{k}")).collect();
    want.sort();
    assert_eq!(labels(&env, &id), want);
    assert_eq!(queued(&env.jit_dir().join("lock")), 0, "the queue is empty again");
}

#[test]
fn waiters_killed_in_the_queue_hold_nobody_up() {
    if !have_tool("flock", "util-linux") {
        return;
    }
    let env = TestEnv::new();
    let id = env.create("Contended");
    let lock = env.jit_dir().join("lock");
    let holder = LockHolder::hold(&env.jit_dir());
    // The head of the queue, one in the middle and the last one are killed.
    let mut writers: Vec<Child> =
        (0..6).map(|k| queue_update(&env, &id, &format!("q:w{k}"), PATIENT, k + 1)).collect();
    for k in [0, 2, 5] {
        writers[k].kill().unwrap();
        writers[k].wait().unwrap();
    }
    wait_until("the killed waiters' places are released", || queued(&lock) == 3);
    let late = queue_update(&env, &id, "q:late", PATIENT, 4);
    drop(holder);
    let mut versions = Vec::new();
    for (k, w) in writers.into_iter().enumerate() {
        let out = w.wait_with_output().unwrap();
        if ![0, 2, 5].contains(&k) {
            versions.push(acked_version(&out));
        }
    }
    versions.push(acked_version(&late.wait_with_output().unwrap()));
    assert_eq!(versions, vec![2, 3, 4, 5], "the survivors, then the late one, in order");
    assert_eq!(labels(&env, &id), ["q:late", "q:w1", "q:w3", "q:w4"]);
}

#[test]
fn a_queue_file_deleted_while_writers_wait_loses_no_update() {
    if !have_tool("flock", "util-linux") {
        return;
    }
    let env = TestEnv::new();
    let id = env.create("Contended");
    let lock = env.jit_dir().join("lock");
    let holder = LockHolder::hold(&env.jit_dir());
    let old: Vec<Child> =
        (0..3).map(|k| queue_update(&env, &id, &format!("q:old{k}"), PATIENT, k + 1)).collect();
    std::fs::remove_file(&lock).unwrap();
    // The next ones make the file again and queue on it: a second queue, beside the first.
    let new: Vec<Child> =
        (0..3).map(|k| queue_update(&env, &id, &format!("q:new{k}"), PATIENT, k + 1)).collect();
    drop(holder);
    let versions = |ws: Vec<Child>| -> Vec<u64> {
        ws.into_iter().map(|w| acked_version(&w.wait_with_output().unwrap())).collect()
    };
    let (old, new) = (versions(old), versions(new));
    let sorted = |v: &[u64]| {
        let mut s = v.to_vec();
        s.sort_unstable();
        s
    };
    // Each queue keeps its own order; the two heads competed for the one lock.
    assert_eq!(old, sorted(&old), "the first queue in order");
    assert_eq!(new, sorted(&new), "the second queue in order");
    let mut all = [old, new].concat();
    all.sort_unstable();
    assert_eq!(all, (2..8).collect::<Vec<u64>>(), "every version granted once");
    let mut want: Vec<String> =
        (0..3).flat_map(|k| [format!("q:new{k}"), format!("q:old{k}")]).collect();
    want.sort();
    assert_eq!(labels(&env, &id), want, "every acknowledged update is there");
}

#[test]
fn a_queued_waiter_still_times_out_says_whom_it_waits_for_and_then_holds_nobody_up() {
    if !have_tool("flock", "util-linux") {
        return;
    }
    let env = TestEnv::new();
    let id = env.create("Contended");
    let lock = env.jit_dir().join("lock");
    let holder = LockHolder::hold(&env.jit_dir());
    let first = queue_update(&env, &id, "q:first", PATIENT, 1);
    // Behind the first: it waits out its own timeout in the queue.
    let impatient = queue_update(&env, &id, "q:impatient", &["--timeout-ms", "300"], 2);
    let out = impatient.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(75), "{}", describe(&out));
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["error"]["code"], "LOCK_TIMEOUT", "{e}");
    assert!(e["error"]["waited_ms"].as_u64().unwrap() >= 300, "{e}");
    assert!(e["error"]["holder"].as_str().unwrap().starts_with("another program"), "{e}");
    // Past a second of waiting, in human mode, it says whom it waits for, then gives up.
    let out = env
        .cmd(&["--timeout-ms", "1200", "issue", "update", &id, "--add-label", "q:human"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(75), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines[0].starts_with("waiting for the repository lock, held by another program"),
        "{stderr}"
    );
    assert!(lines[1].starts_with("error: timed out after "), "{stderr}");
    wait_until("the ones that gave up left the queue", || queued(&lock) == 1);
    let last = queue_update(&env, &id, "q:last", PATIENT, 2);
    // A listing never queues: it answers at once, lock held and writers queued.
    let listed = env.json(&["--timeout-ms", "1", "issue", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    drop(holder);
    assert_eq!(acked_version(&first.wait_with_output().unwrap()), 2);
    assert_eq!(acked_version(&last.wait_with_output().unwrap()), 3);
    assert_eq!(labels(&env, &id), ["q:first", "q:last"], "nothing of the ones that gave up");
}

#[test]
fn a_check_joins_the_queue_and_writers_behind_it_wait_their_turn() {
    if !have_tool("flock", "util-linux") {
        return;
    }
    let env = TestEnv::new();
    let id = env.create("Contended");
    let holder = LockHolder::hold(&env.jit_dir());
    let first = queue_update(&env, &id, "q:first", PATIENT, 1);
    let mut check = env
        .cmd(&["--timeout-ms", "600000", "validate", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock = env.jit_dir().join("lock");
    wait_until("validate queued", || {
        assert!(check.try_wait().unwrap().is_none(), "validate ended before it queued");
        queued(&lock) == 2
    });
    let last = queue_update(&env, &id, "q:last", PATIENT, 3);
    drop(holder);
    assert_eq!(acked_version(&first.wait_with_output().unwrap()), 2);
    let out = check.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(acked_version(&last.wait_with_output().unwrap()), 3);
}

#[test]
fn a_waiter_stopped_in_the_queue_holds_the_ones_behind_it_up_only_for_a_moment() {
    if !have_tool("flock", "util-linux") {
        return;
    }
    let env = TestEnv::new();
    let id = env.create("Contended");
    let holder = LockHolder::hold(&env.jit_dir());
    let first = queue_update(&env, &id, "q:first", PATIENT, 1);
    let stopped = queue_update(&env, &id, "q:stopped", PATIENT, 2);
    let signal = |sig: &str, child: &Child| {
        let pid = child.id().to_string();
        assert!(std::process::Command::new("kill").args([sig, &pid]).status().unwrap().success());
    };
    signal("-STOP", &stopped);
    // A bound, so that a queue stuck for good fails the test rather than hang it.
    let bounded = &["--timeout-ms", "60000"][..];
    let behind: Vec<Child> =
        (0..2).map(|k| queue_update(&env, &id, &format!("q:b{k}"), bounded, 3 + k)).collect();
    drop(holder);
    // The ones behind the stopped waiter find the lock free and nobody served: they go on.
    let mut versions: Vec<u64> = std::iter::once(first)
        .chain(behind)
        .map(|w| acked_version(&w.wait_with_output().unwrap()))
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, [2, 3, 4], "the first and the two behind the stopped one");
    signal("-CONT", &stopped);
    assert_eq!(acked_version(&stopped.wait_with_output().unwrap()), 5, "served once continued");
    assert_eq!(labels(&env, &id), ["q:b0", "q:b1", "q:first", "q:stopped"]);
}
