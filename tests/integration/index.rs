//! The read index in `.jit/index/` is a cache: deleting it, corrupting it, or changing issue
//! files behind its back never changes what `issue list` says.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::common::*;
use crate::disk::*;

/// `issue list --json` must succeed, warn about nothing and equal the files on disk.
#[track_caller]
fn assert_list_is_truth(env: &TestEnv, after: &str) {
    let truth = Truth::read_all_valid(&env.issues_dir());
    let out = env.run(&["issue", "list", "--json"]);
    assert!(out.status.success() && out.stderr.is_empty(), "{after}: {}", describe(&out));
    assert_eq!(parse_json(&out), Value::Array(truth), "list differs from the files {after}");
}

fn populate(env: &TestEnv, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n)
        .map(|i| {
            let out = env.json(&["issue", "create", &format!("issue {i:03}"), "-d", &about(i)]);
            out["id"].as_str().unwrap().to_string()
        })
        .collect();
    for (i, id) in ids.iter().enumerate().step_by(3) {
        env.json(&["issue", "update", id, "--add-label", &format!("n:v{i}"), "-p", "high"]);
    }
    ids
}

/// The description `populate` gives issue `i`.
fn about(i: usize) -> String {
    format!("about {i:03}: {}", "lorem ipsum ".repeat(i % 5))
}

fn issue_path(env: &TestEnv, id: &str) -> PathBuf {
    env.issues_dir().join(format!("{id}.json"))
}

#[test]
fn deleting_the_index_changes_no_output_and_it_is_rebuilt() {
    let env = TestEnv::new();
    populate(&env, 30);
    let json = env.ok(&["issue", "list", "--json"]);
    let table = env.ok(&["issue", "list"]);
    let index = env.jit_dir().join("index");
    assert!(index.join("issues.idx").exists(), "list keeps an index");
    fs::remove_dir_all(&index).unwrap();
    assert_eq!(env.ok(&["issue", "list", "--json"]), json);
    assert!(index.join("issues.idx").exists(), "the index is rebuilt");
    fs::remove_dir_all(&index).unwrap();
    assert_eq!(env.ok(&["issue", "list"]), table);
    assert_eq!(env.ok(&["issue", "list", "--json"]), json, "read through the rebuilt index");
    assert_list_is_truth(&env, "rebuilding the index");
}

