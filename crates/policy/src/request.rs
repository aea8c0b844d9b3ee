//! What a call looks like to policy: [`Request`], and the table of built-in
//! actions that must agree with `bureau.cedarschema`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{PolicyError, Timestamp};

/// One tool call as policy sees it. The gateway builds it from a decoded
/// call; the CLI and policy examples parse it from JSON
/// ([`Request::from_json`]).
///
/// `args` are not the tool's raw arguments but the *policy attributes* the
/// gateway derives from them (for `sql.query`, `statement_class` from
/// parsing the statement; for `files.write`, `path`). Each built-in action
/// takes exactly the attributes its schema context declares; external
/// tools take none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The agent making the call: `Agent::"<agent>"`.
    pub agent: String,
    /// The user the agent acts for: `principal.user == User::"<user>"`.
    #[serde(default = "anonymous")]
    pub user: String,
    /// The qualified tool name, `server.tool`.
    pub tool: String,
    /// What the call touches. Required for built-in tools; for an external
    /// tool it is `Server::"<server>"` and may be left out.
    #[serde(default)]
    pub resource: Option<Resource>,
    /// Policy attributes of the arguments (see above).
    #[serde(default)]
    pub args: Map<String, Value>,
    /// Names of the tool arguments whose values came from data a tool
    /// returned rather than from the user's task.
    #[serde(default)]
    pub untrusted_args: BTreeSet<String>,
    /// What the call is estimated to cost, in US dollars (0 if unknown).
    #[serde(default)]
    pub estimated_cost_usd: f64,
    /// When the call is decided; policies see it as `context.now`, to the
    /// whole second.
    #[serde(default)]
    pub now: Timestamp,
}

fn anonymous() -> String {
    "anonymous".to_owned()
}

/// What a call touches; one Cedar entity type each.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// `Workspace::"<id>"`: files and code.
    Workspace(String),
    /// `Database::"<name>"`.
    Database(String),
    /// `Bucket::"<name>"`; the key or prefix is `context.key`.
    Bucket(String),
    /// `Server::"<name>"`: an external MCP server.
    Server(String),
}

impl Resource {
    pub(crate) fn kind(&self) -> ResourceKind {
        match self {
            Resource::Workspace(_) => ResourceKind::Workspace,
            Resource::Database(_) => ResourceKind::Database,
            Resource::Bucket(_) => ResourceKind::Bucket,
            Resource::Server(_) => ResourceKind::Server,
        }
    }

    pub(crate) fn id(&self) -> &str {
        match self {
            Resource::Workspace(id)
            | Resource::Database(id)
            | Resource::Bucket(id)
            | Resource::Server(id) => id,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResourceKind {
    Workspace,
    Database,
    Bucket,
    Server,
}

impl ResourceKind {
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            ResourceKind::Workspace => "Workspace",
            ResourceKind::Database => "Database",
            ResourceKind::Bucket => "Bucket",
            ResourceKind::Server => "Server",
        }
    }
}

/// The type of one policy attribute in `args`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArgType {
    String,
    Bool,
}

impl ArgType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ArgType::String => "a string",
            ArgType::Bool => "a boolean",
        }
    }
}

/// A built-in action: its resource type and the attributes it takes.
#[derive(Debug)]
pub(crate) struct ActionSpec {
    pub name: &'static str,
    pub resource: ResourceKind,
    pub args: &'static [(&'static str, ArgType)],
}

/// The action every tool that is not built in maps to.
pub(crate) const EXTERNAL_ACTION: &str = "call";

