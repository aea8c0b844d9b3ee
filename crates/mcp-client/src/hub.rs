//! [`McpHub`]: the set of connected servers and the one routing table from
//! qualified tool names to them.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bureau_protocol::{McpServer, McpServerSpec, ToolCall, ToolResult, ToolSpec, qualify};
use rmcp::ClientLifecycleMode;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientConfig, Implementation,
    ProtocolVersion, RequestMetaObject, Tool,
};
use rmcp::service::{ClientServiceExt, RoleClient, RunningService};
use rmcp::transport::IntoTransport;
use serde_json::{Map, Value};

use crate::convert::{init_error, service_error, tool_result, tool_spec};
use crate::stdio::{INHERITED_ENV_VARS, Launch, StderrTail};
use crate::{McpError, http, stdio};

/// How a server's tool names become Bureau's tool names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// `"{server}.{tool}"`: what every external server gets.
    Prefixed,
    /// The names exactly as the server gives them (the built-in gateway's
    /// tools are already named `files.write`, `files.read`, …).
    AsIs,
}

type Service = RunningService<RoleClient, ClientConfig>;

struct Connection {
    name: String,
    call_timeout: Duration,
    service: Service,
}

/// Where a qualified name leads.
struct Route {
    server: usize,
    /// The tool's name as its server knows it.
    tool: Cow<'static, str>,
}

/// A set of connected MCP servers and their tools.
///
/// Built once (`connect*` take `&mut self`), then shared as `Arc<McpHub>` by
/// every run: [`McpHub::call_tool`] takes `&self` and calls proceed
/// concurrently, each bounded by its server's call timeout.
pub struct McpHub {
    inherited_env: BTreeMap<String, String>,
    servers: Vec<Connection>,
    /// Sorted by name.
    tools: Vec<ToolSpec>,
    routes: HashMap<String, Route>,
}

impl std::fmt::Debug for McpHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let servers: Vec<&str> = self.servers.iter().map(|s| s.name.as_str()).collect();
        f.debug_struct("McpHub")
            .field("servers", &servers)
            .field("tools", &self.tools.len())
            .finish()
    }
}

impl McpHub {
    /// A hub whose stdio servers inherit [`INHERITED_ENV_VARS`], looked up
    /// through `env` (the caller's door to the environment: only the CLI
    /// reads it), as the official MCP clients do. The values are passed
    /// through to the children, never interpreted.
    pub fn new(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let inherited = INHERITED_ENV_VARS
            .iter()
            .filter_map(|key| env(key).map(|value| ((*key).to_owned(), value)))
            .collect();
        Self::with_inherited_env(inherited)
    }

    /// A hub whose stdio servers start with exactly `inherited` plus their
    /// spec's own `env` as their environment.
    pub fn with_inherited_env(inherited: BTreeMap<String, String>) -> Self {
        Self {
            inherited_env: inherited,
            servers: Vec::new(),
            tools: Vec::new(),
            routes: HashMap::new(),
        }
    }

