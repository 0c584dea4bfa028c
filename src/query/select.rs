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
        let desc = match dir {
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
                suggestion: crate::model::suggest(name, SORT_KEYS.iter().map(|(n, _)| *n)),
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
        let keep = |e: &Entry| filter.is_none_or(|f| f.matches(e.id, &e.summary(), ctx));
        return if sort.desc {
            snap.iter().rev().filter(keep).take(limit).collect()
        } else {
            snap.iter().filter(keep).take(limit).collect()
        };
    }
    let mut rows: Vec<(Entry<'a>, SortVal)> = snap
        .iter()
        .filter_map(|e| {
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

/// Titles sort without regard to case.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum SortVal {
    Int(i64),
    Text(String),
}