/// Built-in actions, as in `bureau.cedarschema` (a test checks they agree).
pub(crate) const ACTIONS: &[ActionSpec] = &[
    ActionSpec {
        name: "files.list",
        resource: ResourceKind::Workspace,
        args: &[("path", ArgType::String)],
    },
    ActionSpec {
        name: "files.read",
        resource: ResourceKind::Workspace,
        args: &[("path", ArgType::String)],
    },
    ActionSpec {
        name: "files.write",
        resource: ResourceKind::Workspace,
        args: &[("path", ArgType::String)],
    },
    ActionSpec {
        name: "sql.query",
        resource: ResourceKind::Database,
        args: &[("statement_class", ArgType::String)],
    },
    ActionSpec {
        name: "sql.schema",
        resource: ResourceKind::Database,
        args: &[],
    },
    ActionSpec {
        name: "sql.execute",
        resource: ResourceKind::Database,
        args: &[("statement_class", ArgType::String)],
    },
    ActionSpec {
        name: "objects.list",
        resource: ResourceKind::Bucket,
        args: &[("key", ArgType::String)],
    },
    ActionSpec {
        name: "objects.get",
        resource: ResourceKind::Bucket,
        args: &[("key", ArgType::String)],
    },
    ActionSpec {
        name: "objects.put",
        resource: ResourceKind::Bucket,
        args: &[("key", ArgType::String)],
    },
    ActionSpec {
        name: "python.exec",
        resource: ResourceKind::Workspace,
        args: &[("network", ArgType::Bool)],
    },
];

/// Attributes every action's context has, filled in by Bureau.
pub(crate) const COMMON_CONTEXT: &[&str] = &[
    "approved",
    "untrusted_args",
    "args_from_tool_output",
    "now",
    "estimated_cost_usd",
];

impl Request {
    /// Parses a request from JSON text (the shape documented in the crate
    /// docs). Only the shape is checked here; whether `args` fit the action
    /// is checked when the request is decided.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        serde_json::from_str(text).map_err(|e| PolicyError::RequestJson(e.to_string()))
    }

    /// Parses a request from a JSON value.
    pub fn from_value(value: Value) -> Result<Self, PolicyError> {
        serde_json::from_value(value).map_err(|e| PolicyError::RequestJson(e.to_string()))
    }

    /// A request with no arguments, no untrusted arguments, no cost, at
    /// the epoch; set the rest with struct update syntax.
    pub fn new(agent: impl Into<String>, user: impl Into<String>, tool: impl Into<String>) -> Self {
        Self {
            agent: agent.into(),
            user: user.into(),
            tool: tool.into(),
            resource: None,
            args: Map::new(),
            untrusted_args: BTreeSet::new(),
            estimated_cost_usd: 0.0,
            now: Timestamp::UNIX_EPOCH,
        }
    }

    /// `estimated_cost_usd` as a Cedar decimal literal.
    pub(crate) fn cost_decimal(&self) -> Result<String, PolicyError> {
        let c = self.estimated_cost_usd;
        if !c.is_finite() || !(0.0..1e12).contains(&c) {
            return Err(PolicyError::Request(format!(
                "estimated_cost_usd is {c}; give a cost between 0 and 1e12 dollars"
            )));
        }
        Ok(format!("{c:.4}"))
    }
}

/// Checks `args` against an action's attribute table.
pub(crate) fn check_args(
    action: &str,
    expected: &[(&str, ArgType)],
    args: &Map<String, Value>,
) -> Result<(), PolicyError> {
    let err = |message: String| PolicyError::Arguments {
        action: action.to_owned(),
        message,
    };
    let names = || {
        if expected.is_empty() {
            "none".to_owned()
        } else {
            expected
                .iter()
                .map(|(n, t)| format!("`{n}` ({})", t.name()))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    for key in args.keys() {
        if COMMON_CONTEXT.contains(&key.as_str()) {
            return Err(err(format!(
                "`{key}` is set by Bureau, not given in `args`; remove it (provenance goes in `untrusted_args`, cost in `estimated_cost_usd`, time in `now`)"
            )));
        }
        if !expected.iter().any(|(n, _)| n == key) {
            return Err(err(format!(
                "`{key}` is not one of its attributes (it takes {})",
                names()
            )));
        }
    }
    for (name, ty) in expected {
        let ok = match (args.get(*name), ty) {
            (None, _) => {
                return Err(err(format!("`{name}` is missing (it takes {})", names())));
            }
            (Some(Value::String(_)), ArgType::String) | (Some(Value::Bool(_)), ArgType::Bool) => {
                true
            }
            (Some(_), ArgType::String | ArgType::Bool) => false,
        };
        if !ok {
            return Err(err(format!("`{name}` must be {}", ty.name())));
        }
    }
    Ok(())
}