    /// Starts (stdio) or reaches (Streamable HTTP) one external server,
    /// completes the MCP handshake and lists its tools, all within
    /// `connect_timeout_ms`. Its tools are exposed as `"{server.name}.{tool}"`.
    #[tracing::instrument(skip_all, fields(server = %server.name))]
    pub async fn connect(&mut self, server: &McpServer) -> Result<(), McpError> {
        self.check_new_name(&server.name)?;
        let connect_timeout = Duration::from_millis(server.connect_timeout_ms);
        let call_timeout = Duration::from_millis(server.call_timeout_ms);
        let (service, tools) = match &server.spec {
            McpServerSpec::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                let (transport, stderr) = stdio::spawn(&Launch {
                    server: &server.name,
                    command,
                    args,
                    env,
                    cwd: cwd.as_deref(),
                    inherited_env: &self.inherited_env,
                })?;
                match start(&server.name, transport, connect_timeout).await {
                    Ok(started) => started,
                    Err(error) => return Err(with_stderr(error, &stderr).await),
                }
            }
            McpServerSpec::Http { url, headers } => {
                let transport = http::transport(&server.name, url, headers)?;
                start(&server.name, transport, connect_timeout).await?
            }
        };
        self.add(
            &server.name,
            service,
            &tools,
            Naming::Prefixed,
            call_timeout,
        )
        .await
    }

    /// Attaches a server over any rmcp client transport — for the built-in
    /// gateway, the client half of [`crate::in_process_pair`]. `naming` says
    /// whether its tools get the `name.` prefix. The handshake and the first
    /// `tools/list` must finish within `call_timeout`, like any call.
    #[tracing::instrument(skip_all, fields(server = name))]
    pub async fn connect_transport<T, E, A>(
        &mut self,
        name: &str,
        transport: T,
        naming: Naming,
        call_timeout: Duration,
    ) -> Result<(), McpError>
    where
        T: IntoTransport<RoleClient, E, A> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.check_new_name(name)?;
        let (service, tools) = start(name, transport, call_timeout).await?;
        self.add(name, service, &tools, naming, call_timeout).await
    }

    /// Every tool of every server, under its qualified name, sorted by name.
    pub fn tools(&self) -> &[ToolSpec] {
        &self.tools
    }

    /// Calls a tool by its qualified name. `meta` becomes the request's
    /// `_meta` (Bureau puts `bureau_protocol::meta::RUN_ID` and
    /// `IDEMPOTENCY_KEY` there). A result with `is_error` is a result, not
    /// an `Err`. On timeout the request is cancelled at the server
    /// (`notifications/cancelled`), as it is if this future is dropped.
    #[tracing::instrument(level = "debug", skip_all, fields(tool = %call.name))]
    pub async fn call_tool(
        &self,
        call: &ToolCall,
        meta: &Map<String, Value>,
    ) -> Result<ToolResult, McpError> {
        let route = self
            .routes
            .get(&call.name)
            .ok_or_else(|| McpError::UnknownTool {
                name: call.name.clone(),
            })?;
        let server = self
            .servers
            .get(route.server)
            .ok_or_else(|| McpError::UnknownTool {
                name: call.name.clone(),
            })?;
        let arguments = match &call.arguments {
            Value::Object(arguments) => Some(arguments.clone()),
            Value::Null => None,
            _ => {
                return Err(McpError::InvalidArguments {
                    name: call.name.clone(),
                });
            }
        };
        let mut params = CallToolRequestParams::new(route.tool.clone());
        params.arguments = arguments;
        // The caller's span travels as W3C trace context (`traceparent`,
        // `tracestate`) when it has one; the caller's keys stay.
        let mut meta = meta.clone();
        bureau_telemetry::inject_current(&mut meta);
        if !meta.is_empty() {
            params.meta = Some(RequestMetaObject::from(meta));
        }
        // Dropping rmcp's request future before the answer (here: on
        // timeout) sends `notifications/cancelled` for it.
        let answer = tokio::time::timeout(
            server.call_timeout,
            server.service.peer().call_tool_once(params),
        )
        .await;
        match answer {
            Err(_) => {
                tracing::warn!(server = %server.name, after = ?server.call_timeout, "tool call timed out and was cancelled");
                Err(McpError::Timeout {
                    server: server.name.clone(),
                    tool: route.tool.to_string(),
                    after: server.call_timeout,
                })
            }
            Ok(Err(error)) => Err(service_error(&server.name, error)),
            Ok(Ok(CallToolResponse::Complete(result))) => Ok(tool_result(result)),
            Ok(Ok(CallToolResponse::InputRequired(_))) => Err(McpError::Protocol {
                server: server.name.clone(),
                code: None,
                message: "the tool asked the client for input (elicitation or sampling), which Bureau does not provide: use a tool that does not".to_owned(),
            }),
            Ok(Ok(_)) => Err(McpError::Protocol {
                server: server.name.clone(),
                code: None,
                message: "the server turned the call into a task, which Bureau does not poll: use a tool that answers directly".to_owned(),
            }),
        }
    }

    /// Closes every connection; stdio servers get the MCP shutdown (stdin
    /// closed, then `SIGTERM`, then `SIGKILL`, each after a grace period),
    /// applied to their whole process group.
    pub async fn shutdown(self) {
        let closing = self.servers.into_iter().map(|server| async move {
            if let Err(error) = server.service.cancel().await {
                tracing::warn!(server = %server.name, %error, "MCP connection did not close cleanly");
            }
        });
        futures::future::join_all(closing).await;
    }

    fn check_new_name(&self, name: &str) -> Result<(), McpError> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(McpError::InvalidServerName {
                name: name.to_owned(),
            });
        }
        if self.servers.iter().any(|s| s.name == name) {
            return Err(McpError::DuplicateServer {
                name: name.to_owned(),
            });
        }
        Ok(())
    }

    /// Adds a connected server's tools, or — on a name collision — closes
    /// it and changes nothing.
    async fn add(
        &mut self,
        name: &str,
        service: Service,
        tools: &[Tool],
        naming: Naming,
        call_timeout: Duration,
    ) -> Result<(), McpError> {
        let index = self.servers.len();
        let mut new_routes: HashMap<String, Route> = HashMap::with_capacity(tools.len());
        let mut specs = Vec::with_capacity(tools.len());
        for tool in tools {
            if tool.name.is_empty() {
                tracing::warn!(server = name, "skipping a tool with an empty name");
                continue;
            }
            let qualified = match naming {
                Naming::Prefixed => qualify(name, &tool.name),
                Naming::AsIs => tool.name.to_string(),
            };
            let owner = match self.routes.get(&qualified) {
                Some(route) => self.servers.get(route.server).map(|s| s.name.clone()),
                None => new_routes.contains_key(&qualified).then(|| name.to_owned()),
            };
            if let Some(first) = owner {
                if let Err(error) = service.cancel().await {
                    tracing::warn!(server = name, %error, "MCP connection did not close cleanly");
                }
                return Err(McpError::NameCollision {
                    name: qualified,
                    first,
                    second: name.to_owned(),
                });
            }
            specs.push(tool_spec(tool, qualified.clone()));
            new_routes.insert(
                qualified,
                Route {
                    server: index,
                    tool: Cow::Owned(tool.name.to_string()),
                },
            );
        }
        tracing::info!(server = name, tools = specs.len(), "connected MCP server");
        self.routes.extend(new_routes);
        self.tools.extend(specs);
        self.tools.sort_by(|a, b| a.name.cmp(&b.name));
        self.servers.push(Connection {
            name: name.to_owned(),
            call_timeout,
            service,
        });
        Ok(())
    }
}

