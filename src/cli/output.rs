//! Where results go: JSON (pretty on a terminal, one line otherwise) or human text, written
//! to any `Write` so tests can capture it.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;

use serde::Serialize;

use crate::model::is_layout_char;

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
fn write_safe(w: &mut impl Write, s: &str) -> io::Result<()> {
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

/// Writes one command's output.
pub struct Printer<'a> {
    out: io::BufWriter<Box<dyn Write + 'a>>,
    json: bool,
    pretty: bool,
}

impl<'a> Printer<'a> {
    /// `pretty` asks for indented JSON (used when stdout is a terminal).
    pub fn new(out: Box<dyn Write + 'a>, json: bool, pretty: bool) -> Self {
        Printer { out: io::BufWriter::with_capacity(1 << 16, out), json, pretty }
    }

    /// A printer on this process's stdout.
    ///
    /// It writes to its own handle on file descriptor 1 rather than through `io::stdout()`,
    /// whose line buffering scans every 64 KiB block this printer hands it for a newline
    /// (about 10 % of the user time of `issue list --json`). The printer is the only writer
    /// of stdout and buffers it anyway, so nothing else changes; if the descriptor cannot
    /// be duplicated, the standard handle is used.
    pub fn stdout(json: bool) -> Printer<'static> {
        let stdout = io::stdout();
        let pretty = stdout.is_terminal();
        let out: Box<dyn Write> = match stdout.as_fd().try_clone_to_owned() {
            Ok(fd) => Box::new(File::from(fd)),
            Err(_) => Box::new(stdout.lock()),
        };
        Printer::new(out, json, pretty)
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    /// One JSON document and a newline.
    pub fn json<T: Serialize + ?Sized>(&mut self, value: &T) -> io::Result<()> {
        if self.pretty {
            serde_json::to_writer_pretty(&mut self.out, value)?;
        } else {
            serde_json::to_writer(&mut self.out, value)?;
        }
        self.out.write_all(b"\n")
    }

    /// A JSON array of documents that are already compact JSON text (from the index).
    pub fn json_array<'s>(&mut self, items: impl Iterator<Item = &'s [u8]>) -> io::Result<()> {
        if self.pretty {
            let values: Vec<serde_json::Value> = items
                .map(|s| serde_json::from_slice(s).map_err(io::Error::other))
                .collect::<Result<_, _>>()?;
            return self.json(&values);
        }
        self.out.write_all(b"[")?;
        for (i, s) in items.enumerate() {
            if i > 0 {
                self.out.write_all(b",")?;
            }
            self.out.write_all(s)?;
        }
        self.out.write_all(b"]\n")
    }

    /// Human text, made safe for a terminal (see [`terminal_safe`]).
    pub fn text(&mut self, s: &str) -> io::Result<()> {
        write_safe(&mut self.out, s)
    }

    /// Human text rendered by `render` into a buffer, then made safe like [`Self::text`] in
    /// one pass (a table of 100k rows is written in many small pieces).
    pub fn human<E: From<io::Error>>(
        &mut self,
        render: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut buf = Vec::new();
        render(&mut buf)?;
        match std::str::from_utf8(&buf) {
            Ok(s) => write_safe(&mut self.out, s)?,
            Err(_) => self.out.write_all(&buf)?,
        }
        Ok(())
    }

    /// The output as is, for generated files (completion scripts, manual pages).
    pub fn raw(&mut self) -> &mut dyn Write {
        &mut self.out
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
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

    #[test]
    fn the_human_writer_is_safe_too() {
        let mut buf = Vec::new();
        {
            let mut p = Printer::new(Box::new(&mut buf), false, false);
            let esc = '\u{1b}';
            p.human(|w| writeln!(w, "a{esc}b")).unwrap();
            p.text("c\u{202e}d\n").unwrap();
            p.raw().write_all(b"raw\x1b\n").unwrap();
            p.flush().unwrap();
        }
        assert_eq!(String::from_utf8(buf).unwrap(), "a\\u{1b}b\nc\\u{202e}d\nraw\u{1b}\n");
    }
}
