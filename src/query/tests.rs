//! Parser and evaluator tests: every construct, every error kind, rendered errors, and
//! property tests (round trip, reference evaluator, no panics).

use proptest::prelude::*;

use super::*;
use crate::model::{GateStatus, Issue, IssueId, NewIssue, Priority, State};
use crate::storage::index::Summary;

fn norm(q: &str) -> String {
    parse(q).unwrap_or_else(|e| panic!("{q}: {e}")).to_string()
}

fn err(q: &str) -> FilterError {
    *parse(q).expect_err(q)
}

#[test]
fn every_construct_parses_to_normal_form() {
    let cases = [
        ("state:ready", "state:ready"),
        ("state:backlog OR state:ready", "state:backlog OR state:ready"),
        ("label:epic:phase5.2", "label:epic:phase5.2"),
        ("label:component:*", "label:component:*"),
        ("assignee:none", "assignee:none"),
        ("assignee:agent:*", "assignee:agent:*"),
        (
            "(state:ready AND label:epic:foo) OR priority:critical",
            "(state:ready AND label:epic:foo) OR priority:critical",
        ),
        (
            "priority>=high  NOT label:wontfix  created>2026-01-01",
            "priority>=high AND NOT label:wontfix AND created>2026-01-01",
        ),
        ("title:\"login page\"", "title:\"login page\""),
        ("\"free text\"", "\"free text\""),
        ("id:01j9*", "id:01j9*"),
        ("a and b Or not c", "(a AND b) OR NOT c"),
        ("a b c", "a AND b AND c"),
        ("NOT NOT x", "NOT NOT x"),
        ("NOT (a OR b)", "NOT (a OR b)"),
        ("((state:ready))", "state:ready"),
        ("a AND (b AND c)", "a AND (b AND c)"),
        ("State:In-Progress", "state:in_progress"),
        ("priority=high", "priority:high"),
        (
            "updated<24h created>7d closed<=2026-03-01T10:00:00Z",
            "updated<24h AND created>7d AND closed<=2026-03-01T10:00:00Z",
        ),
        ("is:open is:closed is:assigned", "is:open AND is:closed AND is:assigned"),
        ("description:crash text:Crash", "description:crash AND text:crash"),
        ("\"say \\\"hi\\\" \\\\ now\"", "\"say \\\"hi\\\" \\\\ now\""),
        ("android oregon notable", "android AND oregon AND notable"),
        ("\"and\"", "\"and\""),
        ("\"a:b\"", "\"a:b\""),
        ("title:日本語 \"naïve café\"", "title:日本語 AND \"naïve café\""),
        ("state:*", "state:*"),
        ("is:ready is:blocked has:deps", "is:ready AND is:blocked AND has:deps"),
        ("depends-on:01M8 blocks:01m9*", "depends-on:01m8 AND blocks:01m9*"),
        ("gate:tests:FAILED gate:lint", "gate:tests:failed AND gate:lint"),
    ];
    for (q, want) in cases {
        assert_eq!(norm(q), want, "{q}");
        assert_eq!(norm(want), want, "normal form is stable: {want}");
    }
}

