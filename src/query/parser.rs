//! From text to a checked AST: limits first (length, nesting), then the pest grammar, then
//! each `field op value` is resolved into a typed term.

use jiff::civil::Date;
use pest::Parser as _;
use pest::iterators::Pair;

use super::ast::{
    CmpOp, DateField, DateValue, Expr, FIELDS, HasWhat, IsPred, Span, Term, TermKind,
};
use super::chars;
use super::date::Instant;
use super::error::{FilterError, FilterErrorKind};
use super::pattern::Pattern;
use crate::model::GateStatus;
use crate::model::{Priority, State, suggest};

/// Longest filter accepted, in bytes.
pub const MAX_LEN: usize = 4096;
/// Deepest nesting of parentheses and NOTs accepted.
pub const MAX_DEPTH: usize = 64;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/filter.pest"]
struct FilterParser;

/// Parse and check a filter.
pub fn parse(input: &str) -> Result<Expr, Box<FilterError>> {
    if input.len() > MAX_LEN {
        return Err(invalid(
            input,
            MAX_LEN,
            input.len(),
            format!("the filter is {} bytes long; the limit is {MAX_LEN}", input.len()),
        ));
    }
    scan(input)?;
    let mut pairs = FilterParser::parse(Rule::query, input).map_err(|e| syntax(input, e))?;
    let query = pairs.next().expect("query rule");
    let or_expr = query.into_inner().next().expect("or_expr");
    build_or(or_expr, input, 0)
}

fn invalid(input: &str, start: usize, end: usize, message: String) -> Box<FilterError> {
    Box::new(FilterError::new(FilterErrorKind::Invalid, input, start, end, message))
}

/// Before the (recursive) parser: refuse deep parentheses, spaces the grammar does not know
/// outside quotes (a no-break space looks like a space but would join two terms into one),
/// and backslashes inside quotes that escape nothing. Each error points at the character.
fn scan(input: &str) -> Result<(), Box<FilterError>> {
    let (mut depth, mut in_quotes) = (0usize, false);
    let mut it = input.char_indices();
    while let Some((i, c)) = it.next() {
        match c {
            '\\' if in_quotes => match it.next() {
                Some((_, '"' | '\\')) | None => {}
                Some((j, n)) => {
                    let shown = format!("\\{}", crate::model::terminal_safe(&n.to_string()));
                    let message = format!(
                        "`{shown}` is not an escape: inside quotes `\\\\` is a backslash and `\\\"` a \
                         quote, and no other character follows a backslash"
                    );
                    let mut err = FilterError::new(
                        FilterErrorKind::Syntax,
                        input,
                        i,
                        j + n.len_utf8(),
                        message,
                    );
                    err.expected = vec!["`\\\\`".into(), "`\\\"`".into()];
                    return Err(Box::new(err));
                }
            },
            '"' => in_quotes = !in_quotes,
            c if !in_quotes && chars::is_foreign_space(c) => {
                let message = format!(
                    "{} is not a space here; use an ASCII space (or quote the text that holds it)",
                    chars::describe(c)
                );
                let end = i + c.len_utf8();
                return Err(Box::new(FilterError::new(
                    FilterErrorKind::Syntax,
                    input,
                    i,
                    end,
                    message,
                )));
            }
            '(' if !in_quotes => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(invalid(input, i, i + 1, too_deep()));
                }
            }
            ')' if !in_quotes => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn too_deep() -> String {
    format!("the filter nests deeper than {MAX_DEPTH} levels")
}

fn rule_words(r: &Rule) -> &'static str {
    match r {
        Rule::or_op => "`OR`",
        Rule::and_op => "`AND`",
        Rule::not_op => "`NOT`",
        Rule::lparen => "`(`",
        Rule::rparen => "`)`",
        Rule::EOI => "end of input",
        Rule::value | Rule::bare | Rule::quoted => "a value",
        Rule::cmp_op => "an operator (`:`, `=`, `>`, `>=`, `<`, `<=`)",
        Rule::inner | Rule::escape => "a closing `\"`",
        _ => "a term",
    }
}

fn syntax(input: &str, e: pest::error::Error<Rule>) -> Box<FilterError> {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<String> = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().map(|r| rule_words(r).to_string()).collect()
        }
        ErrorVariant::CustomError { .. } => vec![],
    };
    expected.sort();
    expected.dedup();
    let found = match input[pos..].chars().next() {
        None => "unexpected end of input".to_string(),
        Some('"') if input[pos..].matches('"').count() % 2 == 1 => {
            "unterminated quoted string".to_string()
        }
        Some(c) => {
            let tok: String = input[pos..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '(' && *c != ')')
                .collect();
            format!("unexpected `{}`", if tok.is_empty() { c.to_string() } else { tok })
        }
    };
    let message = match expected.len() {
        0 => found,
        1 => format!("{found}; expected {}", expected[0]),
        n => format!("{found}; expected {} or {}", expected[..n - 1].join(", "), expected[n - 1]),
    };
    let end = if pos < input.len() {
        pos + input[pos..].chars().next().map_or(1, char::len_utf8)
    } else {
        pos
    };
    let mut err = FilterError::new(FilterErrorKind::Syntax, input, pos, end, message);
    err.expected = expected;
    Box::new(err)
}

