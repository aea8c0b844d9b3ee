//! The Anthropic Messages API client (`POST {base_url}/v1/messages`).

mod wire;

use std::time::Duration;

use bureau_protocol::{ModelRequest, ModelResponse};

use crate::http::{self, HttpClient};
use crate::names::ToolNameMap;
use crate::{LlmError, ModelClient};

/// The default base URL.
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
/// The `anthropic-version` this client is written against.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// How to reach the Messages API.
#[derive(Clone, PartialEq, Eq)]
pub struct AnthropicConfig {
    /// Without the version path, e.g. `https://api.anthropic.com`.
    pub base_url: String,
    /// Sent as `x-api-key` when set.
    pub api_key: Option<String>,
    /// Sent as `model` on every request (the request's own `model` is ignored).
    pub model: String,
    /// Ask for a server-sent-event stream instead of one JSON body.
    pub stream: bool,
    /// For the whole request, the streamed body included.
    pub timeout: Duration,
    /// `max_tokens`, which the API requires, unless the request sets its own.
    pub max_output_tokens: u32,
    /// Sent as `anthropic-version`.
    pub version: String,
}

impl Default for AnthropicConfig {
    fn default() -> Self {
        Self {
            base_url: ANTHROPIC_BASE_URL.to_owned(),
            api_key: None,
            model: String::new(),
            stream: false,
            timeout: Duration::from_secs(120),
            max_output_tokens: 4096,
            version: ANTHROPIC_VERSION.to_owned(),
        }
    }
}

impl std::fmt::Debug for AnthropicConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("stream", &self.stream)
            .field("timeout", &self.timeout)
            .field("max_output_tokens", &self.max_output_tokens)
            .field("version", &self.version)
            .finish()
    }
}

/// A [`ModelClient`] for the Messages API.
#[derive(Debug)]
pub struct AnthropicClient {
    config: AnthropicConfig,
    http: HttpClient,
}

impl AnthropicClient {
    pub fn new(config: AnthropicConfig) -> Result<Self, LlmError> {
        if config.model.trim().is_empty() {
            return Err(LlmError::Config(
                "no model name is set for the Anthropic client; set one, e.g. `claude-sonnet-4-5`"
                    .into(),
            ));
        }
        if config.max_output_tokens == 0 {
            return Err(LlmError::Config(
                "max_output_tokens is 0 for the Anthropic client; the API requires at least 1"
                    .into(),
            ));
        }
        let url = http::endpoint(&config.base_url, "v1/messages")?;
        let mut pairs = vec![("anthropic-version", config.version.as_str())];
        if let Some(key) = &config.api_key {
            pairs.push(("x-api-key", key.as_str()));
        }
        let headers = http::header_map(pairs)?;
        let http = HttpClient::new(url, headers, config.timeout)?;
        Ok(Self { config, http })
    }

    pub fn config(&self) -> &AnthropicConfig {
        &self.config
    }
}

#[async_trait::async_trait]
impl ModelClient for AnthropicClient {
    fn provider(&self) -> &'static str {
        "anthropic"
    }

    fn model(&self) -> &str {
        &self.config.model
    }

    #[tracing::instrument(skip_all, fields(provider = "anthropic", model = %self.config.model, stream = self.config.stream))]
    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, LlmError> {
        let names = ToolNameMap::for_request(request);
        let body = wire::request_body(&self.config, request, &names);
        http::exchange::<wire::StreamAccumulator>(
            &self.http,
            body,
            self.config.stream,
            &names,
            wire::parse_response,
            &self.config.model,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_key() {
        let config = AnthropicConfig {
            api_key: Some("sk-ant-secret".into()),
            model: "m".into(),
            ..AnthropicConfig::default()
        };
        let text = format!("{:?}", AnthropicClient::new(config).unwrap());
        assert!(!text.contains("sk-ant-secret"));
    }

    #[test]
    fn zero_max_tokens_is_a_config_error() {
        let e = AnthropicClient::new(AnthropicConfig {
            model: "m".into(),
            max_output_tokens: 0,
            ..AnthropicConfig::default()
        })
        .unwrap_err();
        assert!(matches!(e, LlmError::Config(_)));
    }
}
