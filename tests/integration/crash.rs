//! Real `jit` processes killed with SIGKILL at random moments: every acknowledged write
//! survives, every file stays parseable, and multi-file changes are all-or-nothing once the
//! next writer has recovered the journal.

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;
use crate::disk::*;

/// Kills per test; each test also asserts that some kills really interrupted a process.
const KILLS: u64 = 120;
/// Deletes are slower (a journal commit): fewer of them keep the test short.
const DELETES: u64 = 100;
/// The signal `Child::kill` sends on unix.
const SIGKILL: i32 = 9;

pub(crate) enum Outcome {
    /// Exited 0 before the kill: the write is acknowledged.
    Acked(Value),
    /// Died of the SIGKILL.
    Killed,
}

/// Kills processes at random moments within a window as long as a typical run, so that
/// kills land all through a command whatever the speed of the machine.
pub(crate) struct Killer {
    rng: XorShift,
    pub(crate) window_us: u64,
}

impl Killer {
    /// Run `samples` to completion (they must succeed) and size the window from the median
    /// duration: 1.5 times it, and at least 3 ms. Returns the samples' JSON output too.
    pub(crate) fn calibrate(seed: u64, samples: Vec<Command>) -> (Killer, Vec<Value>) {
        let mut times = Vec::new();
        let mut outputs = Vec::new();
        for mut cmd in samples {
            let start = Instant::now();
            let out = cmd.output().expect("run jit");
            times.push(start.elapsed().as_micros() as u64);
            assert!(out.status.success(), "calibration run: {}", describe(&out));
            outputs.push(parse_json(&out));
        }
        times.sort_unstable();
        let window_us = (times[times.len() / 2] * 3 / 2).max(3000);
        (Killer { rng: XorShift::new(seed), window_us }, outputs)
    }

    /// Spawn `cmd`, SIGKILL it at a random moment, and say how it ended. Any other failure
    /// is a bug.
    pub(crate) fn run(&mut self, mut cmd: Command) -> Outcome {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn jit");
        std::thread::sleep(Duration::from_micros(self.rng.below(self.window_us)));
        let _ = child.kill(); // SIGKILL; fails harmlessly if it already exited
        let out: Output = child.wait_with_output().expect("wait for jit");
        if out.status.success() {
            return Outcome::Acked(parse_json(&out));
        }
        assert_eq!(out.status.signal(), Some(SIGKILL), "not killed: {}", describe(&out));
        Outcome::Killed
    }
}

/// `issue list --json` must succeed without warnings and equal the files on disk.
fn assert_list_is_truth(env: &TestEnv) -> Vec<Value> {
    let truth = Truth::read_all_valid(&env.issues_dir());
    let out = env.run(&["issue", "list", "--json"]);
    assert!(out.status.success() && out.stderr.is_empty(), "list: {}", describe(&out));
    assert_eq!(parse_json(&out), Value::Array(truth.clone()));
    truth
}

