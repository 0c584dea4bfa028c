//! Unit tests of the warm index: changes made behind its back are seen by the next read,
//! an overflowed queue or a lost watch gives a full re-check, memory stays bounded.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use super::*;
use crate::model::{Issue, NewIssue, State};
use crate::repo::{OpenOptions, Repo};
use crate::storage::Durability;

fn repo(n: u64) -> (tempfile::TempDir, Repo) {
    let dir = tempfile::tempdir().unwrap();
    Repo::init(dir.path()).unwrap();
    let opts = OpenOptions {
        repo: Some(dir.path().to_path_buf()),
        cwd: dir.path().to_path_buf(),
        durability: Some(Durability::Relaxed),
        actor: "tester".into(),
        ..OpenOptions::default()
    };
    let mut repo = Repo::open(&opts, crate::clock::Clock::system()).unwrap();
    for i in 0..n {
        let new = NewIssue { title: format!("issue {i}"), ..Default::default() };
        repo.create(new, &[]).unwrap();
    }
    repo.set_warm(WarmIndex::open(repo.layout()).unwrap());
    (dir, repo)
}

fn titles(snap: &Snapshot) -> Vec<String> {
    snap.iter().map(|e| e.summary().title.to_string()).collect()
}

fn stats(repo: &Repo) -> WarmStats {
    repo.warm().unwrap().stats()
}

#[test]
fn an_unchanged_repository_is_answered_from_memory_with_the_same_snapshot() {
    let (_d, repo) = repo(3);
    let a = repo.snapshot().unwrap();
    let b = repo.snapshot().unwrap();
    assert!(Arc::ptr_eq(&a, &b), "no change: the same snapshot, not a copy");
    assert_eq!(stats(&repo), WarmStats { full_rechecks: 1, patches: 0, files_reread: 0 });
}

#[test]
fn a_hand_edit_in_place_with_the_same_size_and_mtime_is_seen() {
    let (_d, repo) = repo(3);
    let before = repo.snapshot().unwrap();
    // The first issue in id order (ids made in one millisecond need not sort by creation).
    let first = before.iter().next().unwrap();
    let (id, old_title) = (first.id, first.summary().title.to_string());
    let path = repo.layout().issue_path(id);
    let meta = fs::metadata(&path).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    let edited = text.replace(&format!("\"{old_title}\""), "\"issue X\"");
    assert_ne!(edited, text);
    assert_eq!(edited.len(), text.len());
    fs::write(&path, &edited).unwrap();
    // Restore the mtime, as `touch -r` would: only inotify can tell.
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::new(meta.mtime() as u64, meta.mtime_nsec() as u32);
    fs::File::options().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
    let after = repo.snapshot().unwrap();
    let mut expected = titles(&before);
    expected[0] = "issue X".into();
    assert_eq!(titles(&after), expected);
    assert_eq!(after.get(id).unwrap().issue().unwrap().title, "issue X");
    assert_eq!(stats(&repo).full_rechecks, 1);
    assert_eq!(stats(&repo).patches, 1);
}