/// Rewrite `path` in place (same inode, same size) with one title character changed.
/// With `keep_mtime` the old modification time is put back, as `touch -r` or a careless tool
/// would, so only the change time tells.
fn edit_title_in_place(path: &Path, keep_mtime: bool, salt: u8) {
    let mut bytes = fs::read(path).unwrap();
    let at = find(&bytes, b"\"title\": \"").expect("title") + 10;
    let old = bytes[at];
    bytes[at] = b'A' + (old.wrapping_add(1 + salt % 20)) % 26;
    assert_ne!(bytes[at], old);
    let mtime = fs::metadata(path).unwrap().modified().unwrap();
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(&bytes).unwrap();
    if keep_mtime {
        f.set_modified(mtime).unwrap();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Replace `path` by a new file of the same size through a rename, as git checkout and many
/// editors do; the new file even carries the old modification time.
fn replace_by_rename(env: &TestEnv, path: &Path, salt: u8) {
    let old = fs::read(path).unwrap();
    let mtime = fs::metadata(path).unwrap().modified().unwrap();
    let tmp = env.path().join("checkout.tmp");
    fs::copy(path, &tmp).unwrap();
    edit_title_in_place(&tmp, false, salt);
    fs::File::options().write(true).open(&tmp).unwrap().set_modified(mtime).unwrap();
    fs::rename(&tmp, path).unwrap();
    assert_eq!(fs::read(path).unwrap().len(), old.len());
}

/// Every kind of change made without jit, each checked right after a listing.
fn change_behind_its_back(env: &TestEnv, donor: &TestEnv, ids: &[String], round: u8) {
    let when = format!("(round {round})");
    assert_list_is_truth(env, &when);
    edit_title_in_place(&issue_path(env, &ids[0]), false, round);
    assert_list_is_truth(env, &format!("an in-place edit {when}"));
    edit_title_in_place(&issue_path(env, &ids[0]), false, round + 1);
    assert_list_is_truth(env, &format!("a second in-place edit {when}"));
    edit_title_in_place(&issue_path(env, &ids[1]), true, round);
    assert_list_is_truth(env, &format!("an in-place edit keeping the mtime {when}"));

    let new = donor.create(&format!("donated {round}"));
    fs::copy(issue_path(donor, &new), issue_path(env, &new)).unwrap();
    assert_list_is_truth(env, &format!("copying a file in {when}"));

    fs::remove_file(issue_path(env, &ids[2 + round as usize])).unwrap();
    assert_list_is_truth(env, &format!("removing a file {when}"));

    replace_by_rename(env, &issue_path(env, &ids[4]), round);
    assert_list_is_truth(env, &format!("a replacement by rename {when}"));

    // git checkout of a changed file: unlink, then write a new one of the same size.
    let path = issue_path(env, &ids[5]);
    let mut bytes = fs::read(&path).unwrap();
    let at = find(&bytes, b"\"title\": \"").unwrap() + 10;
    bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
    fs::remove_file(&path).unwrap();
    fs::write(&path, &bytes).unwrap();
    assert_list_is_truth(env, &format!("unlink and rewrite {when}"));
}

#[test]
fn changes_behind_its_back_are_noticed() {
    let env = TestEnv::new();
    let donor = TestEnv::new();
    let ids = populate(&env, 12);
    change_behind_its_back(&env, &donor, &ids, 0);
    // Once the stamps are old enough to be trusted, the same changes must still be seen.
    std::thread::sleep(Duration::from_millis(1200));
    assert_list_is_truth(&env, "sleeping");
    change_behind_its_back(&env, &donor, &ids, 1);
    // And jit's own writes on top of files changed behind its back.
    env.json(&["issue", "update", &ids[0], "--add-label", "after:edits"]);
    env.json(&["issue", "update", &ids[4], "--state", "ready"]);
    assert_list_is_truth(&env, "updates after the edits");
}

/// Damage `file`: truncate it, overwrite a stretch with garbage, or append garbage.
fn damage(file: &Path, rng: &mut XorShift) -> String {
    let len = fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let f = OpenOptions::new().write(true).open(file).unwrap();
    match rng.below(4) {
        0 => {
            let to = rng.below(len + 1);
            f.set_len(to).unwrap();
            format!("truncated to {to} of {len}")
        }
        1 | 2 if len > 0 => {
            let at = rng.below(len);
            let n = 1 + rng.below(64);
            // Random bytes, or letters that keep the JSON inside a record valid UTF-8.
            let letters = rng.below(2) == 0;
            let garbage: Vec<u8> = (0..n)
                .map(|_| if letters { b'a' + rng.below(26) as u8 } else { rng.next() as u8 })
                .collect();
            let mut f = f;
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(at)).unwrap();
            f.write_all(&garbage).unwrap();
            format!("{n} garbage bytes at {at} of {len}")
        }
        _ => {
            let garbage: Vec<u8> = (0..1 + rng.below(200)).map(|_| rng.next() as u8).collect();
            let mut f = f;
            std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)).unwrap();
            f.write_all(&garbage).unwrap();
            format!("{} garbage bytes appended to {len}", garbage.len())
        }
    }
}

/// The read index's files' bytes, by name. The id list (`ids`) is left out: it is written
/// once the directory's mtime has aged past the racy window, which is a matter of time, not
/// of the listing.
fn index_bytes(env: &TestEnv) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(env.jit_dir().join("index"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "ids")
        .map(|e| (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap()))
        .collect();
    v.sort();
    v
}

