//! Unit tests of the journal: records, commits, undo and recovery.

use super::*;

/// A record as older versions wrote it (no `before`).
fn v1(ops: Vec<Op>, seq: Option<u64>) -> Record {
    let mut r = Record { format: 1, checksum: 0, seq, ops, before: None };
    r.checksum = r.checksum();
    r
}

fn setup() -> (tempfile::TempDir, Layout) {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::for_new(dir.path());
    fs::create_dir_all(layout.issues_dir()).unwrap();
    (dir, layout)
}

#[test]
fn the_commit_sequence_is_even_between_commits_and_recovery_makes_it_so() {
    let (_dir, layout) = setup();
    assert_eq!(commit_seq(&layout), Some(0), "no lock file: no commit in progress");
    fs::write(layout.lock_path(), b"").unwrap();
    assert_eq!(commit_seq(&layout), Some(0));
    let op = |c: &str| vec![Op::Write { path: "issues/a.json".into(), content: c.into() }];
    commit(&layout, &op("one"), Durability::Relaxed).unwrap();
    assert_eq!(commit_seq(&layout), Some(2));
    commit(&layout, &op("two"), Durability::Relaxed).unwrap();
    assert_eq!(commit_seq(&layout), Some(4));
    // A commit that died half-way leaves it odd; recovery settles it.
    set_commit_seq(&layout, 5).unwrap();
    assert_eq!(commit_seq(&layout), Some(5));
    recover(&layout, Durability::Relaxed).unwrap();
    assert_eq!(commit_seq(&layout), Some(6));
    // A damaged (or torn) number reads as unknown, and recovery replaces it.
    fs::write(layout.lock_path(), [7u8; 16]).unwrap();
    assert_eq!(commit_seq(&layout), None);
    recover(&layout, Durability::Relaxed).unwrap();
    assert_eq!(commit_seq(&layout), Some(2));
}

#[test]
fn readers_find_the_record_of_every_commit_their_read_overlapped() {
    let (_dir, layout) = setup();
    let op = |c: &str| vec![Op::Write { path: "issues/a.json".into(), content: c.into() }];
    assert_eq!(changes_between(&layout, 0, 0).unwrap(), Some(vec![]), "nothing ran");
    commit(&layout, &op("one"), Durability::Relaxed).unwrap();
    assert_eq!(commit_seq(&layout), Some(2));
    assert!(!pending(&layout), "the finished record is kept out of the way");
    assert_eq!(changes_between(&layout, 0, 2).unwrap(), Some(vec![op("one")]));
    assert_eq!(changes_between(&layout, 2, 2).unwrap(), Some(vec![]));
    commit(&layout, &op("two"), Durability::Relaxed).unwrap();
    assert_eq!(changes_between(&layout, 0, 4).unwrap(), Some(vec![op("one"), op("two")]));
    // A commit started (odd) whose record is not written yet has touched no file.
    set_commit_seq(&layout, 5).unwrap();
    assert_eq!(changes_between(&layout, 4, 5).unwrap(), Some(vec![]));
    // ... and one whose complete record is pending (its writer died) is laid over.
    let ops = op("three");
    let rec = v1(ops, Some(5));
    fs::write(layout.journal_dir().join("9.json"), serde_json::to_vec(&rec).unwrap()).unwrap();
    assert_eq!(changes_between(&layout, 4, 5).unwrap(), Some(vec![op("three")]));
    assert_eq!(changes_between(&layout, 2, 5).unwrap(), Some(vec![op("two"), op("three")]));
    // The number read after must still hold when the records have been looked at.
    assert_eq!(changes_between(&layout, 4, 7).unwrap(), None);
    recover(&layout, Durability::Relaxed).unwrap();
    assert_eq!(commit_seq(&layout), Some(6));
    assert_eq!(changes_between(&layout, 4, 6).unwrap(), Some(vec![op("three")]), "retired");
    // Going backwards (the lock file deleted), or past what is kept: read again.
    assert_eq!(changes_between(&layout, 6, 2).unwrap(), None);
    for n in 0..DONE_KEEP + 2 {
        commit(&layout, &op(&format!("n{n}")), Durability::Relaxed).unwrap();
    }
    let now = commit_seq(&layout).unwrap();
    assert_eq!(changes_between(&layout, 6, now).unwrap(), None, "pruned");
    let kept = fs::read_dir(layout.index_dir()).unwrap().count();
    assert_eq!(kept, DONE_KEEP);
    let last = changes_between(&layout, now - 2, now).unwrap().unwrap();
    assert_eq!(last, vec![op(&format!("n{}", DONE_KEEP + 1))]);
}

