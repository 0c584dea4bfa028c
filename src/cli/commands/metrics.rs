//! `jit metrics`

use std::fmt::Write as _;

use super::Ctx;
use crate::api::{Latency, Metrics};
use crate::cli::CliError;
use crate::cli::exit;
use crate::cli::render::one_line;
use crate::error::Error;

/// Numbers for a supervisor: per-operation latency, lock wait, claims, refusals, states
///
/// From the event log, reading only the window asked for (--since, default the last hour):
/// per operation its count and p50/p95/p99/max latency, lock wait p50/p99, claims served,
/// lease expiries, and the refusals of this clone (version conflicts, fenced writes, no-work
/// answers, rate limits), with the issues per state now.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  jit metrics
  jit metrics --since 24h --json
  jit metrics --since all --format prometheus > /var/lib/node_exporter/jit.prom")]
pub struct Args {
    /// The window's start: YYYY-MM-DD (UTC), an RFC 3339 timestamp, an age like 30m, 24h,
    /// 7d, or `all` for the whole history [default: 1h]
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// How to print: text, json (as --json) or prometheus (the text exposition format)
    #[arg(long, value_name = "FORMAT", default_value = "text",
          value_parser = ["text", "json", "prometheus"])]
    pub format: String,
}

pub fn run(ctx: &mut Ctx, args: Args) -> Result<u8, CliError> {
    if args.format == "prometheus" && ctx.out.is_json() {
        return Err(Error::InvalidArgument(
            "--format prometheus and --json are two formats: give one".into(),
        )
        .into());
    }
    let repo = ctx.open_repo()?;
    let now_ns = repo.clock().now().as_nanosecond();
    let since = match args.since.as_deref().unwrap_or("1h") {
        "all" => None,
        s => {
            let ns = super::events::parse_since(s, now_ns)?;
            Some(jiff::Timestamp::from_nanosecond(ns).map_err(|e| {
                Error::InvalidArgument(format!("--since `{s}` is out of range: {e}"))
            })?)
        }
    };
    let snap = ctx.snapshot(&repo)?;
    let metrics = repo.metrics(since, &snap)?;
    if metrics.skipped_lines > 0 {
        ctx.warn(&format!(
            "skipped {} line(s) of the event logs that are not events (torn by a crash, or \
             damaged)",
            metrics.skipped_lines
        ));
    }
    match args.format.as_str() {
        _ if ctx.out.is_json() => ctx.out.json(&metrics)?,
        "json" => {
            let mut text = serde_json::to_string(&metrics).expect("metrics serialise");
            text.push('\n');
            ctx.out.text(&text)?;
        }
        "prometheus" => ctx.out.text(&prometheus(&metrics))?,
        _ => ctx.out.text(&human(&metrics))?,
    }
    snap.repair();
    Ok(if snap.problems.is_empty() { exit::OK } else { exit::USER })
}

fn human(m: &Metrics) -> String {
    let mut t = String::new();
    let since = m.since.as_deref().unwrap_or("the start of the history");
    let _ = writeln!(t, "window    {since} to {}", m.until);
    let width = m.operations.iter().map(|o| one_line(&o.op).chars().count()).max().unwrap_or(2);
    let width = width.max("lock wait".len());
    let _ = writeln!(
        t,
        "{:width$}  {:>7}  {:>7}  {:>7}  {:>7}  {:>7}",
        "operation", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    let row = |t: &mut String, name: &str, l: &Latency| {
        let _ = writeln!(
            t,
            "{name:width$}  {:>7}  {:>7}  {:>7}  {:>7}  {:>7}",
            l.count, l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
        );
    };
    for o in &m.operations {
        row(&mut t, &one_line(&o.op), &o.latency);
    }
    row(&mut t, "lock wait", &m.lock_wait);
    let _ = writeln!(t, "claims served      {}", m.claims_served);
    let _ = writeln!(t, "lease expiries     {}", m.lease_expiries);
    let _ = writeln!(t, "version conflicts  {}", m.version_conflicts);
    let _ = writeln!(t, "fenced writes      {}", m.fenced_writes);
    let _ = writeln!(t, "no-work answers    {}", m.no_work);
    let _ = writeln!(t, "rate limited       {}", m.rate_limited);
    let states: Vec<String> = m.states.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let _ = writeln!(t, "issues             {}", states.join(", "));
    t
}

/// A label value as the exposition format writes it: `\`, `"` and line feeds escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn seconds(ms: u64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

/// The Prometheus text exposition format (version 0.0.4). Durations are in seconds, as the
/// format's conventions ask; every count is a gauge, as it counts a window, not a total
/// since some start.
fn prometheus(m: &Metrics) -> String {
    let mut t = String::new();
    let summary = |t: &mut String, name: &str, help: &str, rows: &[(String, &Latency)]| {
        let _ = writeln!(t, "# HELP {name} {help}");
        let _ = writeln!(t, "# TYPE {name} summary");
        for (labels, l) in rows {
            let sep = if labels.is_empty() { "" } else { "," };
            for (q, v) in
                [("0.5", l.p50_ms), ("0.95", l.p95_ms), ("0.99", l.p99_ms), ("1", l.max_ms)]
            {
                let _ = writeln!(t, "{name}{{{labels}{sep}quantile=\"{q}\"}} {}", seconds(v));
            }
            let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
            let _ = writeln!(t, "{name}_sum{braces} {}", seconds(l.sum_ms));
            let _ = writeln!(t, "{name}_count{braces} {}", l.count);
        }
    };
    let ops: Vec<(String, &Latency)> =
        m.operations.iter().map(|o| (format!("op=\"{}\"", label(&o.op)), &o.latency)).collect();
    summary(
        &mut t,
        "jit_operation_duration_seconds",
        "Time from the start of a transaction to its commit, lock wait included, per operation, over the window.",
        &ops,
    );
    summary(
        &mut t,
        "jit_lock_wait_seconds",
        "Time the committed operations of the window waited for the writers' lock.",
        &[(String::new(), &m.lock_wait)],
    );
    let gauges: [(&str, &str, u64); 6] = [
        (
            "jit_claims_served",
            "Claims served (claim and claim_steal events) in the window.",
            m.claims_served,
        ),
        ("jit_lease_expiries", "Leases that expired in the window.", m.lease_expiries),
        (
            "jit_version_conflicts",
            "Writes refused with VERSION_CONFLICT in the window (this clone).",
            m.version_conflicts,
        ),
        (
            "jit_fenced_writes",
            "Writes refused with CLAIM_FENCED in the window (this clone).",
            m.fenced_writes,
        ),
        (
            "jit_no_work_answers",
            "Claims answered NO_ISSUE_AVAILABLE in the window (this clone).",
            m.no_work,
        ),
        (
            "jit_rate_limited",
            "Commands refused with RATE_LIMITED in the window (this clone).",
            m.rate_limited,
        ),
    ];
    for (name, help, v) in gauges {
        let _ = writeln!(t, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    }
    let _ = writeln!(t, "# HELP jit_issues Issues per state now.\n# TYPE jit_issues gauge");
    for (state, n) in &m.states {
        let _ = writeln!(t, "jit_issues{{state=\"{}\"}} {n}", label(state));
    }
    t
}
