//! The rules give one answer on a full issue and on its index summary.

use proptest::prelude::*;

use super::*;
use crate::model::{Gate, NewIssue};

fn registry() -> Config {
    let mut c = Config::default();
    for (name, stage, mode) in [
        ("review", Stage::Precheck, Mode::Manual),
        ("tests", Stage::Postcheck, Mode::Auto),
        ("lint", Stage::Precheck, Mode::Auto),
    ] {
        let command = if mode == Mode::Auto { vec!["true".to_string()] } else { vec![] };
        let def = GateDef {
            stage,
            mode,
            description: String::new(),
            command,
            shell: false,
            timeout_s: 60,
            extra: Default::default(),
        };
        c.gates.insert(name.into(), def);
    }
    c
}

fn issue(state: usize, deps: &[u64], gates: &[(usize, usize)]) -> Issue {
    let now = jiff::Timestamp::UNIX_EPOCH;
    let mut i = NewIssue { title: "t".into(), ..Default::default() }
        .build(IssueId::from_parts(1, 1), now, State::ALL[state])
        .unwrap();
    i.dependencies = deps.iter().map(|d| IssueId::from_parts(2, *d as u128)).collect();
    let names = ["review", "tests", "lint", "gone"];
    for (n, s) in gates {
        let mut g = Gate::pending();
        g.status = GateStatus::ALL[*s];
        i.gates.insert(names[*n].into(), g);
    }
    i
}

proptest! {
    #[test]
    fn issue_and_summary_agree(
        state in 0..State::ALL.len(),
        deps in proptest::collection::vec(0u64..4, 0..3),
        gates in proptest::collection::vec((0usize..4, 0usize..3), 0..4),
        done in proptest::collection::vec(any::<bool>(), 4),
        runnable in any::<bool>(),
    ) {
        let i = issue(state, &deps, &gates);
        // As the index stores it and reads it back.
        let buf = postcard::to_allocvec(&Summary::of(&i)).unwrap();
        let s: Summary = postcard::from_bytes(&buf).unwrap();
        let reg = registry();
        let dep_done = |d: u128| done[(d & 3) as usize];
        let hold = |n: &str, st: &str| precheck_hold(st, reg.gates.get(n), runnable);
        prop_assert_eq!(ready_by_rule(&i, dep_done, hold), ready_by_rule(&s, dep_done, hold));
        prop_assert_eq!(is_blocked(&i, dep_done), is_blocked(&s, dep_done));
        for stage in [Stage::Precheck, Stage::Postcheck] {
            prop_assert_eq!(unpassed(&i, stage, &reg), unpassed(&s, stage, &reg));
        }
    }
}
