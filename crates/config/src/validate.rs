//! Raw file → validated `Config`: defaults filled in, values checked,
//! relative paths resolved, `${VAR}` expanded, `mcp_servers_files` read.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bureau_protocol::McpServer;

use crate::error::{ConfigError, Location};
use crate::expand::Expander;
use crate::json::parse_mcp_servers_json;
use crate::locate::{Document, KeyPath};
use crate::mcp::{ServerContext, ServerFields, build_server, expand_error, resolve};
use crate::names::check_tool_pattern;
use crate::raw::{RawConfig, RawDuration, RawModel, RawProvider, RawRetry};
use crate::types::{Config, DEFAULT_AGENT, ModelConfig, Price, Provider, RetrySection};
use crate::units::parse_duration;

/// What validation needs from the file being read.
pub(crate) struct Checker<'a> {
    pub doc: &'a Document<'a>,
    pub base_dir: &'a Path,
    pub expander: &'a Expander<'a>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl Checker<'_> {
    pub(crate) fn at(&self, path: &KeyPath) -> Location {
        self.doc.locate(path)
    }

    pub(crate) fn invalid(&self, path: &KeyPath, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            at: self.at(path),
            key_path: path.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn expand(&self, path: &KeyPath, value: &str) -> Result<String, ConfigError> {
        self.expander
            .expand(value)
            .map_err(|e| expand_error(e, path, &|p| self.at(p)))
    }

    pub(crate) fn duration(
        &self,
        path: &KeyPath,
        raw: &Option<RawDuration>,
    ) -> Result<Option<Duration>, ConfigError> {
        match raw {
            None => Ok(None),
            Some(RawDuration(text)) => parse_duration(text)
                .map(Some)
                .map_err(|m| self.invalid(path, m)),
        }
    }

    /// A duration that must be positive, or `default`.
    pub(crate) fn positive_duration(
        &self,
        path: &KeyPath,
        raw: &Option<RawDuration>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match self.duration(path, raw)? {
            None => Ok(default),
            Some(d) if d.is_zero() => {
                Err(self.invalid(path, "is zero; give a positive duration like \"30s\""))
            }
            Some(d) => Ok(d),
        }
    }

    /// An integer that must be at least `min`, or `default`.
    pub(crate) fn at_least<T: PartialOrd + Copy + std::fmt::Display>(
        &self,
        path: &KeyPath,
        value: Option<T>,
        min: T,
        default: T,
    ) -> Result<T, ConfigError> {
        match value {
            Some(v) if v < min => {
                Err(self.invalid(path, format!("is {v}; it must be at least {min}")))
            }
            Some(v) => Ok(v),
            None => Ok(default),
        }
    }

    pub(crate) fn http_url(&self, path: &KeyPath, raw: &str) -> Result<String, ConfigError> {
        let url = self.expand(path, raw)?;
        if url.starts_with("http://") || url.starts_with("https://") {
            Ok(url)
        } else {
            Err(self.invalid(
                path,
                format!(
                    "is \"{}\", which is not an http:// or https:// URL; fix the URL",
                    crate::names::redact_url(&url)
                ),
            ))
        }
    }

    pub(crate) fn patterns(
        &self,
        path: &KeyPath,
        patterns: Vec<String>,
    ) -> Result<Vec<String>, ConfigError> {
        for (i, pattern) in patterns.iter().enumerate() {
            check_tool_pattern(pattern)
                .map_err(|m| self.invalid(&path.index(i), format!("\"{pattern}\" {m}")))?;
        }
        Ok(patterns)
    }

    pub(crate) fn retry(
        &self,
        path: &KeyPath,
        raw: &RawRetry,
        default: RetrySection,
    ) -> Result<RetrySection, ConfigError> {
        let max_attempts = self.at_least(
            &path.key("max_attempts"),
            raw.max_attempts,
            1,
            default.max_attempts,
        )?;
        let base_delay = self
            .duration(&path.key("base_delay"), &raw.base_delay)?
            .unwrap_or(default.base_delay);
        let max_delay = self
            .duration(&path.key("max_delay"), &raw.max_delay)?
            .unwrap_or(default.max_delay);
        if base_delay > max_delay {
            return Err(self.invalid(
                &path.key("base_delay"),
                format!(
                    "({}) is longer than max_delay ({}); make base_delay the shorter of the two",
                    crate::units::format_duration(base_delay),
                    crate::units::format_duration(max_delay)
                ),
            ));
        }
        Ok(RetrySection {
            max_attempts,
            base_delay,
            max_delay,
        })
    }
}

pub(crate) fn validate(raw: RawConfig, cx: &Checker<'_>) -> Result<Config, ConfigError> {
    let defaults = Config::default();
    let mut models = BTreeMap::new();
    for (name, model) in &raw.models {
        models.insert(name.clone(), check_model(name, model, cx)?);
    }
    let mut agents = BTreeMap::new();
    for (name, agent) in raw.agents {
        let checked = crate::agents::check_agent(&name, agent, &models, cx)?;
        agents.insert(name, checked);
    }
    if !agents.contains_key(DEFAULT_AGENT) {
        agents.insert(
            DEFAULT_AGENT.to_owned(),
            crate::types::AgentConfig::default(),
        );
    }
    let mcp_servers = check_servers(raw.mcp_servers, &raw.mcp_servers_files, cx)?;
    let gateway = crate::types::GatewaySection {
        allowed_tools: match raw.gateway.allowed_tools {
            Some(p) => cx.patterns(&KeyPath::root("gateway").key("allowed_tools"), p)?,
            None => defaults.gateway.allowed_tools,
        },
    };
    Ok(Config {
        models,
        agents,
        mcp_servers,
        gateway,
        sandbox: crate::sections::check_sandbox(&raw.sandbox, cx)?,
        store: crate::sections::check_store(&raw.store, cx)?,
        telemetry: crate::sections::check_telemetry(&raw.telemetry, cx)?,
        policy: crate::sections::check_policy(&raw.policy, cx),
        databases: crate::sections::check_databases(&raw.databases, cx)?,
    })
}

