//! The options `query` and `issue list` share, and how they print a selection.

use std::io::Write;

use serde_json::Value;

use super::Ctx;
use crate::api::{CountResponse, ListRequest};
use crate::cli::CliError;
use crate::cli::render::{Row, assignee, one_line, table, unique_prefix_len};
use crate::error::Error;
use crate::query::EvalCtx;
use crate::repo::Repo;
use crate::repo::read::{Projected, Selection};

#[derive(Debug, clap::Args)]
pub struct SelectArgs {
    /// Print only how many issues match
    #[arg(long)]
    pub count: bool,
    /// Order by FIELD (id, created, updated, closed, priority, state, title), ascending, or
    /// FIELD:desc; default newest first
    #[arg(long, value_name = "FIELD[:desc]")]
    pub sort: Option<String>,
    /// Print at most N issues (0 prints none)
    #[arg(long, value_name = "N", value_parser = limit_arg, allow_hyphen_values = true)]
    pub limit: Option<usize>,
    /// Only these fields, comma-separated (JSON objects keep this order; tables show these
    /// columns)
    #[arg(long, value_name = "a,b,...", value_delimiter = ',')]
    pub fields: Vec<String>,
}

impl SelectArgs {
    /// The request these options make, with `filter`.
    pub fn request(&self, filter: Option<String>) -> ListRequest {
        ListRequest {
            filter,
            sort: self.sort.clone(),
            limit: self.limit,
            fields: self.fields.clone(),
            count: self.count,
        }
    }
}

/// Run the selection over the repository and print the result; returns the exit code
/// ([`Ctx::read_outcome`]).
pub fn print_selection(ctx: &mut Ctx, repo: &Repo, sel: &Selection) -> Result<u8, CliError> {
    let snap = ctx.snapshot(repo)?;
    let result = render(ctx, repo, &snap, sel).map(|()| ctx.read_outcome(&snap));
    snap.repair();
    // A direct run ends right after: returning the index buffers (up to ~1 KB per issue) to
    // the allocator would only cost time (munmap of tens of MB at 100k issues). Not with a
    // warm index (the snapshot is shared with it) nor in `jit serve`, which live on.
    if repo.warm().is_none() && !ctx.inv.is_served() {
        std::mem::forget(snap);
    }
    result
}

fn render(
    ctx: &mut Ctx,
    repo: &Repo,
    snap: &crate::storage::index::Snapshot,
    sel: &Selection,
) -> Result<(), CliError> {
    let view = repo.graph_view(snap);
    let eval = EvalCtx::new(repo.clock().now(), Some(&view));
    let entries = sel.run(snap, &eval);
    let fields = &sel.fields;
    if sel.count {
        if ctx.out.is_json() {
            ctx.out.json(&CountResponse { count: entries.len() })?;
        } else {
            ctx.out.text(&format!("{}\n", entries.len()))?;
        }
        return Ok(());
    }
    if ctx.out.is_json() {
        let jsons = snap.json_of(&entries)?;
        if fields.is_empty() {
            ctx.out.json_array(jsons.iter().map(|j| &**j))?;
        } else {
            let projected: Vec<Projected> =
                jsons.iter().map(|j| Projected::new(j, fields)).collect::<Result<_, _>>()?;
            ctx.out.json(&projected)?;
        }
        return Ok(());
    }
    if entries.is_empty() {
        // `--limit 0` shows nothing by request; otherwise nothing matched.
        if sel.limit != Some(0) {
            ctx.status("no matching issues");
        }
        return Ok(());
    }
    if !fields.is_empty() {
        let jsons = snap.json_of(&entries)?;
        return ctx.out.human(|w| field_table(w, &jsons, fields));
    }
    let ids: Vec<_> = snap.iter().map(|e| e.id).collect();
    let rows: Vec<Row> = entries.iter().map(|e| Row { id: e.id, summary: e.summary() }).collect();
    ctx.out.human(|w| table(w, &rows, unique_prefix_len(&ids)))?;
    Ok(())
}

fn field_table(
    w: &mut dyn Write,
    jsons: &[std::borrow::Cow<[u8]>],
    fields: &[String],
) -> Result<(), CliError> {
    let cell = |k: &str, v: &Value| match v {
        Value::Null => "-".to_string(),
        // A reserved name in quotes, as in the issue table, and any other `-` too: a bare
        // `-` is an empty cell.
        Value::String(s) if k == "assignee" => one_line(&assignee(Some(s))).into_owned(),
        Value::String(s) if s == "-" => "\"-\"".to_string(),
        Value::String(s) => one_line(s).into_owned(),
        Value::Array(xs) => one_line(
            &xs.iter()
                .map(|x| x.as_str().map_or(x.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(", "),
        )
        .into_owned(),
        other => one_line(&other.to_string()).into_owned(),
    };
    let rows: Vec<Vec<String>> = jsons
        .iter()
        .map(|j| Ok(Projected::new(j, fields)?.values.iter().map(|(k, v)| cell(k, v)).collect()))
        .collect::<Result<_, Error>>()?;
    let widths: Vec<usize> = (0..fields.len())
        .map(|i| {
            rows.iter()
                .map(|r| unicode_width::UnicodeWidthStr::width(r[i].as_str()))
                .chain([fields[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |w: &mut dyn Write, cells: Vec<String>| -> std::io::Result<()> {
        let last = cells.len() - 1;
        let mut out = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            out.push_str(&c);
            if i < last {
                let pad = widths[i] - unicode_width::UnicodeWidthStr::width(c.as_str());
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        writeln!(w, "{out}")
    };
    line(w, fields.iter().map(|f| f.to_uppercase()).collect())?;
    for r in rows {
        line(w, r)?;
    }
    Ok(())
}

/// `--limit N`: a count of 0 or more. A negative number reaches here (the argument allows a
/// leading hyphen) to get this message rather than clap's "unexpected argument '-1'".
pub fn limit_arg(s: &str) -> Result<usize, String> {
    s.parse().map_err(|_| "--limit takes a number of 0 or more".to_string())
}
