//! The local trace store: every span also lands in `traces.db` (SQLite) in
//! the data dir, so a run can be shown and exported without a collector.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Array, KeyValue, Value as OtelValue};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use crate::TelemetryError;
use crate::names::{BUREAU_RUN_ID, GEN_AI_CONVERSATION_ID};

/// The file name of the trace store in a data dir.
pub const TRACES_DB: &str = "traces.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT,
    attributes TEXT NOT NULL,
    events TEXT NOT NULL,
    scope TEXT NOT NULL,
    run_id TEXT,
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_run ON spans (run_id);
";

/// An attribute value as stored (and as OTLP JSON types it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    Bool(bool),
    Int(i64),
    Double(f64),
    String(String),
    Array(Vec<AttrValue>),
}

impl AttrValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            _ => None,
        }
    }
}

/// A span event (an error logged inside a span, for instance).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub name: String,
    pub time_unix_nano: u64,
    pub attributes: BTreeMap<String, AttrValue>,
}

/// `unset`, `ok` or `error`, as OTel has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanStatus {
    Unset,
    Ok,
    Error,
}

/// One finished span as the store keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredSpan {
    pub trace_id: String,
    pub span_id: String,
    /// `None` for a root; may name a span that is not stored (a remote
    /// parent, or a run's virtual parent).
    pub parent_span_id: Option<String>,
    pub name: String,
    pub kind: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub status: SpanStatus,
    pub status_message: Option<String>,
    pub attributes: BTreeMap<String, AttrValue>,
    pub events: Vec<StoredEvent>,
    /// The instrumentation scope (the `tracing` target's crate).
    pub scope: String,
}

impl StoredSpan {
    pub fn duration_ns(&self) -> u64 {
        self.end_unix_nano.saturating_sub(self.start_unix_nano)
    }

    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes.get(key)
    }
}

/// The SQLite file of spans: written by [`StoreExporter`], read by
/// `bureau trace`.
#[derive(Clone, Debug)]
pub struct TraceStore {
    conn: Arc<Mutex<Connection>>,
}

