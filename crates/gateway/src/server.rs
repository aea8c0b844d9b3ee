//! The gateway as an MCP server: the rmcp handler and the transports it
//! serves (any rmcp server transport, stdio, Streamable HTTP).

use std::net::SocketAddr;
use std::sync::Arc;

use bureau_protocol::{RunId, ToolSpec};
use bureau_tools::{FilesToolset, Toolset};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CustomRequest, CustomResult, ErrorCode,
    Implementation, ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::IntoTransport;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::pipeline::{CallMeta, Pipeline};
use crate::policy::{AllowList, Policy};
use crate::registry::Registry;
use crate::workspaces::Workspaces;
use crate::{AuditSink, GatewayConfig, GatewayError};

const INSTRUCTIONS: &str = "Bureau's gateway: the one place an agent's tool calls run. Every call is \
checked against policy (tools not allowed are refused with \"denied by policy\"), run in the \
run's own workspace folder and audited. The files.* tools read and write that folder; their paths \
are relative to it, and links or `..` that would leave it are refused.";

/// Bureau's built-in MCP server. Cheap to clone (an `Arc` inside): one
/// gateway serves any number of connections at once.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    pipeline: Pipeline,
    info: ServerConfig,
}

/// Everything a gateway is made of, for callers that bring their own
/// policy or toolsets ([`Gateway::new`] is the common case).
pub struct GatewayParts {
    pub config: GatewayConfig,
    pub audit: Arc<dyn AuditSink>,
    pub policy: Arc<dyn Policy>,
    pub toolsets: Vec<Arc<dyn Toolset>>,
    /// Where calls policy holds wait for a human; `None` refuses them.
    pub approvals: Option<bureau_store::Approvals>,
    /// Other MCP servers whose tools this gateway fronts.
    pub upstream: Option<Arc<dyn crate::Upstream>>,
    /// Where workspace snapshots go after calls that may change a workspace.
    pub snapshots: Option<Arc<dyn crate::Snapshots>>,
}

impl Gateway {
    /// The standard gateway: the `files` toolset and an allow-list policy
    /// from `config.allowed_tools`. Creates the workspace folders if needed.
    pub fn new(config: GatewayConfig, audit: Arc<dyn AuditSink>) -> Result<Self, GatewayError> {
        let policy = AllowList::new(&config.allowed_tools)?;
        let files: Arc<dyn Toolset> = Arc::new(FilesToolset::new(config.files));
        let names: Vec<&str> = files.tools().iter().map(|t| t.spec.name.as_str()).collect();
        policy.check_against(names.iter().copied())?;
        Self::from_parts(GatewayParts {
            config,
            audit,
            policy: Arc::new(policy),
            toolsets: vec![files],
            approvals: None,
            upstream: None,
            snapshots: None,
        })
    }

