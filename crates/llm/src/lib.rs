//! Model clients: the [`ModelClient`] trait and its providers — OpenAI
//! Chat Completions (and compatible servers), Anthropic Messages, and a
//! scripted offline model — with typed retryable/fatal errors, retries with
//! backoff, and token usage as the provider reported it.
//!
//! This crate owns the LLM wire formats: request bodies, response and
//! stream parsing, and the mapping of Bureau's dotted tool names to names
//! the providers accept. Every answer keeps the exact JSON sent and
//! received for the journal. It must not know about runs, policies, tools'
//! behaviour, MCP or configuration files, and it never reads the
//! environment: callers pass every setting (API keys included) in.

mod anthropic;
mod args;
mod error;
mod http;
mod names;
mod openai;
mod retry;
mod scripted;
mod sse;

use std::sync::Arc;

use bureau_protocol::{ModelRequest, ModelResponse};

pub use anthropic::{ANTHROPIC_BASE_URL, ANTHROPIC_VERSION, AnthropicClient, AnthropicConfig};
pub use error::LlmError;
pub use names::{MAX_WIRE_NAME, ToolNameMap, is_valid_wire_name};
pub use openai::{OPENAI_BASE_URL, OpenAiClient, OpenAiConfig};
pub use retry::{JitterFn, RetryPolicy, Retrying};
pub use scripted::{NO_FINAL_ANSWER, ScriptedModel};
pub use sse::{SseEvent, SseParser};

/// A model that answers a conversation.
#[async_trait::async_trait]
pub trait ModelClient: Send + Sync {
    /// "openai" | "anthropic" | "scripted"
    fn provider(&self) -> &'static str;
    /// The model name as configured (for scripted: the script path).
    fn model(&self) -> &str;
    /// One answer. `request.model` is ignored by clients configured with a
    /// model; the answer's `raw_request`/`raw_response` hold the wire JSON.
    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, LlmError>;
}

#[async_trait::async_trait]
impl<T: ModelClient + ?Sized> ModelClient for Box<T> {
    fn provider(&self) -> &'static str {
        (**self).provider()
    }

    fn model(&self) -> &str {
        (**self).model()
    }

    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, LlmError> {
        (**self).complete(request).await
    }
}

#[async_trait::async_trait]
impl<T: ModelClient + ?Sized> ModelClient for Arc<T> {
    fn provider(&self) -> &'static str {
        (**self).provider()
    }

    fn model(&self) -> &str {
        (**self).model()
    }

    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, LlmError> {
        (**self).complete(request).await
    }
}
