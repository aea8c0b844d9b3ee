//! Bureau's tracing: the OpenTelemetry GenAI span and attribute names
//! (pinned as our own constants), W3C trace context carried in MCP `_meta`,
//! the local trace store (`traces.db`: an exporter and a reader), the
//! OTLP/JSON encoding of stored spans, and `init` for binaries.
//!
//! Libraries use only [`names`] and [`propagation`]; they never install a
//! subscriber. This crate knows nothing of runs beyond a run id string.

pub mod init;
pub mod names;
pub mod otlp_json;
pub mod propagation;
pub mod store;

use std::path::PathBuf;

pub use init::{OtlpConfig, OtlpProtocol, TelemetryConfig, TelemetryGuard, init, tracer_provider};
pub use propagation::{
    continue_run_trace, extract, inject, inject_current, run_context, run_trace_id,
    set_parent_from_meta,
};
pub use store::{AttrValue, SpanStatus, StoreExporter, StoredSpan, TraceStore};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(
        "cannot create the data dir {path}: {source}; check its permissions or pass another --data-dir"
    )]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot open the trace store {path}: {source}; check the file's permissions or move it aside"
    )]
    Store {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot read the trace store: {0}")]
    Read(rusqlite::Error),
    #[error("unknown OTLP protocol `{0}`: use `http/protobuf` or `grpc`")]
    Protocol(String),
    #[error("cannot set up the OTLP exporter: {0}; check the endpoint")]
    Otlp(String),
    #[error("a tracing subscriber is already installed: {0}")]
    Subscriber(String),
}

/// Sets a string-array attribute (e.g. `gen_ai.response.finish_reasons`),
/// which `tracing` fields cannot carry. Without an OTel layer: nothing.
pub fn set_string_array(span: &tracing::Span, key: &'static str, values: Vec<String>) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let values: Vec<opentelemetry::StringValue> = values.into_iter().map(Into::into).collect();
    span.set_attribute(key, opentelemetry::Value::Array(values.into()));
}
