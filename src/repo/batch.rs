//! `jit batch`: a list of write requests applied as ONE transaction. The input is read and
//! validated whole first (every entry typed, no unknown field, every `@key` defined once by
//! an earlier `create`); then each entry is applied, in order, by the same `ops::*::apply`
//! the single commands use, against the transaction's staged state (so an entry sees what
//! earlier entries did), and the transaction commits once: one journal record, one event.
//! Any entry's failure drops the transaction, so nothing is written.

use std::collections::HashMap;
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde_json::Value;

use super::{Begun, IdempotencyKey, Repo, Transaction, ops};
use crate::api::batch::{BatchBulkFailure, BatchEntry, BatchReply, EntryOutcome, VersionChange};
use crate::api::{BulkUpdate, CreateIssue, DeleteIssue, DepEdit, GateDecide, UpdateIssue};
use crate::error::{Error, Result};
use crate::model::{GateStatus, IssueId, suggest};

/// At most this many entries in one batch.
pub const MAX_ENTRIES: usize = 10_000;
/// At most this many bytes of input.
pub const MAX_BYTES: u64 = 64 << 20;
/// A key is 1 to this many letters, digits, `_`, `-` or `.`.
const MAX_KEY: usize = 64;

/// The ops a batch entry may name, in the order the docs list them.
const OPS: &[&str] =
    &["create", "update", "delete", "dep_add", "dep_rm", "gate_pass", "gate_fail", "bulk_update"];

fn invalid(entry: Option<usize>, message: impl Into<String>) -> Error {
    Error::BatchInvalid { entry, message: message.into() }
}

/// A batch as read: its entries, the fencing token each presents, and its idempotency key.
#[derive(Debug)]
pub struct Batch {
    pub entries: Vec<BatchEntry>,
    /// Each entry's `claim_token` (beside its request, as `--claim-token` is beside a
    /// command's): presented on that entry's writes instead of the command's token.
    pub claim_tokens: Vec<Option<u64>>,
    pub idempotency_key: Option<IdempotencyKey>,
}

/// Read a batch: a JSON array of entries (or `{"idempotency_key", "entries"}`), each valid,
/// every `@key` reference resolvable. Nothing is looked up in the repository yet.
pub fn parse(input: &[u8]) -> Result<Batch> {
    if input.len() as u64 > MAX_BYTES {
        return Err(Error::BatchTooLarge {
            message: format!("more than {MAX_BYTES} bytes of input"),
            limit: MAX_BYTES,
        });
    }
    let value: Value = serde_json::from_slice(input)
        .map_err(|e| invalid(None, format!("the input is not JSON: {e}")))?;
    let (values, idempotency_key) = match value {
        Value::Array(values) => (values, None),
        Value::Object(mut m) => {
            let key = match m.remove("idempotency_key") {
                None | Some(Value::Null) => None,
                Some(Value::String(k)) => Some(IdempotencyKey::parse(&k)?),
                Some(_) => return Err(invalid(None, "`idempotency_key` must be a string")),
            };
            let entries = match m.remove("entries") {
                Some(Value::Array(v)) => v,
                _ => return Err(invalid(None, "the object must have an `entries` array")),
            };
            if let Some(k) = m.keys().next() {
                return Err(invalid(
                    None,
                    format!("unknown field `{k}`; the fields are `idempotency_key`, `entries`"),
                ));
            }
            (entries, key)
        }
        _ => return Err(invalid(None, "the input must be a JSON array of entries")),
    };
    if values.len() > MAX_ENTRIES {
        return Err(Error::BatchTooLarge {
            message: format!("{} entries, more than {MAX_ENTRIES}", values.len()),
            limit: MAX_ENTRIES as u64,
        });
    }
    let mut entries = Vec::with_capacity(values.len());
    let mut claim_tokens = Vec::with_capacity(values.len());
    for (i, v) in values.into_iter().enumerate() {
        let (entry, token) = parse_entry(i, v)?;
        entries.push(entry);
        claim_tokens.push(token);
    }
    check_keys(&mut entries)?;
    Ok(Batch { entries, claim_tokens, idempotency_key })
}

