//! The selection policy: which tools a model call is offered, and the
//! `find_tools` meta-tool through which the model asks for more.

use bureau_protocol::ToolSpec;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{Hit, IndexOptions, ToolIndex, ToolSearchError};

/// The qualified name of the meta-tool.
pub const FIND_TOOLS: &str = "bureau.find_tools";

/// How many tools one `find_tools` call may ask for.
pub const MAX_FIND_K: usize = 20;

/// How many tools a `find_tools` call lists when it does not say.
pub const DEFAULT_FIND_K: usize = 5;

/// Longest one-line description in a `find_tools` listing, in characters.
const SUMMARY_CHARS: usize = 160;

/// A tool name, or a glob over names where `*` matches any run of
/// characters: `time.get_current_time`, `files.*`, `*.read_*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolPattern(String);

impl ToolPattern {
    pub fn new(pattern: impl Into<String>) -> Self {
        Self(pattern.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, name: &str) -> bool {
        glob(self.0.as_bytes(), name.as_bytes())
    }
}

/// `*` matches any run of bytes; everything else matches itself.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// Which tools to offer a model call: the pinned ones always, then the `k`
/// tools that best match the sub-task, and (when enabled) `find_tools`.
#[derive(Clone, Debug)]
pub struct ToolSelection {
    index: ToolIndex,
    pinned: Vec<ToolPattern>,
    k: usize,
    offer_find_tools: OfferFindTools,
}

/// Whether [`ToolSelection::select`] appends the `find_tools` meta-tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferFindTools {
    Yes,
    No,
}

/// A `find_tools` call answered: the tools found (to offer from the next
/// model call on) and the text to return to the model as the tool result.
#[derive(Clone, Debug, PartialEq)]
pub struct FindToolsAnswer {
    pub tools: Vec<ToolSpec>,
    pub text: String,
}

#[derive(Serialize)]
struct Listing<'a> {
    name: &'a str,
    description: String,
}

impl ToolSelection {
    /// A selection over `tools` with default index options.
    pub fn new(
        tools: &[ToolSpec],
        pinned: Vec<ToolPattern>,
        k: usize,
        offer_find_tools: OfferFindTools,
    ) -> Self {
        Self::with_index(ToolIndex::new(tools), pinned, k, offer_find_tools)
    }

    pub fn with_options(
        tools: &[ToolSpec],
        options: IndexOptions,
        pinned: Vec<ToolPattern>,
        k: usize,
        offer_find_tools: OfferFindTools,
    ) -> Self {
        Self::with_index(
            ToolIndex::with_options(tools, options),
            pinned,
            k,
            offer_find_tools,
        )
    }

    pub fn with_index(
        index: ToolIndex,
        pinned: Vec<ToolPattern>,
        k: usize,
        offer_find_tools: OfferFindTools,
    ) -> Self {
        Self {
            index,
            pinned,
            k,
            offer_find_tools,
        }
    }

    pub fn index(&self) -> &ToolIndex {
        &self.index
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn is_pinned(&self, name: &str) -> bool {
        self.pinned.iter().any(|p| p.matches(name))
    }

    /// The `k` best tools for `query` (pinned or not), best first.
    pub fn search(&self, query: &str, k: usize) -> Vec<Hit<'_>> {
        self.index.search(query, k)
    }

    /// The tools to offer for a sub-task: pinned tools in catalog order,
    /// then the best `k` unpinned matches, then `find_tools` if offered.
    /// No tool appears twice.
    pub fn select(&self, task: &str) -> Vec<ToolSpec> {
        let mut out: Vec<ToolSpec> = self
            .index
            .tools()
            .iter()
            .filter(|t| self.is_pinned(&t.name))
            .cloned()
            .collect();
        let matches = self.index.search(task, self.index.tools().len());
        out.extend(
            matches
                .into_iter()
                .filter(|h| !self.is_pinned(&h.tool.name))
                .take(self.k)
                .map(|h| h.tool.clone()),
        );
        match self.offer_find_tools {
            OfferFindTools::Yes => out.push(find_tools_spec()),
            OfferFindTools::No => {}
        }
        out
    }

    /// Answers a `find_tools` call: `{"query": string, "k"?: integer}`.
    pub fn answer_find_tools(&self, arguments: &Value) -> Result<FindToolsAnswer, ToolSearchError> {
        let (query, k) = parse_find_tools(arguments)?;
        let hits = self.index.search(query, k);
        let listing: Vec<Listing<'_>> = hits
            .iter()
            .map(|h| Listing {
                name: &h.tool.name,
                description: summary(&h.tool.description),
            })
            .collect();
        let note = if listing.is_empty() {
            "no tool matches; try other words for what the tool should do"
        } else {
            "these tools are offered from your next step on; call one by name"
        };
        let text = json!({"tools": listing, "note": note}).to_string();
        Ok(FindToolsAnswer {
            tools: hits.into_iter().map(|h| h.tool.clone()).collect(),
            text,
        })
    }
}

fn parse_find_tools(arguments: &Value) -> Result<(&str, usize), ToolSearchError> {
    let invalid = |reason: &str| ToolSearchError::InvalidArguments {
        reason: reason.to_owned(),
    };
    let obj = arguments
        .as_object()
        .ok_or_else(|| invalid("arguments must be an object"))?;
    let query = obj
        .get("query")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .ok_or_else(|| invalid("`query` must be a non-empty string"))?;
    let k = match obj.get("k") {
        None | Some(Value::Null) => DEFAULT_FIND_K,
        Some(v) => v
            .as_u64()
            .filter(|k| *k >= 1)
            .and_then(|k| usize::try_from(k).ok())
            .ok_or_else(|| invalid("`k` must be a positive integer"))?
            .min(MAX_FIND_K),
    };
    Ok((query, k))
}

/// The first sentence or line of `description`, at most `SUMMARY_CHARS`.
fn summary(description: &str) -> String {
    let line = description.lines().next().unwrap_or("").trim();
    let sentence = match line.find(". ") {
        Some(end) => &line[..=end],
        None => line,
    };
    if sentence.chars().count() <= SUMMARY_CHARS {
        return sentence.trim_end().to_owned();
    }
    let cut: String = sentence.chars().take(SUMMARY_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

/// The `find_tools` meta-tool as offered to a model.
pub fn find_tools_spec() -> ToolSpec {
    ToolSpec {
        name: FIND_TOOLS.to_owned(),
        description: "Search every available tool by what it does. Use it when none of the \
                      tools you were given fits the step; the tools found are offered to you \
                      from the next step on."
            .to_owned(),
        input_schema: json!({
            "type": "object",
            "properties": {
                "query": {
                    "type": "string",
                    "description": "What you need a tool to do, in a few words"
                },
                "k": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_FIND_K,
                    "description": "How many tools to list (default 5)"
                }
            },
            "required": ["query"],
            "additionalProperties": false
        }),
    }
}

#[cfg(test)]
#[path = "selection_tests.rs"]
mod tests;
