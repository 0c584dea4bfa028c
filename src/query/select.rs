//! Choosing, ordering and trimming the issues a filter selects from a snapshot.

use std::str::FromStr;

use super::{EvalCtx, Expr};
use crate::error::Error;
use crate::storage::index::{Entry, Snapshot};

/// What `--sort` may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Id,
    Created,
    Updated,
    Closed,
    Priority,
    State,
    Title,
}

const SORT_KEYS: [(&str, SortKey); 7] = [
    ("id", SortKey::Id),
    ("created", SortKey::Created),
    ("updated", SortKey::Updated),
    ("closed", SortKey::Closed),
    ("priority", SortKey::Priority),
    ("state", SortKey::State),
    ("title", SortKey::Title),
];

/// `FIELD[:asc|:desc]`. The default order is newest first (by id, which is time-ordered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub desc: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Sort { key: SortKey::Id, desc: true }
    }
}

impl FromStr for Sort {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let (name, dir) = s.split_once(':').unwrap_or((s, "asc"));
        // Case does not matter, as in filters.
        let (name, dir) = (name.to_ascii_lowercase(), dir.to_ascii_lowercase());
        let desc = match dir.as_str() {
            "asc" => false,
            "desc" => true,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "--sort {s}: the direction is `asc` or `desc`"
                )));
            }
        };
        let key = SORT_KEYS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k).ok_or_else(|| {
            Error::InvalidValue {
                what: "sort field",
                value: name.to_string(),
                allowed: SORT_KEYS.iter().map(|(n, _)| n.to_string()).collect(),
                suggestion: crate::model::suggest(&name, SORT_KEYS.iter().map(|(n, _)| *n)),
            }
        })?;
        Ok(Sort { key, desc })
    }
}

/// The entries of `snap` that match `filter`, ordered by `sort`, at most `limit` of them.
pub fn select<'a>(
    snap: &'a Snapshot,
    filter: Option<&Expr>,
    ctx: &EvalCtx,
    sort: Sort,
    limit: Option<usize>,
) -> Vec<Entry<'a>> {
    let limit = limit.unwrap_or(usize::MAX);
    if sort.key == SortKey::Id {
        // Snapshot order is id order: no summaries to decode unless a filter needs them.
        let all: Vec<Entry<'a>> = match filter {
            None => snap.iter().collect(),
            Some(f) => matching(snap, f, ctx),
        };
        return if sort.desc {
            all.into_iter().rev().take(limit).collect()
        } else {
            all.into_iter().take(limit).collect()
        };
    }
    let mut rows: Vec<(Entry<'a>, SortVal)> = snap
        .iter()
        .filter_map(|e| {
            if filter.is_some_and(|f| e.lead().is_some_and(|l| f.ruled_out(l))) {
                return None;
            }
            let s = e.summary();
            if !filter.is_none_or(|f| f.matches(e.id, &s, ctx)) {
                return None;
            }
            let v = match sort.key {
                SortKey::Created => SortVal::Int(s.created_us),
                SortKey::Updated => SortVal::Int(s.updated_us),
                SortKey::Closed => SortVal::Int(s.closed_us.unwrap_or(i64::MIN)),
                SortKey::Priority => SortVal::Int(s.priority as i64),
                SortKey::State => SortVal::Int(s.state as i64),
                SortKey::Title => SortVal::Text(s.title.to_lowercase()),
                SortKey::Id => unreachable!("handled above"),
            };
            Some((e, v))
        })
        .collect();
    // Ties keep newest first, whatever the direction.
    rows.sort_by(|(a, va), (b, vb)| {
        let o = va.cmp(vb);
        let o = if sort.desc { o.reverse() } else { o };
        o.then_with(|| b.id.cmp(&a.id))
    });
    rows.into_iter().take(limit).map(|(e, _)| e).collect()
}

/// From this many issues up, the filter is evaluated on several threads.
const PARALLEL_EVAL_MIN: usize = 16_384;

/// The entries of `snap` that match `filter`, in snapshot (id) order. Large snapshots are
/// split over scoped threads, each with its own evaluation context.
fn matching<'a>(snap: &'a Snapshot, filter: &Expr, ctx: &EvalCtx) -> Vec<Entry<'a>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    matching_on(snap, filter, ctx, threads, PARALLEL_EVAL_MIN)
}

