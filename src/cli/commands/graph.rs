//! `jit graph …`

use std::collections::{BTreeMap, HashMap};

use clap::Subcommand;
use serde_json::Value;

use super::Ctx;
use super::ready::node_json;
use crate::cli::CliError;
use crate::cli::render::one_line;
use crate::error::{Error, exit};
use crate::graph::export::{self, ExportNode};
use crate::graph::{self, GraphView, Node};
use crate::model::{IssueId, State};
use crate::query::EvalCtx;
use crate::storage::index::Entry;

/// Explore the dependency graph (an edge A → B means A depends on B)
#[derive(Debug, Subcommand)]
#[command(after_help = "Examples:\n  jit graph deps 01jx5k\n  jit graph export --format mermaid")]
pub enum GraphCommand {
    /// What ID depends on, directly and transitively
    ///
    /// Printed as a tree, depth first: each issue indented under the one that depends on it.
    /// An issue reached again is shown once in full, then as `ID [state] title (*)` without
    /// what is under it. --json lists each issue once, with its shortest distance as `depth`.
    #[command(
        after_help = "Examples:\n  jit graph deps 01jx5k\n  jit graph deps 01jx5k --depth 1 --json"
    )]
    Deps {
        #[arg(value_name = "ID")]
        id: String,
        /// How many levels (0 = the whole closure)
        #[arg(long, default_value_t = 0)]
        depth: usize,
    },
    /// What depends on ID, directly and transitively
    ///
    /// Printed as a tree like `graph deps`, each issue under the one it depends on.
    #[command(after_help = "Examples:\n  jit graph rdeps 01jx5k --depth 2")]
    Rdeps {
        #[arg(value_name = "ID")]
        id: String,
        /// How many levels (0 = the whole closure)
        #[arg(long, default_value_t = 0)]
        depth: usize,
    },
    /// Issues that depend on nothing
    #[command(
        after_help = "Examples:\n  jit graph roots\n  jit graph roots --json | jq -r '.[].id'"
    )]
    Roots,
    /// Issues nothing depends on
    #[command(after_help = "Examples:\n  jit graph leaves\n  jit graph leaves --json")]
    Leaves,
    /// Every issue, dependencies before dependents (a cycle is reported as an error)
    #[command(
        after_help = "Examples:\n  jit graph order\n  jit graph order --json | jq -r '.[].title'"
    )]
    Order,
    /// The shortest chain of dependencies from A to B
    #[command(after_help = "Examples:\n  jit graph path 01jx5k 01jx9p")]
    Path {
        #[arg(value_name = "A")]
        from: String,
        #[arg(value_name = "B")]
        to: String,
    },
    /// The graph as Graphviz DOT, a Mermaid flowchart, or JSON
    #[command(
        after_help = "Examples:\n  jit graph export --format dot | dot -Tsvg > deps.svg\n  jit graph export --format mermaid --filter 'label:epic:login'"
    )]
    Export {
        /// dot, mermaid or json
        #[arg(long, default_value = "dot")]
        format: String,
        /// Only issues matching this filter (edges between them)
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
    },
}

/// The formats of `graph export`.
#[derive(Clone, Copy)]
enum Format {
    Dot,
    Mermaid,
    Json,
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "dot" => Ok(Format::Dot),
            "mermaid" => Ok(Format::Mermaid),
            "json" => Ok(Format::Json),
            other => Err(Error::InvalidValue {
                what: "format",
                value: other.to_string(),
                allowed: vec!["dot".into(), "mermaid".into(), "json".into()],
                suggestion: crate::model::suggest(other, ["dot", "mermaid", "json"]),
            }),
        }
    }
}

