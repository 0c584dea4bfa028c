//! Many real `jit` processes at once on one repository: no write is lost, compare-and-swap
//! serialises updates, and readers never see a torn or missing issue.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use serde_json::Value;

use crate::common::*;
use crate::disk::*;

const CREATORS: usize = 8;
const CREATES_EACH: usize = 100;

#[test]
fn parallel_creates_lose_nothing() {
    let env = TestEnv::new();
    let project = env.path().to_path_buf();
    let threads: Vec<_> = (0..CREATORS)
        .map(|t| {
            let project = project.clone();
            std::thread::spawn(move || {
                (0..CREATES_EACH)
                    .map(|i| {
                        let title = format!("c{t}-{i}");
                        let v = jit_json(&project, &["issue", "create", &title, "--json"]);
                        assert_eq!(v["title"], title.as_str());
                        assert_eq!(v["version"], 1);
                        (v["id"].as_str().unwrap().to_string(), title)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let acked: BTreeMap<String, String> =
        threads.into_iter().flat_map(|t| t.join().expect("creator thread")).collect();
    assert_eq!(acked.len(), CREATORS * CREATES_EACH, "every acknowledged id is distinct");

    let on_disk = Truth::read_all_valid(&env.issues_dir());
    let disk_ids: BTreeSet<String> =
        on_disk.iter().map(|v| v["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(disk_ids, acked.keys().cloned().collect::<BTreeSet<_>>());
    for v in &on_disk {
        assert_eq!(v["title"].as_str(), acked.get(v["id"].as_str().unwrap()).map(String::as_str));
    }
    assert!(temp_files(&env.issues_dir()).is_empty(), "completed creates leave no temp files");

    let list = env.json(&["issue", "list"]);
    assert_eq!(list, Value::Array(on_disk), "list equals the files, newest first");

    for (id, title) in &acked {
        let v = env.json(&["issue", "show", id]);
        assert_eq!((v["id"].as_str(), v["title"].as_str()), (Some(id.as_str()), Some(&**title)));
    }
}

const CAS_WRITERS: usize = 10;
const CAS_LABELS_EACH: usize = 20;

/// One writer of the compare-and-swap test: add its labels one by one, each with
/// `--if-version` read just before, retrying on conflict. Returns (versions, conflicts).
fn cas_writer(project: &Path, id: &str, k: usize) -> (Vec<u64>, usize) {
    let mut versions = Vec::new();
    let mut conflicts = 0;
    for j in 0..CAS_LABELS_EACH {
        let label = format!("p{k}:l{j}");
        loop {
            let seen = jit_json(project, &["issue", "show", id, "--json"])["version"]
                .as_u64()
                .expect("version");
            let v = seen.to_string();
            let args = ["issue", "update", id, "--add-label", &label, "--if-version", &v, "--json"];
            let out = jit_in(project, &args).output().expect("run jit");
            let body = parse_json(&out);
            match out.status.code() {
                Some(0) => {
                    assert_eq!(body["version"].as_u64(), Some(seen + 1), "{body}");
                    assert!(body["labels"].as_array().unwrap().contains(&label.as_str().into()));
                    versions.push(seen + 1);
                    break;
                }
                Some(4) => {
                    assert_eq!(body["error"]["code"], "VERSION_CONFLICT", "{body}");
                    assert_eq!(body["error"]["expected"], seen);
                    assert!(body["error"]["actual"].as_u64().unwrap() > seen, "{body}");
                    conflicts += 1;
                }
                _ => panic!("update {label}: {}", describe(&out)),
            }
        }
    }
    (versions, conflicts)
}

#[test]
fn compare_and_swap_serialises_concurrent_updates() {
    let env = TestEnv::new();
    let id = env.create("contended");
    let project = env.path().to_path_buf();
    let threads: Vec<_> = (0..CAS_WRITERS)
        .map(|k| {
            let (project, id) = (project.clone(), id.clone());
            std::thread::spawn(move || cas_writer(&project, &id, k))
        })
        .collect();
    let results: Vec<(Vec<u64>, usize)> =
        threads.into_iter().map(|t| t.join().expect("writer thread")).collect();

    let mut all = Vec::new();
    for (k, (versions, _)) in results.iter().enumerate() {
        assert_eq!(versions.len(), CAS_LABELS_EACH);
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "writer {k}: {versions:?}");
        all.extend_from_slice(versions);
    }
    all.sort_unstable();
    let total = (CAS_WRITERS * CAS_LABELS_EACH) as u64;
    assert_eq!(all, (2..=1 + total).collect::<Vec<_>>(), "each version was granted once");
    let conflicts: usize = results.iter().map(|r| r.1).sum();
    eprintln!("compare-and-swap: {total} updates, {conflicts} conflicts retried");

    let fin = env.json(&["issue", "show", &id]);
    assert_eq!(fin["version"], 1 + total);
    let labels: BTreeSet<&str> =
        fin["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    let want: BTreeSet<String> = (0..CAS_WRITERS)
        .flat_map(|k| (0..CAS_LABELS_EACH).map(move |j| format!("p{k}:l{j}")))
        .collect();
    assert_eq!(labels, want.iter().map(String::as_str).collect());
    assert_eq!(
        Value::Array(Truth::read_all_valid(&env.issues_dir())),
        env.json(&["issue", "list"])
    );
}

/// What the writer has had acknowledged so far: id → version.
pub(crate) type Acked = Arc<Mutex<HashMap<String, u64>>>;

/// Create issues and update earlier ones, recording each acknowledged write. Now and then
/// the index is thrown away, so readers rebuild it from files that are being replaced.
fn writer(project: PathBuf, acked: Acked, rounds: u64) {
    let mut rng = XorShift::new(7);
    let mut ids: Vec<String> = Vec::new();
    for r in 0..rounds {
        if r % 10 == 9 {
            let _ = std::fs::remove_dir_all(project.join(".jit/index"));
        }
        let v = jit_json(&project, &["issue", "create", &format!("w{r}"), "--json"]);
        let id = v["id"].as_str().unwrap().to_string();
        acked.lock().unwrap().insert(id.clone(), 1);
        ids.push(id);
        let target = ids[rng.below(ids.len() as u64) as usize].clone();
        let label = format!("round:r{r}");
        let v = jit_json(&project, &["issue", "update", &target, "--add-label", &label, "--json"]);
        acked.lock().unwrap().insert(target, v["version"].as_u64().unwrap());
    }
}

/// List until told to stop; each listing must hold every write acknowledged before it began.
pub(crate) fn reader(project: PathBuf, acked: Acked, stop: Arc<AtomicBool>, seed: u64) -> usize {
    let mut rng = XorShift::new(seed);
    let mut reads = 0;
    loop {
        let last = stop.load(Ordering::SeqCst);
        let before = acked.lock().unwrap().clone();
        let out = jit_in(&project, &["issue", "list", "--json"]).output().expect("run jit");
        assert!(out.status.success(), "list: {}", describe(&out));
        assert!(out.stderr.is_empty(), "list warned: {}", describe(&out));
        let seen: HashMap<String, u64> = parse_json(&out)
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["id"].as_str().unwrap().to_string(), v["version"].as_u64().unwrap()))
            .collect();
        for (id, version) in &before {
            let got = seen.get(id).unwrap_or_else(|| panic!("acknowledged {id} missing"));
            assert!(got >= version, "{id}: listed version {got}, acknowledged {version}");
        }
        if let Some((id, version)) =
            before.iter().nth(rng.below(before.len().max(1) as u64) as usize)
        {
            let v = jit_json(&project, &["issue", "show", id, "--json"]);
            assert!(v["version"].as_u64().unwrap() >= *version, "{v}");
        }
        reads += 1;
        if last {
            return reads;
        }
    }
}

#[test]
fn readers_see_every_acknowledged_write_while_a_writer_runs() {
    let env = TestEnv::new();
    let project = env.path().to_path_buf();
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(3));
    let readers: Vec<_> = (0..2)
        .map(|seed| {
            let (p, a, s, b) = (project.clone(), acked.clone(), stop.clone(), start.clone());
            std::thread::spawn(move || {
                b.wait();
                reader(p, a, s, seed + 1)
            })
        })
        .collect();
    let w = {
        let (p, a, b) = (project.clone(), acked.clone(), start.clone());
        std::thread::spawn(move || {
            b.wait();
            writer(p, a, 100)
        })
    };
    let writer_result = w.join();
    stop.store(true, Ordering::SeqCst);
    let reads: Vec<usize> = readers.into_iter().map(|r| r.join().expect("reader")).collect();
    writer_result.expect("writer");
    eprintln!("readers listed {reads:?} times while the writer ran");

    let truth = Truth::read_all_valid(&env.issues_dir());
    assert_eq!(truth.len(), 100);
    assert_eq!(env.json(&["issue", "list"]), Value::Array(truth));
}

/// A bulk-update rewrites many files in one journal commit. A listing that runs while the
/// commit is being applied must see all of it or none of it: readers take the lock shared,
/// so they wait for the writer rather than read half-replaced files.
#[test]
fn listings_never_see_half_of_a_bulk_update_in_progress() {
    const ISSUES: usize = 60;
    const ROUNDS: usize = 60;
    let env = TestEnv::new();
    for i in 0..ISSUES {
        env.ok(&["issue", "create", &format!("issue {i}")]);
    }
    let project = env.path().to_path_buf();
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (project, done) = (project.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            for _ in 0..ROUNDS {
                for change in ["--add-label", "--remove-label"] {
                    // Relaxed durability: no fsync, so the files change fast and close together.
                    let out = jit_in(
                        &project,
                        &["issue", "bulk-update", "--filter", "is:open", change, "t:x", "--yes"],
                    )
                    .env("JIT_DURABILITY", "relaxed")
                    .output()
                    .unwrap();
                    assert!(out.status.success(), "{}", describe(&out));
                }
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut reads = 0;
    let mut torn = Vec::new();
    while !done.load(Ordering::SeqCst) {
        let out = jit_in(&project, &["query", "label:t:x", "--count"]).output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        let count: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        if count != 0 && count != ISSUES {
            torn.push(count);
        }
        reads += 1;
    }
    writer.join().unwrap();
    assert!(reads > 10, "only {reads} reads ran alongside the writer");
    assert!(
        torn.is_empty(),
        "{} of {reads} listings saw part of a bulk-update: {torn:?}",
        torn.len()
    );
}
