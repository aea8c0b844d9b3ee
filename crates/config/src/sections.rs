//! The single-table sections: `[sandbox]`, `[store]`, `[telemetry]`, `[policy]`.

use crate::error::ConfigError;
use crate::locate::KeyPath;
use crate::mcp::resolve;
use crate::raw::{
    RawDatabase, RawDatabaseAccess, RawDatabaseKind, RawPolicy, RawSandbox, RawSandboxBackend,
    RawSize, RawStore, RawStoreBackend, RawTelemetry,
};
use crate::types::{
    DatabaseAccess, DatabaseConfig, DatabaseKind, PolicySection, SandboxBackend, SandboxSection,
    StoreBackend, StoreSection, TelemetrySection,
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
        python_packages: raw
            .python_packages
            .as_deref()
            .map(|p| resolve(cx.base_dir, p)),
        warm_pool: raw.warm_pool.unwrap_or(0),
        warm_imports: match &raw.warm_imports {
            None => Vec::new(),
            Some(mods) => {
                for (i, m) in mods.iter().enumerate() {
                    let ok = !m.is_empty()
                        && m.split('.').all(|part| {
                            !part.is_empty()
                                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                                && !part.starts_with(|c: char| c.is_ascii_digit())
                        });
                    if !ok {
                        return Err(cx.invalid(
                            &path.key("warm_imports").index(i),
                            format!(
                                "\"{m}\" is not a Python module name like \"pandas\" or \"os.path\""
                            ),
                        ));
                    }
                }
                mods.clone()
            }
        },
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

pub(crate) fn check_databases(
    raw: &std::collections::BTreeMap<String, RawDatabase>,
    cx: &Checker<'_>,
) -> Result<std::collections::BTreeMap<String, DatabaseConfig>, ConfigError> {
    let mut out = std::collections::BTreeMap::new();
    for (name, db) in raw {
        let path = KeyPath::root("databases").key(name);
        if !crate::names::is_valid_name(name) {
            return Err(cx.invalid(
                &path,
                "is not a valid database name; use letters, digits, `_` and `-`",
            ));
        }
        let kind = match db.kind {
            None => {
                return Err(cx.invalid(
                    &path.key("kind"),
                    "is missing; add kind = \"sqlite\" or kind = \"postgres\"",
                ));
            }
            Some(RawDatabaseKind::Sqlite) => {
                if db.url.is_some() {
                    return Err(cx.invalid(
                        &path.key("url"),
                        "is for postgres; a sqlite database takes `path`",
                    ));
                }
                let Some(p) = &db.path else {
                    return Err(cx.invalid(
                        &path.key("path"),
                        "is missing; give the SQLite file, relative to this file",
                    ));
                };
                DatabaseKind::Sqlite {
                    path: resolve(cx.base_dir, &cx.expand(&path.key("path"), p)?),
                }
            }
            Some(RawDatabaseKind::Postgres) => {
                if db.path.is_some() {
                    return Err(cx.invalid(
                        &path.key("path"),
                        "is for sqlite; a postgres database takes `url`",
                    ));
                }
                let Some(u) = &db.url else {
                    return Err(cx.invalid(
                        &path.key("url"),
                        "is missing; give the connection URL of the role the tools use, e.g. \"postgres://reader@127.0.0.1/app\"",
                    ));
                };
                let url = cx.expand(&path.key("url"), u)?;
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(cx.invalid(
                        &path.key("url"),
                        format!(
                            "is \"{}\", which is not a postgres:// URL",
                            crate::names::redact_url(&url)
                        ),
                    ));
                }
                DatabaseKind::Postgres { url }
            }
        };
        let max_bytes = match &db.max_bytes {
            None => 1 << 20,
            Some(RawSize::Bytes(n)) => *n,
            Some(RawSize::Text(t)) => {
                parse_size(t).map_err(|m| cx.invalid(&path.key("max_bytes"), m))?
            }
        };
        out.insert(
            name.clone(),
            DatabaseConfig {
                name: name.clone(),
                kind,
                access: match db.access {
                    Some(RawDatabaseAccess::ReadWrite) => DatabaseAccess::ReadWrite,
                    Some(RawDatabaseAccess::ReadOnly) | None => DatabaseAccess::ReadOnly,
                },
                classifier: db.classifier.unwrap_or(true),
                max_rows: cx.at_least(&path.key("max_rows"), db.max_rows, 1, 1000)?,
                max_bytes,
                timeout: cx.positive_duration(
                    &path.key("timeout"),
                    &db.timeout,
                    std::time::Duration::from_secs(10),
                )?,
            },
        );
    }
    Ok(out)
}

pub(crate) fn check_policy(raw: &RawPolicy, cx: &Checker<'_>) -> PolicySection {
    PolicySection {
        dir: raw.dir.as_deref().map(|d| resolve(cx.base_dir, d)),
    }
}
