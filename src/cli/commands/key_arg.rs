//! `--idempotency-key`, which every write command takes.

use crate::cli::CliError;
use crate::repo::IdempotencyKey;

/// The flag, flattened into a write command's arguments.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KeyArg {
    /// A retry with this key (within 24 hours) prints the first result and changes nothing;
    /// the same key with another request is refused (IDEMPOTENCY_KEY_REUSED, exit 4)
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

impl KeyArg {
    /// The key, checked (`INVALID_IDEMPOTENCY_KEY`) before anything is opened.
    pub fn parse(&self) -> Result<Option<IdempotencyKey>, CliError> {
        Ok(self.idempotency_key.as_deref().map(IdempotencyKey::parse).transpose()?)
    }
}
