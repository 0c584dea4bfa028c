//! One module per write operation. Each has one `apply` function over its request (from
//! `api/`) and a [`Transaction`]: it resolves ids, checks every precondition, stages the
//! files it changes and returns a typed outcome. It never writes: the caller commits, so a
//! refused operation leaves nothing behind, and an outcome such as "the postcheck refused,
//! so the issue is now gated" is committed whole or not at all.

pub mod bulk_update;
pub mod claim;
pub mod create;
pub mod delete;
pub mod dep_add;
pub mod dep_rm;
pub mod doc;
pub mod gate_add;
pub mod gate_decide;
pub mod gate_define;
pub mod gate_record;
pub mod gate_remove;
pub mod gate_rm;
pub mod release;
pub mod update;

use super::Repo;
use super::tx::Transaction;
use crate::error::{Error, GateRefusal, Result};
use crate::model::{IssueId, State, suggest};
use crate::storage::config::Config;
use crate::storage::index::Snapshot;
use crate::storage::leases::{self, LeaseStore};

/// Labels valid and in a declared namespace.
pub(crate) fn check_labels<'a>(
    config: &Config,
    labels: impl IntoIterator<Item = &'a String>,
) -> Result<()> {
    labels.into_iter().try_for_each(|l| {
        crate::model::validate_label(l)?;
        config.check_label_namespace(l)
    })
}

/// The state of `id` as `tx` sees it; `None` for a missing issue.
pub(crate) fn state_in(tx: &mut Transaction, id: IssueId) -> Result<Option<State>> {
    match tx.load(id) {
        Ok(i) => Ok(Some(i.state)),
        Err(Error::IssueNotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Drop the leases of issues that have left in_progress ([`leases::over`]), judged by the
/// issue files as `tx` sees them; `snap` (the index, when the caller has it) spares reading
/// the file of an issue that is still in progress. Best effort: an issue that cannot be read
/// keeps its lease.
pub(crate) fn prune_leases(
    tx: &mut Transaction,
    store: &mut LeaseStore,
    snap: Option<&Snapshot>,
) -> Result<usize> {
    store.prune(|key, lease| {
        let Ok(id) = key.parse::<IssueId>() else { return Ok(false) };
        if let Some(snap) = snap {
            let state = snap.get(id).and_then(|e| State::from_u8(e.head().state));
            if matches!(state, None | Some(State::InProgress | State::Gated)) {
                return Ok(false);
            }
        }
        Ok(tx.load(id).is_ok_and(|i| leases::over(i, lease)))
    })
}

/// The state of `id` read from its file, with no lock; `None` for a missing issue.
pub(crate) fn state_on_disk(repo: &Repo, id: IssueId) -> Result<Option<State>> {
    match repo.load(id) {
        Ok(i) => Ok(Some(i.state)),
        Err(Error::IssueNotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `GATE_UNKNOWN` for a name not in the registry.
pub(crate) fn unknown_gate(name: &str, config: &Config) -> Error {
    Error::Gate {
        refusal: GateRefusal::Unknown,
        message: format!("no gate named `{name}` in the registry"),
        suggestion: suggest(name, config.gates.keys().map(String::as_str)),
    }
}
