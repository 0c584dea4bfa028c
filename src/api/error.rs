//! The error body every front end reports: `{"error": {"code", "message", "hint", ...}}`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What `--json` prints on stdout when a command fails.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

/// One failure: its stable machine code (`docs/errors.md`), a sentence, what to do next, and
/// the fields that code documents (`id`, `path`, `candidates`, `position`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub hint: Option<String>,
    #[serde(flatten)]
    pub details: Map<String, Value>,
}
