//! The event log (`.jit/events/*.jsonl`): lines that are not events (torn by a crash or a
//! full disk, damaged by hand), and events whose versions disagree with the issue files.

use std::collections::HashMap;
use std::fs;

use super::files::Scan;
use super::{Finding, rel};
use crate::error::{IoContext, Result};
use crate::model::{Event, IssueId};
use crate::storage::{FileBytes, Layout, read_regular};

/// A segment with lines that are not events: what `--fix` writes instead (its events, in
/// order) and what it cuts (kept in quarantine).
#[derive(Debug)]
pub struct Damaged {
    /// The segment's name in `events/`.
    pub name: String,
    /// The segment without its bad lines.
    pub good: String,
    /// The bad lines, with their line numbers (from 1), as they are.
    pub cut: Vec<(usize, Vec<u8>)>,
}

pub fn check(layout: &Layout, scan: &Scan, findings: &mut Vec<Finding>) -> Result<Vec<Damaged>> {
    let dir = layout.events_dir();
    let mut damaged = Vec::new();
    let Ok(meta) = fs::symlink_metadata(&dir) else { return Ok(damaged) };
    if !meta.is_dir() {
        return Ok(damaged); // `events` in `.jit/` is the store's concern, not the log's
    }
    let mut names: Vec<String> = fs::read_dir(&dir)
        .at(&dir)?
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter(|n| crate::storage::events::is_segment_name(n))
        .collect();
    names.sort();
    // The highest version each issue's events reach (versions only go up).
    let mut logged: HashMap<IssueId, u64> = HashMap::new();
    for name in names {
        let path = dir.join(&name);
        let Ok(FileBytes::Regular(bytes)) = read_regular(&path) else { continue };
        let mut good = String::new();
        let mut cut = Vec::new();
        for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match Event::from_line(line) {
                Ok(e) => {
                    for i in &e.issues {
                        if let Some(after) = i.after {
                            let v = logged.entry(i.id).or_default();
                            *v = (*v).max(after);
                        }
                    }
                    good.push_str(std::str::from_utf8(line).expect("an event is UTF-8 JSON"));
                    good.push('\n');
                }
                Err(_) => cut.push((n + 1, line.to_vec())),
            }
        }
        if cut.is_empty() {
            continue;
        }
        let lines: Vec<String> = cut.iter().map(|(n, _)| n.to_string()).collect();
        let msg = format!(
            "{} lines that are not events (line {}): torn by a crash or a full disk, or \
             damaged by hand; readers skip them; `jit validate --fix` cuts them out and keeps \
             their bytes in .jit/quarantine/",
            cut.len(),
            lines.join(", ")
        );
        let f = Finding::new("EVENT_LINE_TORN", rel(&format!("events/{name}")), msg);
        findings.push(f.fix("cut_event_lines", None));
        damaged.push(Damaged { name, good, cut });
    }
    for s in &scan.issues {
        let Some(&last) = logged.get(&s.issue.id) else { continue };
        let v = s.issue.version;
        let why = if v > last {
            format!(
                "the file is at version {v} but the event log's last change of the issue \
                 leaves it at {last}: a git merge (which writes no event) or a crash between \
                 a commit and its event can do that; nothing to settle"
            )
        } else if v < last {
            format!(
                "the file is at version {v} but the event log has the issue at {last}: the \
                 file was put back to an older version (e.g. by git) after later changes were \
                 logged; check that no change was lost (`jit events --issue {}`)",
                s.issue.id
            )
        } else {
            continue;
        };
        findings.push(Finding::new("EVENTS_DISAGREE", s.path.clone(), why).issue(s.issue.id));
    }
    Ok(damaged)
}
