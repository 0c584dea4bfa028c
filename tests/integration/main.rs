//! Integration tests: they drive the real `jit` binary in temporary repositories.

mod common;

mod cli_basics;
