//! Unit tests of the read index.

use std::borrow::Cow;

use super::*;

#[test]
fn stat_all_matches_one_by_one_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let n = PARALLEL_STAT_MIN + 500; // enough to take the threaded path
    let mut ids = Vec::new();
    for i in 0..n as u64 {
        let id = IssueId::from_parts(1_700_000_000_000 + i, u128::from(i));
        fs::write(dir.path().join(id.file_name()), vec![b'x'; (i % 7) as usize]).unwrap();
        ids.push(id.as_u128());
    }
    let as_dir = IssueId::from_parts(5, 5);
    fs::create_dir(dir.path().join(as_dir.file_name())).unwrap();
    let gone = IssueId::from_parts(6, 6);
    ids.extend([as_dir.as_u128(), gone.as_u128()]);
    let got = stat_all(&File::open(dir.path()).unwrap(), &ids);
    assert_eq!(got.len(), ids.len());
    for (raw, stat) in ids.iter().zip(&got) {
        let id = IssueId::from_u128(*raw);
        if id == as_dir || id == gone {
            assert_eq!(*stat, None, "{id}: not a regular file, or missing");
        } else {
            let meta = fs::symlink_metadata(dir.path().join(id.file_name())).unwrap();
            assert_eq!(*stat, Some(FileStamp::of(&meta)));
        }
    }
}

#[test]
fn id_map_keeps_distinct_ids_apart() {
    let mut m: IdMap<u32> = IdMap::default();
    for i in 0..10_000u32 {
        m.insert(IssueId::from_parts(u64::from(i / 7), u128::from(i)).as_u128(), i);
    }
    assert_eq!(m.len(), 10_000);
    assert_eq!(m[&IssueId::from_parts(1, 9).as_u128()], 9);
}

/// 20 issues with descriptions written as jit writes them, and the layout.
fn repo_with_descriptions() -> (tempfile::TempDir, Layout, Vec<Issue>) {
    let dir = tempfile::tempdir().unwrap();
    crate::repo::Repo::init(dir.path()).unwrap();
    let layout = Layout::for_new(dir.path());
    let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let issues: Vec<Issue> = (0..20u64)
        .map(|i| {
            let issue = crate::model::NewIssue {
                title: format!("issue {i}"),
                description: format!("description of issue {i}, {}", "é".repeat(i as usize)),
                ..Default::default()
            }
            .build(
                IssueId::from_parts(1_700_000_000_000 + i, u128::from(i)),
                now,
                crate::model::State::Ready,
            )
            .unwrap();
            atomic::write(
                &layout.issue_path(issue.id),
                &issue.to_file_bytes(),
                Durability::Relaxed,
            )
            .unwrap();
            issue
        })
        .collect();
    // Let the files' ctimes age past the racy window, so that their records are trusted.
    std::thread::sleep(std::time::Duration::from_millis(150));
    (dir, layout, issues)
}

#[test]
fn the_base_serves_json_and_descriptions_by_single_reads_or_whole_sections() {
    let (_dir, layout, issues) = repo_with_descriptions();
    snapshot(&layout).unwrap(); // no base yet: this one writes it
    let snap = snapshot(&layout).unwrap();
    let base = snap.base.as_ref().expect("a base");
    assert_eq!(snap.len(), issues.len());
    assert!(snap.slots.iter().all(Slot::based), "every record comes from the base");
    // One issue: a positioned read, the section stays unread.
    let one = [snap.get(issues[3].id).unwrap()];
    assert_eq!(snap.json_of(&one).unwrap()[0].as_ref(), issues[3].to_compact_json().as_bytes());
    assert!(base.json.bytes.get().is_none(), "a single JSON is read alone");
    assert!(base.text.bytes.get().is_none(), "nothing asked for a description yet");
    // All of them: the section is read whole.
    let all: Vec<Entry> = snap.iter().collect();
    let jsons = snap.json_of(&all).unwrap();
    assert!(base.json.bytes.get().is_some_and(Option::is_some), "many JSONs read the section");
    for (issue, json) in issues.iter().zip(&jsons) {
        assert_eq!(json.as_ref(), issue.to_compact_json().as_bytes());
        assert!(matches!(json, Cow::Borrowed(_)), "a slice of the section");
    }
    // Descriptions: one by one at first, then the whole section.
    for pass in 0..=SINGLE_READS / issues.len() {
        for (issue, e) in issues.iter().zip(snap.iter()) {
            assert_eq!(e.summary().description.get(), issue.description);
            assert_eq!(e.summary().title, issue.title);
        }
        let whole = base.text.bytes.get().is_some_and(Option::is_some);
        assert_eq!(whole, (pass + 1) * issues.len() > SINGLE_READS, "after pass {pass}");
    }
}