fn check_model(name: &str, raw: &RawModel, cx: &Checker<'_>) -> Result<ModelConfig, ConfigError> {
    let path = KeyPath::root("models").key(name);
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        || name.is_empty()
    {
        return Err(cx.invalid(
            &path,
            "is not a valid model name: use letters, digits, `_`, `-` and `.` (no `:`, which marks provider:model); rename it",
        ));
    }
    let provider = match raw.provider {
        Some(RawProvider::OpenAi) => Provider::OpenAi,
        Some(RawProvider::Anthropic) => Provider::Anthropic,
        Some(RawProvider::Scripted) => Provider::Scripted,
        None => {
            return Err(cx.invalid(
                &path,
                "has no `provider`; add provider = \"openai\", \"anthropic\" or \"scripted\"",
            ));
        }
    };
    let model = match raw.model.as_deref().map(str::trim) {
        Some(m) if !m.is_empty() => m.to_owned(),
        _ => {
            return Err(cx.invalid(
                &path,
                "has no `model`; add the provider's model name (e.g. model = \"gpt-4o\"), or for scripted the script's path",
            ));
        }
    };
    let model = match provider {
        Provider::Scripted => resolve(cx.base_dir, &model).display().to_string(),
        Provider::OpenAi | Provider::Anthropic => model,
    };
    let mut config = ModelConfig::new(provider, model);
    if let Some(url) = &raw.base_url {
        config.base_url = Some(cx.http_url(&path.key("base_url"), url)?);
    }
    if let Some(var) = &raw.api_key_env {
        if !is_env_name(var) {
            return Err(cx.invalid(
                &path.key("api_key_env"),
                format!("is \"{var}\"; give the *name* of the environment variable that holds the key, like \"OPENAI_API_KEY\" (never the key itself)"),
            ));
        }
        config.api_key_env = Some(var.clone());
    }
    config.stream = raw.stream.unwrap_or(config.stream);
    config.max_output_tokens = match raw.max_output_tokens {
        Some(0) => {
            return Err(cx.invalid(
                &path.key("max_output_tokens"),
                "is 0; it must be at least 1 (or leave it out)",
            ));
        }
        other => other,
    };
    config.timeout = cx.positive_duration(&path.key("timeout"), &raw.timeout, config.timeout)?;
    if let Some(price) = &raw.price {
        for (key, v) in [
            ("input_per_mtok", price.input_per_mtok),
            ("output_per_mtok", price.output_per_mtok),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(cx.invalid(
                    &path.key("price").key(key),
                    format!("is {v}; give a price of zero or more USD per million tokens"),
                ));
            }
        }
        config.price = Some(Price {
            input_per_mtok: price.input_per_mtok,
            output_per_mtok: price.output_per_mtok,
        });
    }
    config.retry = cx.retry(&path.key("retry"), &raw.retry, RetrySection::default())?;
    Ok(config)
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_servers(
    tables: BTreeMap<String, crate::raw::RawMcpServer>,
    files: &[String],
    cx: &Checker<'_>,
) -> Result<Vec<McpServer>, ConfigError> {
    let locate = |p: &KeyPath| cx.at(p);
    let server_cx = ServerContext {
        base_dir: cx.base_dir,
        expander: cx.expander,
        locate: &locate,
    };
    // (server, where it was defined) in order.
    let mut servers: Vec<(McpServer, String)> = Vec::new();
    for (name, raw) in tables {
        let path = KeyPath::root("mcp_servers").key(&name);
        let fields = ServerFields {
            kind: raw.kind,
            command: raw.command,
            args: raw.args,
            env: raw.env,
            cwd: raw.cwd,
            url: raw.url,
            headers: raw.headers,
            call_timeout: raw.call_timeout.map(|d| d.0),
            connect_timeout: raw.connect_timeout.map(|d| d.0),
        };
        let origin = format!("{} ([mcp_servers.{name}])", cx.at(&path));
        servers.push((build_server(&name, fields, &path, &server_cx)?, origin));
    }
    for (i, file) in files.iter().enumerate() {
        let path = KeyPath::root("mcp_servers_files").index(i);
        let file_path = resolve(cx.base_dir, &cx.expand(&path, file)?);
        let text = std::fs::read_to_string(&file_path).map_err(|source| ConfigError::Read {
            path: file_path.clone(),
            source,
        })?;
        for server in parse_mcp_servers_json(&text, &file_path, cx.env)? {
            let origin = format!("{} (\"{}\")", file_path.display(), server.name);
            servers.push((server, origin));
        }
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (server, origin) in &servers {
        if let Some(first) = seen.get(&server.name) {
            return Err(ConfigError::DuplicateServer {
                name: server.name.clone(),
                first: first.clone(),
                second: origin.clone(),
            });
        }
        seen.insert(server.name.clone(), origin.clone());
    }
    Ok(servers.into_iter().map(|(s, _)| s).collect())
}
