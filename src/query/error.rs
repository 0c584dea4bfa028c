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

    /// The offending line with a caret under the bad part.
    pub fn snippet(&self) -> String {
        let line_text = self.input.lines().nth(self.line - 1).unwrap_or("");
        let width = self.input[self.start..self.end]
            .split('\n')
            .next()
            .map_or(1, |s| s.chars().count())
            .max(1);
        let gutter = " ".repeat(self.line.to_string().len());
        format!(
            "{gutter} |\n{} | {line_text}\n{gutter} | {}{}",
            self.line,
            " ".repeat(self.column - 1),
            "^".repeat(width)
        )
    }
}

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