#[test]
fn precedence_not_over_and_over_or() {
    let e = parse("a OR b AND NOT c").unwrap();
    match e {
        Expr::Or(xs) => {
            assert_eq!(xs.len(), 2);
            assert!(matches!(&xs[1], Expr::And(ys) if matches!(&ys[1], Expr::Not(_))));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn syntax_errors_name_position_and_expectation() {
    for (q, offset, want) in [
        ("state:ready AND", 15, "expected a term"),
        ("(state:ready", 12, "`)`"),
        ("state:ready)", 11, "unexpected `)`"),
        ("", 0, "unexpected end of input"),
        ("   ", 3, "unexpected end of input"),
        ("a OR OR b", 5, "unexpected `OR`"),
        ("title:\"open", 6, "unterminated quoted string"),
        ("()", 1, "unexpected `)`"),
    ] {
        let e = err(q);
        assert_eq!(e.kind, FilterErrorKind::Syntax, "{q}");
        assert_eq!(e.code(), "FILTER_SYNTAX");
        assert_eq!(e.start, offset, "{q}: {e}");
        assert!(e.message.contains(want), "{q}: {}", e.message);
    }
}

#[test]
fn invalid_terms_suggest_the_nearest_field_or_value() {
    let cases = [
        ("stat:ready", "unknown field `stat`", Some("state")),
        ("state:redy", "`redy` is not a state", Some("ready")),
        ("priority:hihg", "is not a priority", Some("high")),
        ("is:opne", "is not a known `is:` value", Some("open")),
        ("lable:x:y", "unknown field", Some("label")),
        ("gate:tests:broken", "is not a gate status", None),
        ("has:dpes", "is not a known `has:` value", Some("deps")),
        ("state:", "needs a value", None),
        ("is:open AND priority>=", "needs a value", None),
        ("depend-on:x", "unknown field", Some("depends-on")),
        ("stat: ready", "unknown field `stat`", Some("state")),
        ("ready AND lable:", "unknown field `lable`", Some("label")),
        ("Title: x", "needs a value", None),
        ("title>x", "compares only priority", None),
        ("created>yesterday", "is not a date", None),
    ];
    for (q, msg, suggestion) in cases {
        let e = err(q);
        assert_eq!(e.kind, FilterErrorKind::Invalid, "{q}");
        assert!(e.message.contains(msg), "{q}: {}", e.message);
        assert_eq!(e.suggestion.as_deref(), suggestion, "{q}");
    }
}

#[test]
fn rendered_errors() {
    let e = err("state:ready AND stat:done");
    assert_eq!(e.to_string(), "unknown field `stat` at line 1, column 17");
    assert_eq!(e.snippet(), "  |\n1 | state:ready AND stat:done\n  |                 ^^^^");
    let e = err("state:ready\n  AND (x");
    assert_eq!((e.line, e.column), (2, 9));
    assert_eq!(e.snippet(), "  |\n2 |   AND (x\n  |         ^");
    let e = err("priority:urgent");
    assert_eq!(e.snippet(), "  |\n1 | priority:urgent\n  |          ^^^^^^");
    // Wide characters take two columns, a tab stays a tab, under the text and the carets.
    let e = err("标题 stat:x");
    assert_eq!(e.snippet(), "  |\n1 | 标题 stat:x\n  |      ^^^^");
    let e = err("a\tstat:x");
    assert_eq!(e.snippet(), "  |\n1 | a\tstat:x\n  |  \t^^^^");
    // Characters shown as escapes are measured as escapes.
    let e = err("a\u{1b}b stat:x");
    assert_eq!(e.snippet(), format!("  |\n1 | a\\u{{1b}}b stat:x\n  | {}^^^^", " ".repeat(9)));
    let e = err("state:就绪");
    assert_eq!(e.snippet(), "  |\n1 | state:就绪\n  |       ^^^^");
    // A long filter is cut around the bad part.
    let long = format!("{}stat:x{}", "w ".repeat(100), " v".repeat(100));
    let snippet = err(&long).snippet();
    let shown = snippet.lines().nth(1).unwrap();
    assert!(shown.starts_with("1 | …") && shown.ends_with('…'), "{snippet}");
    let context = crate::query::error::SNIPPET_CONTEXT;
    assert_eq!(shown.chars().count(), "1 | ".len() + 2 + 2 * context + "stat".len());
    let carets = snippet.lines().nth(2).unwrap();
    assert_eq!(carets.find('^'), shown.find("stat").map(|i| i - "…".len() + 1), "{snippet}");
}

#[test]
fn limits_are_errors_not_crashes() {
    let long = "a ".repeat(MAX_LEN);
    assert!(err(&long).message.contains("limit is 4096"));
    let deep = format!("{}x{}", "(".repeat(65), ")".repeat(65));
    assert!(err(&deep).message.contains("deeper than 64"));
    let ok = format!("{}x{}", "(".repeat(64), ")".repeat(64));
    assert_eq!(norm(&ok), "x");
    let nots = format!("{}x", "NOT ".repeat(65));
    assert!(err(&nots).message.contains("deeper than 64"));
    let quoted_parens = format!("\"{}\"", "(".repeat(200));
    assert!(parse(&quoted_parens).is_ok(), "parens inside quotes do not nest");
    let deep_unclosed = "(".repeat(3000);
    assert!(parse(&deep_unclosed).is_err());
}

fn issue_with(
    title: &str,
    state: State,
    priority: Priority,
    labels: &[&str],
    assignee: Option<&str>,
) -> Issue {
    let now: jiff::Timestamp = "2026-01-10T00:00:00Z".parse().unwrap();
    let mut i = NewIssue {
        title: title.into(),
        description: "Body TEXT".into(),
        priority: Some(priority),
        labels: labels.iter().map(|s| s.to_string()).collect(),
        assignee: assignee.map(str::to_string),
        ..Default::default()
    }
    .build(IssueId::from_parts(1_767_225_600_000, 77), now, State::Backlog)
    .unwrap();
    i.state = state;
    i
}

fn ctx() -> EvalCtx<'static> {
    EvalCtx::new("2026-01-11T00:00:00Z".parse().unwrap(), None)
}

fn m(q: &str, i: &Issue) -> bool {
    parse(q).unwrap().matches(i.id, &Summary::of(i), &ctx())
}

#[test]
fn evaluation_of_each_term() {
    let i = issue_with(
        "Fix the Login page",
        State::Ready,
        Priority::High,
        &["epic:foo", "type:bug"],
        Some("agent:claude-1"),
    );
    for yes in [
        "state:ready",
        "priority>=high",
        "priority>normal",
        "priority<=high",
        "priority:high",
        "label:epic:foo",
        "label:epic:*",
        "label:*:bug",
        "label:bug",
        "label:b*",
        "assignee:agent:*",
        "is:assigned",
        "is:open",
        "login",
        "\"login page\"",
        "title:fix*page",
        "body",
        "description:text",
        "text:login",
        "created:2026-01-10",
        "created>=2026-01-10",
        "created<2026-01-11",
        "created<=2026-01-10",
        "created>2026-01-09",
        "updated<2d",
        "updated>12h",
        "updated:1d",
        "created=2026-01-10T00:00:00Z",
        "NOT state:done",
        "state:ready OR state:done",
        "(state:ready AND label:epic:foo) OR priority:critical",
    ] {
        assert!(m(yes, &i), "{yes} should match");
    }
    let id = i.id.to_string();
    assert!(m(&format!("id:{}", &id[..8]), &i) && m(&format!("id:{}*", &id[..6]), &i));
    for no in [
        "state:done",
        "priority>high",
        "priority<high",
        "label:epic:bar",
        "assignee:none",
        "is:closed",
        "is:unassigned",
        "closed<2030-01-01",
        "created>2026-01-10",
        "updated>2d",
        "login AND NOT page",
        "id:zzzz",
        "label:type:bu",
        "label:epic",
    ] {
        assert!(!m(no, &i), "{no} should not match");
    }
}

// ---- property tests ----

fn arb_pattern() -> impl Strategy<Value = Pattern> {
    "[a-z0-9éü.:/ _-]{0,8}\\*?[a-z0-9]{0,3}".prop_map(|s| Pattern::new(&s))
}

fn arb_term() -> impl Strategy<Value = TermKind> {
    let ops = prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge),
        Just(CmpOp::Lt),
        Just(CmpOp::Le)
    ];
    let prio = prop_oneof![
        Just(Priority::Low),
        Just(Priority::Normal),
        Just(Priority::High),
        Just(Priority::Critical)
    ];
    let dates = prop_oneof![
        (2000i16..2100, 1i8..13, 1i8..29)
            .prop_map(|(y, mo, d)| DateValue::Day(jiff::civil::date(y, mo, d))),
        (0i64..4_000_000_000).prop_map(|s| DateValue::Instant(date::Instant::from_timestamp(
            jiff::Timestamp::from_second(s).unwrap()
        ))),
        // Any written form: fractions, offsets, the ends of the calendar.
        (
            prop_oneof![0u16..=9999, Just(9999u16), Just(0u16)],
            (1u8..=12, 1u8..=28, 0u8..24, 0u8..60, 0u8..60),
            prop_oneof![Just(String::new()), "\\.[0-9]{1,9}"],
            prop_oneof![Just("Z".to_string()), "[+-](0[0-9]|1[0-9]|2[0-3]):[0-5][0-9]"],
        )
            .prop_map(|(y, (mo, d, h, mi, s), frac, off)| {
                let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{off}");
                DateValue::Instant(date::Instant::parse(&text).unwrap())
            }),
        (0i64..1000, prop_oneof![Just('s'), Just('m'), Just('h'), Just('d'), Just('w')])
            .prop_map(|(amount, unit)| DateValue::Age { amount, unit }),
    ];
    let field =
        prop_oneof![Just(DateField::Created), Just(DateField::Updated), Just(DateField::Closed)];
    prop_oneof![
        "[a-zA-Z0-9 :()\"\\\\*]{0,10}".prop_map(|s| TermKind::Text(Pattern::new(&s))),
        arb_pattern().prop_map(TermKind::Title),
        arb_pattern().prop_map(TermKind::Description),
        arb_pattern().prop_map(TermKind::AnyText),
        "[0-9a-z]{1,6}\\*?".prop_map(|s| TermKind::Id(Pattern::new(&s))),
        prop::sample::select(State::ALL.to_vec())
            .prop_map(|s| TermKind::State(Pattern::new(s.as_str()))),
        (ops.clone(), prio).prop_map(|(o, p)| TermKind::Priority(o, p)),
        prop::option::of("[a-z]{1,5}(:[a-z*]{1,4})?")
            .prop_map(|a| TermKind::Assignee(a.filter(|a| a != "none").map(|a| Pattern::new(&a)))),
        "[a-z]{1,4}:[a-z0-9.*]{1,5}".prop_map(|s| TermKind::Label(Pattern::new(&s))),
        (field, ops, dates).prop_map(|(f, o, d)| TermKind::Date(f, o, d)),
        prop::sample::select(IsPred::ALL.to_vec()).prop_map(TermKind::Is),
        prop::sample::select(HasWhat::ALL.to_vec()).prop_map(TermKind::Has),
        "[0-9a-z]{1,5}\\*?".prop_map(|s| TermKind::DependsOn(Pattern::new(&s))),
        "[0-9a-z]{1,5}".prop_map(|s| TermKind::Blocks(Pattern::new(&s))),
        ("[a-z*]{1,5}", prop::option::of(prop::sample::select(GateStatus::ALL.to_vec())))
            .prop_map(|(n, st)| TermKind::Gate(Pattern::new(&n), st)),
    ]
}

