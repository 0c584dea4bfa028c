//! Issue states with their transition table, and priorities.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Where an issue is in its life. See `docs/guide.md` for the transition table.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Backlog,
    Ready,
    InProgress,
    Gated,
    Done,
    Rejected,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Backlog,
        State::Ready,
        State::InProgress,
        State::Gated,
        State::Done,
        State::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Backlog => "backlog",
            State::Ready => "ready",
            State::InProgress => "in_progress",
            State::Gated => "gated",
            State::Done => "done",
            State::Rejected => "rejected",
        }
    }

    /// Closed states set `closed_at`.
    pub fn is_closed(self) -> bool {
        matches!(self, State::Done | State::Rejected)
    }

    /// The states an issue in `self` may move to.
    pub fn allowed_targets(self) -> &'static [State] {
        use State::*;
        match self {
            Backlog => &[Ready, InProgress, Rejected],
            Ready => &[Backlog, InProgress, Rejected],
            InProgress => &[Backlog, Ready, Gated, Done, Rejected],
            Gated => &[InProgress, Done, Rejected],
            Done => &[Backlog, Ready, InProgress],
            Rejected => &[Backlog, Ready],
        }
    }

    pub fn can_move_to(self, to: State) -> bool {
        self == to || self.allowed_targets().contains(&to)
    }

    pub fn to_u8(self) -> u8 {
        self as u8
    }

    pub fn from_u8(v: u8) -> Option<State> {
        State::ALL.get(v as usize).copied()
    }
}

/// How urgent an issue is; ordered low < normal < high < critical.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Normal,
    High,
    Critical,
}

impl Priority {
    pub const ALL: [Priority; 4] =
        [Priority::Low, Priority::Normal, Priority::High, Priority::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }

    pub fn to_u8(self) -> u8 {
        self as u8
    }

    pub fn from_u8(v: u8) -> Option<Priority> {
        Priority::ALL.get(v as usize).copied()
    }
}

fn parse_named<T: Copy>(
    what: &'static str,
    input: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, Error> {
    let norm = input.trim().to_ascii_lowercase().replace('-', "_");
    all.iter().copied().find(|v| name(*v) == norm).ok_or_else(|| Error::InvalidValue {
        what,
        value: input.to_string(),
        allowed: all.iter().map(|v| name(*v).to_string()).collect(),
        suggestion: super::suggest(&norm, all.iter().map(|v| name(*v))),
    })
}

impl FromStr for State {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        parse_named("state", s, &State::ALL, State::as_str)
    }
}

impl FromStr for Priority {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        parse_named("priority", s, &Priority::ALL, Priority::as_str)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_suggests() {
        assert_eq!("in-progress".parse::<State>().unwrap(), State::InProgress);
        assert_eq!("HIGH".parse::<Priority>().unwrap(), Priority::High);
        match "redy".parse::<State>() {
            Err(Error::InvalidValue { suggestion, .. }) => assert_eq!(suggestion.unwrap(), "ready"),
            other => panic!("unexpected {other:?}"),
        }
        assert!("urgent".parse::<Priority>().is_err());
    }

    #[test]
    fn transition_table() {
        assert!(State::Backlog.can_move_to(State::Ready));
        assert!(!State::Backlog.can_move_to(State::Done));
        assert!(State::InProgress.can_move_to(State::Done));
        assert!(State::Done.can_move_to(State::Done), "staying put is always allowed");
        assert!(!State::Rejected.can_move_to(State::Done));
        for s in State::ALL {
            assert_eq!(State::from_u8(s.to_u8()), Some(s));
            assert!(!s.allowed_targets().contains(&s));
        }
        assert!(Priority::Low < Priority::Critical);
    }
}
