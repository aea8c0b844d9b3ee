use thiserror::Error;

/// Why a tool refused or failed a call. Every message is written for the
/// model that made the call: it says what went wrong and what to do instead.
#[derive(Debug, Error)]
pub enum ToolError {
    #[error("unknown tool `{tool}`: this toolset offers {available}")]
    UnknownTool { tool: String, available: String },

    #[error(
        "invalid arguments for `{tool}`: {message}; send a JSON object matching the tool's input schema"
    )]
    InvalidArguments { tool: String, message: String },

    #[error(
        "`{path}` is an absolute path: workspace paths are relative to the workspace root, e.g. `notes/todo.txt`"
    )]
    AbsolutePath { path: String },

    #[error(
        "`{path}` contains `..`: give the path from the workspace root without `..`, e.g. `notes/todo.txt`"
    )]
    ParentComponent { path: String },

    #[error("`{path}` is not a usable workspace path: {reason}")]
    InvalidPath { path: String, reason: &'static str },

    #[error(
        "`{path}` goes through a symbolic link, which the files tools never follow: use the path of the real file inside the workspace (files.list shows links as kind `symlink`)"
    )]
    Symlink { path: String },

    #[error(
        "`{path}` resolves outside the workspace: only files inside the workspace folder can be used"
    )]
    OutsideWorkspace { path: String },

    #[error("`{path}` does not exist in the workspace: call files.list to see what is there")]
    NotFound { path: String },

    #[error(
        "`{path}` is a {kind}, not a regular file: the files tools read and write regular files only"
    )]
    NotAFile { path: String, kind: &'static str },

    #[error("`{path}` is a directory: give a file path, or call files.list on it")]
    IsADirectory { path: String },

    #[error(
        "`{path}` is not a directory (a file is in the way): use files.list to see the workspace layout"
    )]
    NotADirectory { path: String },

    #[error(
        "the parent folder of `{path}` does not exist: create it first, or call files.write with `create_dirs: true`"
    )]
    MissingParent { path: String },

    #[error(
        "`{path}` has {links} hard links, and the files tools only use files with a single link: use another file"
    )]
    HardLinked { path: String, links: u64 },

    #[error(
        "`{path}` is not UTF-8 text (invalid byte at offset {offset}): files.read returns text only and cannot show binary files"
    )]
    NotText { path: String, offset: u64 },

    #[error(
        "offset {offset} falls inside a multi-byte character of `{path}`: pass an offset a previous files.read returned as `next_offset`, or 0"
    )]
    OffsetInsideCharacter { path: String, offset: u64 },

    #[error(
        "offset {offset} is past the end of `{path}` ({size} bytes): pass an offset below the file size"
    )]
    OffsetPastEnd {
        path: String,
        offset: u64,
        size: u64,
    },

    #[error(
        "the content is {size} bytes, more than the {limit}-byte limit of one files.write call: write it in parts of at most {limit} bytes with `append: true`"
    )]
    ContentTooLarge { size: u64, limit: u64 },

    #[error("could not {op} `{path}`: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the workspace folder `{path}` cannot be created or opened: {source}; check the path and its permissions"
    )]
    Workspace {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "this kernel has no openat2 (Linux 5.6 or newer is needed): the files tools refuse to run without it"
    )]
    Unsupported,
}

impl ToolError {
    pub(crate) fn io(op: &'static str, path: &str, source: impl Into<std::io::Error>) -> Self {
        ToolError::Io {
            op,
            path: path.to_owned(),
            source: source.into(),
        }
    }
}
