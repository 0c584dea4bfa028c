//! `jit mcp`: the Model Context Protocol over stdio (the official Rust SDK, rmcp). A front end
//! like `cli/`: each tool call is parsed into the contract's request type, run by the same
//! `Repo` method as the CLI, and answered with the same JSON as `--json` (errors with the same
//! stable codes, as tool errors whose structured content is the `--json` error body).
//!
//! The repository is opened once, with a warm index ([`crate::storage::index::warm`]) so
//! reads re-read only the files that changed. The protocol runs on a thread of its own (a
//! small tokio runtime); the calls run one after another on the calling thread, which owns
//! the `Repo`: a call either commits or not, whatever the client does meanwhile (a client
//! that goes away mid-call only loses the answer).

mod tools;

use std::sync::mpsc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ErrorData, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ServerHandler, ServiceExt};

use crate::error::{Error, IoContext, Result};
use crate::repo::Repo;
use crate::storage::index::warm::WarmIndex;

pub use tools::{DEFAULT_LIMIT, error_json};

/// A call handed from the protocol thread to the thread that owns the repository.
struct Job {
    tool: String,
    args: rmcp::model::JsonObject,
    reply: tokio::sync::oneshot::Sender<rmcp::model::CallToolResult>,
}

/// The protocol side: lists the tools and hands calls over.
#[derive(Clone)]
struct Server {
    jobs: mpsc::Sender<Job>,
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("jit", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "jit: the repository's issue tracker. `query`/`ready` to find work, `claim` to \
                 take it (keep its token for `update`), `update`/`release` to report.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::list()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        if !tools::exists(&request.name) {
            let message = format!("unknown tool `{}`", request.name);
            return Err(ErrorData::invalid_params(message, None));
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            tool: request.name.to_string(),
            args: request.arguments.unwrap_or_default(),
            reply,
        };
        if self.jobs.send(job).is_err() {
            return Err(ErrorData::internal_error("the server is shutting down", None));
        }
        match answer.await {
            Ok(result) => Ok(result.into()),
            Err(_) => Err(ErrorData::internal_error("the call was not answered", None)),
        }
    }
}

/// Serve MCP on stdin/stdout until the client closes stdin. `repo` gets a warm index; when
/// inotify cannot be had (the per-user limit of instances, `fs.inotify.max_user_instances`,
/// 128 by default, is used up, e.g. by many servers), it says so on stderr and every call
/// reads cold, as a CLI command does: slower, never stale.
pub fn serve(mut repo: Repo) -> Result<()> {
    match WarmIndex::open(repo.layout()) {
        Ok(warm) => repo.set_warm(warm),
        Err(e) => repo.warn(&format!(
            "cannot watch the issue files for changes ({e}; inotify instances are limited \
             per user by fs.inotify.max_user_instances): every call reads the files afresh, \
             as a CLI command does"
        )),
    }
    let (jobs, queue) = mpsc::channel::<Job>();
    let protocol = std::thread::Builder::new()
        .name("mcp".into())
        .spawn(move || run_protocol(Server { jobs }))
        .at(repo.layout().root())?;
    // Runs until the protocol thread drops its sender (the client went away).
    for job in queue {
        // A config that cannot be read now: keep the last good one, answer with its error.
        let result = match repo.refresh_config() {
            Ok(_) => tools::call(&mut repo, &job.tool, job.args),
            Err(e) => tools::error_result(&e),
        };
        let _ = job.reply.send(result);
    }
    match protocol.join() {
        Ok(r) => r,
        Err(_) => Err(Error::InvalidArgument("the MCP protocol thread panicked".into())),
    }
}

fn run_protocol(server: Server) -> Result<()> {
    let io = |e: std::io::Error| Error::Io { path: "<stdio>".into(), source: e };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(io)?;
    rt.block_on(async move {
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| io(std::io::Error::other(e.to_string())))?;
        // Ends when the client closes stdin (or the transport fails): either way, stop.
        let _ = running.waiting().await;
        Ok(())
    })
}
