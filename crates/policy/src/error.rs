use std::path::PathBuf;

/// Everything that can go wrong loading policies or reading a request.
/// Messages are lowercase sentences that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy directory {}: {source}; check the path and its permissions", dir.display())]
    ReadDir {
        dir: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot read policy file {}: {source}; check its permissions", file.display())]
    ReadFile {
        file: PathBuf,
        source: std::io::Error,
    },

    #[error("policy directory {} has no *.cedar files; add at least one policy (with nothing loaded every call is denied)", dir.display())]
    NoPolicies { dir: PathBuf },

    #[error("{file}:{line}: {message}; fix the policy syntax")]
    Parse {
        file: String,
        line: usize,
        message: String,
    },

    #[error(
        "{file}:{line}: policy `{policy_id}` does not fit Bureau's schema: {message}; see crates/policy/src/bureau.cedarschema for the actions and attributes that exist"
    )]
    Invalid {
        file: String,
        line: usize,
        policy_id: String,
        message: String,
    },

    #[error("{file}: policy `{policy_id}`: {message}")]
    Annotation {
        file: String,
        policy_id: String,
        message: String,
    },

    #[error(
        "policy id `{policy_id}` is used in both {first} and {second}; give one of them another `@id(\"…\")`"
    )]
    DuplicateId {
        policy_id: String,
        first: String,
        second: String,
    },

    #[error(
        "{file}: templates are not supported; write a static policy without `?principal`/`?resource`"
    )]
    Template { file: String },

    #[error("example {example} is not a valid request: {message}")]
    ExampleRequest { example: String, message: String },

    #[error(
        "example {example} expects {expected} but the policies decide {actual}; fix the policy or the example"
    )]
    ExampleFailed {
        example: String,
        expected: String,
        actual: String,
    },

    #[error(
        "the request is not valid JSON of the expected shape: {0}; see the request format in bureau-policy's docs"
    )]
    RequestJson(String),

    #[error("the request's arguments do not fit `{action}`: {message}")]
    Arguments { action: String, message: String },

    #[error("the request is not valid: {0}")]
    Request(String),

    #[error("the embedded policy schema does not load: {0}; this is a bug in bureau-policy")]
    Schema(String),
}