#[test]
fn files_created_removed_broken_and_moved_in_are_seen() {
    let (dir, repo) = repo(2);
    let snap = repo.snapshot().unwrap();
    let ids: Vec<_> = snap.iter().map(|e| e.id).collect();
    fs::remove_file(repo.layout().issue_path(ids[0])).unwrap();
    fs::write(repo.layout().issue_path(ids[1]), "{ broken").unwrap();
    let snap = repo.snapshot().unwrap();
    assert_eq!(snap.len(), 0);
    assert_eq!(snap.problems.len(), 1, "{:?}", snap.problems);
    // A file moved in from outside (as git does with its temp files).
    let issue = Issue::from_slice(br#"{"id":"01kbq0000000000000000000aa","title":"moved in","state":"ready","priority":"normal","version":1,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}"#);
    let issue = issue.unwrap();
    let outside = dir.path().join("x.json");
    fs::write(&outside, issue.to_file_bytes()).unwrap();
    fs::rename(&outside, repo.layout().issue_path(issue.id)).unwrap();
    let snap = repo.snapshot().unwrap();
    assert_eq!(titles(&snap), ["moved in"]);
    assert_eq!(snap.problems.len(), 1);
    // The cold read agrees in every respect.
    let cold = crate::storage::index::snapshot(repo.layout()).unwrap();
    assert_eq!(titles(&cold), titles(&snap));
    let paths = |s: &Snapshot| s.problems.iter().map(|p| p.path.clone()).collect::<Vec<_>>();
    assert_eq!(paths(&cold), paths(&snap));
    assert_eq!(stats(&repo).full_rechecks, 1);
}

#[test]
fn a_replaced_issues_directory_gives_a_full_recheck() {
    let (dir, repo) = repo(2);
    assert_eq!(repo.snapshot().unwrap().len(), 2);
    let issues = repo.layout().issues_dir();
    let aside = dir.path().join("aside");
    fs::rename(&issues, &aside).unwrap();
    fs::create_dir(&issues).unwrap();
    assert_eq!(repo.snapshot().unwrap().len(), 0);
    fs::remove_dir(&issues).unwrap();
    fs::rename(&aside, &issues).unwrap();
    assert_eq!(repo.snapshot().unwrap().len(), 2);
    assert_eq!(stats(&repo).full_rechecks, 3);
}

#[test]
fn an_overflowed_queue_gives_a_full_recheck_that_sees_every_change() {
    let max: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16384);
    let (_d, repo) = repo(2);
    let snap = repo.snapshot().unwrap();
    let first = snap.iter().next().unwrap();
    let (id, old_title) = (first.id, first.summary().title.to_string());
    let issues = repo.layout().issues_dir();
    // Distinct names, so the kernel cannot coalesce the events: more than the queue holds.
    for i in 0..max / 2 + 16 {
        let p = issues.join(format!("{}{i}", atomic::TEMP_PREFIX));
        fs::write(&p, b"").unwrap();
        fs::remove_file(&p).unwrap();
    }
    let path = repo.layout().issue_path(id);
    let edited =
        fs::read_to_string(&path).unwrap().replace(&format!("\"{old_title}\""), "\"issue Y\"");
    fs::write(&path, edited).unwrap();
    let after = repo.snapshot().unwrap();
    let mut expected = titles(&snap);
    expected[0] = "issue Y".into();
    assert_eq!(titles(&after), expected);
    assert_eq!(stats(&repo).full_rechecks, 2, "{:?}", stats(&repo));
}

#[test]
fn config_changes_are_reported_once() {
    let (_d, mut repo) = repo(0);
    repo.snapshot().unwrap();
    assert!(!repo.refresh_config().unwrap());
    let path = repo.layout().config_path();
    let text = fs::read_to_string(&path).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["bulk_confirm"] = serde_json::json!(3);
    fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    assert!(repo.refresh_config().unwrap());
    assert_eq!(repo.config().bulk_confirm, 3);
    assert!(!repo.refresh_config().unwrap());
}

#[test]
fn buffers_stay_bounded_over_many_changes() {
    let (_d, repo) = repo(20);
    let snap = repo.snapshot().unwrap();
    let id = snap.iter().next().unwrap().id;
    let (start_bytes, _) = snap.buffer_bytes();
    drop(snap);
    for i in 0..1500u32 {
        let changes = crate::model::IssueChanges {
            title: Some(format!("title {i} {}", "x".repeat(200))),
            ..Default::default()
        };
        repo.update(&id.to_string(), &changes, None).unwrap();
        let snap = repo.snapshot().unwrap();
        let (bytes, bufs) = snap.buffer_bytes();
        assert!(bufs <= 40, "{bufs} buffers after {i} changes");
        assert!(bytes <= start_bytes + (3 << 20), "{bytes} bytes after {i} changes");
    }
    let snap = repo.snapshot().unwrap();
    assert!(snap.get(id).unwrap().summary().title.starts_with("title 1499 "));
    assert_eq!(stats(&repo).full_rechecks, 1);
    let _ = State::Ready;
}