/// Listing an unchanged repository reaches a fixed point: once the index has been repaired,
/// the next listing neither rewrites nor grows it.
#[track_caller]
fn assert_reads_settle(env: &TestEnv, after: &str) {
    // Files written within the racy window are re-read, and recorded once it is over.
    std::thread::sleep(std::time::Duration::from_millis(150));
    env.ok(&["issue", "list"]);
    let settled = index_bytes(env);
    env.ok(&["issue", "list"]);
    assert!(index_bytes(env) == settled, "a listing changed the index again {after}");
}

#[test]
fn a_torn_index_append_is_repaired_not_grown() {
    let env = TestEnv::new();
    let ids = populate(&env, 20);
    env.ok(&["issue", "list"]);
    // A writer killed half-way through appending its record.
    let log = env.jit_dir().join("index/issues.log");
    let len = fs::metadata(&log).unwrap().len();
    OpenOptions::new().write(true).open(&log).unwrap().set_len(len - 7).unwrap();
    // Later writers append after the torn record.
    for id in &ids[..5] {
        env.json(&["issue", "update", id, "--add-label", "after:tear"]);
    }
    assert_list_is_truth(&env, "a torn append");
    assert_reads_settle(&env, "after a torn append");
}

/// The index directory's files and their bytes.
fn save_index(env: &TestEnv) -> Vec<(PathBuf, Vec<u8>)> {
    fs::read_dir(env.jit_dir().join("index"))
        .map(|rd| {
            rd.map(|e| e.unwrap().path()).map(|p| (p.clone(), fs::read(p).unwrap())).collect()
        })
        .unwrap_or_default()
}

/// Put the index directory back as `save_index` found it.
fn restore_index(env: &TestEnv, saved: &[(PathBuf, Vec<u8>)]) {
    let dir = env.jit_dir().join("index");
    fs::remove_dir_all(&dir).unwrap();
    fs::create_dir(&dir).unwrap();
    for (p, bytes) in saved {
        fs::write(p, bytes).unwrap();
    }
}

/// What `args` prints in a run without an index.
fn output_without_index(env: &TestEnv, args: &[&str]) -> String {
    let saved = save_index(env);
    fs::remove_dir_all(env.jit_dir().join("index")).unwrap();
    let out = env.ok(args);
    restore_index(env, &saved);
    out
}

#[test]
fn a_corrupt_index_gives_correct_output() {
    let env = TestEnv::new();
    let ids = populate(&env, 40);
    let mut rng = XorShift::new(11);
    let index = env.jit_dir().join("index");
    for trial in 0..40u64 {
        env.ok(&["issue", "list"]); // make sure both files exist, then damage one or both
        let mut what = Vec::new();
        for name in ["issues.idx", "issues.log"] {
            if rng.below(3) != 0 {
                what.push(format!("{name}: {}", damage(&index.join(name), &mut rng)));
            }
        }
        let what = format!("trial {trial}: {}", what.join("; "));
        // The table (record section only), a text search (descriptions), and queries printing
        // many issues (the JSON section read whole) and a few (one read per issue).
        let commands: [&[&str]; 4] = [
            &["issue", "list"],
            &["query", "description:\"about 01\" OR lorem", "--json"],
            &["query", "description:\"about 013\" OR title:\"issue 027\"", "--json"],
            &["query", "title:\"issue 03\"", "--fields", "id,description,labels"],
        ];
        let damaged = save_index(&env);
        for (i, args) in commands.iter().enumerate() {
            restore_index(&env, &damaged); // each command meets the damage, not a repair
            let out = env.run(args);
            let what = format!("{what}, {args:?}");
            assert!(out.status.success() && out.stderr.is_empty(), "{what}: {}", describe(&out));
            let truth = output_without_index(&env, args);
            assert_eq!(String::from_utf8(out.stdout).unwrap(), truth, "{what}");
            if i == 2 {
                assert_eq!(truth.matches("\"id\"").count(), 2, "{what}: a small result");
            }
            if i == 0 {
                assert_list_is_truth(&env, &what);
            }
        }
        assert_reads_settle(&env, &what);
        if trial % 4 == 0 {
            // A writer appends to whatever it finds.
            let id = &ids[rng.below(ids.len() as u64) as usize];
            env.json(&["issue", "update", id, "--add-label", &format!("t:x{trial}")]);
            damage(&index.join("issues.log"), &mut rng);
            assert_list_is_truth(&env, &format!("{what}, then an update"));
        }
    }
}

