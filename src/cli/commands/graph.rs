//! `jit graph …`

use clap::Subcommand;

use super::Ctx;
use crate::api::{ClosureRequest, ExportFormat, NodeRef, PathRequest, PathResponse};
use crate::cli::CliError;
use crate::cli::render::one_line;
use crate::error::Error;
use crate::graph::describe_cycle;
use crate::model::IssueId;
use crate::query::EvalCtx;
use crate::repo::read::{self, Direction};

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
    ///
    /// The format is dot unless --format says otherwise; with --json it is json, and
    /// --json with --format dot or mermaid is refused as a usage error.
    #[command(
        after_help = "Examples:\n  jit graph export --format dot | dot -Tsvg > deps.svg\n  jit graph export --format mermaid --filter 'label:epic:login'\n  jit graph export --json"
    )]
    Export {
        /// dot, mermaid or json [default: dot; json with --json]
        #[arg(long)]
        format: Option<String>,
        /// Only issues matching this filter (edges between them)
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
    },
}

/// `--format`: a known format, and not text under `--json`.
fn export_format(asked: Option<&str>, json: bool) -> Result<ExportFormat, CliError> {
    let format = match asked {
        None if json => ExportFormat::Json,
        None | Some("dot") => ExportFormat::Dot,
        Some("mermaid") => ExportFormat::Mermaid,
        Some("json") => ExportFormat::Json,
        Some(other) => {
            return Err(Error::InvalidValue {
                what: "format",
                value: other.to_string(),
                allowed: vec!["dot".into(), "mermaid".into(), "json".into()],
                suggestion: crate::model::suggest(other, ["dot", "mermaid", "json"]),
            }
            .into());
        }
    };
    if json && format != ExportFormat::Json {
        return Err(CliError::Usage {
            code: "USAGE",
            message: format!(
                "--json prints the graph as JSON; it cannot be combined with --format {}",
                asked.unwrap_or_default()
            ),
        });
    }
    Ok(format)
}

pub fn run(ctx: &mut Ctx, cmd: GraphCommand) -> Result<u8, CliError> {
    // The export's options are checked before any issue is read.
    let (format, filter) = match &cmd {
        GraphCommand::Export { format, filter } => (
            export_format(format.as_deref(), ctx.out.is_json())?,
            filter.as_deref().map(crate::query::parse).transpose().map_err(Error::from)?,
        ),
        _ => (ExportFormat::Dot, None),
    };
    let repo = ctx.open_repo()?;
    let snap = ctx.snapshot(&repo)?;
    // Human output names issues by their shortest unique prefix (at least 8 characters).
    let all: Vec<IssueId> = snap.iter().map(|e| e.id).collect();
    let id_len = crate::model::unique_prefix_len(&all);
    let view = repo.graph_view(&snap);
    match &cmd {
        GraphCommand::Deps { id, depth } | GraphCommand::Rdeps { id, depth } => {
            let req = ClosureRequest { id: id.clone(), depth: *depth };
            let dir = match cmd {
                GraphCommand::Deps { .. } => Direction::Deps,
                _ => Direction::Dependents,
            };
            let closure = read::closure(&repo, &view, &req, dir, !ctx.out.is_json())?;
            let start = closure.start;
            let none = match dir {
                Direction::Deps => format!("{} depends on nothing", start.short(id_len)),
                Direction::Dependents => format!("nothing depends on {}", start.short(id_len)),
            };
            if closure.on_cycle {
                ctx.warn(&format!(
                    "{start} lies on a dependency cycle (`jit dep rm` one of its edges)"
                ));
            }
            if ctx.out.is_json() {
                ctx.out.json(&closure.nodes)?;
            } else if closure.nodes.is_empty() {
                ctx.status(&none);
            } else {
                for line in &closure.tree {
                    ctx.out.text(&"  ".repeat(line.level - 1))?;
                    node_line(ctx, &line.node, id_len, line.again)?;
                }
            }
        }
        GraphCommand::Roots | GraphCommand::Leaves => {
            warn_any_cycle(ctx, read::any_cycle(&view));
            let nodes = match cmd {
                GraphCommand::Roots => read::roots(&view),
                _ => read::leaves(&view),
            };
            print_nodes(ctx, &nodes, id_len)?;
        }
        GraphCommand::Order => print_nodes(ctx, &read::order(&view)?, id_len)?,
        GraphCommand::Path { from, to } => {
            let req = PathRequest { from: from.clone(), to: to.clone() };
            let path = PathResponse { path: read::path(&repo, &view, &req)? };
            if ctx.out.is_json() {
                ctx.out.json(&path)?;
            } else {
                for (i, n) in path.path.iter().enumerate() {
                    let title = match n {
                        NodeRef::Issue { title, .. } => title.as_str(),
                        NodeRef::Missing { .. } => "",
                    };
                    let arrow = if i == 0 { "  " } else { "→ " };
                    ctx.out.text(&format!(
                        "{arrow}{} {}\n",
                        n.id().short(id_len),
                        one_line(title)
                    ))?;
                }
            }
        }
        GraphCommand::Export { .. } => {
            let eval = EvalCtx::new(repo.clock().now(), Some(&view));
            warn_any_cycle(ctx, read::any_cycle(&view));
            let g = read::export(&view, filter.as_ref(), &eval);
            match read::export_text(&g, format, id_len) {
                Some(text) => ctx.out.text(&text)?,
                None => ctx.out.json(&g)?,
            }
        }
    }
    snap.repair();
    Ok(ctx.read_outcome(&snap))
}

fn warn_any_cycle(ctx: &Ctx, cycle: Option<Vec<IssueId>>) {
    if let Some(c) = cycle {
        let c: Vec<u128> = c.iter().map(|i| i.as_u128()).collect();
        ctx.warn(&format!(
            "the dependency graph has a cycle: {} (`jit dep rm` one of its edges)",
            describe_cycle(&c, |n| IssueId::from_u128(n).to_string())
        ));
    }
}

fn print_nodes(ctx: &mut Ctx, nodes: &[NodeRef], id_len: usize) -> Result<(), CliError> {
    if ctx.out.is_json() {
        ctx.out.json(nodes)?;
        return Ok(());
    }
    if nodes.is_empty() {
        // As the other listings say it (`no matching issues`): on stderr, stdout stays empty.
        ctx.status("no issues");
    }
    for n in nodes {
        node_line(ctx, n, id_len, false)?;
    }
    Ok(())
}

/// `ID [state] title` on one line, ending in ` (*)` for an issue `again` (shown in full
/// above). A missing issue keeps its full id: there is no issue its prefix could name.
fn node_line(ctx: &mut Ctx, n: &NodeRef, id_len: usize, again: bool) -> Result<(), CliError> {
    let mark = if again { " (*)" } else { "" };
    let line = match n {
        NodeRef::Issue { id, title, state, .. } => {
            let state = state.map_or("?", |s| s.as_str());
            format!("{} [{state}] {}{mark}\n", id.short(id_len), one_line(title))
        }
        NodeRef::Missing { id, .. } => format!("{id} [missing] (no such issue){mark}\n"),
    };
    ctx.out.text(&line)?;
    Ok(())
}
