//! MCP server definitions — `[mcp_servers.NAME]` tables and `mcpServers`
//! JSON files — into `bureau_protocol::McpServer`.
//!
//! # The JSON files other tools write
//! Accepted shapes: `{"mcpServers": {NAME: {...}}}` (Claude Desktop, Claude
//! Code, Cursor, Inspector) and `{"servers": {NAME: {...}}, "inputs": [...]}`
//! (VS Code). Other top-level keys are ignored: these files are often a
//! whole settings file of another tool, and only the servers are ours.
//!
//! Inside one server entry Bureau is strict, because a silently ignored key
//! is a setting the user believes in that does nothing:
//! - honoured: `type`, `command`, `args`, `env`, `cwd`, `url`, `headers`,
//!   `call_timeout`, `connect_timeout`, and `disabled` (`true` skips the
//!   entry entirely, before any `${VAR}` is expanded);
//! - ignored, because dropping them can only make Bureau stricter or they
//!   only describe: `autoApprove`, `alwaysAllow` (Bureau's policy decides
//!   approvals), `description`;
//! - refused with a hint: `timeout` (units differ between tools; write
//!   `call_timeout = "60s"`), `envFile` (put the variables in `env` or the
//!   environment), `disabledTools` (ignoring it would widen access; use an
//!   agent's `tools` patterns), `type: "sse"` (SSE-only servers are not
//!   supported), a non-empty VS Code `inputs` list and `${input:ID}`
//!   (nobody is there to answer a prompt);
//! - anything else is an unknown key.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bureau_protocol::{McpServer, McpServerSpec};
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};

use crate::error::{ConfigError, Location};
use crate::expand::{ExpandError, Expander};
use crate::locate::KeyPath;
use crate::names::is_valid_name;
use crate::units::parse_duration;

pub(crate) const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The fields of one server entry, whatever file it came from.
#[derive(Debug, Default)]
pub(crate) struct ServerFields {
    pub kind: Option<String>,
    pub command: Option<String>,
    pub args: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub cwd: Option<String>,
    pub url: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub call_timeout: Option<String>,
    pub connect_timeout: Option<String>,
}

/// What a server entry needs from the file it is in.
pub(crate) struct ServerContext<'a> {
    /// Relative `cwd` and `command` paths resolve against this folder.
    pub base_dir: &'a Path,
    pub expander: &'a Expander<'a>,
    /// The position of a key path in the file.
    pub locate: &'a dyn Fn(&KeyPath) -> Location,
}

enum Transport {
    Stdio,
    Http,
}

