//! rmcp's wire types → Bureau's vocabulary.

use bureau_protocol::{Content, ToolResult, ToolSpec};
use rmcp::model::{CallToolResult, ContentBlock, Tool};
use rmcp::service::{ClientInitializeError, ServiceError};
use serde_json::Value;

use crate::McpError;

/// A server's tool as Bureau offers it to a model, under `qualified` name.
pub(crate) fn tool_spec(tool: &Tool, qualified: String) -> ToolSpec {
    ToolSpec {
        name: qualified,
        description: tool.description.as_deref().unwrap_or_default().to_owned(),
        input_schema: Value::Object(tool.input_schema.as_ref().clone()),
    }
}

/// A `tools/call` result. `isError` stays a normal result.
pub(crate) fn tool_result(result: CallToolResult) -> ToolResult {
    ToolResult {
        content: result.content.into_iter().map(content).collect(),
        structured: result.structured_content,
        is_error: result.is_error.unwrap_or(false),
    }
}

fn content(block: ContentBlock) -> Content {
    match block {
        ContentBlock::Text(text) => Content::Text { text: text.text },
        ContentBlock::Image(image) => Content::Image {
            data: image.data,
            mime_type: image.mime_type,
        },
        ContentBlock::Audio(audio) => Content::Audio {
            data: audio.data,
            mime_type: audio.mime_type,
        },
        // Embedded resources, resource links and any block type a later
        // revision adds: kept whole, with their `type`, as the server sent them.
        other => Content::Resource {
            resource: as_json(&other),
        },
    }
}

fn as_json(block: &ContentBlock) -> Value {
    serde_json::to_value(block).unwrap_or_else(|error| {
        Value::String(format!(
            "content block that could not be re-encoded: {error}"
        ))
    })
}

/// An error from an established connection.
pub(crate) fn service_error(server: &str, error: ServiceError) -> McpError {
    let server = server.to_owned();
    match error {
        ServiceError::McpError(data) => McpError::Protocol {
            server,
            code: Some(data.code.0),
            message: data.message.into_owned(),
        },
        ServiceError::UnexpectedResponse => McpError::Protocol {
            server,
            code: None,
            message: "the server answered with a reply of the wrong type".to_owned(),
        },
        ServiceError::TransportClosed => McpError::Transport {
            server,
            message: "the connection is closed".to_owned(),
        },
        ServiceError::TransportSend(error) => McpError::Transport {
            server,
            message: error_chain(error.error.as_ref()),
        },
        other => McpError::Transport {
            server,
            message: error_chain(&other),
        },
    }
}

/// A failed handshake.
pub(crate) fn init_error(server: &str, error: &ClientInitializeError) -> McpError {
    let message = match error {
        ClientInitializeError::LegacyFallbackFailed { discover, fallback } => format!(
            "the server answered neither `server/discover` ({}) nor `initialize` ({})",
            error_chain(discover.as_ref()),
            error_chain(fallback.as_ref())
        ),
        ClientInitializeError::TransportError { error, context } => format!(
            "the connection failed (while trying to {context}): {}",
            error_chain(error.error.as_ref())
        ),
        other => format!("the MCP handshake failed: {}", error_chain(other)),
    };
    McpError::Connect {
        server: server.to_owned(),
        message,
    }
}

/// An error and its sources, joined with `: `.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(next) = source {
        let text = next.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = next.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{ErrorCode, ErrorData, Resource, ResourceContents};
    use serde_json::json;

    #[test]
    fn every_content_kind_is_kept() {
        let mut result = CallToolResult::success(vec![
            ContentBlock::text("hello"),
            ContentBlock::image("aW1n", "image/png"),
            ContentBlock::audio("YXVk", "audio/wav"),
            ContentBlock::resource(ResourceContents::text("inside", "file:///a.txt")),
            ContentBlock::resource_link(Resource::new("file:///b.txt", "b")),
        ]);
        result.structured_content = Some(json!({"n": 1}));
        let r = tool_result(result);
        assert_eq!(
            r.content[0],
            Content::Text {
                text: "hello".into()
            }
        );
        assert_eq!(
            r.content[1],
            Content::Image {
                data: "aW1n".into(),
                mime_type: "image/png".into()
            }
        );
        assert_eq!(
            r.content[2],
            Content::Audio {
                data: "YXVk".into(),
                mime_type: "audio/wav".into()
            }
        );
        let Content::Resource { resource } = &r.content[3] else {
            panic!("{:?}", r.content[3])
        };
        assert_eq!(resource["type"], "resource");
        assert_eq!(resource["resource"]["text"], "inside");
        let Content::Resource { resource } = &r.content[4] else {
            panic!("{:?}", r.content[4])
        };
        assert_eq!(resource["type"], "resource_link");
        assert_eq!(resource["uri"], "file:///b.txt");
        assert_eq!(r.structured, Some(json!({"n": 1})));
        assert!(!r.is_error);
    }

    #[test]
    fn is_error_is_a_result_not_an_error() {
        let r = tool_result(CallToolResult::error(vec![ContentBlock::text("boom")]));
        assert!(r.is_error);
        assert_eq!(r.to_model_text(), "boom");
    }

    #[test]
    fn json_rpc_errors_keep_code_and_message() {
        let e = service_error(
            "srv",
            ServiceError::McpError(ErrorData::new(ErrorCode::INVALID_PARAMS, "bad args", None)),
        );
        assert_eq!(
            e,
            McpError::Protocol {
                server: "srv".into(),
                code: Some(-32602),
                message: "bad args".into()
            }
        );
        assert!(e.to_string().contains("JSON-RPC error -32602"), "{e}");
    }
}
