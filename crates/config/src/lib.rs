//! Bureau's configuration: `bureau.toml` and `mcpServers` JSON files into a
//! validated [`Config`], one section per subsystem.
//!
//! This crate owns the file formats, the embedded defaults
//! ([`Config::default`]), validation with errors that name the file, line,
//! key path and the fix, `${VAR}` expansion, and the JSON schema of the file.
//! It must not know how any section is used, and it never reads the process
//! environment: functions that expand `${VAR}` take the environment as a
//! lookup function (only the `cli` crate reads the real one). The only I/O is
//! reading the files a config names (`mcp_servers_files`,
//! `system_prompt_file`).
//!
//! Relative paths inside a file resolve against the file's folder; pass an
//! absolute `origin` to get absolute paths out.

mod agents;
mod error;
mod expand;
mod explain;
mod json;
mod locate;
mod mcp;
mod names;
mod raw;
mod sections;
mod types;
mod units;
mod validate;

use std::path::Path;

pub use error::{ConfigError, Location};
pub use json::parse_mcp_servers_json;
pub use names::{redact_url, tool_pattern_matches};
pub use types::{
    AgentConfig, CircuitBreakerConfig, Config, DEFAULT_AGENT, DEFAULT_SYSTEM_PROMPT,
    DatabaseAccess, DatabaseConfig, DatabaseKind, GatewaySection, ModelConfig, OnExhausted,
    PolicySection, Price, Provider, RetrySection, SandboxBackend, SandboxSection, StoreBackend,
    StoreSection, TelemetrySection, ToolRetry,
};
pub use units::{parse_duration, parse_size};

use crate::expand::Expander;
use crate::locate::{Document, KeyPath};
use crate::raw::RawConfig;

/// Parses and validates the text of a `bureau.toml`. `origin` is the file's
/// path: errors name it, and relative paths resolve against its folder
/// (`mcp_servers_files` entries are read from there). `env` looks up
/// environment variables for `${VAR}` expansion.
#[tracing::instrument(skip_all, fields(origin = %origin.display()))]
pub fn parse_toml(
    text: &str,
    origin: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let root = toml::de::DeTable::parse(text).map_err(|e| ConfigError::Syntax {
        at: e.span().map_or_else(
            || Location::file(origin),
            |s| locate::location_in(origin, text, s.start),
        ),
        message: format!("invalid TOML: {}", e.message().trim_end()),
    })?;
    let doc = Document::new(origin, text, root);
    let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(&e, &doc))?;
    let base_dir = origin.parent().unwrap_or(Path::new(""));
    let expander = Expander::new(env, Some(base_dir));
    let checker = validate::Checker {
        doc: &doc,
        base_dir,
        expander: &expander,
        env,
    };
    validate::validate(raw, &checker)
}

/// Reads and validates a `bureau.toml` (see [`parse_toml`]).
pub fn load_file(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_toml(&text, path, env)
}

/// The JSON schema (2020-12) of `bureau.toml` as written: every key, its type
/// and its documentation. Unknown keys are refused (`additionalProperties: false`).
pub fn json_schema() -> serde_json::Value {
    schemars::schema_for!(RawConfig).to_value()
}

/// A deserialisation error from `toml`, with the key path found from its span.
fn toml_error(e: &toml::de::Error, doc: &Document<'_>) -> ConfigError {
    let message = e.message().trim_end().to_owned();
    let Some(span) = e.span() else {
        return ConfigError::Syntax {
            at: Location::file(doc.path),
            message,
        };
    };
    let at = doc.location_of_offset(span.start);
    let key_path = doc.key_path_at(&span).unwrap_or_default();
    if doc.is_key_span(&span) && json::unknown_field(&message).is_some() {
        return ConfigError::UnknownKey {
            at,
            key_path: key_path.to_string(),
            detail: message,
        };
    }
    if key_path == KeyPath::default() {
        return ConfigError::Invalid {
            at,
            key_path: "(top level)".to_owned(),
            message: format!("is invalid: {message}"),
        };
    }
    ConfigError::Invalid {
        at,
        key_path: key_path.to_string(),
        message: format!("is invalid: {message}; correct the value"),
    }
}
