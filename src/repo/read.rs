//! The read-side queries: the ready order, the blocked list, graph queries and field
//! projections, returning the contract's response types (`crate::api`) for every front end.

use std::collections::{HashMap, HashSet};

use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

use crate::api::{BlockedIssue, DepthNode, Edge, ExportFormat, ExportNode, GraphExport, NodeRef};
use crate::api::{ClosureRequest, ListRequest, PathRequest, ReadyRequest, ShowRequest};
use crate::api::{GateHistory, GateHistoryRequest, GateInfo, GateRecord, graph::TreeLine};
use crate::error::{Error, Result};
use crate::graph::{self, GraphView, Node};
use crate::model::{Issue, IssueId, Mode, Priority, State};
use crate::query::select::Sort;
use crate::query::{EvalCtx, Expr};
use crate::storage::index::{Entry, Snapshot};
use crate::storage::trust::TrustStore;

use super::{Repo, definition_problem};

/// A [`ListRequest`] checked before any issue is read: the filter parsed, the sort and the
/// fields known.
pub struct Selection {
    pub filter: Option<Expr>,
    pub sort: Sort,
    pub limit: Option<usize>,
    /// Each once, in the order asked for; empty for whole issues.
    pub fields: Vec<String>,
    pub count: bool,
}

impl Selection {
    pub fn new(req: &ListRequest) -> Result<Selection> {
        Ok(Selection {
            filter: req.filter.as_deref().map(crate::query::parse).transpose()?,
            sort: req.sort.as_deref().map(str::parse).transpose()?.unwrap_or_default(),
            limit: req.limit,
            fields: fields(&req.fields)?,
            count: req.count,
        })
    }

    /// The issues it selects, in its order (all of them for a count).
    pub fn run<'s>(&self, snap: &'s Snapshot, eval: &EvalCtx) -> Vec<Entry<'s>> {
        let limit = if self.count { None } else { self.limit };
        crate::query::select::select(snap, self.filter.as_ref(), eval, self.sort, limit)
    }
}

/// `issue show`: each issue the ids name, once, in the order first named.
pub fn show(repo: &Repo, req: &ShowRequest) -> Result<Vec<Issue>> {
    let mut issues = Vec::with_capacity(req.ids.len());
    let mut seen = HashSet::new();
    for input in &req.ids {
        let issue = repo.show(input)?;
        if seen.insert(issue.id) {
            issues.push(issue);
        }
    }
    Ok(issues)
}

/// The issues ready to work on, in claim order: priority (highest first), then age (oldest
/// first), at most `req.limit`.
pub fn ready<'s>(view: &GraphView<'s>, req: &ReadyRequest) -> Vec<Entry<'s>> {
    let limit = req.limit;
    let mut ready: Vec<Entry> = view
        .snap
        .iter()
        .filter(|e| e.head().state == State::Ready.to_u8() && view.is_ready(&e.summary()))
        .collect();
    ready.sort_by_cached_key(|e| (std::cmp::Reverse(e.summary().priority), e.id));
    ready.truncate(limit.unwrap_or(usize::MAX));
    ready
}

/// The open issues with dependencies not done, newest first, each with those dependencies.
pub fn blocked(view: &GraphView) -> Vec<BlockedIssue> {
    view.snap
        .iter()
        .rev()
        .filter_map(|e| {
            let s = e.summary();
            view.is_blocked(&s).then(|| BlockedIssue {
                issue: node_ref(view, e.id.as_u128()),
                blocked_by: view.blockers(&s).into_iter().map(|b| node_ref(view, b)).collect(),
            })
        })
        .collect()
}

/// An issue as the graph commands name it, or the id of a missing one.
pub fn node_ref(view: &GraphView, n: Node) -> NodeRef {
    let id = IssueId::from_u128(n);
    match view.snap.get(id) {
        Some(e) => {
            let s = e.summary();
            NodeRef::Issue {
                id,
                title: s.title.to_string(),
                state: State::from_u8(s.state),
                priority: Priority::from_u8(s.priority),
            }
        }
        None => NodeRef::Missing { id, missing: true },
    }
}

/// Which way a closure follows the edges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// What an issue depends on (`graph deps`).
    Deps,
    /// What depends on an issue (`graph rdeps`).
    Dependents,
}

/// A closure and what the human tree of it shows.
pub struct Closure {
    /// The issue it starts from.
    pub start: IssueId,
    /// Each issue reached once, at its shortest distance, breadth first.
    pub nodes: Vec<DepthNode>,
    /// The tree depth first, as [`tree_lines`] spans it (empty unless asked for: it is for
    /// people, and can be much longer than `nodes`).
    pub tree: Vec<TreeLine>,
    /// Whether the start lies on a cycle.
    pub on_cycle: bool,
}

/// `graph deps`/`graph rdeps`: everything reachable from the issue `req.id` names along
/// `dir`, `req.depth` levels (0 = all); with `tree`, the human tree of it too.
pub fn closure(
    repo: &Repo,
    view: &GraphView,
    req: &ClosureRequest,
    dir: Direction,
    tree: bool,
) -> Result<Closure> {
    Ok(closure_from(view, repo.resolve(&req.id)?, req.depth, dir, tree))
}

