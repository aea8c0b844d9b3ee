//! `mcpServers` JSON files (Claude Desktop, Claude Code, Cursor, Inspector,
//! VS Code) into servers. Which keys are honoured, ignored or refused is
//! documented in [`crate::mcp`].

use std::path::Path;

use bureau_protocol::McpServer;

use crate::error::{ConfigError, Location};
use crate::expand::Expander;
use crate::locate::{KeyPath, Segment, location_in};
use crate::mcp::{JsonFile, ServerContext, build_server};

/// Reads the servers of an `mcpServers` (or VS Code `servers`) JSON file.
/// `origin` is the file's path: relative `cwd`/`command` paths resolve
/// against its folder, and errors name it. Entries with `"disabled": true`
/// are skipped. Servers come back in file order.
#[tracing::instrument(skip_all, fields(origin = %origin.display()))]
pub fn parse_mcp_servers_json(
    text: &str,
    origin: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<McpServer>, ConfigError> {
    let base_dir = origin.parent().unwrap_or(Path::new(""));
    // Windows editors may start the file with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // A derived struct would also accept a JSON array, field by field.
    if !text.trim_start().starts_with('{') {
        return Err(ConfigError::Syntax {
            at: Location::file(origin),
            message: "the file is not a JSON object; write {\"mcpServers\": {\"NAME\": {...}}}"
                .to_owned(),
        });
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let file: JsonFile =
        serde_path_to_error::deserialize(&mut de).map_err(|e| json_error(e, origin))?;
    de.end().map_err(|e| ConfigError::Syntax {
        at: Location {
            path: origin.to_path_buf(),
            line: u32::try_from(e.line()).ok(),
            column: u32::try_from(e.column()).ok(),
        },
        message: "invalid JSON: text after the end of the object".to_owned(),
    })?;
    let locate = |path: &KeyPath| locate_json_key(origin, text, path);

    let (top, entries) = match (file.mcp_servers, file.servers) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::Invalid {
                at: Location::file(origin),
                key_path: "servers".to_owned(),
                message: "appears beside \"mcpServers\"; keep one of the two objects".to_owned(),
            });
        }
        (Some(m), None) => ("mcpServers", m.0),
        (None, Some(s)) => ("servers", s.0),
        (None, None) => {
            return Err(ConfigError::Invalid {
                at: Location::file(origin),
                key_path: "mcpServers".to_owned(),
                message:
                    "is missing: the file has neither an \"mcpServers\" object (Claude Desktop, \
                          Claude Code, Cursor) nor a \"servers\" object (VS Code); add one"
                        .to_owned(),
            });
        }
    };
    let inputs = file.inputs.unwrap_or_default();
    if !inputs.is_empty() {
        let ids: Vec<String> = inputs
            .iter()
            .map(|i| i.id.clone().unwrap_or_else(|| "?".to_owned()))
            .collect();
        let at = KeyPath::root("inputs");
        return Err(ConfigError::Invalid {
            at: locate(&at),
            key_path: at.to_string(),
            message: format!(
                "declares prompted inputs ({}), which Bureau cannot ask for; put each value in an \
                 environment variable, reference it as ${{env:NAME}}, and remove \"inputs\"",
                ids.join(", ")
            ),
        });
    }

    let expander = Expander::new(env, Some(base_dir));
    let cx = ServerContext {
        base_dir,
        expander: &expander,
        locate: &locate,
    };
    let mut servers = Vec::new();
    for (name, entry) in entries {
        let path = KeyPath::root(top).key(&name);
        if entry.disabled {
            continue;
        }
        if let Some((key, hint)) = entry.refused_keys().first() {
            let at = path.key(key);
            return Err(ConfigError::Invalid {
                at: locate(&at),
                key_path: at.to_string(),
                message: (*hint).to_owned(),
            });
        }
        servers.push(build_server(&name, entry.into_fields(), &path, &cx)?);
    }
    Ok(servers)
}

fn json_error(e: serde_path_to_error::Error<serde_json::Error>, origin: &Path) -> ConfigError {
    let mut key_path = KeyPath::default();
    for segment in e.path().iter() {
        key_path = match segment {
            serde_path_to_error::Segment::Seq { index } => key_path.index(*index),
            serde_path_to_error::Segment::Map { key } => key_path.key(key),
            serde_path_to_error::Segment::Enum { variant } => key_path.key(variant),
            serde_path_to_error::Segment::Unknown => key_path.key("?"),
        };
    }
    let inner = e.into_inner();
    let at = Location {
        path: origin.to_path_buf(),
        line: u32::try_from(inner.line()).ok(),
        column: u32::try_from(inner.column()).ok(),
    };
    let full = inner.to_string();
    let suffix = format!(" at line {} column {}", inner.line(), inner.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    match inner.classify() {
        serde_json::error::Category::Data => {
            if let Some(field) = unknown_field(&message) {
                let ends_with_field =
                    matches!(key_path.segments().last(), Some(Segment::Key(k)) if k == field);
                let key_path = if ends_with_field {
                    key_path
                } else {
                    key_path.key(field)
                };
                let detail = format!(
                    "a server entry may have {HONOURED}, and may carry {IGNORED}, which are ignored"
                );
                ConfigError::UnknownKey {
                    at,
                    key_path: key_path.to_string(),
                    detail,
                }
            } else {
                ConfigError::Invalid {
                    at,
                    key_path: key_path.to_string(),
                    message: format!("is invalid: {message}"),
                }
            }
        }
        serde_json::error::Category::Io
        | serde_json::error::Category::Syntax
        | serde_json::error::Category::Eof => ConfigError::Syntax {
            at,
            message: format!("invalid JSON: {message}"),
        },
    }
}

const HONOURED: &str =
    "type, command, args, env, cwd, url, headers, call_timeout, connect_timeout, disabled";
const IGNORED: &str = "autoApprove, alwaysAllow, description";

/// The field named by serde's "unknown field `x`, expected ..." message.
pub(crate) fn unknown_field(message: &str) -> Option<&str> {
    message.strip_prefix("unknown field `")?.split('`').next()
}

/// Best-effort position of a key path in JSON text: each key is searched
/// as `"key":` after the previous one. Good enough to point at the right
/// line of a hand-written file; falls back to the file alone.
fn locate_json_key(origin: &Path, text: &str, path: &KeyPath) -> Location {
    let mut pos = 0;
    let mut found = None;
    for segment in path.segments() {
        let Segment::Key(key) = segment else { continue };
        let Ok(quoted) = serde_json::to_string(key) else {
            break;
        };
        let mut from = pos;
        let hit = loop {
            let Some(i) = text[from..].find(&quoted) else {
                break None;
            };
            let start = from + i;
            let after = start + quoted.len();
            if text[after..].trim_start().starts_with(':') {
                break Some(start);
            }
            from = after;
        };
        match hit {
            Some(start) => {
                found = Some(start);
                pos = start + quoted.len();
            }
            None => break,
        }
    }
    match found {
        Some(offset) => location_in(origin, text, offset),
        None => Location::file(origin),
    }
}
