//! Text from issue files shown to people: which characters control the display, and how
//! they are shown instead.

use std::borrow::Cow;
use std::io::{self, Write};

/// Does `c` control how text is laid out or displayed rather than show as a character?
/// Control characters (C0, DEL, C1, so also line breaks and tabs), the Unicode line and
/// paragraph separators, and the bidirectional marks, embeddings, overrides and isolates
/// (which can make text read differently from what it holds). Titles and assignees may not
/// contain them; human output shows them as `\u{…}` escapes.
pub fn is_layout_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Text from issue files, made safe to print on a terminal: characters that control the
/// display ([`is_layout_char`]: escape sequences, carriage returns, bidirectional overrides,
/// …) are shown as `\u{…}` escapes, so that a hand-edited or merged issue file cannot move
/// the cursor, retitle the terminal, clear the screen or make text read other than it is.
/// Line breaks and tabs are kept. JSON output needs none of this: its strings are escaped.
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    if first_unsafe(s, 0).is_none() {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len() + 16);
    write_safe(&mut out, s).expect("writing to memory");
    Cow::Owned(String::from_utf8(out).expect("escapes keep UTF-8"))
}

/// Write `s` to `w` as [`terminal_safe`] shows it, without copying the clean stretches.
pub fn write_safe(w: &mut impl Write, s: &str) -> io::Result<()> {
    let mut from = 0;
    while let Some((at, c)) = first_unsafe(s, from) {
        w.write_all(&s.as_bytes()[from..at])?;
        write!(w, "\\u{{{:x}}}", c as u32)?;
        from = at + c.len_utf8();
    }
    w.write_all(&s.as_bytes()[from..])
}

/// Where the first character from byte `from` on that must be escaped is, and which it is.
/// Bytes are scanned for what can start such a character (C0 but line feed and tab, DEL, the
/// lead bytes of C1, U+061C and U+200E..U+2069); only those are decoded.
fn first_unsafe(s: &str, mut from: usize) -> Option<(usize, char)> {
    let bytes = s.as_bytes();
    loop {
        let at = from
            + bytes[from..].iter().position(|&b| {
                (b < 0x20 && b != b'\n' && b != b'\t') || matches!(b, 0x7f | 0xc2 | 0xd8 | 0xe2)
            })?;
        let c = s[at..].chars().next().expect("a character starts at a lead byte");
        if is_layout_char(c) && c != '\n' && c != '\t' {
            return Some((at, c));
        }
        from = at + c.len_utf8();
    }
}

/// `bytes` without a leading UTF-8 byte-order mark. Editors on some systems start files with
/// one; JSON (RFC 8259) forbids it in what is sent but lets a reader ignore it, and jit does, in
/// every JSON file a person may edit (issue files, `config.json`). jit never writes one.
pub fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Why `bytes` cannot be a UTF-8 JSON file at all, when it starts with a UTF-16 or UTF-32
/// byte-order mark (a file saved as "Unicode" by some editors): said instead of the JSON
/// parser's "expected value at line 1 column 1".
pub fn foreign_encoding(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x00\x00\xFE\xFF") || bytes.starts_with(b"\xFF\xFE\x00\x00") {
        Some(
            "the file starts with a UTF-32 byte-order mark; jit reads UTF-8 only (save it as UTF-8)",
        )
    } else if bytes.starts_with(b"\xFE\xFF") || bytes.starts_with(b"\xFF\xFE") {
        Some(
            "the file starts with a UTF-16 byte-order mark; jit reads UTF-8 only (save it as UTF-8)",
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_safe_escapes_what_controls_the_display_and_keeps_the_rest() {
        let cases = [
            ("plain ASCII\tand\nlines", "plain ASCII\tand\nlines"),
            ("é ü 漢字 🙂 ‘quotes’ — dash", "é ü 漢字 🙂 ‘quotes’ — dash"),
            ("\u{1b}[2Jclear", "\\u{1b}[2Jclear"),
            ("title\u{1b}]0;pwned\u{7}", "title\\u{1b}]0;pwned\\u{7}"),
            ("cr\rdel\u{7f}c1\u{9b}", "cr\\u{d}del\\u{7f}c1\\u{9b}"),
            ("rtl\u{202e}txt\u{2066}iso\u{2069}", "rtl\\u{202e}txt\\u{2066}iso\\u{2069}"),
            (
                "sep\u{2028}par\u{2029}lrm\u{200e}alm\u{61c}",
                "sep\\u{2028}par\\u{2029}lrm\\u{200e}alm\\u{61c}",
            ),
            // Lead bytes of the fast path that start ordinary characters.
            ("\u{a0}nbsp \u{a9} ؀ \u{2014} \u{2070}", "\u{a0}nbsp \u{a9} ؀ \u{2014} \u{2070}"),
        ];
        for (input, want) in cases {
            assert_eq!(terminal_safe(input), want, "{input:?}");
        }
        assert!(matches!(terminal_safe("nothing to do"), Cow::Borrowed(_)));
    }
}