fn arb_expr() -> impl Strategy<Value = Expr> {
    let leaf = arb_term().prop_map(|kind| Expr::Term(Term { kind, span: Default::default() }));
    leaf.prop_recursive(5, 40, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            inner.prop_map(|x| Expr::Not(Box::new(x))),
        ]
    })
}

fn flatten_ok(e: &Expr) -> bool {
    // The printer puts parentheses around nested AND/OR, so any tree round-trips.
    match e {
        Expr::Or(xs) | Expr::And(xs) => xs.iter().all(flatten_ok),
        Expr::Not(x) => flatten_ok(x),
        Expr::Term(_) => true,
    }
}

/// A plain reference evaluator over the full issue, written independently of eval.rs.
fn reference(e: &Expr, i: &Issue, now: jiff::Timestamp) -> bool {
    let contains = |hay: &str, p: &Pattern| simple_glob(&p.to_string(), &hay.to_lowercase(), false);
    match e {
        Expr::Or(xs) => xs.iter().any(|x| reference(x, i, now)),
        Expr::And(xs) => xs.iter().all(|x| reference(x, i, now)),
        Expr::Not(x) => !reference(x, i, now),
        Expr::Term(t) => match &t.kind {
            TermKind::Text(p) | TermKind::AnyText(p) => {
                contains(&i.title, p) || contains(&i.description, p)
            }
            TermKind::Title(p) => contains(&i.title, p),
            TermKind::Description(p) => contains(&i.description, p),
            TermKind::Id(p) => {
                i.id.to_string().starts_with(&p.to_string().replace('*', ""))
                    || (p.has_wildcard() && simple_glob(&format!("{p}*"), &i.id.to_string(), true))
            }
            TermKind::State(p) => simple_glob(&p.to_string(), i.state.as_str(), true),
            TermKind::Priority(op, want) => cmp_ok(*op, i.priority.cmp(want)),
            TermKind::Assignee(None) => i.assignee.is_none(),
            TermKind::Assignee(Some(p)) => i
                .assignee
                .as_ref()
                .is_some_and(|a| simple_glob(&p.to_string(), &a.to_lowercase(), true)),
            TermKind::Label(p) if !p.to_string().contains(':') => i.labels.iter().any(|l| {
                simple_glob(
                    &p.to_string(),
                    &l.to_lowercase().split(':').skip(1).collect::<Vec<_>>().join(":"),
                    true,
                )
            }),
            TermKind::Label(p) => {
                i.labels.iter().any(|l| simple_glob(&p.to_string(), &l.to_lowercase(), true))
            }
            TermKind::Is(IsPred::Open) => !matches!(i.state, State::Done | State::Rejected),
            TermKind::Is(IsPred::Closed) => matches!(i.state, State::Done | State::Rejected),
            TermKind::Is(IsPred::Assigned) => i.assignee.is_some(),
            TermKind::Is(IsPred::Unassigned) => i.assignee.is_none(),
            // Without a graph every dependency counts as missing, so not done.
            TermKind::Is(IsPred::Blocked) => {
                !matches!(i.state, State::Done | State::Rejected) && !i.dependencies.is_empty()
            }
            TermKind::Is(IsPred::Ready) => {
                i.state == State::Ready
                    && i.dependencies.is_empty()
                    && i.gates.values().all(|g| g.status == GateStatus::Passed)
            }
            TermKind::Has(HasWhat::Deps) => !i.dependencies.is_empty(),
            TermKind::Has(HasWhat::Gates) => !i.gates.is_empty(),
            TermKind::Has(HasWhat::Labels) => !i.labels.is_empty(),
            TermKind::DependsOn(p) => {
                i.dependencies.iter().any(|d| simple_glob(&format!("{p}*"), &d.to_string(), true))
            }
            TermKind::Blocks(_) => false,
            TermKind::Gate(p, st) => i.gates.iter().any(|(n, g)| {
                simple_glob(&p.to_string(), n, true) && st.is_none_or(|s| s == g.status)
            }),
            TermKind::Date(f, op, v) => {
                let t = match f {
                    DateField::Created => Some(i.created_at),
                    DateField::Updated => Some(i.updated_at),
                    DateField::Closed => i.closed_at,
                };
                let Some(t) = t else { return false };
                match v {
                    DateValue::Instant(x) => cmp_ok(*op, t.as_nanosecond().cmp(&x.ns)),
                    DateValue::Day(d) => {
                        let day = t.to_zoned(jiff::tz::TimeZone::UTC).date();
                        cmp_ok(*op, day.cmp(d))
                    }
                    DateValue::Age { amount, unit } => {
                        let secs = match unit {
                            's' => 1,
                            'm' => 60,
                            'h' => 3600,
                            'd' => 86400,
                            _ => 604800,
                        };
                        let limit = jiff::SignedDuration::from_secs(amount * secs);
                        let age = now.duration_since(t);
                        let op = if *op == CmpOp::Eq { CmpOp::Le } else { *op };
                        cmp_ok(op, age.cmp(&limit))
                    }
                }
            }
        },
    }
}

