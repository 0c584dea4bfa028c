//! Trusted gate definitions: which auto gates the person on this machine allowed to run,
//! each recorded by the digest of its definition ([`GateDef::digest`]), in local state
//! (`trusted-gates.json`), never in the tracked files. A definition whose digest differs
//! from the recorded one (edited by hand, merged, pulled) is untrusted again.
//!
//! The file also names the folder it was written in (device and inode). Outside git the
//! folder is `.jit/local/`, which a tarball or a copy of someone's project could bring along
//! with a trust file in it; such a file names another folder, so it trusts nothing here.

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

/// The identity of a folder on this machine: a copy or an unpacked archive gets a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderId {
    pub dev: u64,
    pub ino: u64,
}

impl FolderId {
    fn of(dir: &std::path::Path) -> Option<FolderId> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(dir).ok()?;
        Some(FolderId { dev: m.dev(), ino: m.ino() })
    }
}

/// The trust file's content.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TrustStore {
    /// The folder the file was written in; a file found in another folder trusts nothing.
    #[serde(default)]
    pub folder: Option<FolderId>,
    #[serde(default)]
    pub gates: BTreeMap<String, Trusted>,
}

impl TrustStore {
    /// What `local` holds; empty if nothing was trusted yet, or if the file was written in
    /// another folder (copied or unpacked here). A damaged file is an error rather than
    /// "nothing trusted", so that it is noticed (and then simply re-trusted).
    pub fn load(local: &LocalState) -> Result<TrustStore> {
        let Some(bytes) = local.read(FILE)? else { return Ok(TrustStore::default()) };
        let store: TrustStore = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: local.dir().join(FILE),
            message: format!(
                "unreadable trusted gate definitions ({e}); move it aside and trust again"
            ),
        })?;
        match store.folder {
            Some(f) if Some(f) == FolderId::of(local.dir()) => Ok(store),
            _ => Ok(TrustStore::default()), // brought from elsewhere: not this machine's trust
        }
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
        store.folder = FolderId::of(local.dir());
        let mut bytes = serde_json::to_vec_pretty(&store).expect("trust store serialises");
        bytes.push(b'\n');
        local.write(FILE, &bytes)?;
        Ok(out)
    }
}
