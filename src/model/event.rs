//! Events: one record per committed operation (who, what, when, how long), as stored one JSON
//! line each in `.jit/events/`. Pure data; storage and reading are in `storage::events`.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::IssueId;
use crate::error::{Error, Result};

/// An event's id: a ULID like an issue id (48-bit milliseconds, 80 random bits), so events
/// written on different machines or branches never collide, and a line that a union merge
/// has doubled can be recognised and shown once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub IssueId);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One issue an operation touched, with its version before and after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventIssue {
    pub id: IssueId,
    /// `None` when the operation created the issue.
    pub before: Option<u64>,
    /// `None` when the operation deleted the issue.
    pub after: Option<u64>,
    /// Fields a newer jit wrote, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One committed operation. Field order is the key order on disk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    /// When the operation committed, written like issue timestamps (six fraction digits, UTC).
    #[serde(with = "super::time")]
    pub at: Timestamp,
    /// Who did it: `--actor`, `JIT_ACTOR`, else the user name.
    pub actor: String,
    /// The operation: `create`, `update`, `delete`, `bulk_update`, `dep_add`, `gate_pass`, …
    /// A string, so that a new operation needs no change of format.
    pub op: String,
    /// Every issue the operation changed (a bulk update lists all of them in one event).
    pub issues: Vec<EventIssue>,
    /// From the start of the transaction to its commit, lock wait included.
    pub duration_ms: u64,
    /// How long the transaction waited for the writers' lock.
    pub lock_wait_ms: u64,
    /// Shared by the events of one grouped change (e.g. the entries of a batch), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The command words, as `lock.info` has them (`jit issue update 01jx`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Fields a newer jit wrote, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Event {
    /// A new event of `op` by `actor` committed `at`, its id made of `at` and `random` (80
    /// bits are used), with no issues yet.
    pub fn new(at: Timestamp, random: u128, actor: &str, op: &str) -> Event {
        let ms = u64::try_from(at.as_millisecond()).unwrap_or(0);
        Event {
            id: EventId(IssueId::from_parts(ms, random)),
            at,
            actor: actor.to_string(),
            op: op.to_string(),
            issues: Vec::new(),
            duration_ms: 0,
            lock_wait_ms: 0,
            group: None,
            command: None,
            extra: Map::new(),
        }
    }

    /// Record that the operation took `id` from version `before` to `after`.
    pub fn touch(&mut self, id: IssueId, before: Option<u64>, after: Option<u64>) {
        self.issues.push(EventIssue { id, before, after, extra: Map::new() });
    }

    /// The event as one line of a log: compact JSON and a line feed.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).expect("an event serialises");
        line.push(b'\n');
        line
    }

    /// Parse one line of a log (without its line feed).
    pub fn from_line(line: &[u8]) -> std::result::Result<Event, serde_json::Error> {
        serde_json::from_slice(line)
    }
}

/// Check an actor name: the rules of an assignee (1 to 128 bytes, no whitespace or control
/// characters, not `none` or `-`), said as an actor.
pub fn validate_actor(name: &str) -> Result<()> {
    super::validate_assignee(name).map_err(|_| {
        Error::InvalidArgument(format!(
            "invalid actor `{name}`: 1 to 128 bytes without spaces or control characters, \
             and not `none` or `-`"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        let mut e = Event::new("2026-03-02T09:05:00.5Z".parse().unwrap(), 1, "alice", "update");
        e.id = EventId("01kjpwf170qz44c40bzgf4563v".parse().unwrap());
        e.touch("01kjpwf170qz44c40bzgf4563w".parse().unwrap(), Some(3), Some(4));
        e.duration_ms = 7;
        e.lock_wait_ms = 1;
        e
    }

    #[test]
    fn a_line_has_a_stable_key_order_and_one_timestamp_width() {
        let line = String::from_utf8(sample().to_line()).unwrap();
        assert_eq!(
            line,
            "{\"id\":\"01kjpwf170qz44c40bzgf4563v\",\"at\":\"2026-03-02T09:05:00.500000Z\",\
             \"actor\":\"alice\",\"op\":\"update\",\"issues\":[{\"id\":\
             \"01kjpwf170qz44c40bzgf4563w\",\"before\":3,\"after\":4}],\"duration_ms\":7,\
             \"lock_wait_ms\":1}\n"
        );
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["future"] = serde_json::json!({"x": 1});
        v["issues"][0]["why"] = "merge".into();
        v["group"] = "01kjpwf170qz44c40bzgf4563x".into();
        let e: Event = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(e.group.as_deref(), Some("01kjpwf170qz44c40bzgf4563x"));
        assert_eq!(serde_json::to_value(&e).unwrap(), v);
        let line = e.to_line();
        assert_eq!(Event::from_line(&line[..line.len() - 1]).unwrap(), e);
    }

    #[test]
    fn new_events_get_distinct_time_ordered_ids() {
        let clock = crate::clock::Clock::system();
        let a = Event::new(clock.now(), clock.rng().next_u128(), "a", "create");
        let b = Event::new(clock.now(), clock.rng().next_u128(), "a", "create");
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.0.as_u128() >> 80, a.at.as_millisecond() as u128);
    }

    #[test]
    fn actors_follow_the_assignee_rules() {
        for ok in ["alice", "agent:claude-1", "uid:1000"] {
            assert!(validate_actor(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "none", "-", "x\u{1b}"] {
            let e = validate_actor(bad).unwrap_err();
            assert_eq!(e.code(), "INVALID_ARGUMENT");
            assert!(e.to_string().starts_with("invalid actor"), "{e}");
        }
    }
}