/// One entry: its request, and the `claim_token` it presents, if any.
fn parse_entry(i: usize, mut v: Value) -> Result<(BatchEntry, Option<u64>)> {
    let Value::Object(map) = &mut v else {
        return Err(invalid(Some(i), "an entry is a JSON object with an `op` field"));
    };
    let token = match map.remove("claim_token") {
        None | Some(Value::Null) => None,
        Some(t) => Some(t.as_u64().ok_or_else(|| {
            invalid(Some(i), format!("`claim_token` must be a whole number >= 0, not {t}"))
        })?),
    };
    let op = match map.get("op") {
        Some(Value::String(op)) => op.as_str(),
        Some(_) => return Err(invalid(Some(i), "`op` must be a string")),
        None => return Err(invalid(Some(i), "the entry has no `op` field")),
    };
    let Some(allowed) = fields().get(op) else {
        let hint = match suggest(op, OPS.iter().copied()) {
            Some(s) => format!(" (did you mean `{s}`?)"),
            None => String::new(),
        };
        return Err(invalid(
            Some(i),
            format!("unknown op `{op}`{hint}; one of: {}", OPS.join(", ")),
        ));
    };
    if let Some(k) = map.keys().find(|k| *k != "op" && !allowed.contains(k)) {
        return Err(invalid(
            Some(i),
            format!(
                "unknown field `{k}` for `{op}`; its fields: {}, claim_token",
                allowed.join(", ")
            ),
        ));
    }
    let entry: BatchEntry =
        serde_json::from_value(v).map_err(|e| invalid(Some(i), format!("{e}")))?;
    if let BatchEntry::BulkUpdate(b) = &entry
        && b.dry_run
    {
        return Err(invalid(
            Some(i),
            "`dry_run` is not allowed in an entry: run the whole batch with --dry-run",
        ));
    }
    Ok((entry, token))
}

/// Each op's fields, from its request type's schema (so they never drift from the type).
fn fields() -> &'static HashMap<&'static str, Vec<String>> {
    static FIELDS: OnceLock<HashMap<&'static str, Vec<String>>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let mut create = fields_of::<CreateIssue>();
        create.insert(0, "key".into());
        let mut dep = fields_of::<DepEdit>();
        dep.push("depends_on".into());
        let verdict = fields_of::<crate::api::batch::GateVerdict>();
        HashMap::from([
            ("create", create),
            ("update", fields_of::<UpdateIssue>()),
            ("delete", fields_of::<DeleteIssue>()),
            ("dep_add", dep.clone()),
            ("dep_rm", dep),
            ("gate_pass", verdict.clone()),
            ("gate_fail", verdict),
            ("bulk_update", fields_of::<BulkUpdate>()),
        ])
    })
}

fn fields_of<T: JsonSchema>() -> Vec<String> {
    let schema = schemars::schema_for!(T);
    let props = schema.get("properties").and_then(Value::as_object);
    props.map(|p| p.keys().cloned().collect()).unwrap_or_default()
}

/// The name of an entry's op.
pub fn op_name(e: &BatchEntry) -> &'static str {
    match e {
        BatchEntry::Create(_) => "create",
        BatchEntry::Update(_) => "update",
        BatchEntry::Delete(_) => "delete",
        BatchEntry::DepAdd(_) => "dep_add",
        BatchEntry::DepRm(_) => "dep_rm",
        BatchEntry::GatePass(_) => "gate_pass",
        BatchEntry::GateFail(_) => "gate_fail",
        BatchEntry::BulkUpdate(_) => "bulk_update",
    }
}

/// The fields of an entry that name issues (where `@key` may stand).
fn refs_mut(e: &mut BatchEntry) -> Vec<&mut String> {
    match e {
        BatchEntry::Create(c) => c.issue.depends_on.iter_mut().collect(),
        BatchEntry::Update(u) => vec![&mut u.id],
        BatchEntry::Delete(d) => vec![&mut d.id],
        BatchEntry::DepAdd(d) | BatchEntry::DepRm(d) => {
            std::iter::once(&mut d.id).chain(d.deps.iter_mut()).collect()
        }
        BatchEntry::GatePass(g) | BatchEntry::GateFail(g) => vec![&mut g.id],
        BatchEntry::BulkUpdate(_) => Vec::new(),
    }
}

/// Every key well formed and defined once; every `@key` naming an earlier entry's key.
fn check_keys(entries: &mut [BatchEntry]) -> Result<()> {
    let mut defined: HashMap<String, usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if let BatchEntry::Create(c) = e
            && let Some(k) = &c.key
        {
            check_key(i, k)?;
            if let Some(first) = defined.insert(k.clone(), i) {
                return Err(invalid(
                    Some(i),
                    format!("key `{k}` is already the key of entry {first}"),
                ));
            }
        }
    }
    for (i, e) in entries.iter_mut().enumerate() {
        for r in refs_mut(e) {
            let Some(k) = r.strip_prefix('@') else { continue };
            match defined.get(k) {
                Some(&at) if at < i => {}
                Some(&at) => {
                    return Err(invalid(
                        Some(i),
                        format!(
                            "`@{k}` is the key of entry {at}, which comes later: an entry can \
                             name only issues created before it"
                        ),
                    ));
                }
                None => {
                    return Err(invalid(Some(i), format!("`@{k}` is not the key of any create")));
                }
            }
        }
    }
    Ok(())
}

