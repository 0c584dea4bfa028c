//! Property tests of the graph algorithms against plain reference implementations.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

/// Random graphs on up to 12 nodes; about half of them acyclic by construction.
fn arb_graph() -> impl Strategy<Value = BTreeMap<Node, Vec<Node>>> {
    (1usize..12, prop::collection::vec((0usize..12, 0usize..12), 0..30), any::<bool>()).prop_map(
        |(n, edges, acyclic)| {
            let mut adj: BTreeMap<Node, Vec<Node>> = (0..n as Node).map(|i| (i, vec![])).collect();
            for (a, b) in edges {
                let (a, b) = ((a % n) as Node, (b % n) as Node);
                if acyclic && a <= b {
                    continue; // only edges to smaller ids: no cycle possible
                }
                let ds = adj.get_mut(&a).unwrap();
                if !ds.contains(&b) {
                    ds.push(b);
                }
            }
            adj
        },
    )
}

/// Reachability by fixpoint: everything reachable from `a` in one or more steps.
fn reach(adj: &BTreeMap<Node, Vec<Node>>, a: Node) -> BTreeSet<Node> {
    let mut set: BTreeSet<Node> = adj[&a].iter().copied().collect();
    loop {
        let next: BTreeSet<Node> =
            set.iter().flat_map(|n| adj.get(n).into_iter().flatten().copied()).collect();
        let before = set.len();
        set.extend(next);
        if set.len() == before {
            return set;
        }
    }
}

fn has_cycle_ref(adj: &BTreeMap<Node, Vec<Node>>) -> bool {
    adj.keys().any(|&a| reach(adj, a).contains(&a))
}

fn is_cycle_in(adj: &BTreeMap<Node, Vec<Node>>, c: &[Node]) -> bool {
    c.len() >= 2 && c.first() == c.last() && c.windows(2).all(|w| adj[&w[0]].contains(&w[1]))
}

proptest! {
    #[test]
    fn find_cycle_agrees_with_reachability(adj in arb_graph()) {
        match find_cycle(&adj) {
            Some(c) => prop_assert!(is_cycle_in(&adj, &c), "{:?} is not a cycle of {:?}", c, adj),
            None => prop_assert!(!has_cycle_ref(&adj)),
        }
    }

    #[test]
    fn topo_order_is_valid_or_names_a_cycle(adj in arb_graph()) {
        match topo_order(&adj) {
            Ok(order) => {
                prop_assert_eq!(order.len(), adj.len());
                let pos: BTreeMap<Node, usize> = order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
                for (a, ds) in &adj {
                    for d in ds {
                        prop_assert!(pos[d] < pos[a], "dependency {} after {}", d, a);
                    }
                }
                prop_assert!(!has_cycle_ref(&adj));
            }
            Err(c) => {
                prop_assert!(is_cycle_in(&adj, &c));
                prop_assert!(has_cycle_ref(&adj));
            }
        }
    }

    #[test]
    fn closure_equals_reachability(adj in arb_graph(), start in 0u128..12, depth in 0usize..4) {
        let start = start % adj.len() as Node;
        let deps = |n: Node| adj.get(&n).cloned().unwrap_or_default();
        let got: BTreeMap<Node, usize> = closure(start, depth, deps).into_iter().collect();
        let mut want = reach(&adj, start);
        want.remove(&start);
        if depth == 0 {
            prop_assert_eq!(got.keys().copied().collect::<BTreeSet<_>>(), want);
        } else {
            // Within `depth` steps: reference by repeated expansion.
            let mut frontier: BTreeSet<Node> = BTreeSet::from([start]);
            let mut seen = BTreeSet::new();
            for _ in 0..depth {
                frontier = frontier.iter().flat_map(|n| adj[n].iter().copied()).filter(|n| *n != start).collect();
                seen.extend(frontier.iter().copied());
            }
            prop_assert_eq!(got.keys().copied().collect::<BTreeSet<_>>(), seen);
        }
        for (n, d) in &got {
            prop_assert_eq!(path(start, *n, deps).map(|p| p.len() - 1), Some(*d), "BFS distance");
        }
    }

    #[test]
    fn adding_an_edge_closes_a_cycle_exactly_when_the_reverse_path_exists(adj in arb_graph(), a in 0u128..12, b in 0u128..12) {
        let n = adj.len() as Node;
        let (a, b) = (a % n, b % n);
        prop_assume!(find_cycle(&adj).is_none());
        let deps = |n: Node| adj.get(&n).cloned().unwrap_or_default();
        let got = cycle_if_added(a, b, deps);
        let mut with = adj.clone();
        with.get_mut(&a).unwrap().push(b);
        prop_assert_eq!(got.is_some(), has_cycle_ref(&with));
        if let Some(c) = got {
            prop_assert!(is_cycle_in(&with, &c), "{:?}", c);
            prop_assert_eq!(c[0], a);
        }
    }
}

#[test]
fn self_edge_is_a_cycle_and_describe_joins_with_arrows() {
    let c = cycle_if_added(7, 7, |_| vec![]).unwrap();
    assert_eq!(c, vec![7, 7]);
    assert_eq!(describe_cycle(&[1, 2, 1], |n| format!("n{n}")), "n1 → n2 → n1");
}

#[test]
fn the_precheck_rule_holds_what_cannot_pass_at_the_start() {
    use crate::model::GateDef;
    let def = |stage: &str, mode: &str| -> GateDef {
        let mut v = serde_json::json!({"stage": stage, "mode": mode});
        if mode == "auto" {
            v["command"] = serde_json::json!(["true"]);
        }
        serde_json::from_value(v).unwrap()
    };
    let (auto, manual, post) =
        (def("precheck", "auto"), def("precheck", "manual"), def("postcheck", "manual"));
    let broken: GateDef = serde_json::from_value(
        serde_json::json!({"stage": "precheck", "mode": "auto", "timeout_s": 0, "command": ["x"]}),
    )
    .unwrap();
    let cases = [
        ("pending", Some(&auto), true, None),
        ("pending", Some(&auto), false, Some(Hold::Untrusted)),
        ("pending", Some(&broken), false, Some(Hold::Invalid)),
        ("failed", Some(&auto), true, Some(Hold::Failed)),
        ("passed", Some(&auto), false, None),
        ("pending", Some(&manual), false, Some(Hold::Pending)),
        ("failed", Some(&manual), false, Some(Hold::Failed)),
        ("failed", Some(&post), false, None),
        ("pending", None, false, Some(Hold::Unknown)),
        ("passed", None, false, None),
    ];
    for (status, d, runnable, want) in cases {
        assert_eq!(precheck_hold(status, d, runnable), want, "{status} {d:?} {runnable}");
    }
}