pub fn run(ctx: &mut Ctx, cmd: GraphCommand) -> Result<u8, CliError> {
    // The export's options are checked before any issue is read.
    let (format, filter) = match &cmd {
        GraphCommand::Export { format, filter } => (
            Some(format.parse::<Format>()?),
            filter.as_deref().map(crate::query::parse).transpose().map_err(Error::from)?,
        ),
        _ => (None, None),
    };
    let repo = ctx.open_repo()?;
    let snap = ctx.snapshot(&repo)?;
    // Human output names issues by their shortest unique prefix (at least 8 characters).
    let all: Vec<IssueId> = snap.iter().map(|e| e.id).collect();
    let id_len = crate::model::unique_prefix_len(&all);
    let view = repo.graph_view(&snap);
    let name = |n: Node| IssueId::from_u128(n).to_string();
    match cmd {
        GraphCommand::Deps { id, depth } => {
            let start = repo.resolve(&id)?.as_u128();
            let found = graph::closure(start, depth, |n| view.deps(n));
            warn_cycle_through(ctx, start, &found, |n| view.deps(n));
            let none = format!("{} depends on nothing", IssueId::from_u128(start).short(id_len));
            let tree = Tree { start, depth, id_len, none: &none };
            print_closure(ctx, &view, &found, &tree, |n| view.deps(n))?;
        }
        GraphCommand::Rdeps { id, depth } => {
            let start = repo.resolve(&id)?.as_u128();
            let rev = view.dependents();
            let next = |n: Node| rev.get(&n).cloned().unwrap_or_default();
            let found = graph::closure(start, depth, next);
            warn_cycle_through(ctx, start, &found, next);
            let none = format!("nothing depends on {}", IssueId::from_u128(start).short(id_len));
            let tree = Tree { start, depth, id_len, none: &none };
            print_closure(ctx, &view, &found, &tree, next)?;
        }
        GraphCommand::Roots | GraphCommand::Leaves => {
            let adj = view.adjacency();
            warn_any_cycle(ctx, &adj, name);
            let nodes: Vec<Node> = if matches!(cmd, GraphCommand::Roots) {
                adj.iter().rev().filter(|(_, ds)| ds.is_empty()).map(|(n, _)| *n).collect()
            } else {
                let rev = view.dependents();
                adj.keys().rev().filter(|n| !rev.contains_key(n)).copied().collect()
            };
            print_nodes(ctx, &view, &nodes, id_len)?;
        }
        GraphCommand::Order => {
            let adj = view.adjacency();
            match graph::topo_order(&adj) {
                Ok(order) => print_nodes(ctx, &view, &order, id_len)?,
                Err(cycle) => {
                    return Err(Error::GraphCycle {
                        cycle: cycle.iter().map(|n| name(*n)).collect(),
                    }
                    .into());
                }
            }
        }
        GraphCommand::Path { from, to } => {
            let (a, b) = (repo.resolve(&from)?, repo.resolve(&to)?);
            let p = graph::path(a.as_u128(), b.as_u128(), |n| view.deps(n))
                .ok_or_else(|| Error::NoPath { from: a.to_string(), to: b.to_string() })?;
            print_path(ctx, &view, &p, id_len)?;
        }
        GraphCommand::Export { .. } => {
            let format = format.expect("parsed above");
            let eval = EvalCtx::new(repo.clock().now(), Some(&view));
            let keep =
                |e: &Entry| filter.as_ref().is_none_or(|f| f.matches(e.id, &e.summary(), &eval));
            warn_any_cycle(ctx, &view.adjacency(), name);
            export_graph(ctx, snap.iter().filter(keep).collect(), format, id_len)?;
        }
    }
    snap.repair();
    Ok(exit::OK)
}

fn print_path(
    ctx: &mut Ctx,
    view: &GraphView,
    path: &[Node],
    id_len: usize,
) -> Result<(), CliError> {
    if ctx.out.is_json() {
        let nodes: Vec<Value> = path.iter().map(|n| node_json(view, *n)).collect();
        ctx.out.json(&serde_json::json!({ "path": nodes }))?;
        return Ok(());
    }
    for (i, n) in path.iter().enumerate() {
        let v = node_json(view, *n);
        let arrow = if i == 0 { "  " } else { "→ " };
        ctx.out.text(&format!(
            "{arrow}{} {}\n",
            IssueId::from_u128(*n).short(id_len),
            one_line(v["title"].as_str().unwrap_or(""))
        ))?;
    }
    Ok(())
}

/// The chosen issues and the edges between them, in `format`.
fn export_graph(
    ctx: &mut Ctx,
    chosen: Vec<Entry>,
    format: Format,
    id_len: usize,
) -> Result<(), CliError> {
    let keep: std::collections::HashSet<IssueId> = chosen.iter().map(|e| e.id).collect();
    let mut nodes = Vec::with_capacity(chosen.len());
    let mut edges = Vec::new();
    for e in &chosen {
        let s = e.summary();
        for d in &s.dependencies {
            let d = IssueId::from_u128(*d);
            if keep.contains(&d) {
                edges.push((e.id, d));
            }
        }
        let state = State::from_u8(s.state).unwrap_or(State::Backlog);
        nodes.push(ExportNode { id: e.id, title: s.title.to_string(), state });
    }
    match format {
        Format::Dot => ctx.out.text(&export::dot(&nodes, &edges, id_len))?,
        Format::Mermaid => ctx.out.text(&export::mermaid(&nodes, &edges, id_len))?,
        Format::Json => ctx.out.json(&export::json(&nodes, &edges))?,
    }
    Ok(())
}

