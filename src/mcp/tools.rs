//! The tools `jit mcp` serves: for each, its name, description, input schema (from the
//! contract's request type), annotations, and the call, which parses the arguments into that
//! request, runs the same `Repo` method as the CLI and returns the same JSON as `--json`.

use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use schemars::{JsonSchema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::api::{self, ErrorBody, ErrorResponse};
use crate::error::{Error, Result};
use crate::model::GateStatus;
use crate::query::EvalCtx;
use crate::repo::Repo;
use crate::repo::idempotent::IdempotencyKey;
use crate::repo::read::{self, Projected, Selection};

/// The number of issues `query` returns when the call gives no `limit` (an agent's context
/// is small); a cut result says so.
pub const DEFAULT_LIMIT: usize = 100;

/// What the tool does to the repository, for its annotations.
#[derive(Clone, Copy)]
enum Kind {
    Read,
    /// Writes: whether it may overwrite or remove (not only add), and whether calling it
    /// again with the same arguments changes nothing more.
    Write {
        destructive: bool,
        idempotent: bool,
    },
}

struct Def {
    name: &'static str,
    description: &'static str,
    kind: Kind,
    schema: fn(&mut SchemaGenerator) -> Value,
    /// Extra arguments beyond the request type (`claim_token`), with their schema.
    extra: &'static [(&'static str, &'static str)],
    call: fn(&mut Repo, Value, Key) -> Result<Value>,
}

/// The idempotency key of a write call, if it gave one (see [`takes_key`]).
type Key<'a> = Option<&'a IdempotencyKey>;

fn of<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    g.root_schema_for::<T>().to_value()
}

const TOKEN: (&str, &str) =
    ("claim_token", "The fencing token of your claim: refused if the issue was claimed again.");

const DEFS: &[Def] = &[
    Def {
        name: "query",
        description: "Find issues. `filter` is jit's query language, e.g. `state:ready \
                      priority>=high label:area:*`, `is:ready`, `assignee:none`, `\"free text\"`; \
                      `fields` picks keys, `sort` is FIELD[:desc]. At most `limit` (default 100) \
                      are returned; a cut result says `truncated`.",
        kind: Kind::Read,
        schema: of::<api::ListRequest>,
        extra: &[],
        call: query,
    },
    Def {
        name: "show",
        description: "Issues by id or unique prefix (4+ characters), whole.",
        kind: Kind::Read,
        schema: of::<api::ShowRequest>,
        extra: &[],
        call: show,
    },
    Def {
        name: "create",
        description: "Create an issue; returns it with its id.",
        kind: Kind::Write { destructive: false, idempotent: false },
        schema: of::<api::CreateIssue>,
        extra: &[],
        call: create,
    },
    Def {
        name: "update",
        description: "Change fields of one issue. `if_version` makes it a compare-and-swap.",
        kind: Kind::Write { destructive: true, idempotent: true },
        schema: of::<api::UpdateIssue>,
        extra: &[TOKEN],
        call: update,
    },
    Def {
        name: "bulk_update",
        description: "Apply the same changes to every issue a filter matches, all or nothing; \
                      `dry_run` only reports.",
        kind: Kind::Write { destructive: true, idempotent: false },
        schema: of::<api::BulkUpdate>,
        extra: &[],
        call: bulk_update,
    },
    Def {
        name: "batch",
        description: "Several operations as one all-or-nothing change (`jit schema batch`); \
                      `@key` names an issue an earlier `create` entry made.",
        kind: Kind::Write { destructive: true, idempotent: false },
        schema: batch_schema,
        extra: &[],
        call: batch,
    },
    Def {
        name: "claim",
        description: "Take the best ready issue (or `id`) for `agent`, with a lease and a \
                      fencing token. None available: `NO_ISSUE_AVAILABLE`, not an error.",
        kind: Kind::Write { destructive: true, idempotent: false },
        schema: of::<api::ClaimRequest>,
        extra: &[],
        call: claim,
    },
    Def {
        name: "release",
        description: "Give a claimed issue back (state ready unless `state`).",
        kind: Kind::Write { destructive: true, idempotent: false },
        schema: of::<api::ReleaseRequest>,
        extra: &[],
        call: release,
    },
    Def {
        name: "renew",
        description: "Extend the lease of a claim.",
        kind: Kind::Write { destructive: false, idempotent: true },
        schema: of::<api::RenewRequest>,
        extra: &[],
        call: renew,
    },
    Def {
        name: "dep_add",
        description: "Make `id` depend on each of `deps` (refused if it would make a cycle).",
        kind: Kind::Write { destructive: false, idempotent: true },
        schema: of::<api::DepEdit>,
        extra: &[],
        call: dep_add,
    },
    Def {
        name: "dep_rm",
        description: "Remove dependencies of `id`.",
        kind: Kind::Write { destructive: true, idempotent: true },
        schema: of::<api::DepEdit>,
        extra: &[],
        call: dep_rm,
    },
    Def {
        name: "gate_pass",
        description: "Record a manual gate of an issue as passed.",
        kind: Kind::Write { destructive: true, idempotent: false },
        schema: of::<api::batch::GateVerdict>,
        extra: &[],
        call: gate_pass,
    },
    Def {
        name: "gate_fail",
        description: "Record a manual gate of an issue as failed.",
        kind: Kind::Write { destructive: true, idempotent: false },
        schema: of::<api::batch::GateVerdict>,
        extra: &[],
        call: gate_fail,
    },
    Def {
        name: "ready",
        description: "Issues ready to work on, best first.",
        kind: Kind::Read,
        schema: of::<api::ReadyRequest>,
        extra: &[],
        call: ready,
    },
    Def {
        name: "status",
        description: "Counts by state, live claims and leases, stuck work.",
        kind: Kind::Read,
        schema: of::<api::schema::NoRequest>,
        extra: &[],
        call: status,
    },
    Def {
        name: "validate",
        description: "Check the whole repository; the findings (nothing is changed).",
        kind: Kind::Read,
        schema: of::<api::schema::NoRequest>,
        extra: &[],
        call: validate,
    },
];

