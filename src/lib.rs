//! jit: a repository-local issue tracker for teams of AI agents and the people who steer them.
//!
//! The library does no terminal I/O: every operation returns a typed result or an [`Error`];
//! the `cli` module renders them.
#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod clock;
pub mod error;
pub mod graph;
pub mod mcp;
pub mod model;
pub mod query;
pub mod repo;
pub mod rules;
pub mod storage;

pub use error::{Error, Result};
