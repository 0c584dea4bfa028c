//! Recording the results of automated gate runs, made with no lock held. A result is
//! recorded only if that gate's record did not change meanwhile (a version check on the
//! gate, so unrelated edits of the issue do not throw a finished run away).

use super::Transaction;
use crate::error::{Error, Result};
use crate::graph::runner::RunResult;
use crate::model::{Gate, GateRun, GateStatus, IssueId};

/// One finished run: the gate, its record when the run started, and the result.
#[derive(Debug)]
pub struct GateResult {
    pub gate: String,
    pub before: Option<Gate>,
    pub run: RunResult,
}

/// The results of the runs on one issue. With `if_version`, the issue must still be at that
/// version (compare-and-swap).
#[derive(Debug)]
pub struct RecordGates {
    pub id: IssueId,
    pub results: Vec<GateResult>,
    pub if_version: Option<u64>,
}

/// The result of running one automated gate.
#[derive(Debug, serde::Serialize)]
pub struct GateOutcome {
    pub gate: String,
    pub status: GateStatus,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub timed_out: bool,
    /// False when the gate's record changed while the command ran; the result was dropped.
    pub recorded: bool,
    pub output: String,
}

/// The response of `gate run`: the issue's id and version after the results were recorded.
/// (Fields in the order `--json` has always printed them.)
#[derive(Debug, serde::Serialize)]
pub struct GatesRun {
    pub id: IssueId,
    pub results: Vec<GateOutcome>,
    pub version: u64,
}

pub fn apply(tx: &mut Transaction, req: RecordGates) -> Result<Vec<GateOutcome>> {
    let id = req.id;
    let mut current = tx.load(id)?.clone();
    if let Some(expected) = req.if_version {
        let actual = tx.version_as_read(id)?.unwrap_or(current.version);
        if actual != expected {
            return Err(Error::VersionConflict { id: id.to_string(), expected, actual });
        }
    }
    let now = tx.now();
    let mut outcomes = Vec::new();
    for GateResult { gate, before, run } in req.results {
        let recorded = match current.gates.get_mut(&gate) {
            Some(g) if Some(&*g) == before.as_ref() => {
                g.record(GateRun {
                    status: run.status,
                    at: now,
                    by: Some("jit".into()),
                    note: None,
                    exit_code: run.exit_code,
                    duration_ms: Some(run.duration_ms),
                    timed_out: run.timed_out,
                    output: Some(run.output.clone()),
                    extra: Default::default(),
                });
                true
            }
            _ => false,
        };
        outcomes.push(GateOutcome {
            gate,
            status: run.status,
            exit_code: run.exit_code,
            duration_ms: run.duration_ms,
            timed_out: run.timed_out,
            recorded,
            output: run.output,
        });
    }
    tx.stage(current)?;
    Ok(outcomes)
}