#[test]
fn a_corrupt_issue_file_is_reported_and_the_others_listed() {
    let env = TestEnv::new();
    let ids = populate(&env, 6);
    env.ok(&["issue", "list"]); // the index now trusts every file
    let truncated = issue_path(&env, &ids[1]);
    let bytes = fs::read(&truncated).unwrap();
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    // Same size, same inode, old mtime: only the change time differs.
    let garbled = issue_path(&env, &ids[3]);
    let mtime: SystemTime = fs::metadata(&garbled).unwrap().modified().unwrap();
    let size = fs::metadata(&garbled).unwrap().len() as usize;
    let mut f = OpenOptions::new().write(true).open(&garbled).unwrap();
    f.write_all(&vec![b'#'; size]).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    // A valid issue under another issue's name.
    let misnamed = issue_path(&env, &ids[4]);
    fs::copy(issue_path(&env, &ids[5]), &misnamed).unwrap();

    let truth = Truth::read(&env.issues_dir());
    let mut want_bad = vec![truncated.clone(), garbled.clone(), misnamed.clone()];
    want_bad.sort();
    assert_eq!(truth.bad, want_bad);
    for _ in 0..2 {
        let out = env.run(&["issue", "list", "--json"]);
        assert_eq!(out.status.code(), Some(1), "partial: {}", describe(&out));
        assert_eq!(parse_json(&out), Value::Array(truth.issues.clone()));
        let stderr = String::from_utf8_lossy(&out.stderr);
        for bad in [&truncated, &garbled, &misnamed] {
            let name = bad.file_name().unwrap().to_string_lossy();
            assert!(
                stderr.lines().any(|l| l.starts_with("warning") && l.contains(&*name)),
                "no warning naming {name}: {stderr}"
            );
        }
        assert_eq!(stderr.lines().count(), 3, "{stderr}");
    }
    let table = env.run(&["issue", "list"]);
    assert_eq!(table.status.code(), Some(1), "partial: {}", describe(&table));
    assert_eq!(String::from_utf8(table.stdout).unwrap().lines().count(), 1 + truth.issues.len());
}

#[test]
fn a_damaged_json_in_the_index_is_read_from_the_file_and_recorded_again() {
    let env = TestEnv::new();
    let ids = populate(&env, 12);
    // Let the files' ctimes age past the racy window, so that every record is trusted.
    std::thread::sleep(std::time::Duration::from_millis(150));
    // Rebuild the index so every record is in the base, with an empty log.
    let index = env.jit_dir().join("index");
    fs::remove_dir_all(&index).unwrap();
    env.ok(&["issue", "list"]);
    let log = index.join("issues.log");
    assert_eq!(fs::metadata(&log).unwrap().len(), 16, "an empty log after compaction");
    for (n, id) in [&ids[3], &ids[8]].into_iter().enumerate() {
        let base = index.join("issues.idx");
        let mut bytes = fs::read(&base).unwrap();
        let at = find(&bytes, format!("{{\"id\":\"{id}\",\"title\":\"issue").as_bytes())
            .expect("the issue's JSON in the base");
        bytes[at + 45] ^= 0x01; // inside the title
        fs::write(&base, &bytes).unwrap();
        let before = fs::metadata(&log).unwrap().len();
        if n == 0 {
            assert_list_is_truth(&env, "a flipped byte in a stored JSON");
        } else {
            let out = env.json(&["query", &format!("id:{id}")]);
            let file: Value =
                serde_json::from_slice(&fs::read(issue_path(&env, id)).unwrap()).unwrap();
            assert_eq!(out, Value::Array(vec![file]), "one issue, read by itself");
        }
        assert!(fs::metadata(&log).unwrap().len() > before, "{id} is recorded again");
        assert_reads_settle(&env, "after the repair");
    }
}

