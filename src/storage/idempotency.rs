//! Idempotency keys: which keyed requests committed, with the digest of each request and the
//! response it got, so that a retry with the same key returns that response and changes
//! nothing. Local state (`idempotency-keys.json`), never in the tracked files. A record lasts
//! [`TTL`]; expired ones are pruned whenever the file is written, and at most [`MAX_KEYS`]
//! are kept (the oldest go first).
//!
//! A [`KeyStore`] holds its own lock (`idempotency.lock`, taken after the writers' lock and
//! before the local-state lock that claims take) from the lookup until the record is written,
//! so two processes (of any worktree of the clone) with one key never both apply it.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::local::{LocalLock, LocalState};
use crate::error::{Error, Result};

const FILE: &str = "idempotency-keys.json";
const LOCK: &str = "idempotency.lock";
/// How long a committed key is remembered.
pub const TTL: SignedDuration = SignedDuration::from_hours(24);
/// At most this many keys are kept.
pub const MAX_KEYS: usize = 10_000;
/// A key is 1 to this many bytes of `[A-Za-z0-9._:-]`.
pub const MAX_KEY_LEN: usize = 128;

/// One committed request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The operation it was given to (`batch`, `create`, `gate_pass`…).
    pub op: String,
    /// SHA-256 of the request, as the command defines it.
    pub digest: String,
    pub at: Timestamp,
    pub response: Value,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    keys: BTreeMap<String, Record>,
}

/// A key well formed: 1 to [`MAX_KEY_LEN`] letters, digits, `.`, `_`, `:` or `-`.
pub fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if ok {
        return Ok(());
    }
    Err(Error::InvalidIdempotencyKey(format!(
        "invalid idempotency key {key:?}: 1 to {MAX_KEY_LEN} letters, digits, `.`, `_`, `:` or `-`"
    )))
}

/// An idempotency key, well formed ([`check_key`]): what a write request carries
/// (`--idempotency-key`, a batch's or an MCP call's `idempotency_key`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// `key`, if well formed; else `INVALID_IDEMPOTENCY_KEY`.
    pub fn parse(key: &str) -> Result<IdempotencyKey> {
        check_key(key)?;
        Ok(IdempotencyKey(key.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = Error;
    fn try_from(key: String) -> Result<IdempotencyKey> {
        check_key(&key)?;
        Ok(IdempotencyKey(key))
    }
}

impl From<IdempotencyKey> for String {
    fn from(k: IdempotencyKey) -> String {
        k.0
    }
}

impl std::fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The keys, loaded under their lock, which is held until this is dropped.
pub struct KeyStore<'l> {
    local: &'l LocalState,
    _lock: LocalLock,
    file: File,
}

impl<'l> KeyStore<'l> {
    pub fn open(local: &'l LocalState) -> Result<KeyStore<'l>> {
        let lock = local.lock_named(LOCK)?;
        let file = match local.read(FILE)? {
            None => File::default(),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                path: local.dir().join(FILE),
                message: format!(
                    "unreadable idempotency keys ({e}); delete the file (keys committed in \
                     the last 24 hours are then forgotten)"
                ),
            })?,
        };
        Ok(KeyStore { local, _lock: lock, file })
    }

    /// The response `key` got, if it committed less than [`TTL`] ago with this same request;
    /// `IDEMPOTENCY_KEY_REUSED` if it committed with another request.
    pub fn lookup(
        &self,
        key: &str,
        op: &str,
        digest: &str,
        now: Timestamp,
    ) -> Result<Option<Value>> {
        match self.file.keys.get(key) {
            Some(r) if now.duration_since(r.at) < TTL => {
                if r.op == op && r.digest == digest {
                    Ok(Some(r.response.clone()))
                } else {
                    Err(Error::IdempotencyKeyReused { key: key.to_string(), at: r.at.to_string() })
                }
            }
            _ => Ok(None),
        }
    }

    /// Record `key`'s response, pruning expired keys and the oldest beyond [`MAX_KEYS`].
    pub fn record(mut self, key: &str, record: Record) -> Result<()> {
        let now = record.at;
        self.file.keys.retain(|_, r| now.duration_since(r.at) < TTL);
        self.file.keys.insert(key.to_string(), record);
        if self.file.keys.len() > MAX_KEYS {
            let mut by_age: Vec<(Timestamp, String)> =
                self.file.keys.iter().map(|(k, r)| (r.at, k.clone())).collect();
            by_age.sort();
            for (_, k) in by_age.iter().take(self.file.keys.len() - MAX_KEYS) {
                self.file.keys.remove(k);
            }
        }
        let mut bytes = serde_json::to_vec(&self.file).expect("keys serialise");
        bytes.push(b'\n');
        self.local.write(FILE, &bytes)
    }
}

/// SHA-256 of `bytes` under a domain tag, as hex.
pub fn digest(tag: &str, bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::new().chain_update(tag.as_bytes()).chain_update(b"\n").chain_update(bytes);
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_expire_and_a_reused_key_is_refused() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join(".jit")).unwrap();
        let layout = crate::storage::Layout::at(t.path()).unwrap();
        let local = LocalState::for_layout(&layout);
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let rec = |at| Record { op: "batch".into(), digest: "d1".into(), at, response: 1.into() };
        KeyStore::open(&local).unwrap().record("k", rec(t0)).unwrap();
        let store = KeyStore::open(&local).unwrap();
        let later = t0 + SignedDuration::from_hours(23);
        assert_eq!(store.lookup("k", "batch", "d1", later).unwrap(), Some(1.into()));
        let e = store.lookup("k", "batch", "d2", later).unwrap_err();
        assert_eq!(e.code(), "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(store.lookup("k", "batch", "d2", t0 + TTL).unwrap(), None, "expired");
        store.record("j", rec(t0 + TTL)).unwrap();
        let store = KeyStore::open(&local).unwrap();
        assert_eq!(store.file.keys.keys().collect::<Vec<_>>(), ["j"], "pruned when writing");
        assert!(check_key("agent-7:retry.1_x").is_ok());
        for bad in ["", "a b", "é", &"x".repeat(MAX_KEY_LEN + 1)] {
            assert_eq!(check_key(bad).unwrap_err().code(), "INVALID_IDEMPOTENCY_KEY");
        }
    }
}
