//! The filter language: `grammar/filter.pest` parsed by a private pest parser into a typed,
//! spanned AST ([`ast`]), checked field by field (`parser`), and evaluated separately
//! ([`eval`]) against the index summaries.

pub mod ast;
mod chars;
pub mod date;
mod error;
pub mod eval;
mod parser;
mod pattern;
pub mod select;

pub use ast::{CmpOp, DateField, DateValue, Expr, HasWhat, IsPred, Term, TermKind};
pub use error::{FilterError, FilterErrorKind};
pub use eval::EvalCtx;
pub use parser::{MAX_DEPTH, MAX_LEN, parse};
pub use pattern::Pattern;

#[cfg(test)]
mod tests;
