//! Trusted gate definitions: which auto gates the person on this machine allowed to run,
//! each recorded by the digest of its definition ([`GateDef::digest`]), in local state
//! (`trusted-gates.json`), never in the tracked files. A definition whose digest differs
//! from the recorded one (edited by hand, merged, pulled) is untrusted again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::local::LocalState;
use crate::error::{Error, Result};
use crate::model::GateDef;

const FILE: &str = "trusted-gates.json";

/// One trusted definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trusted {
    pub sha256: String,
    pub trusted_at: jiff::Timestamp,
}

/// The trust file's content.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TrustStore {
    #[serde(default)]
    pub gates: BTreeMap<String, Trusted>,
}

impl TrustStore {
    /// What `local` holds; empty if nothing was trusted yet. A damaged file is an error
    /// rather than "nothing trusted", so that it is noticed (and then simply re-trusted).
    pub fn load(local: &LocalState) -> Result<TrustStore> {
        let Some(bytes) = local.read(FILE)? else { return Ok(TrustStore::default()) };
        serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: local.dir().join(FILE),
            message: format!(
                "unreadable trusted gate definitions ({e}); delete it and trust again"
            ),
        })
    }

    /// Is this exact definition of `name` trusted?
    pub fn trusts(&self, name: &str, def: &GateDef) -> bool {
        self.gates.get(name).is_some_and(|t| t.sha256 == def.digest(name))
    }

    /// Change the store under its lock: load, apply `f`, write it back atomically.
    pub fn update<T>(local: &LocalState, f: impl FnOnce(&mut TrustStore) -> T) -> Result<T> {
        let _lock = local.lock()?;
        let mut store = TrustStore::load(local)?;
        let out = f(&mut store);
        let mut bytes = serde_json::to_vec_pretty(&store).expect("trust store serialises");
        bytes.push(b'\n');
        local.write(FILE, &bytes)?;
        Ok(out)
    }
}
