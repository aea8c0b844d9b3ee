//! The `files` toolset: list, read and write inside the run's workspace.
//!
//! Reads, writes and flat listings are capped and touch one file or folder,
//! so they run inline ([`Execution::Inline`], a few microseconds); a
//! recursive listing may walk a tree, so it runs on the blocking pool
//! ([`Execution::Blocking`]).

mod ops;

use bureau_protocol::{ToolResult, ToolSpec};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::toolset::{decode_arguments, input_schema};
use crate::{
    Access, Execution, Invocation, PolicyFacts, Requirement, Resource, ToolContext, ToolDef,
    ToolError, Toolset,
};

pub use ops::{Entry, EntryKind};

pub const LIST: &str = "files.list";
pub const READ: &str = "files.read";
pub const WRITE: &str = "files.write";

/// Size limits of the files tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilesLimits {
    /// Most bytes one `files.read` returns (`max_bytes` is clamped to this).
    pub max_read_bytes: u64,
    /// Most bytes one `files.write` accepts; larger content is refused
    /// before anything is touched.
    pub max_write_bytes: u64,
    /// Most entries one `files.list` returns.
    pub max_list_entries: usize,
    /// Deepest folder level a recursive `files.list` walks.
    pub max_list_depth: usize,
}

impl Default for FilesLimits {
    fn default() -> Self {
        Self {
            max_read_bytes: 256 * 1024,
            max_write_bytes: 1024 * 1024,
            max_list_entries: 1000,
            max_list_depth: 16,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Folder to list, relative to the workspace root. Default: the root.
    #[serde(default)]
    pub path: Option<String>,
    /// Also list the contents of sub-folders.
    #[serde(default)]
    pub recursive: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadArgs {
    /// File to read, relative to the workspace root.
    pub path: String,
    /// Byte offset to start at (a previous result's `next_offset`). Default: 0.
    #[serde(default)]
    pub offset: Option<u64>,
    /// Most bytes to return; clamped to the tool's limit.
    #[serde(default)]
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteArgs {
    /// File to write, relative to the workspace root.
    pub path: String,
    /// The text to write (UTF-8).
    pub content: String,
    /// Add to the end of the file instead of replacing it. Default: false.
    #[serde(default)]
    pub append: bool,
    /// Create missing parent folders. Default: true.
    #[serde(default = "yes")]
    pub create_dirs: bool,
}

fn yes() -> bool {
    true
}

/// The `files` toolset over a workspace folder.
pub struct FilesToolset {
    limits: FilesLimits,
    defs: Vec<ToolDef>,
}

impl FilesToolset {
    pub fn new(limits: FilesLimits) -> Self {
        let read = Requirement {
            resource: Resource::Workspace,
            access: Access::Read,
        };
        let write = Requirement {
            resource: Resource::Workspace,
            access: Access::Write,
        };
        let defs = vec![
            ToolDef {
                spec: ToolSpec {
                    name: LIST.to_owned(),
                    description: format!(
                        "List a folder of the run's workspace. Each entry has `path` (relative to the \
                         workspace root, ready for files.read), `name`, `kind` (file, dir, symlink, other) \
                         and `size` in bytes for files. `recursive: true` walks sub-folders; at most {} \
                         entries are returned.",
                        limits.max_list_entries
                    ),
                    input_schema: input_schema::<ListArgs>(),
                },
                needs: vec![read],
                read_only: true,
            },
            ToolDef {
                spec: ToolSpec {
                    name: READ.to_owned(),
                    description: format!(
                        "Read a UTF-8 text file from the run's workspace. Returns at most {} bytes per \
                         call; a longer file ends with a note giving the `offset` to continue from. Binary \
                         files, links and special files are refused.",
                        limits.max_read_bytes
                    ),
                    input_schema: input_schema::<ReadArgs>(),
                },
                needs: vec![read],
                read_only: true,
            },
            ToolDef {
                spec: ToolSpec {
                    name: WRITE.to_owned(),
                    description: format!(
                        "Write UTF-8 text to a file in the run's workspace, replacing it, or adding to its \
                         end with `append: true`. Missing folders are created unless `create_dirs: false`. \
                         At most {} bytes per call.",
                        limits.max_write_bytes
                    ),
                    input_schema: input_schema::<WriteArgs>(),
                },
                needs: vec![write],
                read_only: false,
            },
        ];
        Self { limits, defs }
    }

    pub fn limits(&self) -> FilesLimits {
        self.limits
    }
}

impl Default for FilesToolset {
    fn default() -> Self {
        Self::new(FilesLimits::default())
    }
}

impl Toolset for FilesToolset {
    fn tools(&self) -> &[ToolDef] {
        &self.defs
    }

    fn decode(&self, tool: &str, arguments: &Value) -> Result<Box<dyn Invocation>, ToolError> {
        let limits = self.limits;
        match tool {
            LIST => Ok(Box::new(ListCall {
                args: decode_arguments(tool, arguments)?,
                limits,
            })),
            READ => Ok(Box::new(ReadCall {
                args: decode_arguments(tool, arguments)?,
                limits,
            })),
            WRITE => {
                let args: WriteArgs = decode_arguments(tool, arguments)?;
                let size = args.content.len() as u64;
                if size > limits.max_write_bytes {
                    return Err(ToolError::ContentTooLarge {
                        size,
                        limit: limits.max_write_bytes,
                    });
                }
                Ok(Box::new(WriteCall { args, limits }))
            }
            other => Err(ToolError::UnknownTool {
                tool: other.to_owned(),
                available: [LIST, READ, WRITE].join(", "),
            }),
        }
    }
}

struct ListCall {
    args: ListArgs,
    limits: FilesLimits,
}

impl Invocation for ListCall {
    fn execution(&self) -> Execution {
        if self.args.recursive {
            Execution::Blocking
        } else {
            Execution::Inline
        }
    }

    fn run(self: Box<Self>, ctx: &ToolContext) -> Result<ToolResult, ToolError> {
        ops::list(&ctx.workspace, &self.args, &self.limits)
    }

    fn facts(&self) -> PolicyFacts {
        PolicyFacts::attribute("path", self.args.path.as_deref().unwrap_or("."))
    }
}

struct ReadCall {
    args: ReadArgs,
    limits: FilesLimits,
}

impl Invocation for ReadCall {
    fn execution(&self) -> Execution {
        Execution::Inline
    }

    fn run(self: Box<Self>, ctx: &ToolContext) -> Result<ToolResult, ToolError> {
        ops::read(&ctx.workspace, &self.args, &self.limits)
    }

    fn facts(&self) -> PolicyFacts {
        PolicyFacts::attribute("path", self.args.path.as_str())
    }
}

struct WriteCall {
    args: WriteArgs,
    limits: FilesLimits,
}

impl Invocation for WriteCall {
    fn execution(&self) -> Execution {
        Execution::Inline
    }

    fn run(self: Box<Self>, ctx: &ToolContext) -> Result<ToolResult, ToolError> {
        ops::write(&ctx.workspace, &self.args, &self.limits)
    }

    fn facts(&self) -> PolicyFacts {
        PolicyFacts::attribute("path", self.args.path.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schemas_reject_unknown_fields_and_list_required_ones() {
        let set = FilesToolset::default();
        let write = &set.tools()[2].spec.input_schema;
        assert_eq!(write["additionalProperties"], json!(false));
        assert_eq!(write["required"], json!(["path", "content"]));
        assert_eq!(write["properties"]["create_dirs"]["default"], json!(true));
        assert_eq!(write["type"], json!("object"));
        assert!(write.get("title").is_none());
    }

    #[test]
    fn decoding_is_strict_and_says_what_is_wrong() {
        let set = FilesToolset::default();
        let cases = [
            (
                READ,
                json!({"path": "a", "extra": 1}),
                "unknown field `extra`",
            ),
            (
                READ,
                json!({"path": 7}),
                "invalid type: integer `7`, expected a string",
            ),
            (READ, json!({}), "missing field `path`"),
            (READ, json!({"path": "a", "offset": -1}), "invalid value"),
            (
                READ,
                json!("a"),
                "arguments must be a JSON object, not a string",
            ),
            (
                WRITE,
                json!({"path": "a", "content": "x", "append": "yes"}),
                "expected a boolean",
            ),
            (LIST, json!([1]), "not an array"),
        ];
        for (tool, args, want) in cases {
            let err = set.decode(tool, &args).err().unwrap().to_string();
            assert!(err.contains(want), "{tool} {args}: {err}");
            assert!(err.contains("input schema"), "{err}");
        }
        assert!(set.decode(LIST, &Value::Null).is_ok());
        let err = set
            .decode("files.delete", &json!({}))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("files.list, files.read, files.write"), "{err}");
    }

    #[test]
    fn oversized_content_is_refused_at_decode() {
        let set = FilesToolset::new(FilesLimits {
            max_write_bytes: 4,
            ..FilesLimits::default()
        });
        let err = set
            .decode(WRITE, &json!({"path": "a", "content": "12345"}))
            .err()
            .unwrap();
        assert!(matches!(
            err,
            ToolError::ContentTooLarge { size: 5, limit: 4 }
        ));
    }
}