fn matching_on<'a>(
    snap: &'a Snapshot,
    filter: &Expr,
    ctx: &EvalCtx,
    threads: usize,
    parallel_min: usize,
) -> Vec<Entry<'a>> {
    let entries: Vec<Entry<'a>> = snap.iter().collect();
    // Most issues are ruled out on their state and priority, when the filter names them,
    // without decoding the rest of their summary (which is most of a query's time).
    let keep = |c: &EvalCtx, e: &Entry| {
        !e.lead().is_some_and(|l| filter.ruled_out(l)) && filter.matches(e.id, &e.summary(), c)
    };
    if threads < 2 || entries.len() < parallel_min {
        return entries.into_iter().filter(|e| keep(ctx, e)).collect();
    }
    let chunk = entries.len().div_ceil(threads);
    let (now, graph) = (ctx.now, ctx.graph);
    let flags: Vec<bool> = std::thread::scope(|s| {
        // A thread that cannot be started leaves its share to this one.
        let workers: Vec<_> = entries
            .chunks(chunk)
            .skip(1)
            .map(|c| {
                let work = move || {
                    let local = EvalCtx::new(now, graph);
                    c.iter().map(|e| keep(&local, e)).collect::<Vec<bool>>()
                };
                std::thread::Builder::new().spawn_scoped(s, work).map_err(|_| c)
            })
            .collect();
        let mut flags: Vec<bool> = entries[..chunk].iter().map(|e| keep(ctx, e)).collect();
        for w in workers {
            match w {
                Ok(w) => flags.extend(w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))),
                Err(c) => flags.extend(c.iter().map(|e| keep(ctx, e))),
            }
        }
        flags
    });
    entries.into_iter().zip(flags).filter(|(_, k)| *k).map(|(e, _)| e).collect()
}

/// Titles sort without regard to case.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum SortVal {
    Int(i64),
    Text(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IssueId, NewIssue, Priority, State};
    use crate::repo::Repo;
    use crate::storage::{Durability, Layout, atomic, index};

    #[test]
    fn parallel_evaluation_selects_exactly_what_sequential_does() {
        let dir = tempfile::tempdir().unwrap();
        Repo::init(dir.path()).unwrap();
        let layout = Layout::for_new(dir.path());
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        for i in 0..301u64 {
            let issue = NewIssue {
                title: format!("issue {i}"),
                priority: Some(Priority::ALL[(i % 4) as usize]),
                labels: vec![format!("n:m{}", i % 7)],
                ..Default::default()
            }
            .build(IssueId::from_parts(1_700_000_000_000 + i, u128::from(i)), now, State::Ready)
            .unwrap();
            atomic::write(
                &layout.issue_path(issue.id),
                &issue.to_file_bytes(),
                Durability::Relaxed,
            )
            .unwrap();
        }
        let snap = index::snapshot(&layout).unwrap();
        let ctx = EvalCtx::new(now, None);
        for q in ["priority>=high AND NOT label:n:m3", "issue AND label:n:m1", "id:zzzz"] {
            let f = crate::query::parse(q).unwrap();
            let ids = |v: Vec<Entry>| v.iter().map(|e| e.id).collect::<Vec<_>>();
            let sequential = ids(matching_on(&snap, &f, &ctx, 1, usize::MAX));
            for threads in [2, 3, 8] {
                assert_eq!(ids(matching_on(&snap, &f, &ctx, threads, 1)), sequential, "{q}");
            }
            if q != "id:zzzz" {
                assert!(!sequential.is_empty() && sequential.len() < 301, "{q}: a real test");
            }
        }
    }
    #[test]
    fn a_filter_rules_out_on_state_and_priority_only_what_it_would_not_match() {
        let dir = tempfile::tempdir().unwrap();
        Repo::init(dir.path()).unwrap();
        let layout = Layout::for_new(dir.path());
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        // Every state and priority, with and without a label and a dependency.
        let mut i = 0u64;
        for state in State::ALL {
            for priority in Priority::ALL {
                for extra in [false, true] {
                    i += 1;
                    let labels = if extra { vec!["type:bug".to_string()] } else { vec![] };
                    let issue = NewIssue {
                        title: format!("issue {i}"),
                        priority: Some(priority),
                        labels,
                        ..Default::default()
                    }
                    .build(IssueId::from_parts(1_700_000_000_000 + i, u128::from(i)), now, state)
                    .unwrap();
                    let bytes = issue.to_file_bytes();
                    atomic::write(&layout.issue_path(issue.id), &bytes, Durability::Relaxed)
                        .unwrap();
                }
            }
        }
        let snap = index::snapshot(&layout).unwrap();
        let ctx = EvalCtx::new(now, None);
        let filters = [
            "priority:critical AND label:type:bug AND state:ready",
            "state:ready OR priority>=high",
            "NOT state:done",
            "NOT (state:done AND priority:low)",
            "is:open AND priority<normal",
            "is:closed OR label:type:bug",
            "state:in_progress AND (priority:high OR title:\"issue 3\")",
            "NOT is:closed AND NOT priority:low",
            "label:type:bug",
        ];
        let mut ruled_out = 0;
        for q in filters {
            let f = crate::query::parse(q).unwrap();
            for e in snap.iter() {
                let lead = e.lead().expect("jit's records decode");
                let s = e.summary();
                assert_eq!((lead.state, lead.priority), (s.state, s.priority));
                if f.ruled_out(lead) {
                    ruled_out += 1;
                    assert!(!f.matches(e.id, &s, &ctx), "{q}: {} ruled out but matches", s.title);
                }
            }
        }
        assert!(ruled_out > snap.len(), "a real test: {ruled_out} ruled out");
    }
}
