//! [`LlmError`]: what can go wrong talking to a model, typed so the caller
//! can tell "wait and retry" from "fix the configuration".

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// The longest provider error text kept in an error (bytes).
const MAX_MESSAGE: usize = 2_000;

/// An error from a model client. `is_retryable` tells transient failures
/// (rate limits, overload, timeouts, broken connections) from fatal ones.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// HTTP 429 (or a `rate_limit_error` stream event).
    #[error(
        "the model provider is rate limiting requests (HTTP {status}: {message}); wait and retry, or lower the request rate"
    )]
    RateLimited {
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    /// HTTP 5xx, including Anthropic's 529 "overloaded".
    #[error("the model provider failed (HTTP {status}: {message}); retry later")]
    Server { status: u16, message: String },
    /// The request did not complete within the client's timeout.
    #[error("the model did not answer in time; retry, or raise the model timeout")]
    Timeout,
    /// The connection could not be made, or broke before the answer was whole.
    #[error(
        "could not reach the model provider ({0}); check the base URL and the network, then retry"
    )]
    Transport(String),
    /// HTTP 401/403.
    #[error(
        "the model provider refused the credentials (HTTP {status}: {message}); check the API key"
    )]
    Auth { status: u16, message: String },
    /// HTTP 400/404/422 and other 4xx: the request itself is wrong.
    #[error(
        "the model provider rejected the request (HTTP {status}: {message}); check the model name and the request"
    )]
    BadRequest { status: u16, message: String },
    /// The answer could not be parsed.
    #[error(
        "could not understand the model provider's answer ({0}); check that the base URL points at a compatible API"
    )]
    Decode(String),
    /// The scripted model's script is wrong or exhausted.
    #[error("scripted model: {0}")]
    Script(String),
    /// The client's configuration is unusable (bad URL, bad header).
    #[error("invalid model client configuration: {0}")]
    Config(String),
}

impl LlmError {
    /// Whether trying the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::RateLimited { .. }
            | LlmError::Server { .. }
            | LlmError::Timeout
            | LlmError::Transport(_) => true,
            LlmError::Auth { .. }
            | LlmError::BadRequest { .. }
            | LlmError::Decode(_)
            | LlmError::Script(_)
            | LlmError::Config(_) => false,
        }
    }

    /// How long the provider asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The error for a non-success HTTP status, keeping the provider's own
    /// message (`{"error":{"message":…}}`) when the body has one.
    pub fn from_status(status: u16, headers: &HeaderMap, body: &str) -> Self {
        let message = provider_message(body, status);
        match status {
            401 | 403 => LlmError::Auth { status, message },
            408 => LlmError::Timeout,
            429 => LlmError::RateLimited {
                status,
                retry_after: retry_after_from_headers(headers, SystemTime::now()),
                message,
            },
            s if s >= 500 => LlmError::Server { status, message },
            _ => LlmError::BadRequest { status, message },
        }
    }

    /// The error for an error object sent inside a stream (Anthropic's
    /// `error` event, or an OpenAI chunk carrying `error`), by its `type`.
    pub(crate) fn from_stream_error(error: &serde_json::Value) -> Self {
        let message = error
            .get("message")
            .and_then(|m| m.as_str())
            .map(truncate)
            .unwrap_or_else(|| truncate(&error.to_string()));
        let kind = error.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let code = error.get("code").and_then(|c| c.as_str()).unwrap_or("");
        match (kind, code) {
            ("rate_limit_error", _) | (_, "rate_limit_exceeded") => LlmError::RateLimited {
                status: 429,
                retry_after: None,
                message,
            },
            ("overloaded_error", _) => LlmError::Server {
                status: 529,
                message,
            },
            ("authentication_error", _) => LlmError::Auth {
                status: 401,
                message,
            },
            ("permission_error", _) => LlmError::Auth {
                status: 403,
                message,
            },
            ("invalid_request_error", _) => LlmError::BadRequest {
                status: 400,
                message,
            },
            ("not_found_error", _) => LlmError::BadRequest {
                status: 404,
                message,
            },
            ("request_too_large", _) => LlmError::BadRequest {
                status: 413,
                message,
            },
            _ => LlmError::Server {
                status: 500,
                message,
            },
        }
    }

    /// The error for a failure inside `reqwest`.
    pub(crate) fn from_reqwest(err: &reqwest::Error) -> Self {
        if err.is_timeout() {
            LlmError::Timeout
        } else if err.is_decode() {
            LlmError::Decode(error_chain(err))
        } else {
            LlmError::Transport(error_chain(err))
        }
    }
}

