//! Token accounting for the tool schemas sent with a model call.
//!
//! Tools are counted as the OpenAI Chat Completions wire format sends them:
//! each as `{"type":"function","function":{"name","description","parameters"}}`
//! in compact JSON, with the name spelt as on the wire (`.` → `__`). OpenAI
//! renders tools into its own prompt format before billing, so this is a
//! close proxy for the billed count, exact for what travels in the request.

use bureau_protocol::ToolSpec;
use serde_json::{Map, Value, json};
use tiktoken_rs::CoreBPE;

use crate::ToolSearchError;

/// A BPE encoding shipped inside `tiktoken-rs` (no download at run time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// GPT-4o, GPT-4.1, o-series, GPT-5.
    O200kBase,
    /// GPT-4, GPT-3.5-turbo, text-embedding-3.
    Cl100kBase,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Self::O200kBase => "o200k_base",
            Self::Cl100kBase => "cl100k_base",
        }
    }
}

/// Counts tokens with a real BPE tokenizer, or estimates them as
/// characters / 4 where no tokenizer fits (e.g. other model families).
pub enum TokenCounter {
    Bpe {
        encoding: Encoding,
        bpe: Box<CoreBPE>,
    },
    /// `ceil(chars / 4)`: OpenAI's rule of thumb for English text.
    CharsOverFour,
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

impl TokenCounter {
    /// A counter for `encoding`. Loading parses the embedded BPE table
    /// (tens of milliseconds): build one and keep it.
    pub fn openai(encoding: Encoding) -> Result<Self, ToolSearchError> {
        let loaded = match encoding {
            Encoding::O200kBase => tiktoken_rs::o200k_base(),
            Encoding::Cl100kBase => tiktoken_rs::cl100k_base(),
        };
        loaded
            .map(|bpe| Self::Bpe {
                encoding,
                bpe: Box::new(bpe),
            })
            .map_err(|e| ToolSearchError::Tokenizer {
                encoding: encoding.name(),
                reason: e.to_string(),
            })
    }

    pub fn estimate() -> Self {
        Self::CharsOverFour
    }

    /// What this counter is, for reports: `o200k_base` or `chars/4`.
    pub fn label(&self) -> String {
        match self {
            Self::Bpe { encoding, .. } => encoding.name().to_owned(),
            Self::CharsOverFour => "chars/4".to_owned(),
        }
    }

    pub fn count_text(&self, text: &str) -> usize {
        match self {
            Self::Bpe { bpe, .. } => bpe.encode_ordinary(text).len(),
            Self::CharsOverFour => text.chars().count().div_ceil(4),
        }
    }

    /// Tokens of one tool as sent on the wire.
    pub fn count_tool(&self, tool: &ToolSpec) -> usize {
        self.count_text(&openai_tool_json(tool).to_string())
    }

    /// Tokens of a call's `tools` array: the sum over its tools.
    pub fn count_tools<'a>(&self, tools: impl IntoIterator<Item = &'a ToolSpec>) -> usize {
        tools.into_iter().map(|t| self.count_tool(t)).sum()
    }
}

/// `tool` as an element of the OpenAI `tools` array.
pub fn openai_tool_json(tool: &ToolSpec) -> Value {
    let mut function = Map::new();
    function.insert("name".into(), Value::String(tool.name.replace('.', "__")));
    if !tool.description.is_empty() {
        function.insert(
            "description".into(),
            Value::String(tool.description.clone()),
        );
    }
    function.insert("parameters".into(), tool.input_schema.clone());
    json!({"type": "function", "function": function})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ToolSpec {
        ToolSpec {
            name: "files.read".into(),
            description: "Read a file.".into(),
            input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        }
    }

    #[test]
    fn wire_json_matches_the_openai_shape() {
        let wire = openai_tool_json(&spec());
        assert_eq!(wire["type"], "function");
        assert_eq!(wire["function"]["name"], "files__read");
        assert_eq!(
            wire["function"]["parameters"]["properties"]["path"]["type"],
            "string"
        );
    }

    #[test]
    fn bpe_counts_are_real_and_offline() {
        let o200k = TokenCounter::openai(Encoding::O200kBase).unwrap();
        // Known tokenisation: "hello world" is two tokens in both encodings.
        assert_eq!(o200k.count_text("hello world"), 2);
        let cl100k = TokenCounter::openai(Encoding::Cl100kBase).unwrap();
        assert_eq!(cl100k.count_text("hello world"), 2);
        let n = o200k.count_tool(&spec());
        assert!((20..60).contains(&n), "{n}");
        assert_eq!(o200k.count_tools([&spec(), &spec()]), 2 * n);
        assert_eq!(o200k.label(), "o200k_base");
    }

    #[test]
    fn the_estimate_is_chars_over_four() {
        let c = TokenCounter::estimate();
        assert_eq!(c.count_text("abcde"), 2);
        assert_eq!(c.count_text(""), 0);
        assert_eq!(c.label(), "chars/4");
    }
}
