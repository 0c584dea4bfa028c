//! What `jit serve --status` and `jit serve --stop` answer under `--json`.

use serde::Serialize;

pub use crate::storage::serve::ServeInfo;

/// `jit serve --status`: the running daemon (exit 0), or `SERVE_NOT_RUNNING` (exit 3).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ServeStatus {
    pub running: bool,
    /// Whether it runs this build of jit (commands are served only by a daemon that does).
    pub same_build: bool,
    #[serde(flatten)]
    pub info: ServeInfo,
}

/// `jit serve --stop`: the daemon stopped, or none was running (exit 0 either way).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ServeStopped {
    pub stopped: bool,
    /// The pid of the daemon that stopped.
    pub pid: Option<u32>,
}
