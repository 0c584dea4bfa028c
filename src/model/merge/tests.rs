use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::model::{Gate, GateRun, GateStatus, IssueId, NewIssue, State};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn base() -> Issue {
    NewIssue {
        title: "Fix login".into(),
        labels: vec!["type:bug".into(), "area:auth".into()],
        ..Default::default()
    }
    .build(IssueId::from_parts(7, 7), at("2026-01-01T00:00:00Z"), State::Backlog)
    .unwrap()
}

/// `issue` as changed at `when` by `f`, with the version bumped as every write does.
fn edit(issue: &Issue, when: &str, f: impl FnOnce(&mut Issue)) -> Issue {
    let mut i = issue.clone();
    f(&mut i);
    i.version += 1;
    i.updated_at = at(when);
    i
}

fn run(status: GateStatus, when: &str) -> GateRun {
    GateRun {
        status,
        at: at(when),
        by: Some("alice".into()),
        note: None,
        exit_code: None,
        duration_ms: None,
        timed_out: false,
        output: None,
        extra: Map::new(),
    }
}

#[test]
fn one_sided_changes_are_taken_and_sets_merge() {
    let b = base();
    let o = edit(&b, "2026-01-02T00:00:00Z", |i| {
        i.title = "Fix the login page".into();
        i.labels.push("prio:p1".into());
        i.labels.retain(|l| l != "type:bug");
    });
    let t = edit(&b, "2026-01-03T00:00:00Z", |i| {
        i.labels.push("area:ui".into());
        i.context.insert("branch".into(), json!("feat/login"));
    });
    let m = merge(Some(&b), &o, &t).unwrap();
    assert_eq!(m.title, "Fix the login page");
    assert_eq!(m.labels, ["area:auth", "area:ui", "prio:p1"]);
    assert_eq!(m.context["branch"], json!("feat/login"));
    assert_eq!(m.version, 3);
    assert_eq!(m.updated_at, at("2026-01-03T00:00:00Z"));
    assert!(m.merge_overrides.is_empty());
}

#[test]
fn both_sided_changes_go_to_the_later_side_and_are_recorded() {
    let b = base();
    let o = edit(&b, "2026-01-05T00:00:00Z", |i| {
        i.state = State::Ready;
        i.context.insert("k".into(), json!(1));
    });
    let t = edit(&b, "2026-01-04T00:00:00Z", |i| {
        i.state = State::Rejected;
        i.closed_at = Some(at("2026-01-04T00:00:00Z"));
        i.context.insert("k".into(), json!(2));
    });
    for (x, y) in [(&o, &t), (&t, &o)] {
        let m = merge(Some(&b), x, y).unwrap();
        assert_eq!((m.state, m.closed_at), (State::Ready, None));
        assert_eq!(m.context["k"], json!(1));
        let fields: Vec<_> = m.merge_overrides.iter().map(|r| r.field.as_str()).collect();
        assert_eq!(fields, ["context.k", "state"]);
        let state = &m.merge_overrides[1];
        assert_eq!((&state.kept, &state.dropped), (&json!("ready"), &json!("rejected")));
        assert_eq!(state.dropped_at, at("2026-01-04T00:00:00Z"));
    }
}

