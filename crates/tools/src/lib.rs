//! Bureau's built-in tools: each declares what it needs and never decides policy.
//!
//! This crate owns the tool definitions (name, description, argument schema,
//! the [`Requirement`]s a tool has and where it runs), the strict decoding of
//! arguments, and the tools' work. Today that is the `files` toolset over a
//! per-run workspace folder, where every path is opened with `openat2`
//! beneath the folder's descriptor so `..`, absolute paths and symbolic links
//! cannot lead outside it. It must not know about MCP, policy, approvals or
//! audit: the `gateway` decides whether a decoded call runs and records it.

mod error;
pub mod files;
pub mod python;
mod toolset;
mod workspace;

pub use error::ToolError;
pub use files::{FilesLimits, FilesToolset};
pub use python::{ColdPython, PythonRunner, PythonToolset, WarmPython};
pub use toolset::{
    Access, Execution, Invocation, PolicyFacts, Requirement, Resource, ToolContext, ToolDef,
    Toolset, decode_arguments, input_schema,
};
pub use workspace::{Create, MAX_PATH_BYTES, Workspace};
