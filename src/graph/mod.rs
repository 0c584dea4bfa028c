//! The dependency DAG: `A depends on B` is an edge A → B. Cycle checks, closures, paths and
//! topological order work on any adjacency function, so the same code serves the index
//! snapshot and the property tests. Readiness and blocking are derived (by the rules of
//! `rules/`), never stored.

pub mod export;
pub mod runner;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use crate::model::{GateDef, IssueId, State};
use crate::storage::index::{Snapshot, Summary};

// The readiness rules live in `rules/`; the graph's callers find them here too.
pub use crate::rules::{Hold, precheck_hold, ready_by_rule};

/// Node ids are the issues' 128-bit ids.
pub type Node = u128;

/// The path `from ⇝ to` along dependency edges, shortest first, if there is one
/// (`[from, ..., to]`).
pub fn path(from: Node, to: Node, deps: impl Fn(Node) -> Vec<Node>) -> Option<Vec<Node>> {
    let mut parent: HashMap<Node, Node> = HashMap::new();
    let mut seen = HashSet::from([from]);
    let mut queue = VecDeque::from([from]);
    while let Some(n) = queue.pop_front() {
        if n == to {
            let mut p = vec![to];
            let mut cur = to;
            while let Some(&prev) = parent.get(&cur) {
                p.push(prev);
                cur = prev;
            }
            p.reverse();
            return Some(p);
        }
        for d in deps(n) {
            if seen.insert(d) {
                parent.insert(d, n);
                queue.push_back(d);
            }
        }
    }
    None
}

/// Would the edge `a → b` close a cycle? Then the cycle, as `[a, b, ..., a]`.
pub fn cycle_if_added(a: Node, b: Node, deps: impl Fn(Node) -> Vec<Node>) -> Option<Vec<Node>> {
    if a == b {
        return Some(vec![a, a]);
    }
    path(b, a, deps).map(|p| {
        let mut c = vec![a];
        c.extend(p);
        c
    })
}

/// Everything reachable from `start` (not including it) with its distance, breadth first.
/// `max_depth` 0 means no limit.
pub fn closure(
    start: Node,
    max_depth: usize,
    next: impl Fn(Node) -> Vec<Node>,
) -> Vec<(Node, usize)> {
    let mut seen = HashSet::from([start]);
    let mut out = Vec::new();
    let mut queue = VecDeque::from([(start, 0usize)]);
    while let Some((n, d)) = queue.pop_front() {
        if max_depth != 0 && d >= max_depth {
            continue;
        }
        for m in next(n) {
            if seen.insert(m) {
                out.push((m, d + 1));
                queue.push_back((m, d + 1));
            }
        }
    }
    out
}

/// Dependencies before dependents (Kahn's algorithm, ties broken by id so the order is
/// stable). Edges to unknown nodes are ignored. On a cycle, returns one cycle `[a, ..., a]`.
pub fn topo_order(adj: &BTreeMap<Node, Vec<Node>>) -> Result<Vec<Node>, Vec<Node>> {
    let mut pending: BTreeMap<Node, usize> = BTreeMap::new();
    let mut dependents: HashMap<Node, Vec<Node>> = HashMap::new();
    for (&n, ds) in adj {
        let known: HashSet<Node> = ds.iter().copied().filter(|d| adj.contains_key(d)).collect();
        pending.insert(n, known.len());
        for d in known {
            dependents.entry(d).or_default().push(n);
        }
    }
    let mut ready: std::collections::BTreeSet<Node> =
        pending.iter().filter(|(_, c)| **c == 0).map(|(n, _)| *n).collect();
    let mut order = Vec::with_capacity(adj.len());
    while let Some(n) = ready.pop_first() {
        order.push(n);
        for m in dependents.get(&n).into_iter().flatten() {
            let c = pending.get_mut(m).expect("known node");
            *c -= 1;
            if *c == 0 {
                ready.insert(*m);
            }
        }
    }
    if order.len() == adj.len() {
        return Ok(order);
    }
    let placed: HashSet<Node> = order.into_iter().collect();
    let stuck: BTreeMap<Node, Vec<Node>> = adj
        .iter()
        .filter(|(n, _)| !placed.contains(n))
        .map(|(n, ds)| {
            (
                *n,
                ds.iter().copied().filter(|d| !placed.contains(d) && adj.contains_key(d)).collect(),
            )
        })
        .collect();
    Err(find_cycle(&stuck).expect("nodes left by Kahn's algorithm lie on or behind a cycle"))
}