type Built = Result<Expr, Box<FilterError>>;

fn build_or(pair: Pair<Rule>, input: &str, depth: usize) -> Built {
    build_list(pair, Rule::and_expr, build_and, Expr::Or, input, depth)
}

fn build_and(pair: Pair<Rule>, input: &str, depth: usize) -> Built {
    build_list(pair, Rule::unary, build_unary, Expr::And, input, depth)
}

/// The `item` children of `pair`, joined by `join` when there are several.
fn build_list(
    pair: Pair<Rule>,
    item: Rule,
    build: fn(Pair<Rule>, &str, usize) -> Built,
    join: fn(Vec<Expr>) -> Expr,
    input: &str,
    depth: usize,
) -> Built {
    let mut xs = pair
        .into_inner()
        .filter(|p| p.as_rule() == item)
        .map(|p| build(p, input, depth))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if xs.len() == 1 { xs.pop().expect("one") } else { join(xs) })
}

fn build_unary(pair: Pair<Rule>, input: &str, depth: usize) -> Built {
    let mut nots = 0;
    let mut primary = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::not_op => {
                nots += 1;
                if depth + nots > MAX_DEPTH {
                    let s = p.as_span();
                    return Err(invalid(input, s.start(), s.end(), too_deep()));
                }
            }
            _ => primary = Some(p),
        }
    }
    let mut expr = build_primary(primary.expect("unary has a primary"), input, depth + nots)?;
    for _ in 0..nots {
        expr = Expr::Not(Box::new(expr));
    }
    Ok(expr)
}

fn build_primary(pair: Pair<Rule>, input: &str, depth: usize) -> Result<Expr, Box<FilterError>> {
    let mut inner = pair.into_inner();
    let first = inner.next().expect("primary has content");
    match first.as_rule() {
        Rule::lparen => build_or(inner.next().expect("group body"), input, depth + 1),
        _ => build_term(first, input).map(Expr::Term),
    }
}

