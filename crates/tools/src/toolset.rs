//! Tools as data: what a tool is called, its argument schema, what it needs
//! and how it runs. A [`Toolset`] offers tools and decodes calls; deciding
//! whether a call may run is someone else's job.

use std::sync::Arc;

use bureau_protocol::{ToolResult, ToolSpec};
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{ToolError, Workspace};

/// What a tool touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// The run's workspace folder.
    Workspace,
    /// A named database from config (`sql.*`).
    Database,
    /// A named bucket from config (`objects.*`).
    Bucket,
    /// A sandbox that runs code (`python.exec`).
    Sandbox,
}

/// How a tool uses a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    Write,
}

/// One thing a tool needs, for policy to weigh and a sandbox to enforce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    pub resource: Resource,
    pub access: Access,
}

/// Where a call's (synchronous, possibly blocking) work runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Execution {
    /// Bounded work measured in microseconds (a capped read or write of one
    /// file): run on the caller's thread, with panics caught. Handing it to
    /// another thread would cost more than the work.
    Inline,
    /// Work whose cost grows with what it finds (a recursive listing):
    /// run on the blocking thread pool, under the gateway's call timeout.
    Blocking,
}

/// A tool's definition: its spec as offered to models and what it needs.
/// Built once when the toolset is made.
#[derive(Clone, Debug)]
pub struct ToolDef {
    pub spec: ToolSpec,
    pub needs: Vec<Requirement>,
    /// The tool only reads (an MCP `readOnlyHint`).
    pub read_only: bool,
}

/// What a running tool may use.
#[derive(Clone, Debug)]
pub struct ToolContext {
    pub workspace: Arc<Workspace>,
}

/// What policy needs to know about a decoded call besides the tool's name:
/// the resource's id where the arguments name one (a database, a bucket),
/// and the call's policy attributes (a file's `path`, a statement's class).
/// Attribute names and types must match the tool's action in the policy
/// schema.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyFacts {
    /// The resource's id; `None` when the resource is implied (the run's
    /// workspace).
    pub resource: Option<String>,
    pub attributes: serde_json::Map<String, Value>,
}

impl PolicyFacts {
    /// Facts with one string attribute.
    pub fn attribute(name: &str, value: impl Into<String>) -> Self {
        let mut attributes = serde_json::Map::new();
        attributes.insert(name.to_owned(), Value::String(value.into()));
        Self {
            resource: None,
            attributes,
        }
    }
}

/// A decoded call, ready to run. Running is synchronous: the caller picks
/// the thread according to [`Invocation::execution`].
pub trait Invocation: Send + 'static {
    /// Where this call should run; decided per call (a flat listing is
    /// inline, a recursive one is not).
    fn execution(&self) -> Execution;

    fn run(self: Box<Self>, ctx: &ToolContext) -> Result<ToolResult, ToolError>;

    /// What policy weighs about this call. The default: nothing beyond the
    /// tool's name.
    fn facts(&self) -> PolicyFacts {
        PolicyFacts::default()
    }
}

/// A set of built-in tools.
pub trait Toolset: Send + Sync + 'static {
    /// The tools this set offers; the slice is computed once.
    fn tools(&self) -> &[ToolDef];

    /// Decodes `arguments` for `tool` strictly: wrong types, missing or
    /// unknown fields and values over the limits are errors.
    fn decode(&self, tool: &str, arguments: &Value) -> Result<Box<dyn Invocation>, ToolError>;
}

/// The JSON schema (2020-12) of a tool's argument struct.
pub fn input_schema<T: JsonSchema>() -> Value {
    let schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut value = schema.to_value();
    if let Value::Object(map) = &mut value {
        // The title is the Rust type's name: noise for a model.
        map.remove("title");
    }
    value
}

/// Deserializes a tool's arguments, turning serde's message into one the
/// model can act on. A missing `arguments` object reads as `{}`.
pub fn decode_arguments<T: DeserializeOwned>(
    tool: &str,
    arguments: &Value,
) -> Result<T, ToolError> {
    let empty = Value::Object(serde_json::Map::new());
    let arguments = match arguments {
        Value::Null => &empty,
        Value::Object(_) => arguments,
        other => {
            return Err(ToolError::InvalidArguments {
                tool: tool.to_owned(),
                message: format!("arguments must be a JSON object, not {}", json_kind(other)),
            });
        }
    };
    T::deserialize(arguments).map_err(|e| ToolError::InvalidArguments {
        tool: tool.to_owned(),
        message: e.to_string(),
    })
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