/// Some cycle in `adj`, as `[a, ..., a]`, if there is one.
pub fn find_cycle(adj: &BTreeMap<Node, Vec<Node>>) -> Option<Vec<Node>> {
    // Iterative DFS with colours: 1 = on the stack, 2 = done.
    let mut colour: HashMap<Node, u8> = HashMap::new();
    for &root in adj.keys() {
        if colour.contains_key(&root) {
            continue;
        }
        let mut stack: Vec<(Node, usize)> = vec![(root, 0)];
        colour.insert(root, 1);
        while let Some((n, i)) = stack.last().copied() {
            let next = adj.get(&n).and_then(|ds| ds.get(i)).copied();
            match next {
                None => {
                    colour.insert(n, 2);
                    stack.pop();
                }
                Some(m) => {
                    stack.last_mut().expect("non-empty").1 += 1;
                    if !adj.contains_key(&m) {
                        continue;
                    }
                    match colour.get(&m) {
                        Some(1) => {
                            let pos = stack.iter().position(|(x, _)| *x == m).expect("on stack");
                            let mut c: Vec<Node> = stack[pos..].iter().map(|(x, _)| *x).collect();
                            c.push(m);
                            return Some(c);
                        }
                        Some(_) => {}
                        None => {
                            colour.insert(m, 1);
                            stack.push((m, 0));
                        }
                    }
                }
            }
        }
    }
    None
}

/// Render a cycle as `A → B → C → A` with the given id formatter.
pub fn describe_cycle(cycle: &[Node], name: impl Fn(Node) -> String) -> String {
    cycle.iter().map(|n| name(*n)).collect::<Vec<_>>().join(" → ")
}

/// Dependency and gate facts about issues in one snapshot.
pub struct GraphView<'a> {
    pub snap: &'a Snapshot,
    pub gates: &'a BTreeMap<String, GateDef>,
    /// The auto gates that can run on this machine (valid and trusted).
    pub runnable: BTreeSet<String>,
}

impl<'a> GraphView<'a> {
    pub fn deps(&self, n: Node) -> Vec<Node> {
        self.snap.get(IssueId::from_u128(n)).map(|e| e.head().dependencies).unwrap_or_default()
    }

    pub fn state(&self, n: Node) -> Option<State> {
        self.snap.get(IssueId::from_u128(n)).and_then(|e| State::from_u8(e.head().state))
    }

    /// The dependencies of `s` that are not done (a missing issue counts as not done).
    pub fn blockers(&self, s: &Summary) -> Vec<Node> {
        s.dependencies.iter().copied().filter(|d| self.state(*d) != Some(State::Done)).collect()
    }

    /// How the gate `name` with `status` holds an issue back ([`precheck_hold`]).
    pub fn hold(&self, name: &str, status: &str) -> Option<Hold> {
        precheck_hold(status, self.gates.get(name), self.runnable.contains(name))
    }

    /// The prechecks that hold `s` back from being ready, and why.
    pub fn holding_prechecks<'s>(&self, s: &Summary<'s>) -> Vec<(&'s str, Hold)> {
        s.gates
            .iter()
            .filter_map(|(name, status)| Some((*name, self.hold(name, status)?)))
            .collect()
    }

    /// Blocked: open, with some dependency not done.
    pub fn is_blocked(&self, s: &Summary) -> bool {
        crate::rules::is_blocked(s, |d| self.state(d) == Some(State::Done))
    }

    /// Ready ([`ready_by_rule`]): state ready, every dependency done, no precheck holding it.
    pub fn is_ready(&self, s: &Summary) -> bool {
        ready_by_rule(s, |d| self.state(d) == Some(State::Done), |n, st| self.hold(n, st))
    }

    /// Reverse adjacency over the whole snapshot: who depends on each issue.
    pub fn dependents(&self) -> HashMap<Node, Vec<Node>> {
        let mut r: HashMap<Node, Vec<Node>> = HashMap::new();
        for e in self.snap.iter() {
            for d in e.head().dependencies {
                r.entry(d).or_default().push(e.id.as_u128());
            }
        }
        r
    }

    /// Forward adjacency over the whole snapshot.
    pub fn adjacency(&self) -> BTreeMap<Node, Vec<Node>> {
        self.snap.iter().map(|e| (e.id.as_u128(), e.head().dependencies)).collect()
    }
}

#[cfg(test)]
mod tests;