fn check_key(i: usize, k: &str) -> Result<()> {
    let ok = !k.is_empty()
        && k.len() <= MAX_KEY
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if ok {
        return Ok(());
    }
    Err(invalid(
        Some(i),
        format!("invalid key {k:?}: 1 to {MAX_KEY} letters, digits, `_`, `-` or `.`"),
    ))
}

impl Repo {
    /// `jit batch`: apply `entries` (from [`parse`]) in one transaction and commit it once
    /// (op `batch`), or, with `dry_run`, drop it and reply what the commit would have.
    ///
    /// With an idempotency key (not for a dry run): a key that committed the same entries in
    /// the last 24 hours returns that reply and changes nothing; one that committed other
    /// entries is refused (`IDEMPOTENCY_KEY_REUSED`). The key store's lock is held from the
    /// lookup until the key is recorded, just after the commit; a crash between the two
    /// leaves the change committed and the key unrecorded, so a retry applies it again.
    pub fn batch(&self, batch: Batch, dry_run: bool) -> Result<BatchReply> {
        let key = batch.idempotency_key.as_ref().filter(|_| !dry_run);
        let keyed = match batch.claim_tokens.iter().all(Option::is_none) {
            true => self.keyed(key, "batch", &batch.entries),
            false => self.keyed(key, "batch", &(&batch.entries, &batch.claim_tokens)),
        };
        match self.begin_keyed(keyed.as_ref())? {
            Begun::Replay(reply) => Ok(reply),
            Begun::Fresh(tx) => apply_all(tx, batch, dry_run),
        }
    }
}

/// Apply every entry in `tx`, then commit (or, for a dry run, drop it).
fn apply_all(mut tx: Transaction, batch: Batch, dry_run: bool) -> Result<BatchReply> {
    let mut created: HashMap<String, IssueId> = HashMap::new();
    let mut outcomes = Vec::with_capacity(batch.entries.len());
    let command_token = tx.repo().claim_token();
    let tokens = batch.claim_tokens;
    for (i, mut entry) in batch.entries.into_iter().enumerate() {
        tx.present_claim_token(tokens[i].or(command_token));
        let op = op_name(&entry);
        for r in refs_mut(&mut entry) {
            if let Some(k) = r.strip_prefix('@') {
                *r = created[k].to_string(); // parse checked every key
            }
        }
        let fail = |e: Error| Error::BatchEntry { entry: i, op, source: Box::new(e) };
        let mut outcome = apply(&mut tx, &entry).map_err(fail)?;
        outcome.entry = i;
        if let (BatchEntry::Create(c), Some(id)) = (&entry, outcome.id) {
            outcome.key = c.key.clone();
            if let Some(k) = &c.key {
                created.insert(k.clone(), id);
            }
        }
        outcomes.push(outcome);
    }
    // What the commit will change is what it reports: the reply is whole before the commit,
    // which records it for an idempotency key.
    let issues = tx
        .pending()
        .into_iter()
        .map(|c| VersionChange { id: c.id, before: c.before, after: c.after })
        .collect();
    let reply = BatchReply { dry_run, entries: outcomes, issues };
    if !dry_run {
        tx.commit_reply("batch", &reply)?;
    }
    Ok(reply)
}

fn outcome(op: &str, id: Option<IssueId>, version: Option<u64>, changed: bool) -> EntryOutcome {
    EntryOutcome {
        entry: 0,
        op: op.to_string(),
        key: None,
        id,
        version,
        changed,
        issue_ids: None,
        errors: None,
        references_removed: None,
    }
}

