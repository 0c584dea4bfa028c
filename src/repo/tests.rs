//! A state-machine model of the store: random sequences of creates, updates (some with
//! compare-and-swap), deletes, dependency edits, bulk updates, edits made behind jit's back
//! and index deletions run against a real repository and against a plain in-memory model.
//! After every step, every read path (the index snapshot, each issue's JSON through the
//! index, and the files) must agree with the model; a refused operation must change nothing.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::model::{IssueChanges, NewIssue, Priority};

/// What the model knows of an issue.
#[derive(Clone, Debug, PartialEq)]
struct M {
    title: String,
    state: State,
    priority: Priority,
    labels: BTreeSet<String>,
    deps: BTreeSet<IssueId>,
    version: u64,
}

#[derive(Clone, Debug)]
enum Change {
    State(usize),
    Priority(usize),
    AddLabel(usize),
    RemoveLabel(usize),
    Title(usize),
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        title: usize,
        priority: usize,
        labels: Vec<usize>,
        deps: Vec<usize>,
    },
    /// `cas`: `None` plain, `Some(true)` with the right version, `Some(false)` a wrong one.
    Update {
        who: usize,
        change: Change,
        cas: Option<bool>,
    },
    Delete {
        who: usize,
    },
    DepAdd {
        a: usize,
        b: usize,
    },
    DepRm {
        a: usize,
        b: usize,
    },
    Bulk {
        label: usize,
        priority: usize,
    },
    EditBehindBack {
        who: usize,
        title: usize,
    },
    DropIndex,
}

fn dep_edit(a: IssueId, b: IssueId) -> api::DepEdit {
    api::DepEdit { id: a.to_string(), deps: vec![b.to_string()] }
}

fn label(n: usize) -> String {
    format!("m:l{}", n % 4)
}

fn title(n: usize) -> String {
    format!("title {}", n % 50)
}

fn arb_change() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => (0..6usize).prop_map(Change::State),
        1 => (0..4usize).prop_map(Change::Priority),
        1 => (0..4usize).prop_map(Change::AddLabel),
        1 => (0..4usize).prop_map(Change::RemoveLabel),
        1 => (0..50usize).prop_map(Change::Title),
    ]
}

fn arb_op() -> impl Strategy<Value = Op> {
    let who = 0..64usize;
    prop_oneof![
        4 => (0..50usize, 0..4usize, prop::collection::vec(0..4usize, 0..3),
              prop::collection::vec(0..64usize, 0..3))
            .prop_map(|(title, priority, labels, deps)| Op::Create { title, priority, labels, deps }),
        6 => (who.clone(), arb_change(), prop::option::of(any::<bool>()))
            .prop_map(|(who, change, cas)| Op::Update { who, change, cas }),
        1 => who.clone().prop_map(|who| Op::Delete { who }),
        3 => (who.clone(), who.clone()).prop_map(|(a, b)| Op::DepAdd { a, b }),
        1 => (who.clone(), who.clone()).prop_map(|(a, b)| Op::DepRm { a, b }),
        1 => (0..4usize, 0..4usize).prop_map(|(label, priority)| Op::Bulk { label, priority }),
        1 => (who, 0..50usize).prop_map(|(who, title)| Op::EditBehindBack { who, title }),
        1 => Just(Op::DropIndex),
    ]
}

