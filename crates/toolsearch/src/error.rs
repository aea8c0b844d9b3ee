use thiserror::Error;

/// What can go wrong in this crate.
#[derive(Debug, Error)]
pub enum ToolSearchError {
    /// A `find_tools` call whose arguments do not fit its schema.
    #[error(
        "invalid find_tools arguments: {reason}; pass {{\"query\": \"what the tool should do\", \"k\": 5}}"
    )]
    InvalidArguments { reason: String },
    /// The embedded BPE tables failed to load (a broken build, not bad input).
    #[error(
        "the {encoding} tokenizer failed to load: {reason}; use TokenCounter::estimate instead"
    )]
    Tokenizer {
        encoding: &'static str,
        reason: String,
    },
}
