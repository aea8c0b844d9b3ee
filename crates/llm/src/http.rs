//! The HTTP plumbing both providers share: one `reqwest` client, a POST
//! that maps failures to [`LlmError`], and a reader for SSE bodies.

use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::LlmError;
use crate::sse::{SseEvent, SseParser};

/// The HTTP side of a provider client.
#[derive(Clone, Debug)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    url: reqwest::Url,
}

/// A parsed base URL with `path` appended (`https://h/v1` + `chat/completions`).
pub(crate) fn endpoint(base_url: &str, path: &str) -> Result<reqwest::Url, LlmError> {
    let joined = format!(
        "{}/{}",
        base_url.trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    let url = reqwest::Url::parse(&joined).map_err(|e| {
        LlmError::Config(format!(
            "the base URL `{base_url}` is not a valid URL ({e}); use e.g. `https://api.openai.com/v1`"
        ))
    })?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(LlmError::Config(format!(
            "the base URL `{base_url}` uses the scheme `{other}`; use http or https"
        ))),
    }
}

/// Headers from configuration, checked once.
pub(crate) fn header_map<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<HeaderMap, LlmError> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            LlmError::Config(format!(
                "`{name}` is not a valid HTTP header name; fix the header"
            ))
        })?;
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            LlmError::Config(format!(
                "the value of header `{name}` is not a valid HTTP header value; remove control characters from it"
            ))
        })?;
        if is_secret_header(&header) {
            value.set_sensitive(true);
        }
        map.insert(header, value);
    }
    Ok(map)
}

fn is_secret_header(name: &HeaderName) -> bool {
    let n = name.as_str();
    n == "authorization" || n == "x-api-key" || n == "api-key" || n.contains("token")
}

impl HttpClient {
    pub(crate) fn new(
        url: reqwest::Url,
        headers: HeaderMap,
        timeout: Duration,
    ) -> Result<Self, LlmError> {
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            .build()
            .map_err(|e| LlmError::Config(format!("could not build the HTTP client: {e}")))?;
        Ok(Self { client, url })
    }

    /// POSTs `body`; a non-success status becomes the matching error.
    async fn post(&self, body: &Value) -> Result<reqwest::Response, LlmError> {
        let response = self
            .client
            .post(self.url.clone())
            .json(body)
            .send()
            .await
            .map_err(|e| LlmError::from_reqwest(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Err(LlmError::from_status(status.as_u16(), &headers, &text))
    }

    /// POSTs `body` and parses the answer as one JSON document.
    pub(crate) async fn post_json(&self, body: &Value) -> Result<Value, LlmError> {
        let response = self.post(body).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| LlmError::from_reqwest(&e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            LlmError::Decode(format!(
                "the response body is not JSON ({e}); it starts with {:?}",
                preview(&bytes)
            ))
        })
    }

    /// POSTs `body` and hands each SSE event to `on_event` as it arrives,
    /// until the stream ends or `on_event` returns `Ok(false)` (done).
    pub(crate) async fn post_stream<F>(&self, body: &Value, mut on_event: F) -> Result<(), LlmError>
    where
        F: FnMut(SseEvent) -> Result<bool, LlmError>,
    {
        let response = self.post(body).await?;
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        if is_json {
            // Some compatible servers ignore `stream` or answer with an
            // error object and status 200.
            let bytes = response
                .bytes()
                .await
                .map_err(|e| LlmError::from_reqwest(&e))?;
            return Err(match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) if v.get("error").is_some_and(Value::is_object) => {
                    LlmError::from_stream_error(v.get("error").unwrap_or(&Value::Null))
                }
                _ => LlmError::Decode(format!(
                    "asked for a stream but got a JSON body starting with {:?}",
                    preview(&bytes)
                )),
            });
        }
        let mut parser = SseParser::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| LlmError::from_reqwest(&e))?;
            for event in parser.feed(&chunk) {
                if !on_event(event)? {
                    return Ok(());
                }
            }
        }
        if let Some(event) = parser.finish() {
            on_event(event)?;
        }
        Ok(())
    }
}

/// The first bytes of a body, for an error message.
fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]);
    text.into_owned()
}

/// An SSE event's data as JSON.
pub(crate) fn event_json(event: &SseEvent) -> Result<Value, LlmError> {
    serde_json::from_str(&event.data).map_err(|e| {
        LlmError::Decode(format!(
            "a stream event is not JSON ({e}); it starts with {:?}",
            preview(event.data.as_bytes())
        ))
    })
}

/// A provider's answer, parsed: the turn, why it ended, usage, the model
/// that answered (if the provider said).
pub(crate) type Parsed = (
    bureau_protocol::AssistantTurn,
    bureau_protocol::FinishReason,
    bureau_protocol::Usage,
    Option<String>,
);

/// How a wire format folds a stream of events into one answer.
pub(crate) trait Accumulate: Default {
    /// Takes one event; `Ok(true)` when the stream is complete.
    fn on_event(&mut self, event: SseEvent) -> Result<bool, LlmError>;
    /// The answer, with the raw events as a JSON array.
    fn finish(self, names: &crate::ToolNameMap) -> Result<(Parsed, Value), LlmError>;
}

/// One model exchange, shared by the providers: POST the body, read the
/// answer whole or as a stream, keep the exact JSON both ways.
pub(crate) async fn exchange<A: Accumulate>(
    http: &HttpClient,
    body: Value,
    stream: bool,
    names: &crate::ToolNameMap,
    parse: fn(&Value, &crate::ToolNameMap) -> Result<Parsed, LlmError>,
    configured_model: &str,
) -> Result<bureau_protocol::ModelResponse, LlmError> {
    let ((turn, finish_reason, usage, model), raw_response) = if stream {
        let mut acc = A::default();
        http.post_stream(&body, |event| acc.on_event(event)).await?;
        acc.finish(names)?
    } else {
        let raw = http.post_json(&body).await?;
        (parse(&raw, names)?, raw)
    };
    tracing::debug!(
        input_tokens = usage.input_tokens,
        output_tokens = usage.output_tokens,
        tool_calls = turn.tool_calls.len(),
        "model answered"
    );
    Ok(bureau_protocol::ModelResponse {
        turn,
        finish_reason,
        usage,
        model: model.unwrap_or_else(|| configured_model.to_owned()),
        raw_request: body,
        raw_response,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_join_with_one_slash_and_reject_bad_urls() {
        assert_eq!(
            endpoint("https://api.openai.com/v1/", "chat/completions")
                .unwrap()
                .as_str(),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:9", "/v1/messages")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/v1/messages"
        );
        assert!(matches!(
            endpoint("not a url", "x"),
            Err(LlmError::Config(_))
        ));
        assert!(matches!(endpoint("ftp://h", "x"), Err(LlmError::Config(_))));
    }

    #[test]
    fn bad_headers_are_config_errors() {
        assert!(matches!(
            header_map([("bad header", "v")]),
            Err(LlmError::Config(_))
        ));
        assert!(matches!(
            header_map([("x-ok", "line\nbreak")]),
            Err(LlmError::Config(_))
        ));
        let map = header_map([("Authorization", "Bearer s3cret")]).unwrap();
        assert!(map.get("authorization").unwrap().is_sensitive());
    }
}
