//! Unit tests of the read index.

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