#[test]
fn a_damaged_json_or_description_in_the_base_is_read_from_the_file() {
    let (_dir, layout, issues) = repo_with_descriptions();
    snapshot(&layout).unwrap();
    let snap = snapshot(&layout).unwrap();
    let base = snap.base.as_ref().unwrap();
    let blob = |i: usize| match snap.get(issues[i].id).unwrap().rec {
        RecordRef::Based { json, desc, .. } => (json, desc),
        RecordRef::Inline { .. } => panic!("from the base"),
    };
    let (json_5, _) = blob(5);
    let (_, desc_9) = blob(9);
    let path = layout.index_dir().join(BASE);
    let mut bytes = fs::read(&path).unwrap();
    bytes[(base.json.at + json_5.off) as usize + 7] ^= 0x20;
    bytes[(base.text.at + desc_9.off) as usize + 2] ^= 0x20;
    // Issue 12's description: not UTF-8, with a CRC to match (crafted). Its record's CRC
    // must then be made to match too.
    let desc_at = (base.text.at + blob(12).1.off) as usize;
    bytes[desc_at] = 0xff;
    let crc = crc32fast::hash(&bytes[desc_at..desc_at + blob(12).1.len as usize]);
    let slot = snap.slots[12];
    let (start, end) = (BASE_HEADER + slot.start, BASE_HEADER + slot.end);
    bytes[start + STAMPED + 28..start + STAMPED + 32].copy_from_slice(&crc.to_le_bytes());
    let rec_crc = crc32fast::hash(&bytes[start..end]);
    bytes[start - 4..start].copy_from_slice(&rec_crc.to_le_bytes());
    drop(snap);
    fs::write(&path, &bytes).unwrap();

    let snap = snapshot(&layout).unwrap();
    for few in [true, false] {
        let entries: Vec<Entry> =
            if few { vec![snap.get(issues[5].id).unwrap()] } else { snap.iter().collect() };
        let jsons = snap.json_of(&entries).unwrap();
        for (e, json) in entries.iter().zip(&jsons) {
            let issue = issues.iter().find(|i| i.id == e.id).unwrap();
            assert_eq!(json.as_ref(), issue.to_compact_json().as_bytes(), "few: {few}");
        }
    }
    for (issue, e) in issues.iter().zip(snap.iter()) {
        assert_eq!(e.description(), issue.description);
    }
    let mut damaged = snap.damaged.lock().unwrap().clone();
    damaged.sort_unstable();
    damaged.dedup();
    assert_eq!(damaged, vec![issues[5].id, issues[9].id, issues[12].id]);

    // The repair records them again (in the log), and the next reader finds them whole.
    snap.repair();
    drop(snap);
    let snap = snapshot(&layout).unwrap();
    for (issue, e) in issues.iter().zip(snap.iter()) {
        assert_eq!(e.json().unwrap().as_ref(), issue.to_compact_json().as_bytes());
        assert_eq!(e.description(), issue.description);
    }
    assert!(snap.damaged.lock().unwrap().is_empty(), "nothing read from a file this time");
}

#[test]
fn large_reads_split_over_two_threads_read_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    let data: Vec<u8> = (0..PARALLEL_READ_MIN as u32 + 4099).map(|i| (i % 251) as u8).collect();
    fs::write(&path, &data).unwrap();
    let f = File::open(&path).unwrap();
    let mut buf = vec![0; data.len() - 13];
    read_exact_at_parallel(&f, &mut buf, 13).unwrap();
    assert_eq!(buf, data[13..]);
    let mut past_end = vec![0; data.len()];
    assert!(read_exact_at_parallel(&f, &mut past_end, 13).is_err(), "a short file is an error");
}

#[test]
fn a_record_whose_summary_does_not_decode_is_read_from_the_file() {
    let (_dir, layout, issues) = repo_with_descriptions();
    snapshot(&layout).unwrap();
    let snap = snapshot(&layout).unwrap();
    // Garble the summary of issue 4's record and give the record a matching CRC, as only
    // a crafted file could.
    let slot = snap.slots[4];
    let path = layout.index_dir().join(BASE);
    let mut bytes = fs::read(&path).unwrap();
    let (start, end) = (BASE_HEADER + slot.start as usize, BASE_HEADER + slot.end as usize);
    for b in &mut bytes[start + FIXED_BASE..end] {
        *b = 0xff;
    }
    let crc = crc32fast::hash(&bytes[start..end]);
    bytes[start - 4..start].copy_from_slice(&crc.to_le_bytes());
    drop(snap);
    fs::write(&path, &bytes).unwrap();

    let snap = snapshot(&layout).unwrap();
    let e = snap.get(issues[4].id).unwrap();
    assert!(postcard::from_bytes::<Head>(e.rec.summary()).is_err(), "the summary is garbled");
    let s = e.summary();
    assert_eq!(
        (s.title, s.description.get().as_ref()),
        (issues[4].title.as_str(), issues[4].description.as_str())
    );
    assert_eq!(e.headline().title, issues[4].title);
    assert_eq!(e.head().state, issues[4].state.to_u8());
    assert_eq!(snap.get(issues[5].id).unwrap().summary().title, issues[5].title, "the others");
    // The cycle check's lookup reads the file too, rather than taking the issue as missing.
    let records = Records::open(&layout).unwrap();
    assert_eq!(records.deps(issues[4].id.as_u128()), Some(Vec::new()));
}

