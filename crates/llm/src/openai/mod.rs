//! The OpenAI Chat Completions client (`POST {base_url}/chat/completions`),
//! for OpenAI and the many servers that speak its wire format.

mod wire;

use std::time::Duration;

use bureau_protocol::{ModelRequest, ModelResponse};

use crate::http::{self, HttpClient};
use crate::names::ToolNameMap;
use crate::{LlmError, ModelClient};

/// The default base URL.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// How to reach an OpenAI-compatible endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct OpenAiConfig {
    /// Up to and including the version, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    /// Sent as `model` on every request (the request's own `model` is ignored).
    pub model: String,
    /// Ask for a server-sent-event stream instead of one JSON body.
    pub stream: bool,
    /// For the whole request, the streamed body included.
    pub timeout: Duration,
    /// Sent as `max_completion_tokens` when the request does not set its own.
    pub max_output_tokens: Option<u32>,
    /// Added to every request (e.g. `OpenAI-Organization`).
    pub extra_headers: Vec<(String, String)>,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: OPENAI_BASE_URL.to_owned(),
            api_key: None,
            model: String::new(),
            stream: false,
            timeout: Duration::from_secs(120),
            max_output_tokens: None,
            extra_headers: Vec::new(),
        }
    }
}

impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("stream", &self.stream)
            .field("timeout", &self.timeout)
            .field("max_output_tokens", &self.max_output_tokens)
            .field(
                "extra_headers",
                &self
                    .extra_headers
                    .iter()
                    .map(|(k, _)| k)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A [`ModelClient`] for the Chat Completions API.
#[derive(Debug)]
pub struct OpenAiClient {
    config: OpenAiConfig,
    http: HttpClient,
}

impl OpenAiClient {
    pub fn new(config: OpenAiConfig) -> Result<Self, LlmError> {
        if config.model.trim().is_empty() {
            return Err(LlmError::Config(
                "no model name is set for the OpenAI client; set one, e.g. `gpt-4o-mini`".into(),
            ));
        }
        let url = http::endpoint(&config.base_url, "chat/completions")?;
        let bearer = config.api_key.as_ref().map(|k| format!("Bearer {k}"));
        let headers = http::header_map(
            config
                .extra_headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain(bearer.as_deref().map(|b| ("authorization", b))),
        )?;
        let http = HttpClient::new(url, headers, config.timeout)?;
        Ok(Self { config, http })
    }

    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }
}

#[async_trait::async_trait]
impl ModelClient for OpenAiClient {
    fn provider(&self) -> &'static str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.config.model
    }

    #[tracing::instrument(skip_all, fields(provider = "openai", model = %self.config.model, stream = self.config.stream))]
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
        let config = OpenAiConfig {
            api_key: Some("sk-secret".into()),
            model: "m".into(),
            extra_headers: vec![("x-token".into(), "hidden".into())],
            ..OpenAiConfig::default()
        };
        let text = format!("{:?}", OpenAiClient::new(config).unwrap());
        assert!(!text.contains("sk-secret"));
        assert!(!text.contains("hidden"));
    }

    #[test]
    fn a_missing_model_or_bad_url_is_a_config_error() {
        let e = OpenAiClient::new(OpenAiConfig::default()).unwrap_err();
        assert!(matches!(e, LlmError::Config(_)));
        let e = OpenAiClient::new(OpenAiConfig {
            model: "m".into(),
            base_url: "::".into(),
            ..OpenAiConfig::default()
        })
        .unwrap_err();
        assert!(matches!(e, LlmError::Config(_)));
    }
}
