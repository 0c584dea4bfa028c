//! Exit codes fixed by the design (see `docs/errors.md`). Only the command-line layer has
//! them: the library's errors carry machine codes ([`crate::Error::code`]), and
//! `error_map` turns each into its exit code.

pub const OK: u8 = 0;
pub const USER: u8 = 1;
pub const USAGE: u8 = 2;
pub const NOT_FOUND: u8 = 3;
pub const CONFLICT: u8 = 4;
pub const NO_ISSUE: u8 = 5;
pub const INVALID_REPO: u8 = 6;
pub const IO: u8 = 74;
pub const LOCK_TIMEOUT: u8 = 75;