    /// A gateway from its parts; `config.allowed_tools` is ignored in
    /// favour of `parts.policy`.
    pub fn from_parts(parts: GatewayParts) -> Result<Self, GatewayError> {
        let GatewayParts {
            config,
            audit,
            policy,
            toolsets,
            approvals,
            upstream,
            snapshots,
        } = parts;
        let registry = Registry::new(toolsets, upstream, policy.as_ref())?;
        let workspaces = Workspaces::new(&config)?;
        let info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("bureau", env!("CARGO_PKG_VERSION"))
                    .with_title("Bureau gateway")
                    .with_description("Bureau's policy-checked, audited tool gateway"),
            )
            .with_instructions(INSTRUCTIONS);
        let pipeline = Pipeline {
            registry,
            policy,
            audit,
            workspaces,
            call_timeout: config.call_timeout,
            default_agent: Arc::from(config.default_agent.as_str()),
            approvals,
            snapshots,
        };
        Ok(Self {
            inner: Arc::new(Inner { pipeline, info }),
        })
    }

    /// The tools `tools/list` offers: every tool the policy could allow.
    pub fn tool_specs(&self) -> Vec<ToolSpec> {
        self.inner.pipeline.registry.listed_specs().to_vec()
    }

    /// Drops the gateway's open handle on a run's workspace folder (call it
    /// when a run ends; the next call for that run opens it again).
    pub fn release_workspace(&self, run_id: RunId) {
        self.inner.pipeline.workspaces.forget(run_id);
    }

    /// Serves one MCP connection over any rmcp server transport until it
    /// closes. Both protocol eras are served: `initialize`-based
    /// (2025-11-25 and older) and per-request (2026-07-28, `server/discover`).
    pub async fn serve<T, E, A>(&self, transport: T) -> Result<(), GatewayError>
    where
        T: IntoTransport<RoleServer, E, A> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let handler = Handler {
            inner: self.inner.clone(),
        };
        let running = handler
            .serve(transport)
            .await
            .map_err(|e| GatewayError::Handshake(Box::new(e)))?;
        running.waiting().await.map_err(GatewayError::Connection)?;
        Ok(())
    }

    /// Serves one MCP connection over this process's stdin and stdout.
    pub async fn serve_stdio(&self) -> Result<(), GatewayError> {
        self.serve(rmcp::transport::stdio()).await
    }

    /// Serves Streamable HTTP at `http://{addr}/mcp` until `shutdown` is
    /// cancelled. Returns the bound address (port 0 picks one) and the
    /// server's task. Only loopback addresses are accepted; requests must
    /// carry a loopback `Host`, and an `Origin` header, when present, must be
    /// a loopback origin (DNS-rebinding protection).
    pub async fn serve_http(
        &self,
        addr: SocketAddr,
        shutdown: CancellationToken,
    ) -> Result<(SocketAddr, JoinHandle<Result<(), GatewayError>>), GatewayError> {
        if !addr.ip().is_loopback() {
            return Err(GatewayError::NotLoopback { addr });
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| GatewayError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| GatewayError::Bind { addr, source })?;
        let config = StreamableHttpServerConfig::default()
            .with_cancellation_token(shutdown.child_token())
            .with_allowed_hosts(["localhost", "127.0.0.1", "::1"])
            .with_allowed_origins([
                "http://localhost:*",
                "http://127.0.0.1:*",
                "http://[::1]:*",
                "https://localhost:*",
                "https://127.0.0.1:*",
                "https://[::1]:*",
            ])
            .enforce_origin_validation();
        let inner = self.inner.clone();
        let service: StreamableHttpService<Handler, LocalSessionManager> =
            StreamableHttpService::new(
                move || {
                    Ok(Handler {
                        inner: inner.clone(),
                    })
                },
                Default::default(),
                config,
            );
        let router = axum::Router::new().nest_service("/mcp", service);
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
                .map_err(GatewayError::Http)
        });
        Ok((bound, task))
    }
}

/// The rmcp handler. Kept private so `Gateway` itself is not an rmcp
/// `Service`: with `rmcp::ServiceExt` in scope, `gateway.serve(t)` would
/// otherwise resolve to rmcp's by-value `serve`, whose dropped result closes
/// the connection at once.
#[derive(Clone)]
struct Handler {
    inner: Arc<Inner>,
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        self.inner.info.clone()
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(
            self.inner.pipeline.registry.listed_tools().to_vec(),
        ))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner
            .pipeline
            .registry
            .get(name)
            .map(|e| e.tool.clone())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // rmcp moves the request's `_meta` into the context; look in both.
        let maps = [request.meta.as_deref().map(|m| &**m), Some(&context.meta)];
        let call_meta = CallMeta::from_maps(&maps);
        let span = crate::spans::tools_call(&request.name, &maps);
        let arguments = request.arguments.map_or(Value::Null, Value::Object);
        let result = self
            .inner
            .pipeline
            .call(&request.name, arguments, call_meta)
            .instrument(span.clone())
            .await;
        crate::spans::call_done(&span, &result);
        Ok(CallToolResponse::Complete(result))
    }

    /// A `tools/call` whose `arguments` is not an object fails rmcp's typed
    /// decoding and arrives here as a custom request. Run it through the
    /// pipeline anyway, so the client gets the same `isError` result (and the
    /// audit log the same event) as for any other malformed call.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        if request.method != "tools/call" {
            return Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                request.method,
                None,
            ));
        }
        let params = request.params.unwrap_or(Value::Null);
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return Err(ErrorData::invalid_params(
                "tools/call needs `name`, the tool to call (see tools/list)",
                None,
            ));
        };
        let maps = [
            params.get("_meta").and_then(Value::as_object),
            Some(&context.meta),
        ];
        let call_meta = CallMeta::from_maps(&maps);
        let span = crate::spans::tools_call(name, &maps);
        let arguments = params.get("arguments").cloned().unwrap_or(Value::Null);
        let mut result = self
            .inner
            .pipeline
            .call(name, arguments, call_meta)
            .instrument(span.clone())
            .await;
        crate::spans::call_done(&span, &result);
        let modern = context
            .protocol_version()
            .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
        if !modern {
            result.result_type = None;
        }
        serde_json::to_value(result)
            .map(CustomResult)
            .map_err(|e| ErrorData::internal_error(format!("cannot encode the result: {e}"), None))
    }
}
