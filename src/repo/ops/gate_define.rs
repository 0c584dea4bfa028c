//! `gate define`: add (or, with `replace`, redefine) a gate in the registry. An auto gate
//! defined here, by the person at this machine, is trusted as it is written.

use super::Transaction;
use crate::api::GateDefine;
use crate::error::{Error, GateRefusal, Result};
use crate::model::{GateDef, Mode, validate_gate_name};
use crate::storage::trust::Trusted;

pub fn apply(tx: &mut Transaction, req: &GateDefine) -> Result<GateDef> {
    let name = req.name.as_str();
    validate_gate_name(name)?;
    match (req.mode, req.command.is_empty()) {
        (Mode::Auto, true) => {
            return Err(Error::InvalidArgument(
                "an auto gate needs a command: `jit gate define NAME --mode auto -- CMD ARG...`"
                    .into(),
            ));
        }
        (Mode::Manual, false) => {
            return Err(Error::InvalidArgument("a manual gate takes no command".into()));
        }
        _ => {}
    }
    let def = GateDef {
        stage: req.stage,
        mode: req.mode,
        description: req.description.clone(),
        command: req.command.clone(),
        shell: req.shell,
        timeout_s: req.timeout_s,
        extra: Default::default(),
    };
    let mut config = tx.config()?.clone();
    if config.gates.contains_key(name) && !req.replace {
        return Err(Error::Gate {
            refusal: GateRefusal::Exists,
            message: format!("a gate named `{name}` is already defined"),
            suggestion: None,
        });
    }
    if def.mode == Mode::Auto {
        let trusted = Trusted { sha256: def.digest(name), trusted_at: tx.now() };
        tx.stage_trust(name, trusted);
    }
    config.gates.insert(name.to_string(), def.clone());
    tx.stage_config(config);
    Ok(def)
}
