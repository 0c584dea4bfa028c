//! Human renderings: the issue card and the issue table.

use std::io::{self, Write};

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

pub use crate::model::unique_prefix_len;
use crate::model::{Issue, IssueId, Priority, State};
use crate::storage::index::Summary;

/// `s` as shown on one line of a terminal: made safe like all human output
/// ([`crate::model::terminal_safe`]), and line feeds and tabs shown as `\u{a}` and
/// `\u{9}` too. jit refuses them in titles, but a hand-edited file can hold them, and one
/// would break a table row. Columns are measured on this text, so escapes keep them aligned.
pub fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    let safe = crate::model::terminal_safe(s);
    if !safe.contains(['\n', '\t']) {
        return safe;
    }
    safe.replace('\n', "\\u{a}").replace('\t', "\\u{9}").into()
}

/// An assignee as human output shows it: `-` for none, and a reserved name (`none`, `-`,
/// which only a hand-edited file can hold) in quotes, so that it never reads as unassigned.
pub fn assignee(a: Option<&str>) -> std::borrow::Cow<'_, str> {
    match a {
        None => "-".into(),
        Some(a) if crate::model::is_reserved_assignee(a) => format!("\"{a}\"").into(),
        Some(a) => a.into(),
    }
}

/// The card `issue show` prints.
pub fn card(w: &mut dyn Write, issue: &Issue) -> io::Result<()> {
    writeln!(w, "{}  {}", issue.id, one_line(&issue.title))?;
    writeln!(w, "  state     {}", issue.state)?;
    writeln!(w, "  priority  {}", issue.priority)?;
    writeln!(w, "  assignee  {}", one_line(&assignee(issue.assignee.as_deref())))?;
    if !issue.labels.is_empty() {
        writeln!(w, "  labels    {}", issue.labels.join(", "))?;
    }
    if !issue.dependencies.is_empty() {
        let deps: Vec<String> = issue.dependencies.iter().map(|d| d.to_string()).collect();
        writeln!(w, "  depends   {}", deps.join(", "))?;
    }
    for (name, g) in &issue.gates {
        writeln!(w, "  gate      {name}: {}", g.status)?;
    }
    for (k, v) in &issue.context {
        writeln!(w, "  context   {k} = {v}")?;
    }
    merge_overrides(w, issue)?;
    writeln!(w, "  version   {}", issue.version)?;
    writeln!(w, "  created   {}", issue.created_at)?;
    writeln!(w, "  updated   {}", issue.updated_at)?;
    if let Some(c) = issue.closed_at {
        writeln!(w, "  closed    {c}")?;
    }
    if !issue.description.is_empty() {
        writeln!(w)?;
        for line in issue.description.lines() {
            writeln!(w, "  {line}")?;
        }
    }
    Ok(())
}

/// The latest values a git merge overrode, one line each, values cut to a few words.
fn merge_overrides(w: &mut dyn Write, issue: &Issue) -> io::Result<()> {
    const SHOWN: usize = 3;
    let all = &issue.merge_overrides;
    let short = |v: &serde_json::Value| {
        let s = one_line(&v.to_string()).into_owned();
        if s.chars().count() > 40 {
            format!("{}…", s.chars().take(39).collect::<String>())
        } else {
            s
        }
    };
    for o in all.iter().rev().take(SHOWN).rev() {
        writeln!(
            w,
            "  merge     {}: kept {}, dropped {} (from {})",
            one_line(&o.field),
            short(&o.kept),
            short(&o.dropped),
            o.dropped_at
        )?;
    }
    if all.len() > SHOWN {
        writeln!(w, "  merge     ... and {} earlier (see --json)", all.len() - SHOWN)?;
    }
    Ok(())
}

/// One row of the issue table.
pub struct Row<'a> {
    pub id: IssueId,
    pub summary: Summary<'a>,
}

/// The table `issue list` prints: id prefix, state, priority, assignee, title, labels.
pub fn table(w: &mut dyn Write, rows: &[Row<'_>], id_len: usize) -> io::Result<()> {
    let state = |r: &Row| State::from_u8(r.summary.state).map_or("?", State::as_str);
    let prio = |r: &Row| Priority::from_u8(r.summary.priority).map_or("?", Priority::as_str);
    let who = |r: &Row<'_>| one_line(&assignee(r.summary.assignee)).into_owned();
    let sw = rows.iter().map(|r| state(r).len()).max().unwrap_or(0).max(5);
    let pw = rows.iter().map(|r| prio(r).len()).max().unwrap_or(0).max(8);
    let aw = rows.iter().map(|r| who(r).width()).max().unwrap_or(0).clamp(8, 24);
    writeln!(
        w,
        "{:id_len$}  {:sw$}  {:pw$}  {:aw$}  TITLE",
        "ID", "STATE", "PRIORITY", "ASSIGNEE"
    )?;
    for r in rows {
        let mut line = format!(
            "{}  {:sw$}  {:pw$}  {}  {}",
            r.id.short(id_len),
            state(r),
            prio(r),
            pad(&truncate(&who(r), aw), aw),
            one_line(r.summary.title)
        );
        if !r.summary.labels.is_empty() {
            line.push_str("  [");
            line.push_str(&one_line(&r.summary.labels.join(", ")));
            line.push(']');
        }
        writeln!(w, "{line}")?;
    }
    Ok(())
}

fn truncate(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if used + cw + 1 > width {
            break;
        }
        used += cw;
        out.push(c);
    }
    out.push('…');
    out
}

fn pad(s: &str, width: usize) -> String {
    format!("{s}{}", " ".repeat(width.saturating_sub(s.width())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_len_grows_with_shared_prefixes() {
        let a = IssueId::from_parts(1_000, 1);
        let b = IssueId::from_parts(1_000, 2);
        assert_eq!(unique_prefix_len(&[a]), 8);
        assert!(unique_prefix_len(&[a, b]) > 16);
    }

    #[test]
    fn truncation_respects_display_width() {
        assert_eq!(truncate("agent:very-long-name", 8), "agent:v…");
        assert_eq!(truncate("短い名前です", 5), "短い…");
        assert_eq!(pad("ab", 4), "ab  ");
    }
}