/// The argument every tool takes besides its request.
const TIMEOUT: (&str, &str) =
    ("timeout_ms", "Abandon the call (before it changes anything) after this many ms.");

/// The argument every write tool takes (but `batch`, whose request has it, and `renew`,
/// which only moves a lease's expiry: a retry does no more than the first call did).
const KEY: (&str, &str) =
    ("idempotency_key", "Retry key (24 h): a repeat returns the first result, changes nothing.");

/// Whether tool `d` takes [`KEY`]; its call then runs through `Repo::keyed` as the CLI's
/// `--idempotency-key` does.
fn takes_key(d: &Def) -> bool {
    matches!(d.kind, Kind::Write { .. }) && !matches!(d.name, "batch" | "renew")
}

/// Every tool, as `tools/list` describes it.
pub fn list() -> Vec<Tool> {
    // A generator per tool: one shared would give every schema the `$defs` of all before it.
    let generator = || schemars::generate::SchemaSettings::draft2020_12().into_generator();
    DEFS.iter().map(|d| tool(d, &mut generator())).collect()
}

fn tool(d: &Def, g: &mut SchemaGenerator) -> Tool {
    let mut schema = match (d.schema)(g) {
        Value::Object(m) => m,
        _ => JsonObject::new(),
    };
    schema.remove("$schema");
    schema.remove("title");
    schema.insert("type".into(), json!("object"));
    let props = schema.entry("properties").or_insert_with(|| json!({}));
    if let Value::Object(props) = props {
        for (name, about) in d.extra.iter().chain([&TIMEOUT]) {
            props.insert(
                (*name).into(),
                json!({"type": "integer", "minimum": 0, "description": about}),
            );
        }
        if takes_key(d) {
            props.insert(KEY.0.into(), json!({"type": "string", "description": KEY.1}));
        }
    }
    let annotations = match d.kind {
        Kind::Read => ToolAnnotations::new().read_only(true).open_world(false),
        Kind::Write { destructive, idempotent } => ToolAnnotations::new()
            .read_only(false)
            .destructive(destructive)
            .idempotent(idempotent)
            .open_world(false),
    };
    Tool::new(d.name, d.description, Arc::new(schema)).with_annotations(annotations)
}

