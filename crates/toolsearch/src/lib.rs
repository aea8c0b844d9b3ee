//! Tool retrieval for model calls. Sending every tool schema with every
//! model call costs thousands of tokens; this crate picks the few tools a
//! sub-task needs. It owns a BM25F index over tool names, descriptions and
//! parameter schemas ([`ToolIndex`]), the selection policy — pinned tools,
//! top-k, and the `bureau.find_tools` meta-tool through which the model asks
//! for tools it was not offered ([`ToolSelection`]) — and token accounting
//! of the schemas sent, with OpenAI's real BPE tables ([`TokenCounter`]).
//! It knows only `protocol`'s `ToolSpec`: not MCP, not the orchestrator,
//! not any provider's client; the orchestrator decides when to call it.

mod error;
mod index;
mod selection;
pub mod synonyms;
pub mod text;
mod tokens;

pub use error::ToolSearchError;
pub use index::{Hit, IndexOptions, ToolIndex};
pub use selection::{
    DEFAULT_FIND_K, FIND_TOOLS, FindToolsAnswer, MAX_FIND_K, OfferFindTools, ToolPattern,
    ToolSelection, find_tools_spec,
};
pub use text::Stemming;
pub use tokens::{Encoding, TokenCounter, openai_tool_json};