/// Checks and expands one server entry at `path` (`mcp_servers.NAME`).
pub(crate) fn build_server(
    name: &str,
    fields: ServerFields,
    path: &KeyPath,
    cx: &ServerContext<'_>,
) -> Result<McpServer, ConfigError> {
    let invalid = |at: &KeyPath, message: String| ConfigError::Invalid {
        at: (cx.locate)(at),
        key_path: at.to_string(),
        message,
    };
    if !is_valid_name(name) {
        return Err(invalid(
            path,
            "is not a valid server name: use letters, digits, `_` and `-` only (no dots or spaces: \
             tool names are `server.tool`); rename the server"
                .to_owned(),
        ));
    }
    let declared = match fields.kind.as_deref() {
        None => None,
        Some("stdio") => Some(Transport::Stdio),
        Some("http" | "streamable-http" | "streamableHttp") => Some(Transport::Http),
        Some("sse") => {
            return Err(invalid(
                &path.key("type"),
                "is \"sse\": servers that speak only the old HTTP+SSE transport are not supported; \
                 use the server's Streamable HTTP endpoint (type = \"http\") or run it over stdio"
                    .to_owned(),
            ));
        }
        Some(other) => {
            return Err(invalid(
                &path.key("type"),
                format!("is \"{other}\", which is not a transport; use \"stdio\" or \"http\""),
            ));
        }
    };
    let transport = match (&fields.command, &fields.url) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                path,
                "sets both `command` and `url`; keep `command` for a stdio server or `url` for a \
                 Streamable HTTP server, not both"
                    .to_owned(),
            ));
        }
        (None, None) => {
            return Err(invalid(
                path,
                "sets neither `command` nor `url`; add `command` (a stdio server) or `url` (a \
                 Streamable HTTP server)"
                    .to_owned(),
            ));
        }
        (Some(_), None) => Transport::Stdio,
        (None, Some(_)) => Transport::Http,
    };
    match (&declared, &transport) {
        (Some(Transport::Stdio), Transport::Http) => {
            return Err(invalid(
                &path.key("type"),
                "is \"stdio\" but the server has a `url`; use type = \"http\" or give a `command`"
                    .to_owned(),
            ));
        }
        (Some(Transport::Http), Transport::Stdio) => {
            return Err(invalid(
                &path.key("type"),
                "is \"http\" but the server has a `command`; use type = \"stdio\" or give a `url`"
                    .to_owned(),
            ));
        }
        _ => {}
    }

    let expand = |at: KeyPath, value: &str| -> Result<String, ConfigError> {
        cx.expander
            .expand(value)
            .map_err(|e| expand_error(e, &at, cx.locate))
    };
    let call_timeout = timeout(
        &fields.call_timeout,
        &path.key("call_timeout"),
        DEFAULT_CALL_TIMEOUT,
        cx,
    )?;
    let connect_timeout = timeout(
        &fields.connect_timeout,
        &path.key("connect_timeout"),
        DEFAULT_CONNECT_TIMEOUT,
        cx,
    )?;

    let spec = match transport {
        Transport::Stdio => {
            if fields.headers.is_some() {
                return Err(invalid(
                    &path.key("headers"),
                    "applies only to `url` servers; remove it, or pass values to a stdio server through `env`"
                        .to_owned(),
                ));
            }
            let command = expand(
                path.key("command"),
                fields.command.as_deref().unwrap_or_default(),
            )?;
            if command.trim().is_empty() {
                return Err(invalid(
                    &path.key("command"),
                    "is empty; name the program to start".to_owned(),
                ));
            }
            let command = if command.contains('/') && Path::new(&command).is_relative() {
                cx.base_dir.join(&command).display().to_string()
            } else {
                command
            };
            let mut args = Vec::new();
            for (i, arg) in fields.args.unwrap_or_default().iter().enumerate() {
                args.push(expand(path.key("args").index(i), arg)?);
            }
            let mut env = BTreeMap::new();
            for (key, value) in fields.env.unwrap_or_default() {
                let expanded = expand(path.key("env").key(&key), &value)?;
                env.insert(key, expanded);
            }
            let cwd = match fields.cwd {
                Some(cwd) => Some(resolve(cx.base_dir, &expand(path.key("cwd"), &cwd)?)),
                None => None,
            };
            McpServerSpec::Stdio {
                command,
                args,
                env,
                cwd,
            }
        }
        Transport::Http => {
            for (key, present) in [
                ("args", fields.args.is_some()),
                ("env", fields.env.is_some()),
                ("cwd", fields.cwd.is_some()),
            ] {
                if present {
                    return Err(invalid(
                        &path.key(key),
                        "applies only to stdio servers (`command`); remove it from this `url` server".to_owned(),
                    ));
                }
            }
            let url = expand(path.key("url"), fields.url.as_deref().unwrap_or_default())?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(
                    &path.key("url"),
                    format!(
                        "is \"{}\", which is not an http:// or https:// URL; give the server's Streamable HTTP endpoint",
                        crate::names::redact_url(&url)
                    ),
                ));
            }
            let mut headers = BTreeMap::new();
            for (key, value) in fields.headers.unwrap_or_default() {
                let expanded = expand(path.key("headers").key(&key), &value)?;
                headers.insert(key, expanded);
            }
            McpServerSpec::Http { url, headers }
        }
    };
    Ok(McpServer {
        name: name.to_owned(),
        spec,
        call_timeout_ms: millis(call_timeout),
        connect_timeout_ms: millis(connect_timeout),
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn timeout(
    value: &Option<String>,
    at: &KeyPath,
    default: Duration,
    cx: &ServerContext<'_>,
) -> Result<Duration, ConfigError> {
    let Some(text) = value else {
        return Ok(default);
    };
    let d = parse_duration(text).map_err(|message| ConfigError::Invalid {
        at: (cx.locate)(at),
        key_path: at.to_string(),
        message,
    })?;
    if d.is_zero() {
        return Err(ConfigError::Invalid {
            at: (cx.locate)(at),
            key_path: at.to_string(),
            message: "is zero; give a positive duration like \"60s\"".to_owned(),
        });
    }
    Ok(d)
}

/// Joins a relative path to `base`; absolute paths are kept.
pub(crate) fn resolve(base: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

pub(crate) fn expand_error(
    e: ExpandError,
    at: &KeyPath,
    locate: &dyn Fn(&KeyPath) -> Location,
) -> ConfigError {
    match e {
        ExpandError::Missing(var) => ConfigError::MissingVariable {
            at: locate(at),
            key_path: at.to_string(),
            var,
        },
        ExpandError::PromptedInput(id) => ConfigError::Invalid {
            at: locate(at),
            key_path: at.to_string(),
            message: format!(
                "uses ${{input:{id}}}, a VS Code prompted input, which Bureau cannot ask for; put the \
                 value in an environment variable and write ${{env:NAME}} instead"
            ),
        },
        ExpandError::Malformed(message) => ConfigError::Invalid {
            at: locate(at),
            key_path: at.to_string(),
            message: format!("has {message}"),
        },
    }
}

/// A JSON object kept in file order, with duplicate keys refused (serde_json
/// would silently keep the last one).
pub(crate) struct OrderedMap<V>(pub Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of servers by name")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, V)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom(format!(
                            "server `{key}` appears twice in this object; remove one"
                        )));
                    }
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(OrderedMap(entries))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