#[test]
fn gate_runs_merge_as_a_union_in_time_order() {
    let mut b = base();
    b.gates.insert("review".into(), Gate::pending());
    let o = edit(&b, "2026-01-02T00:00:00Z", |i| {
        i.gates.get_mut("review").unwrap().record(run(GateStatus::Failed, "2026-01-02T00:00:00Z"));
    });
    let t = edit(&b, "2026-01-03T00:00:00Z", |i| {
        let g = i.gates.get_mut("review").unwrap();
        g.record(run(GateStatus::Failed, "2026-01-02T00:00:00Z"));
        g.record(run(GateStatus::Passed, "2026-01-03T00:00:00Z"));
    });
    let o2 = edit(&o, "2026-01-04T00:00:00Z", |i| {
        i.gates.get_mut("review").unwrap().record(run(GateStatus::Failed, "2026-01-04T00:00:00Z"));
    });
    let m = merge(Some(&b), &o2, &t).unwrap();
    let g = &m.gates["review"];
    let when: Vec<_> = g.runs.iter().map(|r| r.at.to_string()).collect();
    assert_eq!(when, ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z"]);
    assert_eq!(g.status, GateStatus::Failed, "the status of the last run");
    assert!(m.merge_overrides.is_empty(), "a derived status is no override");
}

#[test]
fn a_gate_removed_on_one_side_stays_removed_and_a_concurrent_run_is_recorded() {
    let mut b = base();
    b.gates.insert("review".into(), Gate::pending());
    let o = edit(&b, "2026-01-02T00:00:00Z", |i| {
        i.gates.clear();
    });
    let t = edit(&b, "2026-01-03T00:00:00Z", |i| {
        i.gates.get_mut("review").unwrap().record(run(GateStatus::Passed, "2026-01-03T00:00:00Z"));
    });
    let m = merge(Some(&b), &o, &t).unwrap();
    assert!(m.gates.is_empty());
    assert_eq!(m.merge_overrides.len(), 1);
    assert_eq!(m.merge_overrides[0].field, "gates.review");
    assert_eq!(m.merge_overrides[0].dropped["status"], json!("passed"));
}

#[test]
fn unknown_fields_merge_by_the_generic_rules() {
    let mut b = base();
    let doc = |p: &str| crate::model::Document { path: p.into(), label: None };
    b.documents = vec![doc("a.md")];
    b.extra.insert("x_meta".into(), json!({"a": 1, "b": 1}));
    let o = edit(&b, "2026-01-02T00:00:00Z", |i| {
        i.documents.push(doc("b.md"));
        i.extra.insert("x_meta".into(), json!({"a": 2, "b": 1}));
    });
    let t = edit(&b, "2026-01-03T00:00:00Z", |i| {
        i.documents = vec![doc("c.md")];
        i.extra.insert("x_meta".into(), json!({"a": 1, "b": 3, "c": 4}));
        i.artifacts.push(json!({"kind": "log", "path": "ci.txt"}));
    });
    let m = merge(Some(&b), &o, &t).unwrap();
    assert_eq!(m.documents, [doc("c.md"), doc("b.md")], "documents merge as a set");
    assert_eq!(m.extra["x_meta"], json!({"a": 2, "b": 3, "c": 4}));
    assert_eq!(m.artifacts, [json!({"kind": "log", "path": "ci.txt"})]);
}

#[test]
fn a_missing_base_merges_as_empty_and_bad_input_is_refused() {
    let b = base();
    let o = edit(&b, "2026-01-02T00:00:00Z", |i| i.labels = vec!["x:1".into()]);
    let t = edit(&b, "2026-01-03T00:00:00Z", |i| i.labels = vec!["y:1".into()]);
    let m = merge(None, &o, &t).unwrap();
    assert_eq!(m.labels, ["x:1", "y:1"]);
    let mut other = t.clone();
    other.id = IssueId::from_parts(8, 8);
    assert!(matches!(merge(Some(&b), &o, &other), Err(MergeError::DifferentIds { .. })));
    let ob = o.to_file_bytes();
    let err = merge_files(Some(b"<<<<<<< HEAD\n"), &ob, &ob).unwrap_err();
    assert!(matches!(err, MergeError::Unreadable { side: "base", .. }), "{err}");
    assert!(merge_files(None, &ob, b"{\"id\": 1}").is_err());
}

#[test]
fn the_output_is_what_jit_writes() {
    let b = base();
    let o = edit(&b, "2026-01-02T00:00:00Z", |i| i.title = "A".into());
    let t = edit(&b, "2026-01-03T00:00:00Z", |i| i.title = "B".into());
    let bytes =
        merge_files(Some(&b.to_file_bytes()), &o.to_file_bytes(), &t.to_file_bytes()).unwrap();
    let back = Issue::from_slice(&bytes).unwrap();
    assert_eq!(bytes, back.to_file_bytes());
    assert_eq!(back.title, "B");
    assert_eq!(back.merge_overrides[0].field, "title");
}

#[test]
fn overrides_are_bounded() {
    let mut b = base();
    for n in 0..MAX_MERGE_OVERRIDES {
        let mut m = Map::new();
        m.insert("n".into(), n.into());
        b.merge_overrides.push(crate::model::MergeOverride {
            field: format!("f{n}"),
            kept: json!(1),
            dropped: json!(2),
            dropped_at: at("2026-01-01T00:00:00Z"),
            extra: m,
        });
    }
    let o = edit(&b, "2026-01-02T00:00:00Z", |i| i.title = "A".into());
    let t = edit(&b, "2026-01-03T00:00:00Z", |i| i.title = "B".into());
    let m = merge(Some(&b), &o, &t).unwrap();
    assert_eq!(m.merge_overrides.len(), MAX_MERGE_OVERRIDES);
    assert_eq!(m.merge_overrides.last().unwrap().field, "title");
    assert_eq!(m.merge_overrides[0].field, "f1");
}

const LABELS: [&str; 5] = ["a:1", "a:2", "b:1", "b:2", "c:1"];
const STATES: [State; 4] = [State::Backlog, State::Ready, State::InProgress, State::Rejected];

/// One branch's edits of the base, drawn at random.
#[derive(Debug, Clone)]
struct Edits {
    title: Option<u8>,
    state: Option<usize>,
    add: Vec<usize>,
    remove: Vec<usize>,
    deps: Vec<u64>,
    context: Vec<(u8, Option<u8>)>,
    gate_run: Option<(bool, u32)>,
    secs: u32,
}

fn edits() -> impl Strategy<Value = Edits> {
    (
        proptest::option::of(0u8..3),
        proptest::option::of(0usize..STATES.len()),
        proptest::collection::vec(0usize..LABELS.len(), 0..3),
        proptest::collection::vec(0usize..LABELS.len(), 0..3),
        proptest::collection::vec(1u64..5, 0..3),
        proptest::collection::vec((0u8..3, proptest::option::of(0u8..3)), 0..3),
        proptest::option::of((any::<bool>(), 0u32..3)),
        0u32..3,
    )
        .prop_map(|(title, state, add, remove, deps, context, gate_run, secs)| Edits {
            title,
            state,
            add,
            remove,
            deps,
            context,
            gate_run,
            secs,
        })
}

fn prop_base(labels: &[usize]) -> Issue {
    let mut b = base();
    b.labels = labels.iter().map(|&n| LABELS[n].to_string()).collect();
    b.labels.sort();
    b.labels.dedup();
    b.dependencies = vec![IssueId::from_parts(1, 1)];
    b.gates.insert("review".into(), Gate::pending());
    b.context.insert("k0".into(), json!(0));
    b
}

fn apply(b: &Issue, e: &Edits) -> Issue {
    let when = at("2026-01-02T00:00:00Z") + jiff::SignedDuration::from_secs(e.secs.into());
    let mut i = b.clone();
    if let Some(t) = e.title {
        i.title = format!("title {t}");
    }
    if let Some(s) = e.state {
        i.state = STATES[s];
        i.closed_at = STATES[s].is_closed().then_some(when);
    }
    i.labels.retain(|l| !e.remove.iter().any(|&n| LABELS[n] == l));
    i.labels.extend(e.add.iter().map(|&n| LABELS[n].to_string()));
    i.labels.sort();
    i.labels.dedup();
    for d in &e.deps {
        let d = IssueId::from_parts(*d, 2);
        if !i.dependencies.contains(&d) {
            i.dependencies.push(d);
        }
    }
    for (k, v) in &e.context {
        match v {
            Some(v) => i.context.insert(format!("k{k}"), json!(v)),
            None => i.context.remove(&format!("k{k}")),
        };
    }
    if let Some((pass, offset)) = e.gate_run {
        let status = if pass { GateStatus::Passed } else { GateStatus::Failed };
        let mut r = run(status, "2026-01-02T00:00:00Z");
        r.at += jiff::SignedDuration::from_secs(offset.into());
        i.gates.get_mut("review").unwrap().record(r);
    }
    if i != *b {
        i.version += 1;
        i.updated_at = when;
    }
    i
}

fn without_overrides(mut i: Issue) -> Issue {
    i.merge_overrides.clear();
    i
}

proptest! {
    #[test]
    fn merge_is_symmetric_but_for_the_record(
        labels in proptest::collection::vec(0usize..LABELS.len(), 0..4),
        eo in edits(),
        et in edits(),
    ) {
        let b = prop_base(&labels);
        let (o, t) = (apply(&b, &eo), apply(&b, &et));
        let ot = merge(Some(&b), &o, &t).unwrap();
        let to = merge(Some(&b), &t, &o).unwrap();
        prop_assert_eq!(without_overrides(ot.clone()), without_overrides(to));
        // Byte-stable: the output is read back as the same issue and written the same way.
        let bytes = ot.to_file_bytes();
        prop_assert_eq!(Issue::from_slice(&bytes).unwrap().to_file_bytes(), bytes);
        prop_assert!(ot.version > o.version.max(t.version) || ot == o || ot == t);
    }

    #[test]
    fn an_element_added_on_one_side_only_is_kept(
        labels in proptest::collection::vec(0usize..LABELS.len(), 0..4),
        eo in edits(),
        et in edits(),
    ) {
        let b = prop_base(&labels);
        let (o, t) = (apply(&b, &eo), apply(&b, &et));
        let m = merge(Some(&b), &o, &t).unwrap();
        for l in o.labels.iter().filter(|l| !b.labels.contains(l)) {
            prop_assert!(m.labels.contains(l), "{} added by ours is lost", l);
        }
        for l in b.labels.iter().filter(|l| !o.labels.contains(l) || !t.labels.contains(l)) {
            prop_assert!(!m.labels.contains(l), "{} removed on one side came back", l);
        }
        for d in t.dependencies.iter().filter(|d| !b.dependencies.contains(d)) {
            prop_assert!(m.dependencies.contains(d));
        }
        for r in o.gates["review"].runs.iter().chain(&t.gates["review"].runs) {
            prop_assert!(m.gates["review"].runs.contains(r));
        }
        if let Some(last) = m.gates["review"].runs.last() {
            prop_assert_eq!(m.gates["review"].status, last.status);
        }
    }

    #[test]
    fn trivial_merges_return_a_side(
        labels in proptest::collection::vec(0usize..LABELS.len(), 0..4),
        eo in edits(),
        et in edits(),
    ) {
        let b = prop_base(&labels);
        let (o, t) = (apply(&b, &eo), apply(&b, &et));
        prop_assert_eq!(&merge(Some(&b), &o, &o).unwrap(), &o);
        prop_assert_eq!(&merge(Some(&o), &o, &t).unwrap(), &t);
        prop_assert_eq!(&merge(Some(&t), &o, &t).unwrap(), &o);
    }
}
