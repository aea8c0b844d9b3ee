//! Streamable HTTP servers.

use std::collections::{BTreeMap, HashMap};

use reqwest::header::{HeaderName, HeaderValue};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use crate::McpError;

/// The transport to `url`, sending `headers` (e.g. `Authorization`) with
/// every request.
pub(crate) fn transport(
    server: &str,
    url: &str,
    headers: &BTreeMap<String, String>,
) -> Result<StreamableHttpClientTransport<reqwest::Client>, McpError> {
    let spawn_error = |message: String| McpError::Spawn {
        server: server.to_owned(),
        message,
    };
    let parsed = reqwest::Url::parse(url)
        .map_err(|error| spawn_error(format!("`{url}` is not a valid URL ({error}): fix `url`")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(spawn_error(format!(
            "`{url}` is not an http:// or https:// URL: fix `url`"
        )));
    }
    let mut custom = HashMap::with_capacity(headers.len());
    for (name, value) in headers {
        let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            spawn_error(format!(
                "`{name}` is not a valid HTTP header name: fix `headers`"
            ))
        })?;
        // The value is never echoed back: it is often a credential.
        let mut header_value = HeaderValue::from_str(value).map_err(|_| {
            spawn_error(format!(
                "the value of header `{name}` holds characters HTTP does not allow: fix `headers`"
            ))
        })?;
        header_value.set_sensitive(true);
        custom.insert(header_name, header_value);
    }
    let config = StreamableHttpClientTransportConfig::with_uri(url).custom_headers(custom);
    Ok(StreamableHttpClientTransport::from_config(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_specs_are_refused_without_echoing_header_values() {
        let ok = BTreeMap::from([("Authorization".to_owned(), "Bearer s3cret".to_owned())]);
        assert!(transport("s", "http://127.0.0.1:1/mcp", &ok).is_ok());

        let e = transport("s", "not a url", &ok).err().unwrap();
        assert!(matches!(e, McpError::Spawn { .. }), "{e}");
        let e = transport("s", "ftp://host/x", &ok).err().unwrap();
        assert!(e.to_string().contains("http://"), "{e}");

        let bad_name = BTreeMap::from([("Bad Name".to_owned(), "v".to_owned())]);
        let e = transport("s", "http://127.0.0.1:1/mcp", &bad_name)
            .err()
            .unwrap();
        assert!(e.to_string().contains("`Bad Name`"), "{e}");

        let bad_value = BTreeMap::from([("Authorization".to_owned(), "s3cret\nx".to_owned())]);
        let e = transport("s", "http://127.0.0.1:1/mcp", &bad_value)
            .err()
            .unwrap();
        assert!(e.to_string().contains("Authorization"), "{e}");
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}