fn closure_from(
    view: &GraphView,
    start: IssueId,
    depth: usize,
    dir: Direction,
    with_tree: bool,
) -> Closure {
    let rev = (dir == Direction::Dependents).then(|| view.dependents());
    let next = |n: Node| match &rev {
        None => view.deps(n),
        Some(rev) => rev.get(&n).cloned().unwrap_or_default(),
    };
    let (from, start) = (start, start.as_u128());
    let found = graph::closure(start, depth, next);
    let on_cycle =
        next(start).contains(&start) || found.iter().any(|(n, _)| next(*n).contains(&start));
    let tree = match with_tree {
        false => Vec::new(),
        true => tree_lines(start, depth, next)
            .into_iter()
            .map(|(n, level, again)| TreeLine { node: node_ref(view, n), level, again })
            .collect(),
    };
    let nodes = found.iter().map(|(n, d)| DepthNode { node: node_ref(view, *n), depth: *d });
    Closure { start: from, nodes: nodes.collect(), tree, on_cycle }
}

/// The tree under `start`, depth first, children in the order `next` gives them (the start
/// itself is not in it): `(node, level, again)`. An issue already shown with at least as many
/// levels below it comes once more with `again` and without its subtree, as `cargo tree`
/// marks `(*)`: so shared dependencies and cycles give each subtree once. An explicit stack,
/// not recursion, so a long chain cannot overflow it.
pub fn tree_lines(
    start: Node,
    depth: usize,
    next: impl Fn(Node) -> Vec<Node>,
) -> Vec<(Node, usize, bool)> {
    let mut out = Vec::new();
    let mut shown: HashMap<Node, usize> = HashMap::from([(start, 0)]);
    let mut stack: Vec<(Node, usize)> = next(start).into_iter().rev().map(|n| (n, 1)).collect();
    while let Some((n, d)) = stack.pop() {
        // Shown before, with no depth limit or at a depth `d0` <= `d`: everything below it
        // here was shown there. (Reached higher up than before, with a limit, it may have
        // more levels to show; that happens at most `depth` times per issue.)
        let again = shown.get(&n).is_some_and(|d0| depth == 0 || *d0 <= d);
        out.push((n, d, again));
        if again {
            continue;
        }
        shown.insert(n, d);
        if depth == 0 || d < depth {
            stack.extend(next(n).into_iter().rev().map(|m| (m, d + 1)));
        }
    }
    out
}

/// Some cycle of the whole graph, if there is one.
pub fn any_cycle(view: &GraphView) -> Option<Vec<IssueId>> {
    graph::find_cycle(&view.adjacency()).map(|c| c.into_iter().map(IssueId::from_u128).collect())
}

/// Issues that depend on nothing, newest first.
pub fn roots(view: &GraphView) -> Vec<NodeRef> {
    let adj = view.adjacency();
    let nodes = adj.iter().rev().filter(|(_, ds)| ds.is_empty()).map(|(n, _)| *n);
    nodes.map(|n| node_ref(view, n)).collect()
}

/// Issues nothing depends on, newest first.
pub fn leaves(view: &GraphView) -> Vec<NodeRef> {
    let rev = view.dependents();
    let adj = view.adjacency();
    adj.keys().rev().filter(|n| !rev.contains_key(n)).map(|n| node_ref(view, *n)).collect()
}

/// Every issue, dependencies before dependents; a cycle is an error naming it.
pub fn order(view: &GraphView) -> Result<Vec<NodeRef>> {
    match graph::topo_order(&view.adjacency()) {
        Ok(order) => Ok(order.into_iter().map(|n| node_ref(view, n)).collect()),
        Err(cycle) => Err(Error::GraphCycle {
            cycle: cycle.into_iter().map(|n| IssueId::from_u128(n).to_string()).collect(),
        }),
    }
}

/// The shortest chain of dependencies from `req.from` to `req.to`.
pub fn path(repo: &Repo, view: &GraphView, req: &PathRequest) -> Result<Vec<NodeRef>> {
    let (from, to) = (repo.resolve(&req.from)?, repo.resolve(&req.to)?);
    let p = graph::path(from.as_u128(), to.as_u128(), |n| view.deps(n))
        .ok_or_else(|| Error::NoPath { from: from.to_string(), to: to.to_string() })?;
    Ok(p.into_iter().map(|n| node_ref(view, n)).collect())
}

/// The issues `filter` chooses (all without one) and the edges between them.
pub fn export(view: &GraphView, filter: Option<&Expr>, eval: &EvalCtx) -> GraphExport {
    let chosen: Vec<Entry> = view
        .snap
        .iter()
        .filter(|e| filter.is_none_or(|f| f.matches(e.id, &e.summary(), eval)))
        .collect();
    let keep: HashSet<IssueId> = chosen.iter().map(|e| e.id).collect();
    let mut nodes = Vec::with_capacity(chosen.len());
    let mut edges = Vec::new();
    for e in &chosen {
        let s = e.summary();
        for d in s.dependencies.iter().map(|d| IssueId::from_u128(*d)) {
            if keep.contains(&d) {
                edges.push(Edge { from: e.id, to: d });
            }
        }
        let state = State::from_u8(s.state).unwrap_or(State::Backlog);
        nodes.push(ExportNode { id: e.id, title: s.title.to_string(), state });
    }
    GraphExport { nodes, edges }
}

