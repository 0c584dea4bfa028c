//! Filter errors: where (line, column, byte offset), what was expected in words users know,
//! and a "did you mean" for misspelt fields and values. Rendered with a caret under the spot.

use std::fmt;

/// Syntax (the text does not parse) or invalid (it parses but means nothing valid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterErrorKind {
    Syntax,
    Invalid,
}

/// A filter that cannot be used.
#[derive(Clone, Debug)]
pub struct FilterError {
    pub kind: FilterErrorKind,
    pub message: String,
    pub input: String,
    /// Byte offsets of the bad part.
    pub start: usize,
    pub end: usize,
    /// 1-based line and column (in characters) of `start`.
    pub line: usize,
    pub column: usize,
    /// For syntax errors: what could have come here.
    pub expected: Vec<String>,
    pub suggestion: Option<String>,
}

impl FilterError {
    pub fn new(
        kind: FilterErrorKind,
        input: &str,
        start: usize,
        end: usize,
        message: String,
    ) -> Self {
        // Offsets may come from byte limits (MAX_LEN) that fall inside a character: move them
        // back to a character boundary so slicing below cannot panic.
        let start = floor_boundary(input, start);
        let end = floor_boundary(input, end.max(start));
        let before = &input[..start];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        FilterError {
            kind,
            message,
            input: input.to_string(),
            start,
            end,
            line,
            column,
            expected: Vec::new(),
            suggestion: None,
        }
    }

    pub fn with_suggestion(mut self: Box<Self>, s: Option<String>) -> Box<Self> {
        self.suggestion = s;
        self
    }

    pub fn code(&self) -> &'static str {
        match self.kind {
            FilterErrorKind::Syntax => "FILTER_SYNTAX",
            FilterErrorKind::Invalid => "FILTER_INVALID",
        }
    }

    /// The offending line with carets under the bad part. Carets line up under wide (CJK)
    /// characters and tabs; a long line is cut to `SNIPPET_CONTEXT` (60) characters either side
    /// of the bad part, marked with `…`.
    pub fn snippet(&self) -> String {
        use unicode_width::UnicodeWidthChar;
        let line_start = self.input[..self.start].rfind('\n').map_or(0, |i| i + 1);
        let line_end =
            self.input[line_start..].find('\n').map_or(self.input.len(), |i| line_start + i);
        let bad_end = self.end.clamp(self.start, line_end);
        let (mut before, bad, mut after) = (
            &self.input[line_start..self.start],
            &self.input[self.start..bad_end],
            &self.input[bad_end..line_end],
        );
        let (mut lead, mut tail) = ("", "");
        if let Some((i, _)) = before.char_indices().rev().nth(SNIPPET_CONTEXT - 1) {
            (before, lead) = (&before[i..], "…");
        }
        if let Some((i, _)) = after.char_indices().nth(SNIPPET_CONTEXT) {
            (after, tail) = (&after[..i], "…");
        }
        // Shown as the terminal will show them: characters that control the display become
        // `\u{…}` escapes there, so they are escaped here, before anything is measured.
        let shown_bad: String = bad.chars().take(SNIPPET_CONTEXT).collect();
        let (before, shown_bad, after) = (
            crate::model::terminal_safe(before),
            crate::model::terminal_safe(&shown_bad).into_owned(),
            crate::model::terminal_safe(after),
        );
        // Pad with what the terminal shows for each character before the bad part: a tab
        // stays a tab, anything else takes its display width in spaces.
        let mut pad: String = lead.chars().map(|_| ' ').collect();
        for c in before.chars() {
            match c {
                '\t' => pad.push('\t'),
                c => pad.extend(std::iter::repeat_n(' ', c.width().unwrap_or(0))),
            }
        }
        let width: usize = shown_bad.chars().map(|c| c.width().unwrap_or(0)).sum();
        let gutter = " ".repeat(self.line.to_string().len());
        format!(
            "{gutter} |\n{} | {lead}{before}{shown_bad}{}{after}{tail}\n{gutter} | {pad}{}",
            self.line,
            if bad.chars().count() > SNIPPET_CONTEXT { "…" } else { "" },
            "^".repeat(width.max(1))
        )
    }
}

/// Characters of context shown either side of the bad part of a long filter.
pub const SNIPPET_CONTEXT: usize = 60;

/// The largest character boundary of `s` at or before `i` (clamped to `s.len()`).
fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line {}, column {}", self.message, self.line, self.column)
    }
}

impl std::error::Error for FilterError {}
