//! W3C trace context (`traceparent`, `tracestate`) in MCP `_meta` maps, and
//! the trace a run lives in.
//!
//! Malformed context is ignored, never an error: a caller's bad header
//! must not fail its tool call.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde_json::{Map, Value};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::names::{META_TRACEPARENT, META_TRACESTATE};

struct MetaInjector<'a>(&'a mut Map<String, Value>);

impl Injector for MetaInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), Value::String(value));
    }
}

struct MetaExtractor<'a>(&'a Map<String, Value>);

impl Extractor for MetaExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        [META_TRACEPARENT, META_TRACESTATE]
            .into_iter()
            .filter(|k| self.0.contains_key(*k))
            .collect()
    }
}

/// Writes `cx`'s span context into `meta` when it is valid; other keys
/// stay as they are. Returns whether anything was written.
pub fn inject(cx: &Context, meta: &mut Map<String, Value>) -> bool {
    if !cx.span().span_context().is_valid() {
        return false;
    }
    TraceContextPropagator::new().inject_context(cx, &mut MetaInjector(meta));
    true
}

/// Writes the current `tracing` span's OTel context into `meta`, if it has
/// one (no OTel layer installed, or no span: nothing is written).
pub fn inject_current(meta: &mut Map<String, Value>) -> bool {
    inject(&tracing::Span::current().context(), meta)
}

/// W3C's `traceparent` shape: `vv-<32 hex>-<16 hex>-ff`, lowercase, version
/// `00` with exactly four fields (later versions may add fields). The
/// OTel propagator alone accepts ids of the wrong length.
fn well_formed(traceparent: &str) -> bool {
    let parts: Vec<&str> = traceparent.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    match parts.as_slice() {
        [version, trace, span, flags, rest @ ..] => {
            hex(version, 2)
                && *version != "ff"
                && (*version != "00" || rest.is_empty())
                && hex(trace, 32)
                && hex(span, 16)
                && hex(flags, 2)
        }
        _ => false,
    }
}

/// The remote parent carried in `meta`, if any is valid.
pub fn extract(meta: &Map<String, Value>) -> Option<Context> {
    let traceparent = meta.get(META_TRACEPARENT).and_then(Value::as_str)?;
    if !well_formed(traceparent) {
        return None;
    }
    let cx = TraceContextPropagator::new().extract(&MetaExtractor(meta));
    cx.span().span_context().is_valid().then_some(cx)
}

/// Makes `span` a child of the context in `meta`, when there is a valid
/// one. Call before the span is first entered.
pub fn set_parent_from_meta(span: &tracing::Span, meta: &Map<String, Value>) {
    if let Some(cx) = extract(meta) {
        let _ = span.set_parent(cx);
    }
}

/// The trace a run lives in, derived from its id: every process that
/// works on the run (the first worker, a resume on another machine)
/// puts its `invoke_agent` span under the same remote parent, so the run
/// is one trace. The parent is virtual: no span with its id is exported.
pub fn run_context(run_id: &str) -> Context {
    let hash = blake3::hash(format!("bureau.run.trace/{run_id}").as_bytes());
    let bytes = hash.as_bytes();
    let mut trace = [0u8; 16];
    trace.copy_from_slice(&bytes[..16]);
    let mut span = [0u8; 8];
    span.copy_from_slice(&bytes[16..24]);
    // All-zero ids are invalid; a hash this long never gives them in practice,
    // but the fallback keeps the context valid regardless.
    if trace == [0; 16] {
        trace[15] = 1;
    }
    if span == [0; 8] {
        span[7] = 1;
    }
    let sc = SpanContext::new(
        TraceId::from_bytes(trace),
        SpanId::from_bytes(span),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    Context::new().with_remote_span_context(sc)
}

/// The hex trace id of [`run_context`].
pub fn run_trace_id(run_id: &str) -> String {
    run_context(run_id)
        .span()
        .span_context()
        .trace_id()
        .to_string()
}

/// Puts `span` (a run's `invoke_agent` span) in the run's trace. Call
/// before the span is first entered; without an OTel layer it does nothing.
pub fn continue_run_trace(span: &tracing::Span, run_id: &str) {
    let _ = span.set_parent(run_context(run_id));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_cx() -> Context {
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::from_key_value([("vendor", "x")]).unwrap(),
        );
        Context::new().with_remote_span_context(sc)
    }

    #[test]
    fn inject_extract_round_trip_keeps_other_keys() {
        let mut meta = Map::new();
        meta.insert("dev.bureau/run_id".into(), Value::String("r1".into()));
        assert!(inject(&valid_cx(), &mut meta));
        assert_eq!(
            meta["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(meta["tracestate"], "vendor=x");
        assert_eq!(meta["dev.bureau/run_id"], "r1");
        let cx = extract(&meta).unwrap();
        let span = cx.span();
        let sc = span.span_context();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_remote());
        assert!(sc.is_sampled());
        assert_eq!(sc.trace_state().get("vendor"), Some("x"));
    }

    #[test]
    fn invalid_context_is_not_injected() {
        let mut meta = Map::new();
        assert!(!inject(&Context::new(), &mut meta));
        assert!(meta.is_empty());
        // Without a subscriber the current span has no context.
        assert!(!inject_current(&mut meta));
        assert!(meta.is_empty());
    }

    #[test]
    fn garbage_traceparent_is_ignored() {
        for bad in [
            Value::String("garbage".into()),
            Value::String("00-00000000000000000000000000000000-00f067aa0ba902b7-01".into()),
            Value::String("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01".into()),
            Value::String("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            Value::String("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01".into()),
            Value::String("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01".into()),
            Value::String("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra".into()),
            Value::Number(7.into()),
            Value::Null,
        ] {
            let mut meta = Map::new();
            meta.insert("traceparent".into(), bad.clone());
            meta.insert("tracestate".into(), Value::String("=,=".into()));
            assert!(extract(&meta).is_none(), "{bad} was accepted");
            // Setting the parent from it is a no-op, not an error.
            set_parent_from_meta(&tracing::Span::none(), &meta);
        }
        assert!(extract(&Map::new()).is_none());
    }

    #[test]
    fn a_run_always_maps_to_the_same_trace() {
        let a = run_context("0195f0d2-0000-7000-8000-000000000001");
        let b = run_context("0195f0d2-0000-7000-8000-000000000001");
        let c = run_context("0195f0d2-0000-7000-8000-000000000002");
        let (a, b, c) = (a.span(), b.span(), c.span());
        assert!(a.span_context().is_valid());
        assert_eq!(a.span_context(), b.span_context());
        assert_ne!(a.span_context().trace_id(), c.span_context().trace_id());
        assert_eq!(
            run_trace_id("0195f0d2-0000-7000-8000-000000000001"),
            a.span_context().trace_id().to_string()
        );
    }
}
