//! Where results go: JSON (pretty on a terminal, one line otherwise) or human text, written
//! to any `Write` so tests can capture it.

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;

use serde::Serialize;

use super::invocation::Out;
use crate::model::write_safe;

/// Writes one command's output.
pub struct Printer<'a> {
    out: io::BufWriter<Box<dyn Write + 'a>>,
    json: bool,
    pretty: bool,
    /// For [`Printer::held`]: the output so far, and where it goes at the end.
    held: Option<Held<'a>>,
}

/// The output held so far, and where it goes at the end.
type Held<'a> = (Rc<RefCell<Vec<u8>>>, Box<dyn Write + 'a>);

/// A `Write` into a buffer the printer keeps a handle on.
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The output of a command that committed a change, which could not be written to stdout.
pub struct Unwritten {
    pub error: io::Error,
    pub output: Vec<u8>,
}

impl<'a> Printer<'a> {
    /// `pretty` asks for indented JSON (used when stdout is a terminal).
    pub fn new(out: Box<dyn Write + 'a>, json: bool, pretty: bool) -> Self {
        Printer { out: io::BufWriter::with_capacity(1 << 16, out), json, pretty, held: None }
    }

    /// A printer that keeps the whole output until [`Printer::finish`] writes it to `dest`: a
    /// write command's result is small, and must not be lost when `dest` fails.
    pub fn held(dest: Box<dyn Write + 'a>, json: bool, pretty: bool) -> Self {
        let buf = Rc::new(RefCell::new(Vec::new()));
        let mut p = Printer::new(Box::new(Shared(buf.clone())), json, pretty);
        p.held = Some((buf, dest));
        p
    }

    /// A held printer on `out` ([`Printer::held`], [`Printer::on`]).
    pub fn held_on(out: Out, json: bool) -> Printer<'static> {
        let pretty = out.is_terminal();
        Printer::held(Box::new(out), json, pretty)
    }

    /// Write out what is held (nothing to do for a printer that is not held). On failure, the
    /// error and the output that was not written.
    pub fn finish(&mut self) -> Result<(), Unwritten> {
        if let Err(error) = self.flush() {
            return Err(Unwritten { error, output: Vec::new() });
        }
        let Some((buf, dest)) = &mut self.held else { return Ok(()) };
        let output = std::mem::take(&mut *buf.borrow_mut());
        match dest.write_all(&output).and_then(|()| dest.flush()) {
            Ok(()) => Ok(()),
            Err(error) => Err(Unwritten { error, output }),
        }
    }

    /// A printer on `out`, the run's stdout (pretty JSON when it is a terminal).
    ///
    /// `out` is its own handle on the descriptor rather than `io::stdout()`, whose line
    /// buffering scans every 64 KiB block this printer hands it for a newline (about 10 % of
    /// the user time of `issue list --json`). The printer is the only writer of stdout and
    /// buffers it anyway, so nothing else changes.
    pub fn on(out: Out, json: bool) -> Printer<'static> {
        let pretty = out.is_terminal();
        Printer::new(Box::new(out), json, pretty)
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
        write_safe(&mut self.out, &String::from_utf8_lossy(&buf))?;
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