fn warn_any_cycle(ctx: &Ctx, adj: &BTreeMap<Node, Vec<Node>>, name: impl Fn(Node) -> String) {
    if let Some(c) = graph::find_cycle(adj) {
        ctx.warn(&format!(
            "the dependency graph has a cycle: {} (`jit dep rm` one of its edges)",
            graph::describe_cycle(&c, name)
        ));
    }
}

fn warn_cycle_through(
    ctx: &Ctx,
    start: Node,
    found: &[(Node, usize)],
    next: impl Fn(Node) -> Vec<Node>,
) {
    if next(start).contains(&start) || found.iter().any(|(n, _)| next(*n).contains(&start)) {
        ctx.warn(&format!(
            "{} lies on a dependency cycle (`jit dep rm` one of its edges)",
            IssueId::from_u128(start)
        ));
    }
}

/// What `graph deps`/`rdeps` print as a tree: from where, how deep (0 = all), and what to
/// say when there is nothing.
struct Tree<'a> {
    start: Node,
    depth: usize,
    id_len: usize,
    none: &'a str,
}

/// The closure: JSON lists `found` (each issue once, at its shortest distance); human output
/// is the tree that `next` spans from the start.
fn print_closure(
    ctx: &mut Ctx,
    view: &GraphView,
    found: &[(Node, usize)],
    tree: &Tree,
    next: impl Fn(Node) -> Vec<Node>,
) -> Result<(), CliError> {
    if ctx.out.is_json() {
        let out: Vec<Value> = found
            .iter()
            .map(|(n, d)| {
                let mut v = node_json(view, *n);
                v["depth"] = (*d).into();
                v
            })
            .collect();
        ctx.out.json(&out)?;
        return Ok(());
    }
    if found.is_empty() {
        ctx.status(tree.none);
        return Ok(());
    }
    print_tree(ctx, view, tree, next)
}

/// The tree under `tree.start`, depth first, two spaces per level, children in the order
/// `next` gives them (the start itself is not printed, as it is not in the closure). An issue
/// already shown with at least as many levels below it is printed once more, marked `(*)`,
/// without its subtree, as `cargo tree` does: so shared dependencies and cycles print each
/// subtree once. An explicit stack, not recursion, so a long chain cannot overflow it.
fn print_tree(
    ctx: &mut Ctx,
    view: &GraphView,
    tree: &Tree,
    next: impl Fn(Node) -> Vec<Node>,
) -> Result<(), CliError> {
    let mut shown: HashMap<Node, usize> = HashMap::from([(tree.start, 0)]);
    let mut stack: Vec<(Node, usize)> =
        next(tree.start).into_iter().rev().map(|n| (n, 1)).collect();
    while let Some((n, d)) = stack.pop() {
        ctx.out.text(&"  ".repeat(d - 1))?;
        // Shown before, with no depth limit or at a depth `d0` <= `d`: everything below it
        // here was shown there. (Reached higher up than before, with a limit, it may have
        // more levels to show; that happens at most `depth` times per issue.)
        let again = shown.get(&n).is_some_and(|d0| tree.depth == 0 || *d0 <= d);
        node_line(ctx, view, n, tree.id_len, again)?;
        if again {
            continue;
        }
        shown.insert(n, d);
        if tree.depth == 0 || d < tree.depth {
            stack.extend(next(n).into_iter().rev().map(|m| (m, d + 1)));
        }
    }
    Ok(())
}

fn print_nodes(
    ctx: &mut Ctx,
    view: &GraphView,
    nodes: &[Node],
    id_len: usize,
) -> Result<(), CliError> {
    if ctx.out.is_json() {
        let out: Vec<Value> = nodes.iter().map(|n| node_json(view, *n)).collect();
        ctx.out.json(&out)?;
        return Ok(());
    }
    if nodes.is_empty() {
        // As the other listings say it (`no matching issues`): on stderr, stdout stays empty.
        ctx.status("no issues");
    }
    for n in nodes {
        node_line(ctx, view, *n, id_len, false)?;
    }
    Ok(())
}

/// `ID [state] title` on one line (no JSON in between: closures can be thousands of lines),
/// ending in ` (*)` for an issue `again` (shown in full above). A missing issue keeps its full
/// id: there is no issue its prefix could name.
fn node_line(
    ctx: &mut Ctx,
    view: &GraphView,
    n: Node,
    id_len: usize,
    again: bool,
) -> Result<(), CliError> {
    let id = IssueId::from_u128(n);
    let mark = if again { " (*)" } else { "" };
    let line = match view.snap.get(id) {
        Some(e) => {
            let s = e.headline();
            let state = State::from_u8(s.state).map_or("?", State::as_str);
            format!("{} [{state}] {}{mark}\n", id.short(id_len), one_line(s.title))
        }
        None => format!("{id} [missing] (no such issue){mark}\n"),
    };
    ctx.out.text(&line)?;
    Ok(())
}
