//! Integration tests: they drive the real `jit` binary in temporary repositories.

mod common;

mod claim_run;
mod claims;
mod cli_basics;
mod disk;
mod errors;

mod concurrency;
mod crash;
mod crash_states;
mod failpoints;
mod fairness;
mod index;
mod journal;
mod query;

mod discovery;
mod docs;
mod events;
mod fixtures;
mod gates;
mod git;
mod graph;
mod hard_edges;
mod transaction;
mod trust;

mod contract;
mod fix;
mod validate;

mod agents;
mod batch;
mod idempotency;
mod mcp;
mod serve;
mod stress;
