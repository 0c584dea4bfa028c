//! Idempotency keys, one mechanism for every write: a request that carries a key
//! (`--idempotency-key`, a batch's `idempotency_key`, an MCP call's) and that already
//! committed in the last 24 hours gets the reply it got then, and nothing is written (no
//! file, no event); the same key with another request is refused
//! (`IDEMPOTENCY_KEY_REUSED`). The keys are local state (`storage::idempotency`), never in
//! the tracked files.
//!
//! A write method builds a [`Keyed`] from the key and its request ([`Repo::keyed`]), may
//! look it up early to skip slow work ([`Repo::replayed`]: running gates, preparing a file),
//! and begins its transaction with [`Repo::begin_keyed`], which looks the key up again with
//! the key store held, and keeps it held in the transaction until
//! [`Transaction::commit_reply`] has recorded the reply. [`Repo::write`] does all of it for a
//! write that is one operation.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Repo, Transaction};
use crate::error::{Error, Result};
pub use crate::storage::idempotency::IdempotencyKey;
use crate::storage::idempotency::{self, KeyStore};

/// A keyed write request: its key, its operation and the digest of the request (with the
/// claim token it presents, which can change its outcome).
#[derive(Clone, Debug)]
pub struct Keyed {
    pub(crate) key: IdempotencyKey,
    pub(crate) op: &'static str,
    pub(crate) digest: String,
}

/// How a keyed write begins: a transaction, or the reply the key already got.
// One is made per write and taken apart at once: boxing the transaction would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Begun<'r, R> {
    Fresh(Transaction<'r>),
    Replay(R),
}

impl Repo {
    /// `key` (if any) with the request it comes with: `op` as the event log names it, and
    /// the request as given (so a retry must repeat it exactly: the same id or prefix, the
    /// same fields).
    pub fn keyed(
        &self,
        key: Option<&IdempotencyKey>,
        op: &'static str,
        request: &impl Serialize,
    ) -> Option<Keyed> {
        let key = key?.clone();
        let body = serde_json::to_vec(&(request, self.claim_token())).expect("requests serialise");
        Some(Keyed { key, op, digest: idempotency::digest(&format!("jit {op} v1"), &body) })
    }

    /// The reply `keyed` got, looked up without any other lock: for a write that does slow
    /// work before its transaction, so that a retry does none of it. A miss proves nothing:
    /// [`Repo::begin_keyed`] looks again.
    pub fn replayed<R: DeserializeOwned>(&self, keyed: Option<&Keyed>) -> Result<Option<R>> {
        let Some(k) = keyed else { return Ok(None) };
        let store = KeyStore::open(&self.local)?;
        let found = store.lookup(k.key.as_str(), k.op, &k.digest, self.clock.now())?;
        found.map(|v| self.decode(k, v)).transpose()
    }

    /// Begin a transaction for `keyed` (a plain [`Repo::begin`] without a key): the reply
    /// the key already got, or a transaction that holds the key store until
    /// [`Transaction::commit_reply`] records its reply (or it is dropped). The key store is
    /// taken after the writers' lock, as every keyed write does.
    pub fn begin_keyed<R: DeserializeOwned>(&self, keyed: Option<&Keyed>) -> Result<Begun<'_, R>> {
        let mut tx = self.begin()?;
        let Some(k) = keyed else { return Ok(Begun::Fresh(tx)) };
        let store = KeyStore::open(&self.local)?;
        if let Some(v) = store.lookup(k.key.as_str(), k.op, &k.digest, tx.now())? {
            return Ok(Begun::Replay(self.decode(k, v)?));
        }
        tx.hold_key(store, k.clone());
        Ok(Begun::Fresh(tx))
    }

    /// A write that is one operation: begin (or replay), `apply`, commit as `op` with the
    /// reply recorded under the key.
    pub fn write<R: Serialize + DeserializeOwned>(
        &self,
        keyed: Option<&Keyed>,
        op: &'static str,
        apply: impl FnOnce(&mut Transaction) -> Result<R>,
    ) -> Result<R> {
        let mut tx = match self.begin_keyed(keyed)? {
            Begun::Replay(r) => return Ok(r),
            Begun::Fresh(tx) => tx,
        };
        let reply = apply(&mut tx)?;
        tx.commit_reply(op, &reply)?;
        Ok(reply)
    }

    fn decode<R: DeserializeOwned>(&self, k: &Keyed, reply: Value) -> Result<R> {
        serde_json::from_value(reply).map_err(|e| Error::Corrupt {
            path: self.local.dir().join("idempotency-keys.json"),
            message: format!("the reply recorded for key `{}` is unreadable: {e}", k.key),
        })
    }
}
