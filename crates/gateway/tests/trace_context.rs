//! W3C trace context through the gateway: a `tools/call` whose `_meta`
//! carries `traceparent` gets a gateway span under that parent, and the
//! call forwarded to an upstream server carries the gateway's context on.
//! A malformed `traceparent` is ignored: the call runs, in a new trace.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

mod common;

use std::sync::{Arc, Mutex};

use bureau_gateway::{AllowList, Gateway, GatewayParts, MemoryAudit, Upstream};
use bureau_protocol::{ToolCall, ToolResult, ToolSpec};
use bureau_telemetry::{TelemetryConfig, TraceStore};
use common::{Era, Harness, call, connect, is_error};
use opentelemetry::trace::TracerProvider as _;
use rmcp::model::RequestMetaObject;
use serde_json::{Map, Value, json};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;

/// An upstream server that keeps the `_meta` of every call it gets.
#[derive(Default)]
struct Recording(Mutex<Vec<Map<String, Value>>>);

#[async_trait::async_trait]
impl Upstream for Recording {
    fn tools(&self) -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: "ext.echo".into(),
            description: "echoes".into(),
            input_schema: json!({"type": "object"}),
        }]
    }

    async fn call(
        &self,
        _call: &ToolCall,
        meta: &Map<String, Value>,
    ) -> Result<ToolResult, String> {
        self.0.lock().unwrap().push(meta.clone());
        Ok(ToolResult::text("echo"))
    }
}

fn with_traceparent(tp: &str) -> rmcp::model::CallToolRequestParams {
    let mut p = call("ext.echo", json!({}));
    let mut m = RequestMetaObject::new();
    m.insert("traceparent".into(), json!(tp));
    p.meta = Some(m);
    p
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "current_thread")]
async fn the_gateway_continues_the_callers_trace_and_forwards_it_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let provider = bureau_telemetry::tracer_provider(&TelemetryConfig {
        service_name: "gateway-test".into(),
        log_filter: "off".into(),
        data_dir: Some(dir.path().join("data")),
        otlp: None,
    })
    .unwrap()
    .unwrap();
    // As `bureau_telemetry::init` sets it up: info spans and above.
    let subscriber = tracing_subscriber::registry().with(
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("bureau"))
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
    );
    // One thread: the gateway's tasks see this subscriber too.
    let _default = tracing::subscriber::set_default(subscriber);

    let upstream = Arc::new(Recording::default());
    let gw = Gateway::from_parts(GatewayParts {
        config: Harness::config(&dir, &[]),
        audit: MemoryAudit::new(),
        policy: Arc::new(AllowList::new(&["ext.*".to_owned()]).unwrap()),
        toolsets: Vec::new(),
        approvals: None,
        upstream: Some(upstream.clone()),
        snapshots: None,
    })
    .unwrap();
    let client = connect(&gw, Era::Modern).await;

    let ok = client
        .call_tool(with_traceparent(&format!("00-{TRACE}-{CALLER}-01")))
        .await
        .unwrap();
    assert!(!is_error(&ok));
    let garbage = client
        .call_tool(with_traceparent("00-not-a-trace-01"))
        .await
        .unwrap();
    assert!(
        !is_error(&garbage),
        "a bad traceparent never fails the call"
    );

    let seen = upstream.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let forwarded = seen[0]["traceparent"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = forwarded.split('-').collect();
    assert_eq!(
        parts[1], TRACE,
        "the upstream call is in the caller's trace"
    );
    assert_ne!(
        parts[2], CALLER,
        "under the gateway's span, not the caller's"
    );
    // The second call started a trace of its own.
    let fresh = seen[1]["traceparent"].as_str().unwrap();
    assert_ne!(fresh.split('-').nth(1).unwrap(), TRACE);

    client.cancel().await.unwrap();
    provider.force_flush().unwrap();
    let store = TraceStore::open_in(&dir.path().join("data")).unwrap();
    let spans = store.spans_of_trace(TRACE).unwrap();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["tools/call ext.echo", "policy", "tool ext.echo"]);
    assert_eq!(spans[0].parent_span_id.as_deref(), Some(CALLER));
    assert_eq!(spans[0].kind, "server");
    assert_eq!(
        spans[1].parent_span_id.as_deref(),
        Some(spans[0].span_id.as_str())
    );
    assert_eq!(
        spans[2].parent_span_id.as_deref(),
        Some(spans[0].span_id.as_str())
    );
    // The upstream call's parent is the gateway's tool span.
    assert_eq!(parts[2], spans[2].span_id);
    let fresh_spans = store
        .spans_of_trace(fresh.split('-').nth(1).unwrap())
        .unwrap();
    assert_eq!(fresh_spans[0].name, "tools/call ext.echo");
    assert_eq!(fresh_spans[0].parent_span_id, None);
}