impl TraceStore {
    /// Opens (creating) `traces.db` in `data_dir`.
    pub fn open_in(data_dir: &Path) -> Result<Self, TelemetryError> {
        std::fs::create_dir_all(data_dir).map_err(|source| TelemetryError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        Self::open(&data_dir.join(TRACES_DB))
    }

    pub fn open(path: &Path) -> Result<Self, TelemetryError> {
        let store = |source| TelemetryError::Store {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(store)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(store)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(store)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(store)?;
        conn.execute_batch(SCHEMA).map_err(store)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes spans in one transaction (a span seen twice is replaced).
    pub fn write(&self, spans: &[StoredSpan]) -> Result<(), rusqlite::Error> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO spans (trace_id, span_id, parent_span_id, name, kind,
                 start_ns, end_ns, status, status_message, attributes, events, scope, run_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            for s in spans {
                let run_id = s
                    .attr(GEN_AI_CONVERSATION_ID)
                    .or_else(|| s.attr(BUREAU_RUN_ID))
                    .and_then(AttrValue::as_str);
                let status = match s.status {
                    SpanStatus::Unset => "unset",
                    SpanStatus::Ok => "ok",
                    SpanStatus::Error => "error",
                };
                stmt.execute(params![
                    s.trace_id,
                    s.span_id,
                    s.parent_span_id,
                    s.name,
                    s.kind,
                    s.start_unix_nano as i64,
                    s.end_unix_nano as i64,
                    status,
                    s.status_message,
                    serde_json::to_string(&s.attributes).unwrap_or_else(|_| "{}".into()),
                    serde_json::to_string(&s.events).unwrap_or_else(|_| "[]".into()),
                    s.scope,
                    run_id,
                ])?;
            }
        }
        tx.commit()
    }

    /// The trace ids a run's spans are in, oldest first.
    pub fn traces_of_run(&self, run_id: &str) -> Result<Vec<String>, TelemetryError> {
        let conn = self.lock();
        let q = || -> rusqlite::Result<Vec<String>> {
            let mut stmt = conn.prepare(
                "SELECT trace_id, MIN(start_ns) AS s FROM spans WHERE run_id = ?1
                 GROUP BY trace_id ORDER BY s",
            )?;
            let rows = stmt.query_map([run_id], |r| r.get::<_, String>(0))?;
            rows.collect()
        };
        q().map_err(TelemetryError::Read)
    }

    /// Every span of the traces a run is in, by start time.
    pub fn spans_of_run(&self, run_id: &str) -> Result<Vec<StoredSpan>, TelemetryError> {
        let mut out = Vec::new();
        for trace in self.traces_of_run(run_id)? {
            out.extend(self.spans_of_trace(&trace)?);
        }
        out.sort_by(|a, b| (a.start_unix_nano, &a.span_id).cmp(&(b.start_unix_nano, &b.span_id)));
        Ok(out)
    }

    pub fn spans_of_trace(&self, trace_id: &str) -> Result<Vec<StoredSpan>, TelemetryError> {
        let conn = self.lock();
        let q = || -> rusqlite::Result<Vec<StoredSpan>> {
            let mut stmt = conn.prepare(
                "SELECT trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status,
                 status_message, attributes, events, scope FROM spans WHERE trace_id = ?1
                 ORDER BY start_ns, span_id",
            )?;
            let rows = stmt.query_map([trace_id], |r| {
                let status: String = r.get(7)?;
                let attrs: String = r.get(9)?;
                let events: String = r.get(10)?;
                Ok(StoredSpan {
                    trace_id: r.get(0)?,
                    span_id: r.get(1)?,
                    parent_span_id: r.get(2)?,
                    name: r.get(3)?,
                    kind: r.get(4)?,
                    start_unix_nano: r.get::<_, i64>(5)? as u64,
                    end_unix_nano: r.get::<_, i64>(6)? as u64,
                    status: match status.as_str() {
                        "ok" => SpanStatus::Ok,
                        "error" => SpanStatus::Error,
                        _ => SpanStatus::Unset,
                    },
                    status_message: r.get(8)?,
                    attributes: serde_json::from_str(&attrs).unwrap_or_default(),
                    events: serde_json::from_str(&events).unwrap_or_default(),
                    scope: r.get(11)?,
                })
            })?;
            rows.collect()
        };
        q().map_err(TelemetryError::Read)
    }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn attr_value(v: &OtelValue) -> AttrValue {
    match v {
        OtelValue::Bool(b) => AttrValue::Bool(*b),
        OtelValue::I64(i) => AttrValue::Int(*i),
        OtelValue::F64(f) => AttrValue::Double(*f),
        OtelValue::String(s) => AttrValue::String(s.to_string()),
        OtelValue::Array(a) => AttrValue::Array(match a {
            Array::Bool(v) => v.iter().map(|b| AttrValue::Bool(*b)).collect(),
            Array::I64(v) => v.iter().map(|i| AttrValue::Int(*i)).collect(),
            Array::F64(v) => v.iter().map(|f| AttrValue::Double(*f)).collect(),
            Array::String(v) => v.iter().map(|s| AttrValue::String(s.to_string())).collect(),
            _ => Vec::new(),
        }),
        _ => AttrValue::String(v.to_string()),
    }
}

fn attrs<'a>(kvs: impl IntoIterator<Item = &'a KeyValue>) -> BTreeMap<String, AttrValue> {
    kvs.into_iter()
        .map(|kv| (kv.key.to_string(), attr_value(&kv.value)))
        .collect()
}

/// The stored form of an SDK span.
pub fn stored_span(s: &SpanData) -> StoredSpan {
    let (status, status_message) = match &s.status {
        Status::Unset => (SpanStatus::Unset, None),
        Status::Ok => (SpanStatus::Ok, None),
        Status::Error { description } => (
            SpanStatus::Error,
            (!description.is_empty()).then(|| description.to_string()),
        ),
    };
    let kind = match s.span_kind {
        SpanKind::Client => "client",
        SpanKind::Server => "server",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
    };
    StoredSpan {
        trace_id: s.span_context.trace_id().to_string(),
        span_id: s.span_context.span_id().to_string(),
        parent_span_id: (s.parent_span_id != opentelemetry::trace::SpanId::INVALID)
            .then(|| s.parent_span_id.to_string()),
        name: s.name.to_string(),
        kind: kind.into(),
        start_unix_nano: unix_nanos(s.start_time),
        end_unix_nano: unix_nanos(s.end_time),
        status,
        status_message,
        attributes: attrs(&s.attributes),
        events: s
            .events
            .iter()
            .map(|e| StoredEvent {
                name: e.name.to_string(),
                time_unix_nano: unix_nanos(e.timestamp),
                attributes: attrs(&e.attributes),
            })
            .collect(),
        scope: s.instrumentation_scope.name().to_string(),
    }
}

/// A `SpanExporter` that writes to a [`TraceStore`].
#[derive(Debug)]
pub struct StoreExporter {
    store: TraceStore,
}

impl StoreExporter {
    pub fn new(store: TraceStore) -> Self {
        Self { store }
    }
}

impl SpanExporter for StoreExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans: Vec<StoredSpan> = batch.iter().map(stored_span).collect();
        self.store
            .write(&spans)
            .map_err(|e| OTelSdkError::InternalFailure(format!("trace store: {e}")))
    }
}
