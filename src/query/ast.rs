//! The typed filter AST. `Display` prints valid, normalised query text, so that
//! `parse(expr.to_string()) == expr` (spans are ignored by equality).

use std::fmt;

use jiff::civil::Date;
use serde_json::{Value, json};

use super::Pattern;
use super::date::Instant;
use crate::model::Priority;

/// Byte range of a term in the input.
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// A filter expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Term(Term),
}

/// One `field op value` test (or free text), with where it was written.
#[derive(Clone, Debug)]
pub struct Term {
    pub kind: TermKind,
    pub span: Span,
}

impl PartialEq for Term {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

/// Comparison operators. `:` and `=` both mean "matches".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => ":",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }
}

/// The date fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateField {
    Created,
    Updated,
    Closed,
}

impl DateField {
    pub fn as_str(self) -> &'static str {
        match self {
            DateField::Created => "created",
            DateField::Updated => "updated",
            DateField::Closed => "closed",
        }
    }
}

/// A date operand: a whole UTC day, an exact instant, or an age (`24h`, `7d`: compared as the
/// time since the event, so `updated<24h` means "updated less than 24 hours ago").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateValue {
    Day(Date),
    Instant(Instant),
    Age { amount: i64, unit: char },
}

impl fmt::Display for DateValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateValue::Day(d) => write!(f, "{d}"),
            DateValue::Instant(t) => write!(f, "{t}"),
            DateValue::Age { amount, unit } => write!(f, "{amount}{unit}"),
        }
    }
}

/// `is:` predicates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsPred {
    Open,
    Closed,
    Assigned,
    Unassigned,
    /// State ready, every dependency done, no precheck pending or failed.
    Ready,
    /// Open with some dependency not done.
    Blocked,
}

impl IsPred {
    pub const ALL: [IsPred; 6] = [
        IsPred::Open,
        IsPred::Closed,
        IsPred::Assigned,
        IsPred::Unassigned,
        IsPred::Ready,
        IsPred::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IsPred::Open => "open",
            IsPred::Closed => "closed",
            IsPred::Assigned => "assigned",
            IsPred::Unassigned => "unassigned",
            IsPred::Ready => "ready",
            IsPred::Blocked => "blocked",
        }
    }
}

/// `has:` predicates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HasWhat {
    Deps,
    Gates,
    Labels,
}

impl HasWhat {
    pub const ALL: [HasWhat; 3] = [HasWhat::Deps, HasWhat::Gates, HasWhat::Labels];

    pub fn as_str(self) -> &'static str {
        match self {
            HasWhat::Deps => "deps",
            HasWhat::Gates => "gates",
            HasWhat::Labels => "labels",
        }
    }
}

/// What a term tests.
#[derive(Clone, Debug, PartialEq)]
pub enum TermKind {
    /// A bare word or quoted phrase: title or description contains it.
    Text(Pattern),
    /// `text:` — the same as a bare word, spelled out.
    AnyText(Pattern),
    Title(Pattern),
    Description(Pattern),
    /// `id:` — prefix of the id.
    Id(Pattern),
    State(Pattern),
    Priority(CmpOp, Priority),
    /// `assignee:none` is `Assignee(None)`; `assignee:"none"` is the name `none`.
    Assignee(Option<Pattern>),
    Label(Pattern),
    Date(DateField, CmpOp, DateValue),
    Is(IsPred),
    Has(HasWhat),
    /// `depends-on:ID` — some dependency's id starts with the prefix.
    DependsOn(Pattern),
    /// `blocks:ID` — the issue with that id (prefix) depends on this one.
    Blocks(Pattern),
    /// `gate:NAME` or `gate:NAME:STATUS`.
    Gate(Pattern, Option<crate::model::GateStatus>),
}

/// The fields a filter may name (for errors and suggestions).
pub const FIELDS: &[&str] = &[
    "id",
    "title",
    "description",
    "text",
    "state",
    "priority",
    "assignee",
    "label",
    "created",
    "updated",
    "closed",
    "is",
    "has",
    "depends-on",
    "blocks",
    "gate",
];

