//! The three-way merge of one issue file, as `jit merge-driver` runs it for git: field by
//! field, on the issue's JSON form, so fields this version does not know merge too. A pure
//! function: no lock, no repository, no clock. The rules are in `docs/git.md`.
//!
//! - A field changed on one side takes that side. Changed on both sides to different values,
//!   the side that changed the issue later (`updated_at`; a tie goes to the greater file
//!   bytes) wins, and the dropped value is recorded in `merge_overrides`.
//! - `labels`, `dependencies`, `artifacts`, `documents` and every other array of strings
//!   merge as sets: an element removed on one side stays removed, one added is kept.
//! - Objects (`context`, a gate, unknown objects) merge key-wise by the same rules; `gates`
//!   is a set of names whose run histories merge as a union ordered by time.
//! - `version` becomes max(ours, theirs) + 1 and `updated_at` the later of the two.

use std::collections::HashSet;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::{Issue, MAX_MERGE_OVERRIDES, MAX_RUNS};

/// Why two files could not be merged: git then reports a conflict and keeps its own copy.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{side} is not an issue file: {message}")]
    Unreadable { side: &'static str, message: String },
    #[error("ours is issue {ours} but {side} is issue {other}")]
    DifferentIds { ours: String, side: &'static str, other: String },
    #[error("the merged issue is not valid: {0}")]
    Invalid(String),
}

/// Arrays merged as sets whatever their elements are.
const SET_FIELDS: [&str; 4] = ["labels", "dependencies", "artifacts", "documents"];

/// Merge the bytes of three versions of one issue file (`base` is `None` when both sides
/// added the file) into the bytes of the merged file, as jit writes it.
pub fn merge_files(base: Option<&[u8]>, ours: &[u8], theirs: &[u8]) -> Result<Vec<u8>, MergeError> {
    let parse = |side: &'static str, bytes: &[u8]| {
        Issue::from_slice(bytes)
            .map_err(|e| MergeError::Unreadable { side, message: e.to_string() })
    };
    let base = base.map(|b| parse("base", b)).transpose()?;
    let ours = parse("ours", ours)?;
    let theirs = parse("theirs", theirs)?;
    Ok(merge(base.as_ref(), &ours, &theirs)?.to_file_bytes())
}

/// Merge two versions of one issue against their common ancestor (`None`: an empty base).
pub fn merge(base: Option<&Issue>, ours: &Issue, theirs: &Issue) -> Result<Issue, MergeError> {
    if ours.id != theirs.id {
        return Err(MergeError::DifferentIds {
            ours: ours.id.to_string(),
            side: "theirs",
            other: theirs.id.to_string(),
        });
    }
    if let Some(b) = base.filter(|b| b.id != ours.id) {
        return Err(MergeError::DifferentIds {
            ours: ours.id.to_string(),
            side: "base",
            other: b.id.to_string(),
        });
    }
    let (o, t) = (to_map(ours), to_map(theirs));
    let b = base.map(to_map).unwrap_or_default();
    // Trivial merges return a side as it is: nothing to record, no version to bump.
    if o == t || b == t {
        return Ok(ours.clone());
    }
    if b == o {
        return Ok(theirs.clone());
    }
    let ours_wins =
        (ours.updated_at, ours.to_file_bytes()) > (theirs.updated_at, theirs.to_file_bytes());
    let dropped_at = if ours_wins { theirs.updated_at } else { ours.updated_at };
    let mut m = Merger { ours_wins, dropped_at, overrides: Vec::new() };
    let mut out = m.top(&b, &o, &t);
    out.insert("version".into(), (ours.version.max(theirs.version) + 1).into());
    let updated = ours.updated_at.max(theirs.updated_at);
    out.insert("updated_at".into(), super::time::format(updated).into());
    let mut recorded = match out.remove("merge_overrides") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    recorded.extend(m.overrides);
    let excess = recorded.len().saturating_sub(MAX_MERGE_OVERRIDES);
    recorded.drain(..excess);
    if !recorded.is_empty() {
        out.insert("merge_overrides".into(), Value::Array(recorded));
    }
    let mut issue: Issue = serde_json::from_value(Value::Object(out))
        .map_err(|e| MergeError::Invalid(e.to_string()))?;
    issue.labels.sort();
    issue.labels.dedup();
    Ok(issue)
}

fn to_map(issue: &Issue) -> Map<String, Value> {
    match serde_json::to_value(issue).expect("issue serialises") {
        Value::Object(m) => m,
        _ => unreachable!("an issue serialises as an object"),
    }
}

