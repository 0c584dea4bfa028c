//! Evaluation of a checked filter against an issue's index summary.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use jiff::Timestamp;

use super::Pattern;
use super::ast::HasWhat;
use crate::graph::{GraphView, precheck_hold, ready_by_rule};

use super::ast::{CmpOp, DateValue, Expr, IsPred, TermKind};
use crate::model::{IssueId, Priority, State};
use crate::storage::index::{Lead, Summary};

/// What evaluation needs beyond the issue itself.
pub struct EvalCtx<'a> {
    /// "Now", for ages like `updated<24h` (the command's clock, so tests can fix it).
    pub now: Timestamp,
    /// The other issues, for `is:ready`, `is:blocked` and `blocks:`. Without it every
    /// dependency counts as missing (not done).
    pub graph: Option<&'a GraphView<'a>>,
    /// `blocks:PREFIX` → the dependencies of the issues with that prefix (computed once).
    blocked_by: RefCell<HashMap<String, Rc<HashSet<u128>>>>,
}

impl<'a> EvalCtx<'a> {
    pub fn new(now: Timestamp, graph: Option<&'a GraphView<'a>>) -> Self {
        EvalCtx { now, graph, blocked_by: RefCell::new(HashMap::new()) }
    }

    fn deps_of_prefix(&self, p: &Pattern) -> Rc<HashSet<u128>> {
        if let Some(s) = self.blocked_by.borrow().get(p.as_str()) {
            return Rc::clone(s);
        }
        let set: HashSet<u128> = self
            .graph
            .map(|g| {
                g.snap
                    .iter()
                    .filter(|e| p.matches_prefix(&e.id.to_string()))
                    .flat_map(|e| e.summary().dependencies)
                    .collect()
            })
            .unwrap_or_default();
        let set = Rc::new(set);
        self.blocked_by.borrow_mut().insert(p.as_str().to_string(), Rc::clone(&set));
        set
    }

    fn dep_done(&self, d: u128) -> bool {
        self.graph.is_some_and(|g| g.state(d) == Some(State::Done))
    }
}

const US_PER_DAY: i64 = 86_400_000_000;

impl Expr {
    /// Does the full issue match? The same answer as [`Expr::matches`] on its index summary
    /// (for operations that hold the issue itself, such as claims and validate).
    pub fn matches_issue(&self, issue: &crate::model::Issue, ctx: &EvalCtx) -> bool {
        self.matches(issue.id, &Summary::of(issue), ctx)
    }

    /// Does the issue `id` with summary `s` match?
    pub fn matches(&self, id: IssueId, s: &Summary<'_>, ctx: &EvalCtx) -> bool {
        match self {
            Expr::Or(xs) => xs.iter().any(|x| x.matches(id, s, ctx)),
            Expr::And(xs) => xs.iter().all(|x| x.matches(id, s, ctx)),
            Expr::Not(x) => !x.matches(id, s, ctx),
            Expr::Term(t) => t.kind.matches(id, s, ctx),
        }
    }
}

impl Expr {
    /// Whether the issue cannot match, judged on its state and priority alone (`lead`):
    /// true only where [`Expr::matches`] would say false for any summary with them, so a
    /// caller may skip decoding the rest. `false` says nothing.
    pub fn ruled_out(&self, lead: Lead) -> bool {
        match self {
            Expr::Or(xs) => !xs.is_empty() && xs.iter().all(|x| x.ruled_out(lead)),
            Expr::And(xs) => xs.iter().any(|x| x.ruled_out(lead)),
            Expr::Not(x) => x.decided_by(lead).is_some_and(|m| m),
            Expr::Term(_) => self.decided_by(lead).is_some_and(|m| !m),
        }
    }

    /// A term that `lead` alone decides: whether it matches.
    fn decided_by(&self, lead: Lead) -> Option<bool> {
        let Expr::Term(t) = self else { return None };
        match &t.kind {
            TermKind::State(p) => {
                Some(State::from_u8(lead.state).is_some_and(|st| p.matches_whole(st.as_str())))
            }
            TermKind::Priority(op, want) => Some(
                Priority::from_u8(lead.priority).is_some_and(|have| compare(*op, have.cmp(want))),
            ),
            TermKind::Is(pred @ (IsPred::Open | IsPred::Closed)) => {
                let closed = State::from_u8(lead.state).is_some_and(State::is_closed);
                Some(closed == matches!(pred, IsPred::Closed))
            }
            _ => None,
        }
    }
}