/// Quote `s` unless it can stand bare. `as_text` also quotes what would read as a field term
/// or an operator keyword.
fn write_value(f: &mut fmt::Formatter<'_>, s: &str, as_text: bool) -> fmt::Result {
    let special = |c: char| c.is_whitespace() || matches!(c, '(' | ')' | '"' | '\\');
    let needs_quotes = s.is_empty()
        || s.chars().any(special)
        || (as_text
            && (s.contains([':', '<', '>', '='])
                || ["and", "or", "not"].contains(&s.to_ascii_lowercase().as_str())));
    if !needs_quotes {
        return f.write_str(s);
    }
    f.write_str("\"")?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

impl fmt::Display for TermKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = |f: &mut fmt::Formatter<'_>, name: &str, p: &Pattern| {
            write!(f, "{name}:")?;
            write_value(f, p.as_str(), false)
        };
        match self {
            TermKind::Text(p) => write_value(f, p.as_str(), true),
            TermKind::AnyText(p) => field(f, "text", p),
            TermKind::Title(p) => field(f, "title", p),
            TermKind::Description(p) => field(f, "description", p),
            TermKind::Id(p) => field(f, "id", p),
            TermKind::State(p) => field(f, "state", p),
            TermKind::Priority(op, p) => write!(f, "priority{}{p}", op.as_str()),
            TermKind::Assignee(None) => f.write_str("assignee:none"),
            // The name `none` (possible only in a hand-edited file) in quotes, to keep it
            // apart from `assignee:none`, "no assignee".
            TermKind::Assignee(Some(p)) if p.as_str() == "none" => f.write_str("assignee:\"none\""),
            TermKind::Assignee(Some(p)) => field(f, "assignee", p),
            TermKind::Label(p) => field(f, "label", p),
            TermKind::Date(d, op, v) => write!(f, "{}{}{v}", d.as_str(), op.as_str()),
            TermKind::Is(p) => write!(f, "is:{}", p.as_str()),
            TermKind::Has(h) => write!(f, "has:{}", h.as_str()),
            TermKind::DependsOn(p) => field(f, "depends-on", p),
            TermKind::Blocks(p) => field(f, "blocks", p),
            TermKind::Gate(p, None) => field(f, "gate", p),
            TermKind::Gate(p, Some(st)) => {
                f.write_str("gate:")?;
                write_value(f, &format!("{p}:{st}"), false)
            }
        }
    }
}

impl Expr {
    fn is_compound(&self) -> bool {
        matches!(self, Expr::Or(_) | Expr::And(_))
    }

    /// The AST as JSON (for `query --explain --json`).
    pub fn to_json(&self) -> Value {
        match self {
            Expr::Or(xs) => json!({"or": xs.iter().map(Expr::to_json).collect::<Vec<_>>()}),
            Expr::And(xs) => json!({"and": xs.iter().map(Expr::to_json).collect::<Vec<_>>()}),
            Expr::Not(x) => json!({"not": x.to_json()}),
            Expr::Term(t) => {
                json!({"term": t.kind.to_string(), "span": [t.span.start, t.span.end]})
            }
        }
    }

    /// An indented tree, one node per line (for `query --explain`).
    pub fn tree(&self) -> String {
        let mut out = String::new();
        self.tree_into(&mut out, "", "");
        out
    }

    fn tree_into(&self, out: &mut String, first: &str, rest: &str) {
        let (label, children): (String, Vec<&Expr>) = match self {
            Expr::Or(xs) => ("OR".into(), xs.iter().collect()),
            Expr::And(xs) => ("AND".into(), xs.iter().collect()),
            Expr::Not(x) => ("NOT".into(), vec![x]),
            Expr::Term(t) => (t.kind.to_string(), vec![]),
        };
        out.push_str(first);
        out.push_str(&label);
        out.push('\n');
        for (i, c) in children.iter().enumerate() {
            let last = i + 1 == children.len();
            let (f, r) = if last { ("└── ", "    ") } else { ("├── ", "│   ") };
            c.tree_into(out, &format!("{rest}{f}"), &format!("{rest}{r}"));
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, xs: &[Expr], sep: &str| {
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                if x.is_compound() { write!(f, "({x})")? } else { write!(f, "{x}")? }
            }
            Ok(())
        };
        match self {
            Expr::Or(xs) => join(f, xs, " OR "),
            Expr::And(xs) => join(f, xs, " AND "),
            Expr::Not(x) if x.is_compound() => write!(f, "NOT ({x})"),
            Expr::Not(x) => write!(f, "NOT {x}"),
            Expr::Term(t) => write!(f, "{}", t.kind),
        }
    }
}
