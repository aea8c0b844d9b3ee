//! Setup for binaries: a `tracing` subscriber with the log output on
//! stderr plus an OpenTelemetry layer feeding the local trace store and,
//! when configured, an OTLP exporter. Libraries never call this.

use std::path::PathBuf;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::TelemetryError;
use crate::store::{StoreExporter, TraceStore};

/// How spans leave the process over OTLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// `http/protobuf` (endpoint like `http://host:4318`; `/v1/traces` is
    /// appended when missing).
    HttpProtobuf,
    /// `grpc` (endpoint like `http://host:4317`).
    Grpc,
}

impl OtlpProtocol {
    /// From `OTEL_EXPORTER_OTLP_PROTOCOL`'s values.
    pub fn parse(s: &str) -> Result<Self, TelemetryError> {
        match s.trim() {
            "http/protobuf" | "http" => Ok(Self::HttpProtobuf),
            "grpc" => Ok(Self::Grpc),
            other => Err(TelemetryError::Protocol(other.to_owned())),
        }
    }
}

#[derive(Clone, Debug)]
pub struct OtlpConfig {
    pub endpoint: String,
    pub protocol: OtlpProtocol,
}

/// What [`init`] sets up.
#[derive(Clone, Debug)]
pub struct TelemetryConfig {
    /// `service.name` on every span.
    pub service_name: String,
    /// The log filter for stderr (`RUST_LOG` syntax); spans for the trace
    /// store are not filtered by it.
    pub log_filter: String,
    /// Where `traces.db` lives; `None`: no local trace store.
    pub data_dir: Option<PathBuf>,
    pub otlp: Option<OtlpConfig>,
}

/// Flushes and shuts the tracer provider down when dropped.
#[must_use = "spans are flushed when the guard is dropped"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Exports every finished span now.
    pub fn flush(&self) {
        if let Some(p) = &self.provider {
            let _ = p.force_flush();
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.force_flush();
            let _ = p.shutdown_with_timeout(Duration::from_secs(5));
        }
    }
}

/// The tracer provider with the local store and OTLP exporters configured.
/// `None` when neither is.
pub fn tracer_provider(
    config: &TelemetryConfig,
) -> Result<Option<SdkTracerProvider>, TelemetryError> {
    if config.data_dir.is_none() && config.otlp.is_none() {
        return Ok(None);
    }
    let mut builder = SdkTracerProvider::builder().with_resource(
        Resource::builder_empty()
            .with_service_name(config.service_name.clone())
            .build(),
    );
    if let Some(dir) = &config.data_dir {
        builder = builder.with_batch_exporter(StoreExporter::new(TraceStore::open_in(dir)?));
    }
    if let Some(otlp) = &config.otlp {
        let exporter = match otlp.protocol {
            OtlpProtocol::HttpProtobuf => {
                let mut endpoint = otlp.endpoint.trim_end_matches('/').to_owned();
                if !endpoint.ends_with("/v1/traces") {
                    endpoint.push_str("/v1/traces");
                }
                opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_endpoint(endpoint)
                    .build()
            }
            OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(otlp.endpoint.clone())
                .build(),
        }
        .map_err(|e| TelemetryError::Otlp(e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(Some(builder.build()))
}

/// Installs the global `tracing` subscriber: logs on stderr filtered by
/// `log_filter`, and spans (info and above) to the trace store and OTLP.
/// Keep the guard alive for the process's life.
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("warn"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter);
    let provider = tracer_provider(config)?;
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("bureau"))
            .with_error_records_to_exceptions(true)
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_location(false)
            .with_target(false)
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
    });
    tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|e| TelemetryError::Subscriber(e.to_string()))?;
    Ok(TelemetryGuard { provider })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_protocols_parse_as_the_standard_variable_spells_them() {
        assert_eq!(OtlpProtocol::parse("grpc").unwrap(), OtlpProtocol::Grpc);
        assert_eq!(
            OtlpProtocol::parse("http/protobuf").unwrap(),
            OtlpProtocol::HttpProtobuf
        );
        let err = OtlpProtocol::parse("http/json").unwrap_err().to_string();
        assert!(err.contains("use `http/protobuf` or `grpc`"), "{err}");
    }

    #[test]
    fn nothing_configured_means_no_provider() {
        let config = TelemetryConfig {
            service_name: "t".into(),
            log_filter: "off".into(),
            data_dir: None,
            otlp: None,
        };
        assert!(tracer_provider(&config).unwrap().is_none());
    }
}
