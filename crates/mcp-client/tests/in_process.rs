//! rmcp servers attached over `in_process_pair()` — how the orchestrator
//! reaches Bureau's own gateway.

mod common;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bureau_mcp_client::{McpError, McpHub, Naming, in_process_pair};
use bureau_protocol::meta;
use common::*;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelledNotificationParam,
    ContentBlock, ErrorData, ListToolsResult, PaginatedRequestParams, RequestMetaObject,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer};
use rmcp::{ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct WriteArgs {
    path: String,
    content: String,
}

/// Stands in for the built-in gateway: tools already named `area.verb`.
#[derive(Clone)]
struct Gateway {
    tool_router: ToolRouter<Self>,
    /// Reasons of every `notifications/cancelled` received.
    cancellations: Arc<Mutex<Vec<String>>>,
    /// Tokens of calls in `slow.wait`.
    waiting: Arc<Mutex<Vec<CancellationToken>>>,
}

#[tool_router]
impl Gateway {
    fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
            cancellations: Arc::default(),
            waiting: Arc::default(),
        }
    }

    #[tool(
        name = "files.write",
        description = "Write a file in the run's workspace"
    )]
    async fn write(
        &self,
        Parameters(WriteArgs { path, content }): Parameters<WriteArgs>,
        meta: RequestMetaObject,
    ) -> Result<CallToolResult, ErrorData> {
        if path.starts_with('/') {
            return Err(ErrorData::invalid_params("path must be relative", None));
        }
        Ok(CallToolResult::structured(json!({
            "path": path,
            "bytes": content.len(),
            "run_id": meta.0.get(meta::RUN_ID),
            "idempotency_key": meta.0.get(meta::IDEMPOTENCY_KEY),
        })))
    }

    #[tool(name = "files.denied", description = "A call the policy refuses")]
    async fn denied(&self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text("denied by policy: files.denied")])
    }

    #[tool(name = "slow.wait", description = "Waits until cancelled")]
    async fn wait(&self, ct: CancellationToken) -> String {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ct.clone());
        ct.cancelled().await;
        "cancelled".into()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Gateway {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        _context: NotificationContext<RoleServer>,
    ) {
        self.cancellations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(notification.reason.unwrap_or_default());
    }
}

/// Serves `handler` over a fresh pair and attaches it to `hub`.
async fn attach<S: ServerHandler>(
    hub: &mut McpHub,
    name: &str,
    handler: S,
    naming: Naming,
    call_timeout: Duration,
) -> Result<tokio::task::JoinHandle<()>, McpError> {
    let (client, server) = in_process_pair();
    let serving = tokio::spawn(async move {
        if let Ok(running) = handler.serve(server).await {
            let _ = running.waiting().await;
        }
    });
    hub.connect_transport(name, client, naming, call_timeout)
        .await?;
    Ok(serving)
}

#[tokio::test]
async fn list_and_call_through_the_hub() {
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    let serving = attach(
        &mut hub,
        "gateway",
        Gateway::new(),
        Naming::AsIs,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let names: Vec<&str> = hub.tools().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["files.denied", "files.write", "slow.wait"]);
    let write = &hub.tools()[1];
    assert_eq!(write.description, "Write a file in the run's workspace");
    assert_eq!(write.input_schema["properties"]["path"]["type"], "string");

    let mut m = serde_json::Map::new();
    m.insert(meta::RUN_ID.into(), json!("run-1"));
    m.insert(meta::IDEMPOTENCY_KEY.into(), json!("run-1:4"));
    let r = hub
        .call_tool(
            &call("files.write", json!({"path": "a.txt", "content": "hello"})),
            &m,
        )
        .await
        .unwrap();
    assert!(!r.is_error);
    assert_eq!(
        r.structured,
        Some(json!({"path": "a.txt", "bytes": 5, "run_id": "run-1", "idempotency_key": "run-1:4"}))
    );

    let r = hub
        .call_tool(&call("files.denied", json!({})), &no_meta())
        .await
        .unwrap();
    assert!(r.is_error);
    assert_eq!(text_of(&r), "denied by policy: files.denied");

    let e = hub
        .call_tool(
            &call("files.write", json!({"path": "/etc/passwd", "content": ""})),
            &no_meta(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e,
        McpError::Protocol {
            server: "gateway".into(),
            code: Some(-32602),
            message: "path must be relative".into()
        }
    );
    let e = hub
        .call_tool(&call("gateway.files.write", json!({})), &no_meta())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        McpError::UnknownTool {
            name: "gateway.files.write".into()
        }
    );

    hub.shutdown().await;
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("the server side ends when the hub shuts down")
        .unwrap();
}

