//! Stored spans in the OTLP/JSON encoding (`ExportTraceServiceRequest`):
//! hex ids, nanosecond times as strings, typed attribute values.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::store::{AttrValue, SpanStatus, StoredSpan};

fn any_value(v: &AttrValue) -> Value {
    match v {
        AttrValue::Bool(b) => json!({ "boolValue": b }),
        AttrValue::Int(i) => json!({ "intValue": i.to_string() }),
        AttrValue::Double(f) => json!({ "doubleValue": f }),
        AttrValue::String(s) => json!({ "stringValue": s }),
        AttrValue::Array(a) => {
            json!({ "arrayValue": { "values": a.iter().map(any_value).collect::<Vec<_>>() } })
        }
    }
}

fn attributes(map: &BTreeMap<String, AttrValue>) -> Value {
    Value::Array(
        map.iter()
            .map(|(k, v)| json!({ "key": k, "value": any_value(v) }))
            .collect(),
    )
}

/// OTLP `SpanKind` numbers.
fn kind(kind: &str) -> u8 {
    match kind {
        "internal" => 1,
        "server" => 2,
        "client" => 3,
        "producer" => 4,
        "consumer" => 5,
        _ => 0,
    }
}

fn span(s: &StoredSpan) -> Value {
    let mut status = serde_json::Map::new();
    status.insert(
        "code".into(),
        json!(match s.status {
            SpanStatus::Unset => 0,
            SpanStatus::Ok => 1,
            SpanStatus::Error => 2,
        }),
    );
    if let Some(m) = &s.status_message {
        status.insert("message".into(), json!(m));
    }
    json!({
        "traceId": s.trace_id,
        "spanId": s.span_id,
        "parentSpanId": s.parent_span_id.clone().unwrap_or_default(),
        "name": s.name,
        "kind": kind(&s.kind),
        "startTimeUnixNano": s.start_unix_nano.to_string(),
        "endTimeUnixNano": s.end_unix_nano.to_string(),
        "attributes": attributes(&s.attributes),
        "events": s.events.iter().map(|e| json!({
            "timeUnixNano": e.time_unix_nano.to_string(),
            "name": e.name,
            "attributes": attributes(&e.attributes),
        })).collect::<Vec<_>>(),
        "status": status,
    })
}

/// The spans as one OTLP/JSON export request, one scope per
/// instrumentation scope, under a `service.name` resource.
pub fn encode(service_name: &str, spans: &[StoredSpan]) -> Value {
    let mut scopes: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for s in spans {
        scopes.entry(&s.scope).or_default().push(span(s));
    }
    json!({
        "resourceSpans": [{
            "resource": {
                "attributes": [{ "key": "service.name", "value": { "stringValue": service_name } }]
            },
            "scopeSpans": scopes.into_iter().map(|(name, spans)| json!({
                "scope": { "name": name },
                "spans": spans,
            })).collect::<Vec<_>>(),
        }]
    })
}