/// An export as DOT or Mermaid text (ids shortened to `id_len`); `None` for JSON, which is
/// the [`GraphExport`] itself.
pub fn export_text(g: &GraphExport, format: ExportFormat, id_len: usize) -> Option<String> {
    use crate::graph::export as text;
    let nodes: Vec<text::ExportNode> = g
        .nodes
        .iter()
        .map(|n| text::ExportNode { id: n.id, title: n.title.clone(), state: n.state })
        .collect();
    let edges: Vec<(IssueId, IssueId)> = g.edges.iter().map(|e| (e.from, e.to)).collect();
    match format {
        ExportFormat::Dot => Some(text::dot(&nodes, &edges, id_len)),
        ExportFormat::Mermaid => Some(text::mermaid(&nodes, &edges, id_len)),
        ExportFormat::Json => None,
    }
}

/// The registry with what this machine makes of each gate, in name order.
pub fn gate_list(repo: &Repo) -> Result<Vec<GateInfo>> {
    let config = repo.gate_registry()?;
    let store = repo.trust_store()?;
    Ok(config.gates.iter().map(|(n, d)| gate_info(repo, &store, n, d)).collect())
}

/// One gate of the registry and what this machine makes of it.
pub fn gate_info(
    repo: &Repo,
    store: &TrustStore,
    name: &str,
    def: &crate::model::GateDef,
) -> GateInfo {
    GateInfo {
        name: name.to_string(),
        def: def.clone(),
        trusted: (def.mode == Mode::Auto).then(|| repo.is_trusted(store, name, def)),
        problem: definition_problem(name, def),
    }
}

/// Every gate of the issue `req.id` names, with its status and runs.
pub fn gate_history(repo: &Repo, req: &GateHistoryRequest) -> Result<GateHistory> {
    Ok(gate_history_of(&repo.show(&req.id)?))
}

fn gate_history_of(issue: &Issue) -> GateHistory {
    let gates = issue
        .gates
        .iter()
        .map(|(n, g)| (n.clone(), GateRecord { status: g.status, runs: g.runs.clone() }))
        .collect();
    GateHistory { id: issue.id, gates }
}

/// Fields `--fields` may name.
pub const FIELDS: &[&str] = &[
    "id",
    "title",
    "description",
    "state",
    "priority",
    "assignee",
    "labels",
    "dependencies",
    "gates",
    "context",
    "artifacts",
    "version",
    "created_at",
    "updated_at",
    "closed_at",
];

/// The fields asked for, checked, each once (a JSON object cannot hold a key twice).
pub fn fields(asked: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(asked.len());
    for f in asked {
        if !FIELDS.contains(&f.as_str()) {
            return Err(Error::InvalidValue {
                what: "field",
                value: f.clone(),
                allowed: FIELDS.iter().map(|s| s.to_string()).collect(),
                suggestion: crate::model::suggest(f, FIELDS.iter().copied()),
            });
        }
        if !out.contains(f) {
            out.push(f.clone());
        }
    }
    Ok(out)
}

/// An issue reduced to some fields, serialised in the order asked for (a field it lacks is
/// `null`).
pub struct Projected<'f> {
    pub values: Vec<(&'f str, Value)>,
}

impl<'f> Projected<'f> {
    /// `json` is an issue's JSON from the index (written by jit, guarded by a CRC); if it
    /// is not an object after all, that is an error rather than a panic.
    pub fn new(json: &[u8], fields: &'f [String]) -> Result<Self> {
        let mut obj: serde_json::Map<String, Value> = serde_json::from_slice(json)
            .map_err(|e| Error::Corrupt { path: ".jit/index".into(), message: e.to_string() })?;
        let values = fields
            .iter()
            .map(|f| (f.as_str(), obj.remove(f.as_str()).unwrap_or(Value::Null)))
            .collect();
        Ok(Projected { values })
    }
}

impl serde::Serialize for Projected<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.values.len()))?;
        for (k, v) in &self.values {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_shows_a_shared_subtree_once_and_marks_it_after() {
        // 1 → 2 → 4, 1 → 3 → 4, 4 → 5
        let next = |n: Node| match n {
            1 => vec![2, 3],
            2 | 3 => vec![4],
            4 => vec![5],
            _ => vec![],
        };
        let lines = tree_lines(1, 0, next);
        assert_eq!(
            lines,
            [(2, 1, false), (4, 2, false), (5, 3, false), (3, 1, false), (4, 2, true)]
        );
        // Two levels: 4 is shown, nothing under it.
        assert_eq!(tree_lines(1, 2, next).len(), 4);
        // A cycle back to the start ends there.
        let cyclic = |n: Node| if n == 1 { vec![2] } else { vec![1] };
        assert_eq!(tree_lines(1, 0, cyclic), [(2, 1, false), (1, 2, true)]);
    }
}