/// Runs the handshake (`server/discover`, falling back to `initialize` for
/// servers of the 2025 era) and lists every page of tools, within `within`.
async fn start<T, E, A>(
    name: &str,
    transport: T,
    within: Duration,
) -> Result<(Service, Vec<Tool>), McpError>
where
    T: IntoTransport<RoleClient, E, A> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let handshake = async {
        let service = client_config()
            .serve_with_lifecycle(transport, lifecycle())
            .await
            .map_err(|error| init_error(name, &error))?;
        let tools = service
            .peer()
            .list_all_tools()
            .await
            .map_err(|error| McpError::Connect {
                server: name.to_owned(),
                message: format!("listing its tools failed: {}", service_error(name, error)),
            })?;
        Ok::<_, McpError>((service, tools))
    };
    match tokio::time::timeout(within, handshake).await {
        Ok(connected) => connected,
        // Dropping the handshake drops the transport: a child is killed.
        Err(_) => Err(McpError::Connect {
            server: name.to_owned(),
            message: format!(
                "it did not complete the MCP handshake and list its tools within {within:?}: check that it is an MCP server speaking JSON-RPC on stdout (logs go to stderr), or raise its connect timeout"
            ),
        }),
    }
}

fn client_config() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("bureau", env!("CARGO_PKG_VERSION")),
    )
}

fn lifecycle() -> ClientLifecycleMode {
    ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: Some(ProtocolVersion::LATEST_WITH_INITIALIZE),
    }
}

async fn with_stderr(error: McpError, stderr: &StderrTail) -> McpError {
    match error {
        McpError::Connect { server, message } => McpError::Connect {
            server,
            message: format!("{message}{}", stderr.describe().await),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hub_and_its_futures_can_be_shared_across_tasks() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: &T) {}
        let hub = McpHub::with_inherited_env(BTreeMap::new());
        send_sync(&hub);
        let call = ToolCall {
            id: bureau_protocol::ToolCallId::new("c"),
            name: "x.y".into(),
            arguments: Value::Null,
        };
        let meta = Map::new();
        send(&hub.call_tool(&call, &meta));

        let mut hub = McpHub::with_inherited_env(BTreeMap::new());
        let server = McpServer {
            name: "s".into(),
            spec: McpServerSpec::Http {
                url: "http://127.0.0.1:1/".into(),
                headers: BTreeMap::new(),
            },
            call_timeout_ms: 1,
            connect_timeout_ms: 1,
        };
        send(&hub.connect(&server));
        let mut hub = McpHub::with_inherited_env(BTreeMap::new());
        let (client, _server) = crate::in_process_pair();
        send(&hub.connect_transport("gw", client, Naming::AsIs, Duration::from_secs(1)));
        send(&hub.shutdown());
    }

    #[test]
    fn server_names_are_checked() {
        let hub = McpHub::with_inherited_env(BTreeMap::new());
        for good in ["a", "files", "my_server-2", "X9"] {
            assert!(hub.check_new_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a.b", "has space", "ünï", "a/b"] {
            assert_eq!(
                hub.check_new_name(bad),
                Err(McpError::InvalidServerName {
                    name: bad.to_owned()
                }),
                "{bad}"
            );
        }
    }
}