struct Merger {
    ours_wins: bool,
    dropped_at: Timestamp,
    overrides: Vec<Value>,
}

type Map3<'a> = (&'a Map<String, Value>, &'a Map<String, Value>, &'a Map<String, Value>);

impl Merger {
    /// The top level: `state` and `closed_at` move together, `gates` has its own rule, and
    /// `version`/`updated_at` are set by the caller.
    fn top(
        &mut self,
        b: &Map<String, Value>,
        o: &Map<String, Value>,
        t: &Map<String, Value>,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for key in keys((b, o, t)) {
            let (bv, ov, tv) = (b.get(&key), o.get(&key), t.get(&key));
            let merged = match key.as_str() {
                "version" | "updated_at" | "closed_at" => continue,
                "state" => {
                    let (state, closed) = self.state(b, o, t);
                    if let Some(c) = closed {
                        out.insert("closed_at".into(), c);
                    }
                    state
                }
                "gates" => Some(Value::Object(self.gates(
                    object(bv).unwrap_or(&Map::new()),
                    object(ov).unwrap_or(&Map::new()),
                    object(tv).unwrap_or(&Map::new()),
                ))),
                "merge_overrides" => self.set(bv, ov, tv),
                _ => self.value(&key, bv, ov, tv),
            };
            if let Some(v) = merged {
                out.insert(key, v);
            }
        }
        out
    }

    /// `state` and `closed_at` as one value, so a merged issue is never done without the
    /// time it closed, nor open with one.
    fn state(
        &mut self,
        b: &Map<String, Value>,
        o: &Map<String, Value>,
        t: &Map<String, Value>,
    ) -> (Option<Value>, Option<Value>) {
        let pair = |m: &Map<String, Value>| (m.get("state").cloned(), m.get("closed_at").cloned());
        let (pb, po, pt) = (pair(b), pair(o), pair(t));
        if po == pt || pb == pt {
            return po;
        }
        if pb == po {
            return pt;
        }
        if po.0 == pt.0 {
            let closed = self.value("closed_at", pb.1.as_ref(), po.1.as_ref(), pt.1.as_ref());
            return (po.0, closed);
        }
        self.conflict("state", po.0.as_ref(), pt.0.as_ref());
        if self.ours_wins { po } else { pt }
    }

    /// The general rule for one value (`None`: the key is absent on that side).
    fn value(
        &mut self,
        path: &str,
        b: Option<&Value>,
        o: Option<&Value>,
        t: Option<&Value>,
    ) -> Option<Value> {
        if o == t || b == t {
            return o.cloned();
        }
        if b == o {
            return t.cloned();
        }
        match (o, t) {
            (Some(Value::Object(om)), Some(Value::Object(tm))) => {
                let empty = Map::new();
                let bm = object(b).unwrap_or(&empty);
                let mut out = Map::new();
                for key in keys((bm, om, tm)) {
                    let sub = format!("{path}.{key}");
                    if let Some(v) = self.value(&sub, bm.get(&key), om.get(&key), tm.get(&key)) {
                        out.insert(key, v);
                    }
                }
                Some(Value::Object(out))
            }
            (Some(Value::Array(oa)), Some(Value::Array(ta)))
                if SET_FIELDS.contains(&path)
                    || (strings(oa) && strings(ta) && b.is_none_or(is_string_array)) =>
            {
                self.set(b, o, t)
            }
            _ => self.conflict(path, o, t),
        }
    }

    /// Both sides changed `path` to different values: the later side's value, recorded.
    fn conflict(&mut self, path: &str, o: Option<&Value>, t: Option<&Value>) -> Option<Value> {
        let (kept, dropped) = if self.ours_wins { (o, t) } else { (t, o) };
        self.record(path, kept, dropped);
        kept.cloned()
    }