/// An error and its sources, joined: reqwest's top-level message alone
/// ("error sending request") hides the useful part.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// `{"error":{"message":…}}` (OpenAI and Anthropic alike), else the body
/// itself (truncated), else the status's canonical reason.
fn provider_message(body: &str, status: u16) -> String {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(body) {
        let error = value.get("error");
        if let Some(m) = error
            .and_then(|e| e.get("message"))
            .and_then(|m| m.as_str())
        {
            return truncate(m);
        }
        if let Some(m) = error.and_then(|e| e.as_str()) {
            return truncate(m);
        }
    }
    let trimmed = body.trim();
    if trimmed.is_empty() {
        reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("no error message")
            .to_owned()
    } else {
        truncate(trimmed)
    }
}

fn truncate(s: &str) -> String {
    if s.len() <= MAX_MESSAGE {
        return s.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// `retry-after-ms` (milliseconds, OpenAI's), else `Retry-After` as seconds
/// or as an HTTP-date (relative to `now`).
pub(crate) fn retry_after_from_headers(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let ms = header_str(headers, "retry-after-ms").and_then(|v| v.parse::<f64>().ok());
    if let Some(ms) = ms.filter(|ms| ms.is_finite() && *ms >= 0.0) {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = header_str(headers, "retry-after")?;
    parse_retry_after(value, now)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// A `Retry-After` value: delta-seconds (integer or decimal) or an HTTP-date.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn statuses_map_to_variants_and_keep_the_provider_message() {
        let body =
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#;
        let e = LlmError::from_status(401, &HeaderMap::new(), body);
        assert_eq!(
            e,
            LlmError::Auth {
                status: 401,
                message: "Incorrect API key provided".into()
            }
        );
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("check the API key"));

        let e = LlmError::from_status(
            529,
            &HeaderMap::new(),
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!(
            e,
            LlmError::Server {
                status: 529,
                message: "Overloaded".into()
            }
        );
        assert!(e.is_retryable());

        let e = LlmError::from_status(404, &HeaderMap::new(), "no such model");
        assert_eq!(
            e,
            LlmError::BadRequest {
                status: 404,
                message: "no such model".into()
            }
        );
        let e = LlmError::from_status(503, &HeaderMap::new(), "");
        assert_eq!(
            e,
            LlmError::Server {
                status: 503,
                message: "Service Unavailable".into()
            }
        );

        let e = LlmError::from_status(429, &headers(&[("retry-after", "3")]), "{}");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert!(e.is_retryable());
    }

    #[test]
    fn retry_after_accepts_seconds_dates_and_milliseconds() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        let h = headers(&[("retry-after-ms", "250"), ("retry-after", "9")]);
        assert_eq!(
            retry_after_from_headers(&h, now),
            Some(Duration::from_millis(250))
        );
    }

    #[test]
    fn long_messages_are_truncated_on_a_char_boundary() {
        let long = "é".repeat(MAX_MESSAGE);
        let t = truncate(&long);
        assert!(t.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert!(t.ends_with('…'));
    }

    #[test]
    fn stream_errors_map_by_type() {
        let e = LlmError::from_stream_error(
            &serde_json::json!({"type": "overloaded_error", "message": "Overloaded"}),
        );
        assert_eq!(
            e,
            LlmError::Server {
                status: 529,
                message: "Overloaded".into()
            }
        );
        let e = LlmError::from_stream_error(
            &serde_json::json!({"type": "rate_limit_error", "message": "slow down"}),
        );
        assert!(matches!(e, LlmError::RateLimited { status: 429, .. }));
        let e = LlmError::from_stream_error(
            &serde_json::json!({"type": "invalid_request_error", "message": "bad"}),
        );
        assert!(!e.is_retryable());
    }
}
