//! Case-insensitive wildcard patterns: `*` matches any run of characters.

use std::fmt;

/// A value pattern from a filter. Anchored patterns must match the whole value (labels,
/// assignees, states); unanchored ones may match anywhere (title and description text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// The pattern as written, lowercased.
    source: String,
    parts: Vec<String>,
}

impl Pattern {
    pub fn new(source: &str) -> Pattern {
        let source = source.to_lowercase();
        let parts = source.split('*').map(str::to_string).collect();
        Pattern { source, parts }
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn has_wildcard(&self) -> bool {
        self.parts.len() > 1
    }

    /// Does the whole of `hay` match?
    pub fn matches_whole(&self, hay: &str) -> bool {
        with_lower(hay, |h| glob(&self.parts, h, true))
    }

    /// Does the pattern occur anywhere in `hay`?
    pub fn matches_within(&self, hay: &str) -> bool {
        with_lower(hay, |h| glob(&self.parts, h, false))
    }

    /// Does `hay` start with the pattern (ids: `id:01j9` and `id:01j9*` mean the same)?
    pub fn matches_prefix(&self, hay: &str) -> bool {
        let mut parts = self.parts.clone();
        parts.push(String::new());
        with_lower(hay, |h| glob(&parts, h, true))
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn with_lower<R>(hay: &str, f: impl FnOnce(&str) -> R) -> R {
    if hay.bytes().any(|b| b.is_ascii_uppercase() || b >= 0x80) {
        f(&hay.to_lowercase())
    } else {
        f(hay)
    }
}

/// Match `parts` (the pattern split at `*`) against `hay`. With `anchored`, the first part
/// must start `hay` and the last must end it.
fn glob(parts: &[String], hay: &str, anchored: bool) -> bool {
    let (first, rest) = parts.split_first().expect("split yields at least one part");
    if rest.is_empty() {
        return if anchored { hay == first } else { hay.contains(first.as_str()) };
    }
    let mut pos = if anchored {
        if !hay.starts_with(first.as_str()) {
            return false;
        }
        first.len()
    } else {
        match hay.find(first.as_str()) {
            Some(i) => i + first.len(),
            None => return false,
        }
    };
    let (last, middle) = rest.split_last().expect("rest is not empty");
    for part in middle {
        match hay[pos..].find(part.as_str()) {
            Some(i) => pos += i + part.len(),
            None => return false,
        }
    }
    if anchored {
        hay.len() >= pos + last.len() && hay[pos..].ends_with(last.as_str())
    } else {
        hay[pos..].contains(last.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_within_and_prefix() {
        let p = Pattern::new("epic:*");
        assert!(
            p.matches_whole("epic:foo") && p.matches_whole("EPIC:") && !p.matches_whole("x:epic:a")
        );
        let p = Pattern::new("agent:*-1");
        assert!(p.matches_whole("agent:claude-1") && !p.matches_whole("agent:claude-2"));
        let p = Pattern::new("login*page");
        assert!(p.matches_within("Fix the LOGIN form page now") && !p.matches_within("page login"));
        assert!(Pattern::new("Élan").matches_within("un élan vital"));
        let p = Pattern::new("01j9");
        assert!(p.matches_prefix("01j9abc") && !p.matches_prefix("x01j9"));
        assert!(Pattern::new("a*a").matches_whole("aa") && !Pattern::new("a*a").matches_whole("a"));
        assert!(Pattern::new("*").matches_whole("") && Pattern::new("").matches_within("x"));
    }
}
