//! The single-table sections: `[sandbox]`, `[store]`, `[telemetry]`, `[policy]`.

use crate::error::ConfigError;
use crate::locate::KeyPath;
use crate::mcp::resolve;
use crate::raw::{
    RawPolicy, RawSandbox, RawSandboxBackend, RawSize, RawStore, RawStoreBackend, RawTelemetry,
};
use crate::types::{
    PolicySection, SandboxBackend, SandboxSection, StoreBackend, StoreSection, TelemetrySection,
};
use crate::units::parse_size;
use crate::validate::Checker;

const MIN_MEMORY: u64 = 1024 * 1024;

pub(crate) fn check_sandbox(
    raw: &RawSandbox,
    cx: &Checker<'_>,
) -> Result<SandboxSection, ConfigError> {
    let path = KeyPath::root("sandbox");
    let d = SandboxSection::default();
    let memory_bytes = match &raw.memory {
        None => d.memory_bytes,
        Some(RawSize::Bytes(n)) => *n,
        Some(RawSize::Text(t)) => parse_size(t).map_err(|m| cx.invalid(&path.key("memory"), m))?,
    };
    if memory_bytes < MIN_MEMORY {
        return Err(cx.invalid(
            &path.key("memory"),
            format!(
                "is {memory_bytes} bytes; give at least \"1M\" (sizes without a unit are bytes)"
            ),
        ));
    }
    Ok(SandboxSection {
        backend: match raw.backend {
            Some(RawSandboxBackend::Native) | None => SandboxBackend::Native,
            Some(RawSandboxBackend::Gvisor) => SandboxBackend::Gvisor,
            Some(RawSandboxBackend::Microvm) => SandboxBackend::Microvm,
        },
        memory_bytes,
        pids: cx.at_least(&path.key("pids"), raw.pids, 1, d.pids)?,
        timeout: cx.positive_duration(&path.key("timeout"), &raw.timeout, d.timeout)?,
    })
}

pub(crate) fn check_store(raw: &RawStore, cx: &Checker<'_>) -> Result<StoreSection, ConfigError> {
    let path = KeyPath::root("store");
    match raw.backend.unwrap_or(RawStoreBackend::Sqlite) {
        RawStoreBackend::Sqlite => {
            if raw.url.is_some() {
                return Err(cx.invalid(
                    &path.key("url"),
                    "is set but the backend is sqlite; add backend = \"postgres\", or use `path` for a SQLite file",
                ));
            }
            Ok(StoreSection {
                backend: StoreBackend::Sqlite,
                path: raw.path.as_deref().map(|p| resolve(cx.base_dir, p)),
            })
        }
        RawStoreBackend::Postgres => {
            if raw.path.is_some() {
                return Err(cx.invalid(
                    &path.key("path"),
                    "applies only to sqlite; remove it, Postgres is reached through `url`",
                ));
            }
            let Some(url) = &raw.url else {
                return Err(cx.invalid(
                    &path,
                    "uses backend = \"postgres\" without a `url`; add url = \"postgres://user:${PGPASSWORD}@host/db\"",
                ));
            };
            let url = cx.expand(&path.key("url"), url)?;
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(cx.invalid(
                    &path.key("url"),
                    format!(
                        "is \"{}\"; a Postgres URL starts with postgres:// or postgresql://",
                        crate::names::redact_url(&url)
                    ),
                ));
            }
            Ok(StoreSection {
                backend: StoreBackend::Postgres { url },
                path: None,
            })
        }
    }
}

pub(crate) fn check_telemetry(
    raw: &RawTelemetry,
    cx: &Checker<'_>,
) -> Result<TelemetrySection, ConfigError> {
    let path = KeyPath::root("telemetry");
    Ok(TelemetrySection {
        otlp_endpoint: match &raw.otlp_endpoint {
            Some(url) => Some(cx.http_url(&path.key("otlp_endpoint"), url)?),
            None => None,
        },
        capture_content: raw.capture_content.unwrap_or(false),
    })
}

pub(crate) fn check_policy(raw: &RawPolicy, cx: &Checker<'_>) -> PolicySection {
    PolicySection {
        dir: raw.dir.as_deref().map(|d| resolve(cx.base_dir, d)),
    }
}
