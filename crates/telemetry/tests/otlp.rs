//! Spans leave over OTLP/HTTP (protobuf) to a real receiver on loopback —
//! an axum server decoding `ExportTraceServiceRequest` with the
//! `opentelemetry-proto` types — and land in the local trace store too;
//! and over OTLP/gRPC to a tonic receiver built from the same types.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use bureau_telemetry::{OtlpConfig, OtlpProtocol, TelemetryConfig, TraceStore};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use serde_json::Map;
use tokio::sync::mpsc;
use tracing_subscriber::layer::SubscriberExt;

async fn receive(
    State(tx): State<mpsc::UnboundedSender<ExportTraceServiceRequest>>,
    body: Bytes,
) -> impl IntoResponse {
    match ExportTraceServiceRequest::decode(body) {
        Ok(req) => {
            let _ = tx.send(req);
            (
                axum::http::StatusCode::OK,
                [(CONTENT_TYPE, "application/x-protobuf")],
                ExportTraceServiceResponse::default().encode_to_vec(),
            )
        }
        Err(_) => (
            axum::http::StatusCode::BAD_REQUEST,
            [(CONTENT_TYPE, "text/plain")],
            b"not an ExportTraceServiceRequest".to_vec(),
        ),
    }
}

fn attr(span: &opentelemetry_proto::tonic::trace::v1::Span, key: &str) -> Option<AnyValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone())
        .and_then(|v| v.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_http_receiver_and_the_local_store() -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(receive))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir()?;
    let config = TelemetryConfig {
        service_name: "bureau-test".into(),
        log_filter: "off".into(),
        data_dir: Some(dir.path().to_owned()),
        otlp: Some(OtlpConfig {
            endpoint: format!("http://{addr}"),
            protocol: OtlpProtocol::HttpProtobuf,
        }),
    };
    let run_id = "0195f0d2-0000-7000-8000-00000000abcd";
    // The exporters block (a blocking HTTP client, SQLite): keep them off
    // the runtime's workers.
    let injected = tokio::task::spawn_blocking(move || -> anyhow::Result<Map<_, _>> {
        let provider = bureau_telemetry::tracer_provider(&config)?.expect("exporters configured");
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bureau")));
        let mut meta = Map::new();
        tracing::subscriber::with_default(subscriber, || {
            let agent = tracing::info_span!(
                "invoke_agent",
                otel.name = "invoke_agent tester",
                gen_ai.conversation.id = run_id,
            );
            bureau_telemetry::continue_run_trace(&agent, run_id);
            agent.in_scope(|| {
                let tool = tracing::info_span!(
                    "execute_tool",
                    otel.name = "execute_tool files.read",
                    gen_ai.tool.name = "files.read",
                    otel.status_code = "ERROR",
                );
                tool.in_scope(|| bureau_telemetry::inject_current(&mut meta));
            });
        });
        provider.force_flush()?;
        provider.shutdown()?;
        Ok(meta)
    })
    .await??;

    let req = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await?
        .expect("the receiver got a request");
    let resource = &req.resource_spans[0];
    let service = resource
        .resource
        .as_ref()
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
        .and_then(|kv| kv.value.clone())
        .and_then(|v| v.value);
    assert_eq!(service, Some(AnyValue::StringValue("bureau-test".into())));
    let spans: Vec<_> = resource
        .scope_spans
        .iter()
        .flat_map(|s| s.spans.iter())
        .collect();
    assert_eq!(spans.len(), 2);
    let agent = spans
        .iter()
        .find(|s| s.name == "invoke_agent tester")
        .expect("agent span");
    let tool = spans
        .iter()
        .find(|s| s.name == "execute_tool files.read")
        .expect("tool span");
    let run_trace = bureau_telemetry::run_trace_id(run_id);
    assert_eq!(hex::encode(&agent.trace_id), run_trace);
    assert_eq!(tool.trace_id, agent.trace_id);
    assert_eq!(tool.parent_span_id, agent.span_id);
    assert_eq!(
        attr(agent, "gen_ai.conversation.id"),
        Some(AnyValue::StringValue(run_id.into()))
    );
    assert_eq!(
        attr(tool, "gen_ai.tool.name"),
        Some(AnyValue::StringValue("files.read".into()))
    );
    // Status code 2 is ERROR.
    assert_eq!(tool.status.as_ref().map(|s| s.code), Some(2));

    // What went into `_meta` names the tool span.
    let traceparent = injected["traceparent"]
        .as_str()
        .expect("traceparent injected");
    assert_eq!(
        traceparent,
        format!("00-{run_trace}-{}-01", hex::encode(&tool.span_id))
    );

    // The same spans are in the local store, found by the run id.
    let store = TraceStore::open_in(dir.path())?;
    let stored = store.spans_of_run(run_id)?;
    let names: Vec<&str> = stored.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["invoke_agent tester", "execute_tool files.read"]);
    assert_eq!(
        stored[1].parent_span_id.as_deref(),
        Some(stored[0].span_id.as_str())
    );
    assert_eq!(stored[1].status, bureau_telemetry::SpanStatus::Error);
    Ok(())
}

struct Collector(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_grpc_receiver() -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(tx)))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let config = TelemetryConfig {
        service_name: "bureau-test".into(),
        log_filter: "off".into(),
        data_dir: None,
        otlp: Some(OtlpConfig {
            endpoint: format!("http://{addr}"),
            protocol: OtlpProtocol::Grpc,
        }),
    };
    // Built on a runtime thread (the gRPC channel needs the runtime);
    // flushing blocks, so off the workers.
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let provider = bureau_telemetry::tracer_provider(&config)?.expect("exporter configured");
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bureau")));
        tracing::subscriber::with_default(subscriber, || {
            let call = tracing::info_span!(
                "tools/call",
                otel.name = "tools/call files.read",
                mcp.method.name = "tools/call",
            );
            call.in_scope(|| {
                tracing::info_span!("policy", bureau.policy.outcome = "deny").in_scope(|| {})
            });
        });
        provider.force_flush()?;
        provider.shutdown()?;
        Ok(())
    })
    .await??;
    let req = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await?
        .expect("the receiver got a request");
    let spans: Vec<_> = req
        .resource_spans
        .iter()
        .flat_map(|r| r.scope_spans.iter())
        .flat_map(|s| s.spans.iter())
        .collect();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["policy", "tools/call files.read"]);
    assert_eq!(spans[0].parent_span_id, spans[1].span_id);
    assert_eq!(
        attr(spans[1], "mcp.method.name"),
        Some(AnyValue::StringValue("tools/call".into()))
    );
    assert_eq!(
        attr(spans[0], "bureau.policy.outcome"),
        Some(AnyValue::StringValue("deny".into()))
    );
    Ok(())
}