#[test]
fn commit_writes_and_removes_and_leaves_no_record() {
    let (_d, layout) = setup();
    fs::write(layout.issues_dir().join("b.json"), "old").unwrap();
    let ops = vec![
        Op::Write { path: "issues/a.json".into(), content: "new".into() },
        Op::Remove { path: "issues/b.json".into() },
    ];
    commit(&layout, &ops, Durability::Full).unwrap();
    assert_eq!(fs::read_to_string(layout.issues_dir().join("a.json")).unwrap(), "new");
    assert!(!layout.issues_dir().join("b.json").exists());
    assert!(!pending(&layout));
}

#[test]
fn recovery_rolls_complete_records_forward_and_drops_the_rest() {
    let (_d, layout) = setup();
    let jdir = layout.journal_dir();
    fs::create_dir_all(&jdir).unwrap();
    let ops = vec![Op::Write { path: "issues/a.json".into(), content: "rolled".into() }];
    let rec = v1(ops, None);
    fs::write(jdir.join("1.json"), serde_json::to_vec(&rec).unwrap()).unwrap();
    fs::write(jdir.join(".tmp.1.0.2.json"), b"{\"format\":1,").unwrap();
    let bad = Record { format: 1, checksum: 0, seq: None, ops: rec.ops.clone(), before: None };
    fs::write(jdir.join("3.json"), serde_json::to_vec(&bad).unwrap()).unwrap();
    let r = recover(&layout, Durability::Full).unwrap();
    assert_eq!(
        r,
        Recovery {
            rolled_forward: 1,
            discarded: 2,
            quarantined: vec!["journal-3.json".into()],
            superseded: 0
        }
    );
    assert_eq!(fs::read_to_string(layout.issues_dir().join("a.json")).unwrap(), "rolled");
    assert!(!pending(&layout));
    assert!(layout.quarantine_dir().join("journal-3.json").exists());
}

#[test]
fn a_record_naming_a_path_outside_the_store_is_quarantined_not_applied() {
    let (_d, layout) = setup();
    let jdir = layout.journal_dir();
    fs::create_dir_all(&jdir).unwrap();
    let ops = vec![Op::Write { path: "../escaped.json".into(), content: "x".into() }];
    let rec = v1(ops, None);
    fs::write(jdir.join("1.json"), serde_json::to_vec(&rec).unwrap()).unwrap();
    let r = recover(&layout, Durability::Relaxed).unwrap();
    assert_eq!(r.quarantined, vec!["journal-1.json".to_string()]);
    assert_eq!((r.rolled_forward, r.discarded), (0, 1));
    assert!(!layout.root().parent().unwrap().join("escaped.json").exists());
    assert!(layout.quarantine_dir().join("journal-1.json").exists());
    assert!(!pending(&layout));
}