/// Apply one entry through its operation.
fn apply(tx: &mut Transaction, entry: &BatchEntry) -> Result<EntryOutcome> {
    let op = op_name(entry);
    Ok(match entry {
        BatchEntry::Create(c) => {
            let issue = ops::create::apply(tx, &c.issue)?;
            outcome(op, Some(issue.id), Some(issue.version), true)
        }
        BatchEntry::Update(u) => {
            let done = ops::update::apply(tx, u)?;
            if let Some(refused) = done.refused {
                // Nothing commits, so the issue is not moved to `gated` either.
                return Err(ops::update::GatesRefused { moved_to: None, ..refused }.into());
            }
            outcome(op, Some(done.issue.id), Some(done.issue.version), done.changed)
        }
        BatchEntry::Delete(d) => {
            let done = ops::delete::apply(tx, d)?;
            for p in &done.unreadable {
                tx.repo().warn(&format!(
                    "{} could not be read as an issue, so was not checked for a reference to \
                     {}",
                    p.path.display(),
                    done.deleted
                ));
            }
            let mut o = outcome(op, Some(done.deleted), None, true);
            o.references_removed = Some(done.referrers);
            o
        }
        BatchEntry::DepAdd(d) | BatchEntry::DepRm(d) => {
            let done = match entry {
                BatchEntry::DepAdd(_) => ops::dep_add::apply(tx, d)?,
                _ => ops::dep_rm::apply(tx, d)?,
            };
            outcome(op, Some(done.issue.id), Some(done.issue.version), !done.changed.is_empty())
        }
        BatchEntry::GatePass(g) | BatchEntry::GateFail(g) => {
            let status = match entry {
                BatchEntry::GatePass(_) => GateStatus::Passed,
                _ => GateStatus::Failed,
            };
            let req = GateDecide {
                id: g.id.clone(),
                gate: g.gate.clone(),
                status,
                by: g.by.clone(),
                note: g.note.clone(),
            };
            let issue = ops::gate_decide::apply(tx, &req)?;
            outcome(op, Some(issue.id), Some(issue.version), true)
        }
        BatchEntry::BulkUpdate(b) => {
            let report = ops::bulk_update::apply(tx, b)?;
            let mut o = outcome(op, None, None, report.modified > 0);
            o.issue_ids = Some(report.issue_ids);
            let errors = report.errors.into_iter().map(|f| BatchBulkFailure {
                id: f.id,
                code: f.code,
                message: f.message,
            });
            o.errors = Some(errors.collect());
            o
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(input: &str) -> Error {
        parse(input.as_bytes()).expect_err(input)
    }

    #[test]
    fn entries_parse_into_the_operations_requests() {
        let input = r#"[{"op":"create","key":"a","title":"A","labels":["x:y"],"priority":"high"},
            {"op":"update","id":"@a","if_version":1,"state":"ready","add_labels":["x:z"]},
            {"op":"dep_add","id":"@a","depends_on":["01j9"]}]"#;
        let got = parse(input.as_bytes()).unwrap().entries;
        assert_eq!(got.len(), 3);
        let BatchEntry::Update(u) = &got[1] else { panic!("{got:?}") };
        assert_eq!((u.id.as_str(), u.if_version), ("@a", Some(1)));
        let BatchEntry::DepAdd(d) = &got[2] else { panic!("{got:?}") };
        assert_eq!(d.deps, vec!["01j9".to_string()]);
    }

    #[test]
    fn bad_entries_are_refused_with_their_index() {
        let cases = [
            (r#"[{"op":"create","title":"a","colour":"red"}]"#, "unknown field `colour`"),
            (r#"[{"op":"update","id":"01j9","titel":"x"}]"#, "unknown field `titel`"),
            (r#"[{"op":"creat","title":"a"}]"#, "did you mean `create`?"),
            (r#"[{"title":"a"}]"#, "no `op`"),
            (r#"[{"op":"update","id":"@b"}]"#, "`@b` is not the key"),
            (r#"[{"op":"update","id":"@b"},{"op":"create","key":"b","title":"b"}]"#, "later"),
            (
                r#"[{"op":"create","key":"b","title":"b"},{"op":"create","key":"b","title":"c"}]"#,
                "already the key of entry 0",
            ),
            (r#"[{"op":"create","key":"a b","title":"b"}]"#, "invalid key"),
            (r#"[{"op":"bulk_update","filter":"state:ready","dry_run":true}]"#, "--dry-run"),
        ];
        for (input, want) in cases {
            let e = err(input);
            assert_eq!(e.code(), "BATCH_INVALID", "{input}");
            assert!(e.to_string().contains(want), "{input}: {e}");
            assert!(e.details()["entry"].is_number(), "{input}");
        }
        assert_eq!(err("{}").code(), "BATCH_INVALID");
        assert_eq!(err(r#"{"entries":[],"extra":1}"#).code(), "BATCH_INVALID");
        let e = err(r#"{"entries":[],"idempotency_key":"a b"}"#);
        assert_eq!(e.code(), "INVALID_IDEMPOTENCY_KEY");
        let keyed = parse(br#"{"entries":[],"idempotency_key":"k1"}"#).unwrap();
        assert_eq!(keyed.idempotency_key.as_ref().map(IdempotencyKey::as_str), Some("k1"));
        assert_eq!(err("[").code(), "BATCH_INVALID");
        let many =
            format!("[{}]", vec![r#"{"op":"delete","id":"01j9"}"#; MAX_ENTRIES + 1].join(","));
        assert_eq!(err(&many).code(), "BATCH_TOO_LARGE");
    }
}
