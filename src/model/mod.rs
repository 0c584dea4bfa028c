//! The issue model: ids, states and priorities, labels, and the issue record itself.

mod claim;
mod event;
mod gate;
mod id;
mod issue;
mod label;
pub mod merge;
mod state;
mod text;
pub mod time;

pub use claim::{Claim, parse_duration};
pub use event::{Event, EventId, EventIssue, validate_actor};
pub use gate::{Gate, GateDef, GateRun, GateStatus, MAX_RUNS, Mode, Stage, validate_gate_name};
pub use id::{IssueId, MIN_PREFIX, Prefix, unique_prefix_len};
pub use issue::{
    Document, Issue, IssueChanges, MAX_DESCRIPTION, MAX_MERGE_OVERRIDES, MAX_TITLE, MergeOverride,
    NewIssue,
};
pub use label::{is_reserved_assignee, validate_assignee, validate_label};
pub use state::{Priority, State};
pub use text::{foreign_encoding, is_layout_char, terminal_safe, without_bom, write_safe};

/// The closest candidate to `input` by edit distance, if it is close enough to be a useful
/// "did you mean" suggestion.
pub fn suggest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let input = input.to_lowercase();
    let candidates: Vec<&str> = candidates.into_iter().collect();
    if input.len() >= 3
        && let Some(c) = candidates.iter().find(|c| c.starts_with(&input) && c.len() > input.len())
    {
        return Some(c.to_string());
    }
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&input, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3) && *d < c.len().max(input.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}