#[test]
fn every_command_that_reads_all_issues_names_the_files_it_left_out() {
    let env = TestEnv::new();
    let ids = populate(&env, 4);
    let broken = issue_path(&env, &ids[1]);
    fs::write(&broken, b"{ not an issue").unwrap();
    let name = broken.file_name().unwrap().to_string_lossy().into_owned();
    let commands: [&[&str]; 8] = [
        &["issue", "list"],
        &["query", "is:open", "--json"],
        &["ready", "--json"],
        &["blocked"],
        &["graph", "export", "--format", "mermaid"],
        &["issue", "bulk-update", "--filter", "title:issue", "--add-label", "x:y", "--json"],
        &["issue", "bulk-update", "--filter", "title:issue", "--priority", "low", "--dry-run"],
        &["issue", "delete", &ids[2], "--yes", "--json"],
    ];
    for (n, args) in commands.into_iter().enumerate() {
        let out = env.run(args);
        // The reads say their result is partial (1); the writes committed (0).
        let want = if n < 5 { 1 } else { 0 };
        assert_eq!(out.status.code(), Some(want), "{args:?}: {}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let warned: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning:")).collect();
        assert!(
            warned.len() == 1 && warned[0].contains(&name) && warned[0].contains("skipped"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(fs::read(&broken).unwrap(), b"{ not an issue", "the broken file is left alone");
}

#[test]
fn a_symbolic_link_or_directory_is_not_an_issue() {
    if !have_tool("mkfifo", "coreutils") {
        return;
    }
    let env = TestEnv::new();
    let ids = populate(&env, 3);
    let elsewhere = env.path().join("outside.json");
    let link = issue_path(&env, &ids[0]);
    fs::rename(&link, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    let dir = issue_path(&env, &ids[1]);
    fs::remove_file(&dir).unwrap();
    fs::create_dir(&dir).unwrap();
    let out = env.run(&["issue", "list", "--json"]);
    assert_eq!(out.status.code(), Some(1), "partial: {}", describe(&out));
    assert_eq!(parse_json(&out).as_array().unwrap().len(), 1, "only the regular file is listed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for p in [&link, &dir] {
        let name = p.file_name().unwrap().to_string_lossy();
        assert!(
            stderr.lines().any(|l| l.contains(&*name) && l.contains("not a regular file")),
            "{stderr}"
        );
    }
    for id in &ids[..2] {
        assert_eq!(env.json_err(&["issue", "show", id], 74)["code"], "CORRUPT_FILE");
        env.json_err(&["issue", "update", id, "-p", "high"], 74);
    }
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "left as it is");
    assert!(fs::read(&elsewhere).is_ok());

    // A FIFO under an issue's name must not hang a reader, nor a writer holding the lock.
    let fifo = issue_path(&env, &ids[2]);
    fs::remove_file(&fifo).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for args in [
        &["issue", "show", &ids[2], "--json"][..],
        &["issue", "update", &ids[2], "-p", "low", "--json"],
    ] {
        let mut child = env.cmd(args).stdout(std::process::Stdio::piped()).spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{args:?} hangs on a FIFO");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(74), "{args:?}: {}", describe(&out));
        assert_eq!(parse_json(&out)["error"]["code"], "CORRUPT_FILE");
    }
    // Listed around it, a partial result (exit 1).
    let out = env.run(&["issue", "list"]);
    assert!(
        out.status.code() == Some(1) && String::from_utf8_lossy(&out.stderr).contains(&ids[2]),
        "{}",
        describe(&out)
    );
}