#[test]
fn a_compaction_clears_the_temp_file_a_killed_one_left() {
    let (_dir, layout, _issues) = repo_with_descriptions();
    snapshot(&layout).unwrap();
    let stale = layout.index_dir().join(".tmp.999999999.0.issues.idx");
    fs::write(&stale, vec![0u8; 4096]).unwrap();
    fs::remove_file(layout.index_dir().join(BASE)).unwrap(); // the next listing compacts
    snapshot(&layout).unwrap();
    assert!(layout.index_dir().join(BASE).exists(), "compacted");
    assert!(!stale.exists(), "the dead writer's temp file is gone");
}

#[test]
fn verify_tells_stale_missing_and_wrong_records_apart() {
    let (_dir, layout, issues) = repo_with_descriptions();
    let stamp = |i: &Issue| FileStamp::of(&fs::symlink_metadata(layout.issue_path(i.id)).unwrap());
    let files = |issues: &[Issue]| -> Vec<(FileStamp, Issue)> {
        issues.iter().map(|i| (stamp(i), i.clone())).collect()
    };
    let check = |f: &[(FileStamp, Issue)]| {
        let refs: Vec<(FileStamp, &Issue)> = f.iter().map(|(s, i)| (*s, i)).collect();
        verify(&layout, &refs).unwrap()
    };
    // No index yet: nothing to say.
    let c = check(&files(&issues));
    assert!(c.damaged.is_empty() && c.missing == 0 && c.wrong.is_empty());
    snapshot(&layout).unwrap(); // writes the base, every record trusted
    let c = check(&files(&issues));
    assert_eq!((c.stale, c.missing, c.dead, c.unreadable), (0, 0, 0, 0));
    assert!(c.damaged.is_empty() && c.wrong.is_empty(), "{c:?}");
    // A record of other data under the file's own stamp: listings would show it.
    let mut other = issues[3].clone();
    other.title = "not what the file says".into();
    record_written(&layout, &[&other]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150)); // past the racy window
    // ...which verify sees once it is trusted, while a real edit is only stale.
    let mut edited = issues[5].clone();
    edited.title = "edited".into();
    fs::write(layout.issue_path(edited.id), edited.to_file_bytes()).unwrap();
    let mut now = issues.clone();
    now[5] = edited;
    let c = check(&files(&now));
    assert_eq!(c.wrong, [issues[3].id]);
    assert_eq!((c.stale, c.missing, c.dead), (1, 0, 0));
    // Records of files that are gone, and files with no record.
    let c = check(&files(&now[..10]));
    assert_eq!(c.dead, 10);
}

/// A reader whose read overlapped a `validate --fix` that renamed a misnamed file into its
/// issue's name lays the move over what it read: the source name is gone, and the issue is
/// read at its new name, though the move carried no content.
#[test]
fn a_rename_laid_over_a_snapshot_shows_the_issue_under_its_new_name() {
    use crate::storage::journal::Op;
    let (_dir, layout, issues) = repo_with_descriptions();
    let moved = &issues[4];
    let stray = IssueId::from_parts(1_600_000_000_000, 77);
    let from = format!("issues/{}", stray.file_name());
    let to = format!("issues/{}", moved.id.file_name());
    // Read while the file still had the wrong name: the issue is not in the snapshot.
    fs::rename(layout.issue_path(moved.id), layout.issue_path(stray)).unwrap();
    let mut snap = snapshot(&layout).unwrap();
    assert!(snap.get(moved.id).is_none());
    // Then the fix moved it.
    fs::rename(layout.issue_path(stray), layout.issue_path(moved.id)).unwrap();
    snap.overlay(&[vec![Op::Move { path: from.clone(), to: to.clone() }]]);
    let e = snap.get(moved.id).expect("laid over under its own name");
    assert_eq!(e.summary().title, moved.title);
    assert!(snap.get(stray).is_none());
    // A destination that holds another issue (or nothing) lays nothing there.
    let mut snap = snapshot(&layout).unwrap();
    let elsewhere = format!("issues/{}", issues[5].id.file_name());
    let before = snap.len();
    snap.overlay(&[vec![Op::Move { path: from, to: elsewhere.replace(".json", "x.json") }]]);
    assert_eq!(snap.len(), before);
}