#[test]
fn a_move_makes_its_folder_never_replaces_and_applies_again_as_a_no_op() {
    let (_d, layout) = setup();
    fs::write(layout.issues_dir().join("a.json"), "damaged").unwrap();
    let ops = vec![
        Op::Move { path: "issues/a.json".into(), to: "quarantine/f/issues/a.json".into() },
        Op::Write { path: "quarantine/f/issues/a.json.note.json".into(), content: "n".into() },
        Op::Write { path: "issues/a.json".into(), content: "restored".into() },
    ];
    // The record as the commit writes it: each op's "before" as the ops before it leave it.
    let (paths, tos) = resolve_all(&layout, &ops).unwrap();
    let before: Vec<_> = befores(&ops, &paths, &tos).unwrap().iter().map(Entry::digest).collect();
    assert_eq!(before, vec![Some(digest(b"damaged")), None, None]);
    let mut rec =
        Record { format: 3, checksum: 0, seq: None, ops: ops.clone(), before: Some(before) };
    rec.checksum = rec.checksum();
    let rec_bytes = serde_json::to_vec(&rec).unwrap();
    commit(&layout, &ops, Durability::Full).unwrap();
    let q = layout.quarantine_dir().join("f/issues");
    let check = || {
        assert_eq!(fs::read_to_string(q.join("a.json")).unwrap(), "damaged");
        assert_eq!(fs::read_to_string(q.join("a.json.note.json")).unwrap(), "n");
        let now = fs::read_to_string(layout.issues_dir().join("a.json")).unwrap();
        assert_eq!(now, "restored");
    };
    check();
    // Applied again (a crash before the record left the journal): nothing moves over.
    let jdir = layout.journal_dir();
    fs::write(jdir.join("1.json"), &rec_bytes).unwrap();
    let r = recover(&layout, Durability::Relaxed).unwrap();
    assert_eq!((r.rolled_forward, r.superseded), (1, 0));
    check();
    // A crash after the move, before the writes: recovery finishes it.
    fs::remove_file(layout.issues_dir().join("a.json")).unwrap();
    fs::remove_file(q.join("a.json.note.json")).unwrap();
    fs::write(jdir.join("2.json"), &rec_bytes).unwrap();
    let r = recover(&layout, Durability::Relaxed).unwrap();
    assert_eq!((r.rolled_forward, r.superseded), (1, 0));
    check();
    // A crash with the record durable and nothing applied: recovery makes it all.
    fs::remove_dir_all(layout.quarantine_dir()).unwrap();
    fs::write(layout.issues_dir().join("a.json"), "damaged").unwrap();
    fs::write(jdir.join("3.json"), &rec_bytes).unwrap();
    let r = recover(&layout, Durability::Relaxed).unwrap();
    assert_eq!((r.rolled_forward, r.superseded), (1, 0));
    check();
    // A move onto an existing entry is refused before anything is written.
    let onto =
        vec![Op::Move { path: "issues/a.json".into(), to: "quarantine/f/issues/a.json".into() }];
    assert!(commit(&layout, &onto, Durability::Relaxed).is_err());
    check();
    assert!(!pending(&layout));
    // Versions that know no moves: a move in a format 2 record is damage.
    let mut old = Record { format: 2, ..rec };
    old.checksum = old.checksum();
    assert!(old.damage(&layout).unwrap().contains("format 2"));
    let out = vec![Op::Move { path: "issues/a.json".into(), to: "../escaped".into() }];
    assert!(commit(&layout, &out, Durability::Relaxed).is_err());
    assert!(layout.issues_dir().join("a.json").exists());
}

#[test]
fn a_failed_commit_moves_back_what_it_moved() {
    let (_d, layout) = setup();
    fs::create_dir(layout.issues_dir().join("d.json")).unwrap();
    fs::write(layout.issues_dir().join("d.json/x"), "inside").unwrap();
    let ops = vec![
        Op::Move { path: "issues/d.json".into(), to: "quarantine/g/issues/d.json".into() },
        Op::Write { path: "issues/d.json".into(), content: "new".into() },
    ];
    let (paths, tos) = resolve_all(&layout, &ops).unwrap();
    let olds = befores(&ops, &paths, &tos).unwrap();
    assert_eq!(olds, vec![Entry::Other("directory"), Entry::Missing]);
    // As if the write had failed after the move: undo puts the directory back.
    for (i, op) in ops.iter().enumerate().take(1) {
        if let Op::Move { .. } = op {
            make_parent(&layout, tos[i].as_deref().unwrap()).unwrap();
            fs::rename(&paths[i], tos[i].as_deref().unwrap()).unwrap();
        }
    }
    fs::create_dir_all(layout.journal_dir()).unwrap();
    let record = layout.journal_dir().join("1.json");
    fs::write(&record, "{}").unwrap();
    let done = Done { ops: &ops[..1], paths: &paths, tos: &tos, olds: &olds };
    let e = Error::Corrupt { path: record.clone(), message: "failed".into() };
    let e = undo(&layout, &record, 1, done, Durability::Relaxed, e);
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    let back = fs::read_to_string(layout.issues_dir().join("d.json/x")).unwrap();
    assert_eq!(back, "inside");
    assert!(!pending(&layout));
    // And the commit itself moves a directory away and writes in its place.
    commit(&layout, &ops, Durability::Full).unwrap();
    assert_eq!(fs::read_to_string(layout.issues_dir().join("d.json")).unwrap(), "new");
    let moved = layout.quarantine_dir().join("g/issues/d.json/x");
    assert_eq!(fs::read_to_string(moved).unwrap(), "inside");
}

#[test]
fn paths_outside_the_store_are_refused() {
    let (_d, layout) = setup();
    for p in ["../x", "/etc/passwd", "", "issues/../../x"] {
        let ops = vec![Op::Write { path: p.into(), content: String::new() }];
        assert!(commit(&layout, &ops, Durability::Relaxed).is_err(), "{p}");
    }
}
