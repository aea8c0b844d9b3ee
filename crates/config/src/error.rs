//! The one error type of this crate and where an error was found.

use std::fmt;
use std::path::PathBuf;

/// Where in which file: `bureau.toml:12:5`, or just the file when the
/// position is not known (JSON values after parsing, missing keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    /// 1-based.
    pub line: Option<u32>,
    /// 1-based, in characters.
    pub column: Option<u32>,
}

impl Location {
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            line: None,
            column: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// Everything that can be wrong with a configuration. Each message names the
/// file, the position when known, the key path (`agents.analyst.max_turns`)
/// and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}; check that the file exists and is readable", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file is not valid TOML or JSON.
    #[error("{at}: {message}; fix the syntax")]
    Syntax { at: Location, message: String },

    /// A key this version does not know (a typo, or a setting from another tool).
    #[error(
        "{at}: unknown key `{key_path}` ({detail}); remove it or correct its spelling \
         (`bureau config schema` lists every key)"
    )]
    UnknownKey {
        at: Location,
        key_path: String,
        detail: String,
    },

    /// A value of the wrong type or out of range.
    #[error("{at}: `{key_path}` {message}")]
    Invalid {
        at: Location,
        key_path: String,
        message: String,
    },

    /// An agent's `model` names no `[models]` entry and has no `provider:` prefix.
    #[error(
        "{at}: agent `{agent}` uses model `{model}`, which is not defined; {}",
        unknown_model_hint(model, known)
    )]
    UnknownModel {
        at: Location,
        agent: String,
        model: String,
        known: Vec<String>,
    },

    /// `${VAR}` without a default, and `VAR` is not set.
    #[error(
        "{at}: `{key_path}` uses ${{{var}}} but the environment variable {var} is not set; \
         set it, or give a default with ${{{var}:-default}}"
    )]
    MissingVariable {
        at: Location,
        key_path: String,
        var: String,
    },

    /// Two MCP servers with one name (tool names `server.tool` must be unique).
    #[error(
        "MCP server `{name}` is defined twice: in {first} and in {second}; rename or remove one of them"
    )]
    DuplicateServer {
        name: String,
        first: String,
        second: String,
    },
}

fn unknown_model_hint(model: &str, known: &[String]) -> String {
    let prefixes = "or write provider:model (openai:gpt-4o, anthropic:claude-sonnet-4-5, scripted:path/to/script.json)";
    if known.is_empty() {
        format!("add a [models.{model}] table {prefixes}")
    } else {
        let list = known
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("use one of the defined models ({list}), add a [models.{model}] table, {prefixes}")
    }
}

impl ConfigError {
    /// Where the error was found, when it is tied to one place.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Syntax { at, .. }
            | Self::UnknownKey { at, .. }
            | Self::Invalid { at, .. }
            | Self::UnknownModel { at, .. }
            | Self::MissingVariable { at, .. } => Some(at),
            Self::Read { .. } | Self::DuplicateServer { .. } => None,
        }
    }
}