struct World {
    _dir: tempfile::TempDir,
    repo: Repo,
    model: BTreeMap<IssueId, M>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        Repo::init(dir.path()).unwrap();
        let opts = OpenOptions {
            repo: Some(dir.path().to_path_buf()),
            cwd: dir.path().to_path_buf(),
            lock_timeout_ms: Some(10_000),
            durability: Some(Durability::Relaxed),
            command: "model test".into(),
            trust_all_gates: false,
            ceilings: Vec::new(),
            actor: "tester".into(),
        };
        let repo = Repo::open(&opts, Clock::system()).unwrap();
        World { _dir: dir, repo, model: BTreeMap::new() }
    }

    /// The same, reading through a warm index (as `jit mcp` does).
    fn warm() -> World {
        let mut w = World::new();
        let warm = crate::storage::index::warm::WarmIndex::open(w.repo.layout()).unwrap();
        w.repo.set_warm(warm);
        w
    }

    /// The `n`-th live issue (wrapping), if there is any.
    fn pick(&self, n: usize) -> Option<IssueId> {
        (!self.model.is_empty()).then(|| *self.model.keys().nth(n % self.model.len()).unwrap())
    }

    /// Does `from` reach `to` through dependencies, in the model?
    fn reaches(&self, from: IssueId, to: IssueId) -> bool {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if seen.insert(n) {
                stack.extend(self.model[&n].deps.iter().copied());
            }
        }
        false
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Create { title: t, priority, labels, deps } => {
                let deps: Vec<IssueId> = deps.iter().filter_map(|d| self.pick(*d)).collect();
                let new = NewIssue {
                    title: title(*t),
                    priority: Some(Priority::ALL[*priority]),
                    labels: labels.iter().map(|l| label(*l)).collect(),
                    dependencies: deps.clone(),
                    ..Default::default()
                };
                let issue = self.repo.create(new, &[]).expect("create");
                let m = M {
                    title: title(*t),
                    state: issue.state,
                    priority: Priority::ALL[*priority],
                    labels: labels.iter().map(|l| label(*l)).collect(),
                    deps: deps.into_iter().collect(),
                    version: 1,
                };
                self.model.insert(issue.id, m);
            }
            Op::Update { who, change, cas } => {
                let Some(id) = self.pick(*who) else { return };
                let before = self.model[&id].clone();
                let mut after = before.clone();
                let mut changes = IssueChanges::default();
                match change {
                    Change::State(s) => {
                        changes.state = Some(State::ALL[*s]);
                        after.state = State::ALL[*s];
                    }
                    Change::Priority(p) => {
                        changes.priority = Some(Priority::ALL[*p]);
                        after.priority = Priority::ALL[*p];
                    }
                    Change::AddLabel(l) => {
                        changes.add_labels = vec![label(*l)];
                        after.labels.insert(label(*l));
                    }
                    Change::RemoveLabel(l) => {
                        changes.remove_labels = vec![label(*l)];
                        after.labels.remove(&label(*l));
                    }
                    Change::Title(t) => {
                        changes.title = Some(title(*t));
                        after.title = title(*t);
                    }
                }
                let if_version = cas.map(|right| before.version + if right { 0 } else { 7 });
                let result = self.repo.update(&id.to_string(), &changes, if_version);
                match result {
                    Err(Error::VersionConflict { .. }) => assert_eq!(cas, &Some(false)),
                    Err(Error::TransitionRefused { .. }) => {
                        let to = changes.state.expect("only state changes are refused");
                        assert!(!before.state.can_move_to(to), "{:?} → {to:?}", before.state);
                    }
                    Err(Error::Blocked { .. }) => {
                        assert_eq!(changes.state, Some(State::InProgress));
                        assert!(before.deps.iter().any(|d| self.model[d].state != State::Done));
                    }
                    Err(e) => panic!("update {op:?}: unexpected {e}"),
                    Ok((issue, changed)) => {
                        assert_ne!(cas, &Some(false), "a wrong version must conflict");
                        assert_eq!(changed, after != before, "{op:?}");
                        after.version += u64::from(changed);
                        assert_eq!(issue.version, after.version);
                        self.model.insert(id, after);
                    }
                }
            }
            Op::Delete { who } => {
                let Some(id) = self.pick(*who) else { return };
                let plan = self
                    .repo
                    .delete(&api::DeleteIssue { id: id.to_string() }, None)
                    .expect("delete");
                self.model.remove(&id);
                let mut referrers = Vec::new();
                for (other, m) in self.model.iter_mut() {
                    if m.deps.remove(&id) {
                        m.version += 1;
                        referrers.push(*other);
                    }
                }
                assert_eq!(
                    plan.referrers.into_iter().collect::<BTreeSet<_>>(),
                    referrers.into_iter().collect()
                );
            }
            Op::DepAdd { a, b } => {
                let (Some(a), Some(b)) = (self.pick(*a), self.pick(*b)) else { return };
                match self.repo.dep_add(&dep_edit(a, b), None) {
                    Err(Error::Dependency {
                        refusal: crate::error::DepRefusal::OnItself, ..
                    }) => assert_eq!(a, b),
                    Err(Error::Dependency {
                        refusal: crate::error::DepRefusal::Cycle,
                        cycle,
                        ..
                    }) => {
                        assert!(self.reaches(b, a), "{a} → {b} is no cycle in the model");
                        assert!(cycle.len() >= 2, "the cycle is named: {cycle:?}");
                    }
                    Err(e) => panic!("dep add: unexpected {e}"),
                    Ok(DepsChanged { changed: added, .. }) => {
                        assert!(a != b && !self.reaches(b, a), "{a} → {b} closes a cycle");
                        let m = self.model.get_mut(&a).unwrap();
                        assert_eq!(added.is_empty(), m.deps.contains(&b));
                        if m.deps.insert(b) {
                            m.version += 1;
                        }
                    }
                }
            }
            Op::DepRm { a, b } => {
                let (Some(a), Some(b)) = (self.pick(*a), self.pick(*b)) else { return };
                let removed = self.repo.dep_rm(&dep_edit(a, b), None).unwrap().changed;
                let m = self.model.get_mut(&a).unwrap();
                assert_eq!(removed.is_empty(), !m.deps.contains(&b));
                if m.deps.remove(&b) {
                    m.version += 1;
                }
            }
            Op::Bulk { label: l, priority } => {
                let filter = crate::query::parse(&format!("label:{}", label(*l))).unwrap();
                let changes =
                    IssueChanges { priority: Some(Priority::ALL[*priority]), ..Default::default() };
                let report = self.repo.bulk_update(&filter, &changes, false, true).unwrap();
                let mut modified = BTreeSet::new();
                for (id, m) in self.model.iter_mut() {
                    if m.labels.contains(&label(*l)) && m.priority != Priority::ALL[*priority] {
                        m.priority = Priority::ALL[*priority];
                        m.version += 1;
                        modified.insert(*id);
                    }
                }
                assert_eq!(report.issue_ids.into_iter().collect::<BTreeSet<_>>(), modified);
                assert!(report.errors.is_empty());
            }
            Op::EditBehindBack { who, title: t } => {
                // As git or an editor would: the file rewritten in place, now, by another
                // program; no version bump.
                let Some(id) = self.pick(*who) else { return };
                let path = self.repo.layout().issue_path(id);
                let mut issue = Issue::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                issue.title = title(*t);
                std::fs::write(&path, issue.to_file_bytes()).unwrap();
                self.model.get_mut(&id).unwrap().title = title(*t);
            }
            Op::DropIndex => {
                let _ = std::fs::remove_dir_all(self.repo.layout().index_dir());
            }
        }
    }

    /// Every read path agrees with the model.
    fn check(&self, after: &Op) {
        let snap = self.repo.snapshot().unwrap();
        assert!(snap.problems.is_empty(), "after {after:?}: {:?}", snap.problems);
        let ids: Vec<IssueId> = snap.iter().map(|e| e.id).collect();
        assert_eq!(ids, self.model.keys().copied().collect::<Vec<_>>(), "after {after:?}");
        let entries: Vec<_> = snap.iter().collect();
        let jsons = snap.json_of(&entries).unwrap();
        for (e, json) in entries.iter().zip(&jsons) {
            let m = &self.model[&e.id];
            let s = e.summary();
            let seen = M {
                title: s.title.to_string(),
                state: State::from_u8(s.state).unwrap(),
                priority: Priority::from_u8(s.priority).unwrap(),
                labels: s.labels.iter().map(|l| l.to_string()).collect(),
                deps: s.dependencies.iter().map(|d| IssueId::from_u128(*d)).collect(),
                version: s.version,
            };
            assert_eq!(&seen, m, "summary of {} after {after:?}", e.id);
            let file = self.repo.load(e.id).unwrap();
            assert_eq!(json.as_ref(), file.to_compact_json().as_bytes(), "JSON after {after:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_store_agrees_with_a_model(ops in prop::collection::vec(arb_op(), 1..40)) {
        let mut w = World::new();
        for op in &ops {
            w.apply(op);
            w.check(op);
        }
    }

    /// The same model, read through the warm index: every change, by jit or behind its back
    /// (an edit in place, the index dropped), is seen by the next read.
    #[test]
    fn the_warm_store_agrees_with_a_model(ops in prop::collection::vec(arb_op(), 1..40)) {
        let mut w = World::warm();
        for op in &ops {
            w.apply(op);
            w.check(op);
        }
        let stats = w.repo.warm().unwrap().stats();
        prop_assert_eq!(stats.full_rechecks, 1, "{:?}", stats);
    }
}

/// What the transaction will do at its commit: an event made by the repository carries the
/// actor and the command, and reads back once appended.
#[test]
fn an_event_made_and_appended_by_the_repository_reads_back() {
    let w = World::new();
    let id = IssueId::from_parts(1, 2);
    let mut a = w.repo.new_event("create");
    a.touch(id, None, Some(1));
    let mut b = w.repo.new_event("update");
    b.touch(id, Some(1), Some(2));
    assert_ne!(a.id, b.id);
    assert_eq!((a.actor.as_str(), a.command.as_deref()), ("tester", Some("model test")));
    w.repo.append_event(&a).unwrap();
    w.repo.append_event(&b).unwrap();
    let page = w.repo.events(&crate::storage::events::Filter::default(), None).unwrap();
    assert_eq!(page.events, [b, a]);
}