fn cmp_ok(op: CmpOp, o: std::cmp::Ordering) -> bool {
    match op {
        CmpOp::Eq => o.is_eq(),
        CmpOp::Gt => o.is_gt(),
        CmpOp::Ge => o.is_ge(),
        CmpOp::Lt => o.is_lt(),
        CmpOp::Le => o.is_le(),
    }
}

/// Backtracking glob: the obviously-correct slow version.
fn simple_glob(p: &str, s: &str, anchored: bool) -> bool {
    let p: Vec<char> = p.chars().collect();
    let s: Vec<char> = s.chars().collect();
    fn go(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('*', rest)) => (0..=s.len()).any(|k| go(rest, &s[k..])),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    if anchored {
        go(&p, &s)
    } else {
        let mut q = vec!['*'];
        q.extend(p);
        q.push('*');
        go(&q, &s)
    }
}

fn arb_issue() -> impl Strategy<Value = Issue> {
    (
        "[a-zA-Z][a-zA-Z éü]{0,11}",
        "[a-zA-Z :]{0,12}",
        prop::sample::select(State::ALL.to_vec()),
        prop::sample::select(Priority::ALL.to_vec()),
        prop::collection::vec("[a-z]{1,3}:[a-z0-9.]{1,4}", 0..3),
        prop::option::of("[a-z]{1,3}(:[a-z]{1,2})?"),
        (1_700_000_000i64..1_800_000_000, 0i64..10_000_000, prop::option::of(0i64..10_000_000)),
        0u128..1_000_000,
        (
            prop::collection::vec(0u128..4, 0..3),
            prop::collection::btree_map(
                "[a-c]{1,2}",
                prop::sample::select(GateStatus::ALL.to_vec()),
                0..3,
            ),
        ),
    )
        .prop_map(
            |(title, desc, state, priority, labels, assignee, (c, u, cl), r, (deps, gates))| {
                let created = jiff::Timestamp::from_second(c).unwrap();
                let mut i = NewIssue {
                    title,
                    description: desc,
                    priority: Some(priority),
                    labels,
                    assignee,
                    ..Default::default()
                }
                .build(IssueId::from_parts(c as u64 * 1000, r), created, State::Backlog)
                .unwrap();
                i.state = state;
                i.updated_at = jiff::Timestamp::from_second(c + u).unwrap();
                i.closed_at = cl.map(|x| jiff::Timestamp::from_second(c + x).unwrap());
                i.dependencies = deps
                    .into_iter()
                    .map(|d| IssueId::from_parts(1_700_000_000_000 + d as u64, d))
                    .collect();
                for (n, st) in gates {
                    let mut g = crate::model::Gate::pending();
                    g.status = st;
                    i.gates.insert(n, g);
                }
                i
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn display_then_parse_is_identity(e in arb_expr()) {
        prop_assume!(flatten_ok(&e));
        let text = e.to_string();
        let back = parse(&text).map_err(|err| TestCaseError::fail(format!("{text}: {err}")))?;
        prop_assert_eq!(back, e, "{}", text);
    }

    #[test]
    fn evaluator_agrees_with_reference(e in arb_expr(), issues in prop::collection::vec(arb_issue(), 1..6)) {
        let now: jiff::Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        let ctx = EvalCtx::new(now, None);
        for i in &issues {
            prop_assert_eq!(e.matches(i.id, &Summary::of(i), &ctx), reference(&e, i, now), "{} on {:?}", e, i);
        }
    }

    #[test]
    fn a_filter_gives_one_answer_on_an_issue_and_on_its_index_summary(
        e in arb_expr(),
        issues in prop::collection::vec(arb_issue(), 1..6),
    ) {
        let now: jiff::Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        let ctx = EvalCtx::new(now, None);
        for i in &issues {
            // As the index stores the summary and reads it back, description beside it.
            let bytes = postcard::to_allocvec(&Summary::of(i)).unwrap();
            let mut s: Summary = postcard::from_bytes(&bytes).unwrap();
            s.description = crate::storage::index::Text::Inline(i.description.as_bytes());
            prop_assert_eq!(e.matches_issue(i, &ctx), e.matches(i.id, &s, &ctx), "{} on {:?}", e, i);
        }
    }

    #[test]
    fn arbitrary_input_never_panics(s in "\\PC{0,200}") {
        let _ = parse(&s);
    }

    #[test]
    fn grammar_shaped_noise_never_panics(parts in prop::collection::vec(prop_oneof![
        Just("("), Just(")"), Just("AND "), Just("or "), Just("NOT "), Just("\""), Just("\\"),
        Just("state:"), Just("ready "), Just(":"), Just(">="), Just("label:a:*"), Just(" "), Just("é"),
    ], 0..60)) {
        let s: String = parts.concat();
        if let Err(e) = parse(&s) {
            prop_assert!(e.start <= s.len() && e.end <= s.len());
            let _ = e.snippet();
        }
    }
}

// ---- dates: every bound agrees with comparing the instants ----

const OPS: [&str; 6] = [":", "=", ">", ">=", "<", "<="];

fn op_of(op: &str) -> CmpOp {
    match op {
        ">" => CmpOp::Gt,
        ">=" => CmpOp::Ge,
        "<" => CmpOp::Lt,
        "<=" => CmpOp::Le,
        _ => CmpOp::Eq,
    }
}

fn created_at(t: jiff::Timestamp) -> Issue {
    let mut i = issue_with("x", State::Ready, Priority::Normal, &[], None);
    i.created_at = t;
    i
}

/// Any instant jiff can hold, to the microsecond (the precision stored).
fn arb_timestamp() -> impl Strategy<Value = jiff::Timestamp> {
    // A second inside either end: `from_microsecond` refuses some values within the last
    // second of jiff's range that `as_microsecond` of its bounds gives (seen once as a flake).
    let (lo, hi) = (
        jiff::Timestamp::MIN.as_microsecond() + 1_000_000,
        jiff::Timestamp::MAX.as_microsecond() - 1_000_000,
    );
    prop_oneof![lo..=hi, (hi - 100_000_000_000)..=hi, lo..(lo + 100_000_000_000)]
        .prop_map(|us| jiff::Timestamp::from_microsecond(us).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn a_day_bound_agrees_with_comparing_utc_days(
        t in arb_timestamp(),
        (y, mo, d) in (prop_oneof![0i16..=9999, 9990i16..=9999, 0i16..10], 1i8..=12, 1i8..=31),
        op in prop::sample::select(OPS.to_vec()),
    ) {
        let Ok(day) = jiff::civil::Date::new(y, mo, d) else { return Ok(()) };
        let q = format!("created{op}{day}");
        let want = cmp_ok(op_of(op), t.to_zoned(jiff::tz::TimeZone::UTC).date().cmp(&day));
        prop_assert_eq!(m(&q, &created_at(t)), want, "{} at {}", q, t);
    }

    #[test]
    fn an_instant_bound_agrees_with_comparing_instants(
        t in arb_timestamp(),
        (y, mo, d) in (prop_oneof![0i16..=9999, 9998i16..=9999, 0i16..2], 1i8..=12, 1i8..=31),
        (h, mi, sec, ns) in (0i8..24, 0i8..60, 0i8..60, prop_oneof![Just(0i32), 0i32..1_000_000_000]),
        off in -86_399i32..86_400,
        op in prop::sample::select(OPS.to_vec()),
    ) {
        let Ok(dt) = jiff::civil::DateTime::new(y, mo, d, h, mi, sec, ns) else { return Ok(()) };
        let off = off / 60 * 60;
        let a = off.abs();
        let text = format!(
            "{}{}{:02}:{:02}",
            dt.strftime("%Y-%m-%dT%H:%M:%S%.f"),
            if off < 0 { '-' } else { '+' },
            a / 3600,
            a / 60 % 60
        );
        let q = format!("created{op}{text}");
        // Both sides seen in the bound's own offset: civil order there is instant order.
        let tz = jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(off).unwrap());
        let want = cmp_ok(op_of(op), t.to_zoned(tz).datetime().cmp(&dt));
        prop_assert_eq!(m(&q, &created_at(t)), want, "{} at {}", q, t);
    }
}

#[test]
fn bounds_at_the_ends_of_the_calendar() {
    let last = created_at(jiff::Timestamp::MAX);
    let first = created_at(jiff::Timestamp::MIN);
    assert!(!m("created>9999-12-31", &last), "nothing is issued after year 9999");
    assert!(m("created<9999-12-31", &last) && m("created<=9999-12-31", &last));
    assert!(m("created<9999-12-31T23:59:59.999999999Z", &last));
    assert!(!m("created>9999-12-31T12:00:00Z", &last));
    assert!(m("created<0000-01-01", &first) && !m("created>=0000-01-01", &first));
    assert!(m("created<0000-01-01T00:00:00+23:59", &first));
    assert_eq!(norm("created>9999-12-31T23:00:00-05:00"), "created>9999-12-31T23:00:00-05:00");
    assert_eq!(norm("created>2026-01-01T00:00:00.250+01:00"), "created>2025-12-31T23:00:00.25Z");
    for (q, why) in [
        ("created>2026-01-01T00:00:00+25:00", "the offset +25:00 is out of range"),
        ("created>2026-02-30", "2026-02-30 is not a day of the calendar"),
        ("created>2026-01-01T25:00:00Z", "25:00:00 is not a time of day"),
        ("created>2026-01-01T00:00:00", "not an RFC 3339 date-time"),
    ] {
        let e = err(q);
        assert_eq!(e.kind, FilterErrorKind::Invalid, "{q}");
        assert!(e.message.contains(why), "{q}: {}", e.message);
        assert_eq!((e.start, e.end), (8, q.len()), "{q}: the value is marked");
    }
}

#[test]
fn ten_thousand_random_strings_never_panic() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let alphabet: Vec<char> = "ab:()\" \\*<>=-ANDORNOTéß\n\t".chars().collect();
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 40) as usize;
        let s: String = (0..len)
            .map(|k| alphabet[((x >> (k % 50)) as usize + k * 7) % alphabet.len()])
            .collect();
        let _ = parse(&s);
    }
}