/// Whether `name` is a tool.
pub fn exists(name: &str) -> bool {
    DEFS.iter().any(|d| d.name == name)
}

/// Run tool `name` (which [`exists`]) with `args`: its result, or its error as a tool error
/// whose structured content is the `--json` error body.
pub fn call(repo: &mut Repo, name: &str, mut args: JsonObject) -> CallToolResult {
    let def = DEFS.iter().find(|d| d.name == name).expect("checked by the caller");
    if let Err(e) = known_arguments(def, &args) {
        return error_result(&e);
    }
    let timeout = match take_u64(&mut args, "timeout_ms") {
        Ok(t) => t,
        Err(e) => return error_result(&e),
    };
    let key = match take_key(def, &mut args) {
        Ok(k) => k,
        Err(e) => return error_result(&e),
    };
    repo.set_deadline(timeout);
    let done = (def.call)(repo, Value::Object(args), key.as_ref());
    repo.set_deadline(None);
    repo.set_claim_token(None);
    match done {
        Ok(v) => success(v),
        Err(Error::NoIssueAvailable { .. }) if name == "claim" => {
            // Not a failure of the tool: the answer `claim --json` prints, as a result.
            let Err(e) = done else { unreachable!() };
            let mut r = success(error_json(&e));
            r.is_error = Some(false);
            r
        }
        Err(e) => error_result(&e),
    }
}

/// Refuse an argument the tool's schema does not name (serde ignores unknown keys of a
/// request with flattened fields, so a misplaced `changes: {...}` would change nothing).
fn known_arguments(def: &Def, args: &JsonObject) -> Result<()> {
    let props = argument_names(def);
    match args.keys().find(|k| !props.contains(k)) {
        None => Ok(()),
        Some(k) => {
            let known: Vec<&str> = props.iter().map(String::as_str).collect();
            Err(Error::InvalidArgument(format!(
                "unknown argument `{k}` of `{}`; it takes: {}",
                def.name,
                known.join(", ")
            )))
        }
    }
}

/// The arguments tool `def`'s schema names, made once per process (generating the schema
/// is the dearest part of a small call).
fn argument_names(def: &Def) -> &'static [String] {
    static NAMES: std::sync::OnceLock<Vec<Vec<String>>> = std::sync::OnceLock::new();
    let all = NAMES.get_or_init(|| {
        let names =
            |d: &Def| match tool(d, &mut SchemaGenerator::default()).input_schema.get("properties")
            {
                Some(Value::Object(props)) => props.keys().cloned().collect(),
                _ => Vec::new(),
            };
        DEFS.iter().map(names).collect()
    });
    let i = DEFS.iter().position(|d| d.name == def.name).expect("a tool of DEFS");
    &all[i]
}

/// A result: the JSON as text (exactly what `--json` prints), and as structured content
/// (an object: arrays are given as `{"items": [...]}`).
fn success(v: Value) -> CallToolResult {
    let text = v.to_string();
    let structured = match v {
        Value::Object(_) => v,
        other => json!({ "items": other }),
    };
    let mut r = CallToolResult::structured(structured);
    r.content = vec![ContentBlock::text(text)];
    r
}

/// The `--json` error body of `e`: `{"error": {"code", "message", "hint", ...}}`.
pub fn error_json(e: &Error) -> Value {
    let body = ErrorBody {
        code: e.code().to_string(),
        message: e.to_string(),
        hint: crate::cli::error_map::hint(e),
        details: e.details(),
    };
    serde_json::to_value(ErrorResponse { error: body }).expect("an error body serialises")
}

pub fn error_result(e: &Error) -> CallToolResult {
    CallToolResult::structured_error(error_json(e))
}

fn take_u64(args: &mut JsonObject, key: &str) -> Result<Option<u64>> {
    match args.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            Error::InvalidArgument(format!("`{key}` must be a whole number of 0 or more, got {v}"))
        }),
    }
}