impl TermKind {
    fn matches(&self, id: IssueId, s: &Summary<'_>, ctx: &EvalCtx) -> bool {
        match self {
            TermKind::Text(p) | TermKind::AnyText(p) => {
                p.matches_within(s.title) || p.matches_within(&s.description.get())
            }
            TermKind::Title(p) => p.matches_within(s.title),
            TermKind::Description(p) => p.matches_within(&s.description.get()),
            TermKind::Id(p) => p.matches_prefix(&id.to_string()),
            TermKind::State(p) => {
                State::from_u8(s.state).is_some_and(|st| p.matches_whole(st.as_str()))
            }
            TermKind::Priority(op, want) => {
                Priority::from_u8(s.priority).is_some_and(|have| compare(*op, have.cmp(want)))
            }
            TermKind::Assignee(None) => s.assignee.is_none(),
            TermKind::Assignee(Some(p)) => s.assignee.is_some_and(|a| p.matches_whole(a)),
            // Without a `:`, the pattern is matched against the value in any namespace.
            TermKind::Label(p) if !p.as_str().contains(':') => {
                s.labels.iter().any(|l| p.matches_whole(l.split_once(':').map_or(*l, |(_, v)| v)))
            }
            TermKind::Label(p) => s.labels.iter().any(|l| p.matches_whole(l)),
            TermKind::Date(field, op, v) => {
                let t = match field {
                    super::DateField::Created => Some(s.created_us),
                    super::DateField::Updated => Some(s.updated_us),
                    super::DateField::Closed => s.closed_us,
                };
                t.is_some_and(|t| date_matches(t, *op, v, ctx))
            }
            TermKind::Is(pred) => {
                let closed = State::from_u8(s.state).is_some_and(State::is_closed);
                match pred {
                    IsPred::Open => !closed,
                    IsPred::Closed => closed,
                    IsPred::Assigned => s.assignee.is_some(),
                    IsPred::Unassigned => s.assignee.is_none(),
                    IsPred::Blocked => crate::rules::is_blocked(s, |d| ctx.dep_done(d)),
                    IsPred::Ready => match ctx.graph {
                        Some(g) => g.is_ready(s),
                        // No registry: every gate not passed is unknown, so it holds.
                        None => ready_by_rule(s, |_| false, |_, st| precheck_hold(st, None, false)),
                    },
                }
            }
            TermKind::Has(HasWhat::Deps) => !s.dependencies.is_empty(),
            TermKind::Has(HasWhat::Gates) => !s.gates.is_empty(),
            TermKind::Has(HasWhat::Labels) => !s.labels.is_empty(),
            TermKind::DependsOn(p) => {
                s.dependencies.iter().any(|d| p.matches_prefix(&IssueId::from_u128(*d).to_string()))
            }
            TermKind::Blocks(p) => ctx.deps_of_prefix(p).contains(&id.as_u128()),
            TermKind::Gate(p, status) => s.gates.iter().any(|(name, st)| {
                p.matches_whole(name) && status.is_none_or(|want| want.as_str() == *st)
            }),
        }
    }
}

fn compare(op: CmpOp, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CmpOp::Eq => ord == Equal,
        CmpOp::Gt => ord == Greater,
        CmpOp::Ge => ord != Less,
        CmpOp::Lt => ord == Less,
        CmpOp::Le => ord != Greater,
    }
}

fn date_matches(t_us: i64, op: CmpOp, v: &DateValue, ctx: &EvalCtx) -> bool {
    match v {
        DateValue::Day(d) => {
            // Day bounds are plain integers: years 0000-9999 are far inside i64 microseconds.
            let start = super::date::day_start_us(*d);
            let end = start + US_PER_DAY;
            match op {
                CmpOp::Eq => start <= t_us && t_us < end,
                CmpOp::Gt => t_us >= end,
                CmpOp::Ge => t_us >= start,
                CmpOp::Lt => t_us < start,
                CmpOp::Le => t_us < end,
            }
        }
        DateValue::Instant(i) => compare(op, (i128::from(t_us) * 1000).cmp(&i.ns)),
        DateValue::Age { amount, unit } => {
            let per: i128 = match unit {
                's' => 1_000_000,
                'm' => 60_000_000,
                'h' => 3_600_000_000,
                'd' => US_PER_DAY as i128,
                _ => 7 * US_PER_DAY as i128,
            };
            // In i128 nothing saturates: 9 digits of weeks and any two i64 instants fit.
            let age = i128::from(ctx.now.as_microsecond()) - i128::from(t_us);
            let limit = i128::from(*amount) * per;
            // `updated:24h` reads as "within the last 24 hours".
            let op = if op == CmpOp::Eq { CmpOp::Le } else { op };
            compare(op, age.cmp(&limit))
        }
    }
}
