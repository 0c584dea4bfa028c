//! `jit mcp`

use super::Ctx;
use crate::cli::CliError;
use crate::cli::exit;

/// Serve the Model Context Protocol on stdin/stdout, for agents
///
/// A long-running server for one agent session: the repository is opened once and its
/// index kept warm in memory, fresh after any change by other processes, git or editors.
/// Its tools are jit's operations (query, show, create, update, claim, ...) with the same
/// requests, JSON results and error codes as the CLI. `docs/mcp.md` shows how to register it
/// with an MCP client.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example (a client's config):\n  \
    {\"mcpServers\": {\"jit\": {\"command\": \"jit\", \"args\": [\"mcp\", \"--repo\", \"/path/to/project\"]}}}")]
pub struct Args {}

pub fn run(ctx: &mut Ctx, _args: Args) -> Result<u8, CliError> {
    let repo = ctx.open_repo()?;
    crate::mcp::serve(repo)?;
    Ok(exit::OK)
}