/// The top level of an `mcpServers` file; other keys are ignored.
#[derive(Deserialize)]
#[serde(expecting = "a JSON object with \"mcpServers\" (or \"servers\")")]
pub(crate) struct JsonFile {
    #[serde(rename = "mcpServers")]
    pub mcp_servers: Option<OrderedMap<JsonServer>>,
    /// VS Code's `.vscode/mcp.json`.
    pub servers: Option<OrderedMap<JsonServer>>,
    pub inputs: Option<Vec<JsonInput>>,
}

#[derive(Deserialize)]
pub(crate) struct JsonInput {
    pub id: Option<String>,
}

/// One entry of an `mcpServers` object; see the module docs for which keys
/// are honoured, ignored or refused.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a server object with \"command\" or \"url\""
)]
pub(crate) struct JsonServer {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub command: Option<String>,
    pub args: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub cwd: Option<String>,
    pub url: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub call_timeout: Option<String>,
    pub connect_timeout: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(rename = "autoApprove")]
    pub _auto_approve: Option<IgnoredAny>,
    #[serde(rename = "alwaysAllow")]
    pub _always_allow: Option<IgnoredAny>,
    #[serde(rename = "description")]
    pub _description: Option<IgnoredAny>,
    pub timeout: Option<IgnoredAny>,
    #[serde(rename = "envFile")]
    pub env_file: Option<IgnoredAny>,
    #[serde(rename = "disabledTools")]
    pub disabled_tools: Option<IgnoredAny>,
}

impl JsonServer {
    /// The keys refused with a hint, as (key, what to do instead).
    pub(crate) fn refused_keys(&self) -> Vec<(&'static str, &'static str)> {
        let mut refused = Vec::new();
        if self.timeout.is_some() {
            refused.push((
                "timeout",
                "is not read because tools disagree on its unit; write \"call_timeout\": \"60s\" instead",
            ));
        }
        if self.env_file.is_some() {
            refused.push((
                "envFile",
                "is not supported; put the variables in \"env\" (with ${VAR} references) or in the environment",
            ));
        }
        if self.disabled_tools.is_some() {
            refused.push((
                "disabledTools",
                "is not supported, and ignoring it would offer those tools; limit tools with an agent's `tools` patterns in bureau.toml",
            ));
        }
        refused
    }

    pub(crate) fn into_fields(self) -> ServerFields {
        ServerFields {
            kind: self.kind,
            command: self.command,
            args: self.args,
            env: self.env,
            cwd: self.cwd,
            url: self.url,
            headers: self.headers,
            call_timeout: self.call_timeout,
            connect_timeout: self.connect_timeout,
        }
    }
}