fn journal_records(jit_dir: &Path) -> Vec<String> {
    match std::fs::read_dir(jit_dir.join("journal")) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

/// After a write has run: nothing left in the journal, nothing quarantined.
fn assert_journal_recovered(env: &TestEnv) {
    assert_eq!(journal_records(&env.jit_dir()), Vec::<String>::new(), "journal not empty");
    let q = env.jit_dir().join("quarantine");
    assert!(!q.exists() || std::fs::read_dir(&q).unwrap().next().is_none(), "quarantined");
}

#[test]
fn killed_creates_lose_no_acknowledged_issue() {
    let env = TestEnv::new();
    let samples = (0..3).map(|i| env.cmd(&["issue", "create", &format!("s{i}"), "--json"]));
    let (mut killer, sampled) = Killer::calibrate(1, samples.collect());
    let mut acked: BTreeSet<String> =
        sampled.iter().map(|v| v["id"].as_str().unwrap().to_string()).collect();
    let mut killed = Vec::new();
    for k in 0..KILLS {
        let title = format!("t{k}");
        match killer.run(env.cmd(&["issue", "create", &title, "--json"])) {
            Outcome::Acked(v) => {
                assert_eq!(v["title"], title.as_str());
                acked.insert(v["id"].as_str().unwrap().to_string());
            }
            Outcome::Killed => killed.push(title),
        }
    }
    let truth = assert_list_is_truth(&env);
    let ids: BTreeSet<String> =
        truth.iter().map(|v| v["id"].as_str().unwrap().to_string()).collect();
    let missing: Vec<_> = acked.difference(&ids).collect();
    assert!(missing.is_empty(), "acknowledged creates lost: {missing:?}");
    let titles: Vec<&str> = truth.iter().map(|v| v["title"].as_str().unwrap()).collect();
    let distinct: BTreeSet<&str> = titles.iter().copied().collect();
    assert_eq!(distinct.len(), titles.len(), "one process made at most one issue");
    let unacked = killed.iter().filter(|t| distinct.contains(t.as_str())).count();
    let temps = temp_files(&env.issues_dir()).len();
    eprintln!(
        "creates: {KILLS} runs in a {} us window, {} acknowledged, {} killed ({unacked} of them \
         after the issue was in place, {temps} temp files left)",
        killer.window_us,
        acked.len() - 3,
        killed.len()
    );
    assert!(!killed.is_empty(), "no kill landed: the test proved nothing");
    let id = env.create("after the crashes");
    assert_journal_recovered(&env);
    assert_eq!(assert_list_is_truth(&env)[0]["id"], id.as_str());
}

#[test]
fn killed_updates_lose_no_acknowledged_label() {
    let env = TestEnv::new();
    let id = env.create("target");
    let path = env.issues_dir().join(format!("{id}.json"));
    let samples = (0..3)
        .map(|i| env.cmd(&["issue", "update", &id, "--add-label", &format!("n:s{i}"), "--json"]));
    let (mut killer, _) = Killer::calibrate(2, samples.collect());
    let mut acked: BTreeSet<String> = (0..3).map(|i| format!("n:s{i}")).collect();
    let (mut killed, mut landed) = (0, 0);
    for k in 0..KILLS {
        let label = format!("n:k{k}");
        let args = ["issue", "update", &id, "--add-label", &label, "--json"];
        let outcome = killer.run(env.cmd(&args));
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("issue file unparseable after run {k}: {e}"));
        let labels: BTreeSet<String> =
            v["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().into()).collect();
        assert_eq!(v["version"], 1 + labels.len() as u64, "{v}");
        match outcome {
            Outcome::Acked(out) => {
                assert_eq!(out["version"], v["version"]);
                acked.insert(label);
            }
            Outcome::Killed => {
                killed += 1;
                landed += usize::from(labels.contains(&label));
            }
        }
        let missing: Vec<_> = acked.difference(&labels).collect();
        assert!(missing.is_empty(), "acknowledged labels lost: {missing:?}");
    }
    let temps = temp_files(&env.issues_dir()).len();
    eprintln!(
        "updates: {KILLS} runs in a {} us window, {} acknowledged, {killed} killed ({landed} of \
         them after the rename, {temps} temp files left)",
        killer.window_us,
        acked.len() - 3
    );
    assert!(killed > 0, "no kill landed: the test proved nothing");
    let truth = assert_list_is_truth(&env);
    assert_eq!(truth.len(), 1);
    let v = env.json(&["issue", "show", &id]);
    assert_eq!(v, truth[0]);
    assert_eq!(v["version"], 1 + v["labels"].as_array().unwrap().len() as u64);
}

/// Make `b` depend on `a` by editing its file, as an editor or a merge would.
fn add_dependency_by_hand(env: &TestEnv, b: &str, a: &str) {
    let path = env.issues_dir().join(format!("{b}.json"));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["dependencies"] = json!([a]);
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// The state of one (A, B-depends-on-A) pair: `Some(true)` untouched, `Some(false)` fully
/// deleted, `None` torn.
fn pair_state(env: &TestEnv, a: &str, b: &str) -> Option<bool> {
    let a_exists = env.issues_dir().join(format!("{a}.json")).exists();
    let bv: Value =
        serde_json::from_slice(&std::fs::read(env.issues_dir().join(format!("{b}.json"))).unwrap())
            .expect("B parses");
    let refs = bv["dependencies"] == json!([a]);
    match (a_exists, refs) {
        (true, true) if bv["version"] == 1 => Some(true),
        (false, false) if bv["version"] == 2 && bv["dependencies"] == json!([]) => Some(false),
        _ => None,
    }
}

#[test]
fn killed_deletes_are_all_or_nothing_after_recovery() {
    let env = TestEnv::new();
    // Setting up needs no fsync; the deletes under test run with full durability.
    let create = |title: String| {
        let out = env
            .cmd(&["issue", "create", &title, "--json"])
            .env("JIT_DURABILITY", "relaxed")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        parse_json(&out)["id"].as_str().unwrap().to_string()
    };
    let pairs: Vec<(String, String)> = (0..DELETES + 3)
        .map(|k| {
            let a = create(format!("a{k}"));
            let b = create(format!("b{k}"));
            add_dependency_by_hand(&env, &b, &a);
            (a, b)
        })
        .collect();
    let delete = |a: &str| env.cmd(&["issue", "delete", a, "--yes", "--json"]);
    let (mut killer, _) = Killer::calibrate(3, pairs[..3].iter().map(|p| delete(&p.0)).collect());
    let mut acked: Vec<String> = pairs[..3].iter().map(|p| p.0.clone()).collect();
    let (mut killed, mut pending) = (0, 0);
    for (a, b) in &pairs[3..] {
        match killer.run(delete(a)) {
            Outcome::Acked(out) => {
                assert_eq!((&out["deleted"], &out["references_removed"]), (&json!(a), &json!([b])));
                acked.push(a.clone());
            }
            Outcome::Killed => killed += 1,
        }
        // Without a complete record in the journal the pair must already be old or new; with
        // one, the next writer finishes it.
        let records = journal_records(&env.jit_dir());
        if records.iter().any(|r| !r.starts_with(".tmp.")) {
            pending += 1;
        } else {
            assert!(pair_state(&env, a, b).is_some(), "torn delete of {a} with no journal record");
        }
    }
    env.create("runs journal recovery");
    assert_journal_recovered(&env);
    let mut deleted = 0;
    for (a, b) in &pairs {
        match pair_state(&env, a, b) {
            Some(true) => assert!(!acked.contains(a), "acknowledged delete of {a} undone"),
            Some(false) => deleted += 1,
            None => panic!("pair {a} <- {b} torn after recovery"),
        }
    }
    let temps = temp_files(&env.issues_dir()).len();
    eprintln!(
        "deletes: {DELETES} runs in a {} us window, {} acknowledged, {killed} killed, {} deleted \
         in all, {pending} left a complete journal record for recovery, {temps} temp files left",
        killer.window_us,
        acked.len() - 3,
        deleted - 3
    );
    assert!(killed > 0, "no kill landed: the test proved nothing");
    assert_list_is_truth(&env);
}

/// A killed writer leaves its temp file behind, named after its pid. When the pid comes round
/// again (pid_max is often 32768), the new process must not fail on the old file. A shell
/// plants such files under its own pid and then execs jit, which keeps that pid.
#[test]
fn leftover_temp_files_of_dead_processes_do_not_block_writes() {
    let env = TestEnv::new();
    let id = env.create("target");
    let b = env.create("other");
    let pair_b = env.create("depends on other");
    add_dependency_by_hand(&env, &pair_b, &b);
    let plant_then_exec = format!(
        "for n in 0 1 2 3; do for f in {id} {pair_b}; do \
           printf torn > .jit/issues/.tmp.$$.$n.$f.json; done; done; exec \"$0\" \"$@\""
    );
    let run = |args: &[&str]| {
        let mut sh = Command::new("sh");
        without_jit_env(&mut sh).current_dir(env.path()).stdin(Stdio::null());
        sh.arg("-c").arg(&plant_then_exec).arg(jit_bin()).args(args).arg("--json");
        let out = sh.output().unwrap();
        assert!(out.status.success(), "jit {args:?}: {}", describe(&out));
        parse_json(&out)
    };
    for round in 0..3 {
        let label = format!("round:r{round}");
        let v = run(&["issue", "update", &id, "--add-label", &label]);
        assert_eq!(v["version"], 2 + round);
    }
    run(&["issue", "delete", &b, "--yes"]); // a journal commit writes several files
    assert_eq!(env.json(&["issue", "show", &pair_b])["dependencies"], json!([]));
    let planted = temp_files(&env.issues_dir());
    assert_eq!(planted.len(), 4 * 4 * 2, "the planted files are left alone: {planted:?}");
    assert_eq!(Truth::read_all_valid(&env.issues_dir()).len(), 2);
}

/// Readers compact the index (under the lock, without waiting for it). Killed at random
/// moments, a compaction leaves an index the next reader can use or rebuild; a temp base left
/// by a dead writer is removed by the next compaction.
#[test]
fn killed_compactions_leave_a_usable_index_and_no_lasting_temp_files() {
    let env = TestEnv::new();
    let text =
        "a description long enough to make the index base take a while to write. ".repeat(200);
    for i in 0..60 {
        env.ok(&["issue", "create", &format!("issue {i}"), "-d", &text]);
    }
    let index = env.jit_dir().join("index");
    // Each run removes the base first, so that it compacts (timing included). Its output is
    // small, so a run is never held up writing to the pipe.
    let list = || {
        let mut sh = Command::new("sh");
        without_jit_env(&mut sh).current_dir(env.path()).stdin(Stdio::null());
        sh.arg("-c").arg("rm -f .jit/index/issues.idx; exec \"$0\" query is:open --count --json");
        sh.arg(jit_bin());
        sh
    };
    let (mut killer, _) = Killer::calibrate(7, (0..5).map(|_| list()).collect());
    let mut killed = 0;
    for _ in 0..KILLS / 2 {
        if let Outcome::Killed = killer.run(list()) {
            killed += 1;
        }
        assert_list_is_truth(&env);
    }
    assert!(killed > 0, "no kill interrupted a listing");
    // A temp base of a writer that is gone (pid_max is at most 2^22) goes with the next
    // compaction.
    std::fs::write(index.join(".tmp.999999999.0.issues.idx"), &text).unwrap();
    let _ = std::fs::remove_file(index.join("issues.idx"));
    assert_list_is_truth(&env);
    assert_eq!(temp_files(&index), Vec::<String>::new());
}

/// `scripts/crash-harness.sh` with a modest count (the script's own default is 300 kills):
/// mixed writers SIGKILLed at random, then every check of the script holds.
#[test]
fn the_crash_harness_holds_with_a_few_kills() {
    if !have_tool("jq", "jq") || !have_tool("timeout", "coreutils") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/crash-harness.sh");
    let mut c = Command::new("bash");
    c.arg(&script).args(["12", "2"]).env("JIT", jit_bin());
    c.env("CRASH_DIR", scratch.path()).env("GROUP", "6").env("POOL", "6");
    let out = c.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && text.contains("all checks hold"), "{}", describe(&out));
    let killed: u64 = text
        .split("killed ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no kill count: {text}"));
    assert!(killed >= 12, "{text}");
}