/// The call's `idempotency_key`, if the tool takes one and it was given (a string that
/// `IdempotencyKey::parse` accepts, else `INVALID_IDEMPOTENCY_KEY`).
fn take_key(def: &Def, args: &mut JsonObject) -> Result<Option<IdempotencyKey>> {
    if !takes_key(def) {
        return Ok(None);
    }
    match args.remove(KEY.0) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(k)) => IdempotencyKey::parse(&k).map(Some),
        Some(v) => Err(Error::InvalidArgument(format!("`{}` must be a string, got {v}", KEY.0))),
    }
}

/// The arguments as request `T`, or `INVALID_ARGUMENT` naming what is wrong.
fn parse<T: DeserializeOwned>(args: Value) -> Result<T> {
    serde_json::from_value(args).map_err(|e| Error::InvalidArgument(format!("arguments: {e}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value> {
    Ok(serde_json::to_value(v).expect("responses serialise"))
}

fn query(repo: &mut Repo, args: Value, _key: Key) -> Result<Value> {
    let req: api::ListRequest = parse(args)?;
    let limit = req.limit.unwrap_or(DEFAULT_LIMIT);
    // One more than asked for tells whether the limit cut the result.
    let probe = api::ListRequest { limit: Some(limit.saturating_add(1)), ..req.clone() };
    let sel = Selection::new(&probe)?;
    let snap = repo.snapshot()?;
    let view = repo.graph_view(&snap);
    let eval = EvalCtx::new(repo.clock().now(), Some(&view));
    let mut entries = sel.run(&snap, &eval);
    if sel.count {
        return to_json(&api::CountResponse { count: entries.len() });
    }
    let truncated = entries.len() > limit;
    entries.truncate(limit);
    let jsons = snap.json_of(&entries)?;
    let items: Vec<Value> = if sel.fields.is_empty() {
        jsons
            .iter()
            .map(|j| serde_json::from_slice(j).map_err(bad_index_json))
            .collect::<Result<_>>()?
    } else {
        jsons
            .iter()
            .map(|j| Ok(serde_json::to_value(Projected::new(j, &sel.fields)?).expect("json")))
            .collect::<Result<_>>()?
    };
    snap.repair();
    if !truncated {
        return Ok(Value::Array(items));
    }
    let note = format!(
        "truncated: the first {limit} matching issues; more match (raise `limit`, or narrow \
         the filter)"
    );
    Ok(json!({ "items": items, "truncated": true, "limit": limit, "note": note }))
}

fn bad_index_json(e: serde_json::Error) -> Error {
    Error::InvalidArgument(format!("index JSON does not parse: {e}"))
}

fn show(repo: &mut Repo, args: Value, _key: Key) -> Result<Value> {
    let req: api::ShowRequest = parse(args)?;
    if req.ids.is_empty() {
        return Err(Error::InvalidArgument("`ids`: give at least one id".into()));
    }
    let issues = read::show(repo, &req)?;
    match issues.as_slice() {
        [one] => to_json(one),
        many => to_json(&many),
    }
}

fn create(repo: &mut Repo, args: Value, key: Key) -> Result<Value> {
    let req: api::CreateIssue = parse(args)?;
    to_json(&repo.create_issue(&req, key)?)
}

fn update(repo: &mut Repo, args: Value, key: Key) -> Result<Value> {
    let mut args = object(args);
    let token = take_u64(&mut args, "claim_token")?;
    let req: api::UpdateIssue = parse(Value::Object(args))?;
    repo.set_claim_token(token);
    let done = repo.update_issue(&req, key)?;
    match done.refused {
        Some(e) => Err(e.into()),
        None => to_json(&done.issue),
    }
}

fn object(v: Value) -> JsonObject {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn bulk_update(repo: &mut Repo, args: Value, key: Key) -> Result<Value> {
    let req: api::BulkUpdate = parse(args)?;
    to_json(&repo.bulk(&req, key)?)
}

/// `batch`: the entries are the requests of the single tools, each with its `op`; their
/// whole schema (`jit schema batch`) would be most of `tools/list`, so only `op` is spelled
/// out and the server checks every entry against its request type.
fn batch_schema(_: &mut SchemaGenerator) -> Value {
    let ops = [
        "create",
        "update",
        "delete",
        "dep_add",
        "dep_rm",
        "gate_pass",
        "gate_fail",
        "bulk_update",
    ];
    json!({
        "type": "object",
        "properties": {
            "entries": {
                "type": "array",
                "description": "Each entry: `op` and the arguments of the tool of that name \
                                (`delete`: `id`); a `create` may add `key`, named `@key` by \
                                later entries.",
                "items": {
                    "type": "object",
                    "properties": {"op": {"enum": ops}, "key": {"type": "string"}},
                    "required": ["op"]
                }
            },
            "idempotency_key": {"type": "string", "description": KEY.1},
            "dry_run": {"type": "boolean", "description": "Only say what would change."}
        },
        "required": ["entries"]
    })
}

fn batch(repo: &mut Repo, args: Value, _key: Key) -> Result<Value> {
    let mut args = object(args);
    let dry_run = match args.remove("dry_run") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(v) => {
            return Err(Error::InvalidArgument(format!(
                "`dry_run` must be true or false, got {v}"
            )));
        }
    };
    let input = serde_json::to_vec(&Value::Object(args)).expect("json");
    let parsed = crate::repo::batch::parse(&input)?;
    to_json(&repo.batch(parsed, dry_run)?)
}

fn claim(repo: &mut Repo, args: Value, key: Key) -> Result<Value> {
    let req: api::ClaimRequest = parse(args)?;
    to_json(&repo.claim(&req, key)?)
}

fn release(repo: &mut Repo, args: Value, key: Key) -> Result<Value> {
    let req: api::ReleaseRequest = parse(args)?;
    let done = repo.release(&req, key)?;
    match done.refused {
        Some(e) => Err(e.into()),
        None => to_json(&done.issue),
    }
}

fn renew(repo: &mut Repo, args: Value, _key: Key) -> Result<Value> {
    let req: api::RenewRequest = parse(args)?;
    to_json(&repo.renew(&req)?)
}

fn dep_add(repo: &mut Repo, args: Value, key: Key) -> Result<Value> {
    let req: api::DepEdit = parse(args)?;
    to_json(&repo.dep_add(&req, key)?.issue)
}

fn dep_rm(repo: &mut Repo, args: Value, key: Key) -> Result<Value> {
    let req: api::DepEdit = parse(args)?;
    to_json(&repo.dep_rm(&req, key)?.issue)
}

fn gate_decide(repo: &mut Repo, args: Value, status: GateStatus, key: Key) -> Result<Value> {
    let v: api::batch::GateVerdict = parse(args)?;
    let req = api::GateDecide { id: v.id, gate: v.gate, status, by: v.by, note: v.note };
    to_json(&repo.gate_decide(&req, key)?)
}

fn gate_pass(repo: &mut Repo, args: Value, key: Key) -> Result<Value> {
    gate_decide(repo, args, GateStatus::Passed, key)
}

fn gate_fail(repo: &mut Repo, args: Value, key: Key) -> Result<Value> {
    gate_decide(repo, args, GateStatus::Failed, key)
}

fn ready(repo: &mut Repo, args: Value, _key: Key) -> Result<Value> {
    let req: api::ReadyRequest = parse(args)?;
    let snap = repo.snapshot()?;
    let view = repo.graph_view(&snap);
    let found = read::ready(&view, &req);
    let jsons = snap.json_of(&found)?;
    let items: Vec<Value> = jsons
        .iter()
        .map(|j| serde_json::from_slice(j).map_err(bad_index_json))
        .collect::<Result<_>>()?;
    Ok(Value::Array(items))
}

fn status(repo: &mut Repo, args: Value, _key: Key) -> Result<Value> {
    let _: api::schema::NoRequest = parse(args)?;
    let snap = repo.snapshot()?;
    to_json(&repo.status(&snap)?)
}

fn validate(repo: &mut Repo, args: Value, _key: Key) -> Result<Value> {
    let _: api::schema::NoRequest = parse(args)?;
    let opts = crate::repo::validate::ValidateOptions::default();
    to_json(&repo.validate(&opts, &|_, _| {})?)
}