fn unescape(quoted_inner: &str) -> String {
    let mut out = String::with_capacity(quoted_inner.len());
    let mut chars = quoted_inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value's text, and whether it was quoted.
fn value_text(pair: Pair<Rule>) -> (String, bool) {
    let v = pair.into_inner().next().expect("value has content");
    match v.as_rule() {
        Rule::quoted => (unescape(v.into_inner().next().map_or("", |i| i.as_str())), true),
        _ => (v.as_str().to_string(), false),
    }
}

fn build_term(pair: Pair<Rule>, input: &str) -> Result<Term, Box<FilterError>> {
    let span = Span { start: pair.as_span().start(), end: pair.as_span().end() };
    let inner = pair.into_inner().next().expect("term has content");
    let kind = match inner.as_rule() {
        Rule::quoted => TermKind::Text(Pattern::new(&unescape(
            inner.into_inner().next().map_or("", |i| i.as_str()),
        ))),
        Rule::word => {
            // `name:` with nothing after it: a field term without a value, never free text
            // (a misspelt `stat: ready` must not quietly become a text search).
            let w = inner.as_str();
            lookalike_field(input, inner.as_span().start(), w)?;
            let field = w.trim_end_matches([':', '=', '<', '>']);
            let named = field.starts_with(|c: char| c.is_ascii_alphabetic())
                && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if field.len() < w.len() && named {
                let s = inner.as_span();
                let lower = field.to_ascii_lowercase();
                if !FIELDS.contains(&lower.as_str()) {
                    let end = s.start() + field.len();
                    return Err(invalid(input, s.start(), end, format!("unknown field `{lower}`"))
                        .with_suggestion(suggest(&lower, FIELDS.iter().copied())));
                }
                return Err(invalid(
                    input,
                    s.start(),
                    s.end(),
                    format!("`{w}` needs a value after it"),
                ));
            }
            TermKind::Text(Pattern::new(w))
        }
        _ => {
            let mut parts = inner.into_inner();
            let field = parts.next().expect("field");
            let op = parts.next().expect("op");
            let value = parts.next().expect("value");
            let vspan = (value.as_span().start(), value.as_span().end());
            let fspan = (field.as_span().start(), field.as_span().end());
            let op = match op.as_str() {
                ">" => CmpOp::Gt,
                ">=" => CmpOp::Ge,
                "<" => CmpOp::Lt,
                "<=" => CmpOp::Le,
                _ => CmpOp::Eq,
            };
            let (value, quoted) = value_text(value);
            let ctx = TermCtx { input, fspan, vspan, quoted };
            resolve(&ctx, &field.as_str().to_ascii_lowercase(), op, &value)?
        }
    };
    Ok(Term { kind, span })
}

/// A word that is a field term written with a look-alike character: a full-width or other
/// look-alike operator after a field-like name (`state：ready`), or a Cyrillic or Greek
/// letter in a known field's name (`stаte:ready`). Without this they would quietly be
/// free text. Text in other scripts (`время：10`) stays free text.
fn lookalike_field(input: &str, at: usize, w: &str) -> Result<(), Box<FilterError>> {
    let ascii_op = |c: char| matches!(c, ':' | '=' | '<' | '>');
    let Some((op_at, op)) =
        w.char_indices().find(|(_, c)| ascii_op(*c) || chars::operator_lookalike(*c).is_some())
    else {
        return Ok(());
    };
    let name = &w[..op_at];
    let folded = chars::fold_letters(name);
    let field_like = folded.starts_with(|c: char| c.is_ascii_alphabetic())
        && folded.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !field_like {
        return Ok(());
    }
    let known = FIELDS.contains(&folded.to_ascii_lowercase().as_str());
    if let Some((i, c)) = name.char_indices().find(|(_, c)| !c.is_ascii()).filter(|_| known) {
        let op_fixed = chars::operator_lookalike(op).unwrap_or(op);
        let fixed = format!("{folded}{op_fixed}{}", &w[op_at + op.len_utf8()..]);
        let ascii = chars::letter_lookalike(c).expect("folded to ASCII");
        return Err(invalid(
            input,
            at + i,
            at + i + c.len_utf8(),
            format!(
                "'{c}' ({}) in the field name `{name}` is not the ASCII letter '{ascii}'",
                chars::describe(c)
            ),
        )
        .with_suggestion(Some(chars::fold_letters(&fixed))));
    }
    if let Some(a) = chars::operator_lookalike(op) {
        let fixed = format!("{name}{a}{}", &w[op_at + op.len_utf8()..]);
        let start = at + op_at;
        return Err(invalid(
            input,
            start,
            start + op.len_utf8(),
            format!("'{op}' ({}) is not an operator: use '{a}'", chars::describe(op)),
        )
        .with_suggestion(Some(fixed)));
    }
    Ok(())
}

struct TermCtx<'a> {
    input: &'a str,
    fspan: (usize, usize),
    vspan: (usize, usize),
    /// The value was written in quotes (`assignee:"none"` is the name, not "no assignee").
    quoted: bool,
}

impl TermCtx<'_> {
    fn bad_value(&self, msg: String) -> Box<FilterError> {
        invalid(self.input, self.vspan.0, self.vspan.1, msg)
    }

    fn bad_field(&self, msg: String) -> Box<FilterError> {
        invalid(self.input, self.fspan.0, self.fspan.1, msg)
    }
}

/// Turn `field op value` into a typed term, or say precisely what is wrong with it.
fn resolve(
    ctx: &TermCtx,
    field: &str,
    op: CmpOp,
    value: &str,
) -> Result<TermKind, Box<FilterError>> {
    let ordered = matches!(field, "priority" | "created" | "updated" | "closed");
    if !FIELDS.contains(&field) {
        let s = suggest(field, FIELDS.iter().copied());
        return Err(ctx.bad_field(format!("unknown field `{field}`")).with_suggestion(s));
    }
    if op != CmpOp::Eq && !ordered {
        return Err(ctx.bad_field(format!(
            "`{}` compares only priority, created, updated and closed; use `{field}:VALUE`",
            op.as_str()
        )));
    }
    Ok(match field {
        "id" => TermKind::Id(Pattern::new(value)),
        "title" => TermKind::Title(Pattern::new(value)),
        "description" => TermKind::Description(Pattern::new(value)),
        "text" => TermKind::AnyText(Pattern::new(value)),
        "label" => TermKind::Label(Pattern::new(value)),
        "assignee" if !ctx.quoted && value.eq_ignore_ascii_case("none") => TermKind::Assignee(None),
        "assignee" => TermKind::Assignee(Some(Pattern::new(value))),
        "state" if value.contains('*') => TermKind::State(Pattern::new(value)),
        "state" => {
            let st = one_of(ctx, "state", value, &State::ALL, State::as_str)?;
            TermKind::State(Pattern::new(st.as_str()))
        }
        "priority" => TermKind::Priority(
            op,
            one_of(ctx, "priority", value, &Priority::ALL, Priority::as_str)?,
        ),
        "is" => {
            TermKind::Is(one_of(ctx, "known `is:` value", value, &IsPred::ALL, IsPred::as_str)?)
        }
        "has" => {
            TermKind::Has(one_of(ctx, "known `has:` value", value, &HasWhat::ALL, HasWhat::as_str)?)
        }
        "depends-on" => TermKind::DependsOn(Pattern::new(value)),
        "blocks" => TermKind::Blocks(Pattern::new(value)),
        "gate" => match value.rsplit_once(':') {
            None => TermKind::Gate(Pattern::new(value), None),
            Some((name, st)) => {
                let status = one_of(ctx, "gate status", st, &GateStatus::ALL, GateStatus::as_str)?;
                TermKind::Gate(Pattern::new(name), Some(status))
            }
        },
        _ => {
            let d = match field {
                "created" => DateField::Created,
                "updated" => DateField::Updated,
                _ => DateField::Closed,
            };
            TermKind::Date(d, op, date_value(ctx, value)?)
        }
    })
}

