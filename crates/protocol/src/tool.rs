use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ToolCallId;

/// A tool as offered to a model: a qualified name, a description and the
/// JSON schema of its arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub input_schema: Value,
}

/// A tool call as the model asked for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: ToolCallId,
    /// Qualified name, `server.tool`.
    pub name: String,
    #[serde(default)]
    pub arguments: Value,
}

/// One piece of a tool's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    Text {
        text: String,
    },
    Image {
        data: String,
        mime_type: String,
    },
    Audio {
        data: String,
        mime_type: String,
    },
    /// A resource, embedded or linked; kept as the server sent it.
    Resource {
        resource: Value,
    },
}

/// What a tool call returned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    #[serde(default)]
    pub content: Vec<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured: Option<Value>,
    #[serde(default)]
    pub is_error: bool,
}

impl ToolResult {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            content: vec![Content::Text { text: text.into() }],
            structured: None,
            is_error: false,
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self {
            content: vec![Content::Text { text: text.into() }],
            structured: None,
            is_error: true,
        }
    }

    /// The result as text for a model: text parts joined, structured content
    /// as JSON when there is no text, other parts summarised.
    pub fn to_model_text(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        for c in &self.content {
            match c {
                Content::Text { text } => parts.push(text.clone()),
                Content::Image { mime_type, data } => {
                    parts.push(format!("[image {mime_type}, {} base64 bytes]", data.len()))
                }
                Content::Audio { mime_type, data } => {
                    parts.push(format!("[audio {mime_type}, {} base64 bytes]", data.len()))
                }
                Content::Resource { resource } => parts.push(resource.to_string()),
            }
        }
        if let (true, Some(s)) = (parts.is_empty(), &self.structured) {
            return s.to_string();
        }
        parts.join("\n")
    }
}

/// `server.tool`.
pub fn qualify(server: &str, tool: &str) -> String {
    format!("{server}.{tool}")
}

/// Splits a qualified name at its first dot: `("server", "tool")`.
pub fn split_qualified(name: &str) -> Option<(&str, &str)> {
    name.split_once('.')
        .filter(|(s, t)| !s.is_empty() && !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_split_at_the_first_dot() {
        assert_eq!(split_qualified("files.write"), Some(("files", "write")));
        assert_eq!(split_qualified("srv.a.b"), Some(("srv", "a.b")));
        assert_eq!(split_qualified("nodot"), None);
        assert_eq!(split_qualified(".x"), None);
        assert_eq!(qualify("a", "b"), "a.b");
    }

    #[test]
    fn model_text_falls_back_to_structured() {
        let r = ToolResult {
            content: vec![],
            structured: Some(serde_json::json!({"a": 1})),
            is_error: false,
        };
        assert_eq!(r.to_model_text(), r#"{"a":1}"#);
    }
}