    /// A three-way set merge of two arrays: an element is kept if both sides have it or one
    /// side added it (it is not in the base). The winner's order first, then the other's
    /// additions, so the result does not depend on which side is "ours".
    fn set(&mut self, b: Option<&Value>, o: Option<&Value>, t: Option<&Value>) -> Option<Value> {
        let items = |v: Option<&Value>| match v {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        let key = |v: &Value| serde_json::to_string(v).expect("JSON serialises");
        let (bi, oi, ti) = (items(b), items(o), items(t));
        let in_b: HashSet<String> = bi.iter().map(key).collect();
        let in_o: HashSet<String> = oi.iter().map(key).collect();
        let in_t: HashSet<String> = ti.iter().map(key).collect();
        let (first, second) = if self.ours_wins { (&oi, &ti) } else { (&ti, &oi) };
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for v in first.iter().chain(second) {
            let k = key(v);
            let keep = (in_o.contains(&k) && in_t.contains(&k)) || !in_b.contains(&k);
            if keep && seen.insert(k) {
                out.push(v.clone());
            }
        }
        Some(Value::Array(out))
    }

    /// Gates: names merge as a set (a gate removed on one side stays removed, and if the
    /// other side changed it meanwhile that change is recorded as dropped); a gate on both
    /// sides merges its run history as a union ordered by time, and its status follows the
    /// last run, as recording a run sets it.
    fn gates(
        &mut self,
        b: &Map<String, Value>,
        o: &Map<String, Value>,
        t: &Map<String, Value>,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for name in keys((b, o, t)) {
            let path = format!("gates.{name}");
            let (bg, og, tg) = (b.get(&name), o.get(&name), t.get(&name));
            let merged = if og == tg || bg == tg {
                og.cloned()
            } else if bg == og {
                tg.cloned()
            } else {
                match (object(og), object(tg)) {
                    (Some(om), Some(tm)) => Some(self.gate(&path, object(bg), om, tm)),
                    // Removed on one side, changed on the other: removal wins, as in a set.
                    _ => {
                        let changed = og.or(tg);
                        self.record(&path, None, changed);
                        None
                    }
                }
            };
            if let Some(g) = merged {
                out.insert(name, g);
            }
        }
        out
    }

    /// Note in `merge_overrides` that `dropped` lost to `kept` at `path`.
    fn record(&mut self, path: &str, kept: Option<&Value>, dropped: Option<&Value>) {
        let mut rec = Map::new();
        rec.insert("field".into(), path.into());
        rec.insert("kept".into(), kept.cloned().unwrap_or(Value::Null));
        rec.insert("dropped".into(), dropped.cloned().unwrap_or(Value::Null));
        rec.insert("dropped_at".into(), super::time::format(self.dropped_at).into());
        self.overrides.push(Value::Object(rec));
    }

    fn gate(
        &mut self,
        path: &str,
        b: Option<&Map<String, Value>>,
        o: &Map<String, Value>,
        t: &Map<String, Value>,
    ) -> Value {
        let runs_of = |m: &Map<String, Value>| match m.get("runs") {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        let mut runs: Vec<(String, String, Value)> = runs_of(o)
            .into_iter()
            .chain(runs_of(t))
            .map(|r| {
                // Instants jit wrote have one width, so their text order is time order.
                let at = r.get("at").and_then(Value::as_str).unwrap_or_default().to_string();
                (at, serde_json::to_string(&r).expect("JSON serialises"), r)
            })
            .collect();
        runs.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
        runs.dedup_by(|x, y| x.1 == y.1);
        let excess = runs.len().saturating_sub(MAX_RUNS);
        let runs: Vec<Value> = runs.into_iter().skip(excess).map(|r| r.2).collect();
        let strip = |m: &Map<String, Value>| {
            let mut m = m.clone();
            m.remove("runs");
            if !runs.is_empty() {
                m.remove("status");
            }
            Value::Object(m)
        };
        let bs = b.map(strip);
        let mut merged = match self.value(path, bs.as_ref(), Some(&strip(o)), Some(&strip(t))) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        if let Some(last) = runs.last().and_then(|r| r.get("status")) {
            merged.insert("status".into(), last.clone());
        }
        if !runs.is_empty() {
            merged.insert("runs".into(), Value::Array(runs));
        }
        Value::Object(merged)
    }
}

/// Every key of three maps, sorted and without repeats.
fn keys((b, o, t): Map3<'_>) -> Vec<String> {
    let mut k: Vec<String> = b.keys().chain(o.keys()).chain(t.keys()).cloned().collect();
    k.sort();
    k.dedup();
    k
}

fn object(v: Option<&Value>) -> Option<&Map<String, Value>> {
    v.and_then(Value::as_object)
}

fn strings(a: &[Value]) -> bool {
    a.iter().all(Value::is_string)
}

fn is_string_array(v: &Value) -> bool {
    v.as_array().is_some_and(|a| strings(a))
}

#[cfg(test)]
mod tests;