#[test]
fn look_alikes_are_named_where_they_stand() {
    let cases = [
        (
            "st\u{430}te:ready",
            FilterErrorKind::Invalid,
            2,
            "CYRILLIC SMALL LETTER A",
            Some("state:ready"),
        ),
        (
            "priority>=h\u{456}gh",
            FilterErrorKind::Invalid,
            11,
            "BYELORUSSIAN-UKRAINIAN I",
            Some("high"),
        ),
        (
            "gate:tests:f\u{3b1}iled",
            FilterErrorKind::Invalid,
            12,
            "GREEK SMALL LETTER ALPHA",
            Some("failed"),
        ),
        (
            "state\u{ff1d}ready",
            FilterErrorKind::Invalid,
            5,
            "FULLWIDTH EQUALS SIGN",
            Some("state=ready"),
        ),
        (
            "st\u{430}te\u{ff1a}ready",
            FilterErrorKind::Invalid,
            2,
            "CYRILLIC SMALL LETTER A",
            Some("state:ready"),
        ),
        ("a\u{3000}b", FilterErrorKind::Syntax, 1, "U+3000 IDEOGRAPHIC SPACE", None),
        ("a\u{200b}b", FilterErrorKind::Syntax, 1, "U+200B ZERO WIDTH SPACE", None),
        ("\"ok\" \"x\\n\"", FilterErrorKind::Syntax, 7, "`\\n` is not an escape", None),
    ];
    for (q, kind, start, named, suggestion) in cases {
        let e = err(q);
        assert_eq!((e.kind, e.start), (kind, start), "{q}: {e}");
        assert!(e.message.contains(named), "{q}: {e}");
        assert_eq!(e.suggestion.as_deref(), suggestion, "{q}");
    }
    // Other scripts stay text; a quoted no-break space is part of the phrase.
    assert_eq!(
        norm("\u{432}\u{440}\u{435}\u{43c}\u{44f}\u{ff1a}10"),
        "\u{432}\u{440}\u{435}\u{43c}\u{44f}\u{ff1a}10"
    );
    assert_eq!(norm("title:\"a\u{a0}b\""), "title:\"a\u{a0}b\"");
    assert_eq!(norm("label:\u{442}:\u{431}"), "label:\u{442}:\u{431}");
}

#[test]
fn a_quoted_none_is_the_assignee_named_none() {
    // As a hand-edited file can hold it: jit refuses the name on every write.
    let mut named = issue_with("x", State::Ready, Priority::Normal, &[], None);
    named.assignee = Some("none".into());
    let nobody = issue_with("x", State::Ready, Priority::Normal, &[], None);
    assert!(m("assignee:none", &nobody) && !m("assignee:none", &named));
    assert!(m("assignee:\"none\"", &named) && !m("assignee:\"none\"", &nobody));
    assert!(m("assignee:\"NONE\"", &named));
    assert_eq!(norm("assignee:\"None\""), "assignee:\"none\"");
    assert_eq!(norm("assignee:None"), "assignee:none");
}
