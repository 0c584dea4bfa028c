//! The local log of refusals: version conflicts, fenced writes, no-work answers and rate
//! limits. They are not changes, so they are not events of the tracked log (which holds one
//! event per committed change: an issue's events are as many as its version). They are kept
//! in local state instead (`refusals/YYYY-MM.jsonl`, never versioned, shared by the
//! worktrees of a clone), in the event log's own format (op `refused`, with the error code),
//! so that `jit metrics` reads a window of them the same way, backwards from the end.

use super::local::LocalState;
use super::{Durability, events};
use crate::error::{IoContext, Result};
use crate::model::Event;

/// The log's folder in local state.
pub const DIR: &str = "refusals";

/// The `op` of every record.
pub const OP: &str = "refused";

/// Append one refusal. Relaxed durability: a refusal lost in a crash costs a count in the
/// metrics, never data, and an fsync per refusal would slow the agents that are refused.
pub fn append(local: &LocalState, event: &Event) -> Result<()> {
    std::fs::create_dir_all(local.dir()).at(local.dir())?;
    events::append_in(&local.dir().join(DIR), local.dir(), event, Durability::Relaxed)
}

/// The refusals that pass `filter`, newest first.
pub fn read(local: &LocalState, filter: &events::Filter) -> Result<events::Page> {
    events::read_in(&local.dir().join(DIR), filter, None)
}