/// The member of `all` that `value` names (case-insensitive, `-` read as `_`), or an error
/// listing them with the nearest as a suggestion.
fn one_of<T: Copy>(
    ctx: &TermCtx,
    what: &str,
    value: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, Box<FilterError>> {
    let v = value.to_ascii_lowercase().replace('-', "_");
    all.iter().copied().find(|x| name(*x) == v).ok_or_else(|| {
        let allowed: Vec<&str> = all.iter().map(|x| name(*x)).collect();
        // Only a look-alike letter is singled out: a value in another script altogether
        // (`state:就绪`) is simply not a value, marked whole.
        match value.chars().find(|c| chars::letter_lookalike(*c).is_some()) {
            Some(c) => non_ascii_value(ctx, what, value, c, &allowed),
            None => enum_error(ctx, what, value, &allowed),
        }
    })
}

/// An enumerated value with a Cyrillic or Greek letter that looks like an ASCII one: the
/// caret goes under that letter, and the message names it and the letter it looks like.
fn non_ascii_value(
    ctx: &TermCtx,
    what: &str,
    value: &str,
    c: char,
    allowed: &[&str],
) -> Box<FilterError> {
    let written = &ctx.input[ctx.vspan.0..ctx.vspan.1];
    let start = ctx.vspan.0 + written.find(c).unwrap_or(0);
    let ascii = chars::letter_lookalike(c).expect("a look-alike letter");
    let why = format!("'{c}' ({}) is not the ASCII letter '{ascii}'", chars::describe(c));
    let s = suggest(&chars::fold_letters(value).replace('-', "_"), allowed.iter().copied());
    invalid(
        ctx.input,
        start,
        start + c.len_utf8(),
        format!("`{value}` is not a {what}: {why}; one of: {}", allowed.join(", ")),
    )
    .with_suggestion(s)
}

fn enum_error(ctx: &TermCtx, what: &str, value: &str, allowed: &[&str]) -> Box<FilterError> {
    let s = suggest(&value.replace('-', "_"), allowed.iter().copied());
    ctx.bad_value(format!("`{value}` is not a {what}; one of: {}", allowed.join(", ")))
        .with_suggestion(s)
}

fn date_value(ctx: &TermCtx, v: &str) -> Result<DateValue, Box<FilterError>> {
    if let Some(age) = parse_age(v) {
        return Ok(age);
    }
    let b = v.as_bytes();
    let date_shaped = b.len() >= 10
        && b[..10]
            .iter()
            .enumerate()
            .all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() });
    if date_shaped && v.len() == 10 {
        return v.parse::<Date>().map(DateValue::Day).map_err(|_| {
            ctx.bad_value(format!("`{v}` is not a date: {v} is not a day of the calendar"))
        });
    }
    if date_shaped {
        return Instant::parse(v)
            .map(DateValue::Instant)
            .map_err(|why| ctx.bad_value(format!("`{v}` is not a date: {why}")));
    }
    Err(ctx.bad_value(format!(
        "`{v}` is not a date: use YYYY-MM-DD, an RFC 3339 timestamp, or an age like 24h or 7d"
    )))
}

fn parse_age(v: &str) -> Option<DateValue> {
    let unit = v.chars().last()?;
    if !matches!(unit, 's' | 'm' | 'h' | 'd' | 'w') {
        return None;
    }
    let digits = &v[..v.len() - 1];
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(DateValue::Age { amount: digits.parse().ok()?, unit })
}