#[tokio::test]
async fn a_timed_out_call_sends_cancellation() {
    let gateway = Gateway::new();
    let cancellations = gateway.cancellations.clone();
    let waiting = gateway.waiting.clone();
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    attach(
        &mut hub,
        "gateway",
        gateway,
        Naming::AsIs,
        Duration::from_millis(300),
    )
    .await
    .unwrap();

    let e = hub
        .call_tool(&call("slow.wait", json!({})), &no_meta())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        McpError::Timeout {
            server: "gateway".into(),
            tool: "slow.wait".into(),
            after: Duration::from_millis(300)
        }
    );
    assert!(
        eventually(Duration::from_secs(10), || !cancellations
            .lock()
            .unwrap()
            .is_empty())
        .await,
        "no notifications/cancelled reached the server"
    );
    assert!(
        eventually(Duration::from_secs(10), || {
            waiting
                .lock()
                .unwrap()
                .iter()
                .all(CancellationToken::is_cancelled)
        })
        .await,
        "the handler's cancellation token did not fire"
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn dropping_a_call_cancels_it_too() {
    let gateway = Gateway::new();
    let cancellations = gateway.cancellations.clone();
    let waiting = gateway.waiting.clone();
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    attach(
        &mut hub,
        "gateway",
        gateway,
        Naming::AsIs,
        Duration::from_secs(60),
    )
    .await
    .unwrap();

    // The run is cancelled while the call is in flight: its future is dropped.
    let call_wait = call("slow.wait", json!({}));
    let no_meta = no_meta();
    let mut in_flight = Box::pin(hub.call_tool(&call_wait, &no_meta));
    let started = eventually(Duration::from_secs(10), || {
        !waiting.lock().unwrap().is_empty()
    });
    tokio::select! {
        _ = &mut in_flight => panic!("slow.wait answered"),
        seen = started => assert!(seen, "slow.wait never started"),
    }
    drop(in_flight);
    assert!(
        eventually(Duration::from_secs(10), || !cancellations
            .lock()
            .unwrap()
            .is_empty())
        .await,
        "no notifications/cancelled reached the server"
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn colliding_names_are_refused_and_nothing_is_lost() {
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    attach(
        &mut hub,
        "a",
        Gateway::new(),
        Naming::AsIs,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let before = hub.tools().to_vec();

    let second = Gateway::new();
    let e = attach(&mut hub, "b", second, Naming::AsIs, Duration::from_secs(30))
        .await
        .unwrap_err();
    let McpError::NameCollision {
        name,
        first,
        second,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert!(before.iter().any(|t| &t.name == name), "{name}");
    assert_eq!((first.as_str(), second.as_str()), ("a", "b"));
    assert!(e.to_string().contains("`a` and `b`"), "{e}");

    // The hub is as it was, and still works; `b` was not half-added.
    assert_eq!(hub.tools(), before.as_slice());
    let r = hub
        .call_tool(&call("files.denied", json!({})), &no_meta())
        .await
        .unwrap();
    assert!(r.is_error);
    // The same server under a prefix does not collide.
    attach(
        &mut hub,
        "b",
        Gateway::new(),
        Naming::Prefixed,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert!(hub.tools().iter().any(|t| t.name == "b.files.write"));
    assert_eq!(hub.tools().len(), 2 * before.len());

    let e = attach(
        &mut hub,
        "a",
        Gateway::new(),
        Naming::Prefixed,
        Duration::from_secs(30),
    )
    .await
    .unwrap_err();
    assert_eq!(e, McpError::DuplicateServer { name: "a".into() });
    hub.shutdown().await;
}

#[tokio::test]
async fn many_concurrent_calls_share_one_hub() {
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    attach(
        &mut hub,
        "gateway",
        Gateway::new(),
        Naming::AsIs,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let hub = Arc::new(hub);
    let calls = (0..200).map(|i| {
        let hub = hub.clone();
        tokio::spawn(async move {
            let mut m = serde_json::Map::new();
            m.insert(meta::RUN_ID.into(), json!(format!("run-{i}")));
            let r = hub
                .call_tool(
                    &call(
                        "files.write",
                        json!({"path": "x", "content": "y".repeat(i)}),
                    ),
                    &m,
                )
                .await
                .unwrap();
            let s = r.structured.unwrap();
            assert_eq!(s["bytes"], i);
            assert_eq!(s["run_id"], format!("run-{i}"));
        })
    });
    for handle in futures::future::join_all(calls).await {
        handle.unwrap();
    }
    Arc::into_inner(hub).unwrap().shutdown().await;
}

/// A server whose `tools/list` comes in three pages.
struct Paged;

impl ServerHandler for Paged {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let cursor = request.and_then(|r| r.cursor);
        let schema = Arc::new(serde_json::Map::from_iter([(
            "type".to_owned(),
            json!("object"),
        )]));
        let page = |names: &[&str], next: Option<&str>| {
            let mut result = ListToolsResult::with_all_items(
                names
                    .iter()
                    .map(|n| Tool::new(n.to_string(), format!("tool {n}"), schema.clone()))
                    .collect(),
            );
            result.next_cursor = next.map(str::to_owned);
            result
        };
        match cursor.as_deref() {
            None => Ok(page(&["zeta", "alpha"], Some("p2"))),
            Some("p2") => Ok(page(&["mid"], Some("p3"))),
            Some("p3") => Ok(page(&["beta"], None)),
            Some(other) => Err(ErrorData::invalid_params(
                format!("bad cursor {other}"),
                None,
            )),
        }
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        Ok(
            CallToolResult::success(vec![ContentBlock::text(format!("called {}", request.name))])
                .into(),
        )
    }
}

#[tokio::test]
async fn every_page_of_tools_is_listed() {
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    attach(
        &mut hub,
        "paged",
        Paged,
        Naming::Prefixed,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let names: Vec<&str> = hub.tools().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["paged.alpha", "paged.beta", "paged.mid", "paged.zeta"]
    );
    let r = hub
        .call_tool(&call("paged.mid", serde_json::Value::Null), &no_meta())
        .await
        .unwrap();
    assert_eq!(text_of(&r), "called mid");
    hub.shutdown().await;
}
