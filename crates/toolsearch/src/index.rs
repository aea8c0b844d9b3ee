//! The retrieval index: BM25F over three fields of each tool — its
//! qualified name, its description, and its parameters (names, their
//! descriptions and enum values, nested objects included).

use std::collections::HashMap;

use bureau_protocol::ToolSpec;
use serde_json::Value;

use crate::synonyms::{Expansions, expansions};
use crate::text::{Stemming, terms};

/// The fields a tool is indexed under, in the order of the weights below.
const FIELDS: usize = 3;
const NAME: usize = 0;
const DESCRIPTION: usize = 1;
const PARAMS: usize = 2;

/// How deep nested object schemas are walked for parameter text.
const MAX_SCHEMA_DEPTH: usize = 4;

/// Tunables of the ranking function. The defaults were chosen with a grid
/// over the development split of `eval/queries.jsonl` only
/// (`cargo run -p bureau-toolsearch --example eval --release -- --grid`);
/// the landscape is flat (±2 points of recall@5), so they are ordinary
/// BM25 values with a boost for name matches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IndexOptions {
    /// Term-frequency saturation.
    pub k1: f32,
    /// Length normalisation, 0 (none) ..= 1 (full).
    pub b: f32,
    /// Weight of a term found in the tool's name (`server.tool`, split).
    pub name_weight: f32,
    /// Weight of a term found in the description.
    pub description_weight: f32,
    /// Weight of a term found in a parameter's name, description or enum.
    pub params_weight: f32,
    pub stemming: Stemming,
    /// Weight of a word added by query expansion ([`crate::synonyms`]),
    /// relative to a word the query contains; 0 switches expansion off.
    pub expansion_weight: f32,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            k1: 0.9,
            b: 0.5,
            name_weight: 3.0,
            description_weight: 1.0,
            params_weight: 0.5,
            stemming: Stemming::Light,
            expansion_weight: 0.4,
        }
    }
}

/// One search result: a tool and its score (higher is better).
#[derive(Clone, Debug, PartialEq)]
pub struct Hit<'a> {
    pub tool: &'a ToolSpec,
    pub score: f32,
}

#[derive(Clone, Copy, Debug)]
struct Posting {
    doc: u32,
    tf: [f32; FIELDS],
}

/// A BM25F index over a fixed set of tools, built once and queried many
/// times. Queries cost a few microseconds per matching tool.
#[derive(Clone, Debug)]
pub struct ToolIndex {
    tools: Vec<ToolSpec>,
    options: IndexOptions,
    expansions: Expansions,
    terms: HashMap<String, usize>,
    postings: Vec<Vec<Posting>>,
    lengths: Vec<[f32; FIELDS]>,
    average_length: [f32; FIELDS],
}

impl ToolIndex {
    /// Indexes `tools` with the default options.
    pub fn new(tools: &[ToolSpec]) -> Self {
        Self::with_options(tools, IndexOptions::default())
    }

    pub fn with_options(tools: &[ToolSpec], options: IndexOptions) -> Self {
        let mut index = Self {
            tools: tools.to_vec(),
            options,
            expansions: expansions(options.stemming),
            terms: HashMap::new(),
            postings: Vec::new(),
            lengths: Vec::with_capacity(tools.len()),
            average_length: [0.0; FIELDS],
        };
        for (doc, tool) in tools.iter().enumerate() {
            index.add(doc, tool);
        }
        let n = tools.len().max(1) as f32;
        for field in 0..FIELDS {
            let total: f32 = index.lengths.iter().map(|l| l[field]).sum();
            index.average_length[field] = (total / n).max(1.0);
        }
        index
    }

    fn add(&mut self, doc: usize, tool: &ToolSpec) {
        let stemming = self.options.stemming;
        let mut params = String::new();
        schema_text(&tool.input_schema, 0, &mut params);
        let fields: [Vec<String>; FIELDS] = [
            terms(&tool.name, stemming),
            terms(&tool.description, stemming),
            terms(&params, stemming),
        ];
        let mut counts: HashMap<&str, [f32; FIELDS]> = HashMap::new();
        for (field, words) in fields.iter().enumerate() {
            for word in words {
                counts.entry(word).or_insert([0.0; FIELDS])[field] += 1.0;
            }
        }
        let doc = u32::try_from(doc).unwrap_or(u32::MAX);
        for (word, tf) in counts {
            let next = self.postings.len();
            let id = *self.terms.entry(word.to_owned()).or_insert(next);
            if id == next {
                self.postings.push(Vec::new());
            }
            if let Some(list) = self.postings.get_mut(id) {
                list.push(Posting { doc, tf });
            }
        }
        self.lengths.push([
            fields[NAME].len() as f32,
            fields[DESCRIPTION].len() as f32,
            fields[PARAMS].len() as f32,
        ]);
    }

    /// The indexed tools, in the order they were given.
    pub fn tools(&self) -> &[ToolSpec] {
        &self.tools
    }

    pub fn options(&self) -> IndexOptions {
        self.options
    }

    /// The `k` best tools for `query`, best first; ties keep catalog order.
    /// Tools sharing no term with the query are never returned.
    pub fn search(&self, query: &str, k: usize) -> Vec<Hit<'_>> {
        let scores = self.scores(query);
        let mut ranked: Vec<(usize, f32)> = scores
            .into_iter()
            .enumerate()
            .filter(|(_, s)| *s > 0.0)
            .collect();
        ranked.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
            .into_iter()
            .take(k)
            .filter_map(|(doc, score)| self.tools.get(doc).map(|tool| Hit { tool, score }))
            .collect()
    }

    /// The BM25F score of every tool for `query`, in catalog order.
    pub fn scores(&self, query: &str) -> Vec<f32> {
        let o = &self.options;
        let weights = [o.name_weight, o.description_weight, o.params_weight];
        let n = self.tools.len() as f32;
        let mut scores = vec![0.0f32; self.tools.len()];
        for (id, weight) in self.query_terms(query) {
            let Some(list) = self.postings.get(id) else {
                continue;
            };
            let df = list.len() as f32;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for posting in list {
                let doc = posting.doc as usize;
                let Some(lengths) = self.lengths.get(doc) else {
                    continue;
                };
                let mut tf = 0.0;
                for field in 0..FIELDS {
                    let norm = 1.0 - o.b + o.b * lengths[field] / self.average_length[field];
                    tf += weights[field] * posting.tf[field] / norm;
                }
                if let Some(score) = scores.get_mut(doc) {
                    *score += weight * idf * tf * (o.k1 + 1.0) / (o.k1 + tf);
                }
            }
        }
        scores
    }

    /// The query's known terms with their weights: 1 for the query's own
    /// words, `expansion_weight` for words added by expansion.
    fn query_terms(&self, query: &str) -> Vec<(usize, f32)> {
        let own = terms(query, self.options.stemming);
        let mut out: Vec<(usize, f32)> = Vec::new();
        let mut add = |word: &str, weight: f32| {
            let Some(&id) = self.terms.get(word) else {
                return;
            };
            match out.iter_mut().find(|(i, _)| *i == id) {
                Some((_, w)) => *w = w.max(weight),
                None => out.push((id, weight)),
            }
        };
        for word in &own {
            add(word, 1.0);
        }
        if self.options.expansion_weight > 0.0 {
            for word in &own {
                for extra in self.expansions.get(word).into_iter().flatten() {
                    add(extra, self.options.expansion_weight);
                }
            }
        }
        out
    }
}

/// Appends the text of a JSON schema's parameters to `out`: each property's
/// name, title, description and string enum values, recursing into nested
/// objects and array items.
fn schema_text(schema: &Value, depth: usize, out: &mut String) {
    if depth > MAX_SCHEMA_DEPTH {
        return;
    }
    let Some(obj) = schema.as_object() else {
        return;
    };
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            out.push_str(name);
            out.push(' ');
            for key in ["title", "description"] {
                if let Some(text) = prop.get(key).and_then(Value::as_str) {
                    out.push_str(text);
                    out.push(' ');
                }
            }
            if let Some(values) = prop.get("enum").and_then(Value::as_array) {
                for value in values.iter().filter_map(Value::as_str) {
                    out.push_str(value);
                    out.push(' ');
                }
            }
            schema_text(prop, depth + 1, out);
        }
    }
    if let Some(items) = obj.get("items") {
        schema_text(items, depth + 1, out);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tool(name: &str, description: &str, schema: Value) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: description.into(),
            input_schema: schema,
        }
    }

    fn catalog() -> Vec<ToolSpec> {
        vec![
            tool(
                "files.read_file",
                "Read a file's contents as text.",
                json!({"type": "object", "properties": {"path": {"type": "string"}}}),
            ),
            tool(
                "slack.post_message",
                "Post a message to a channel.",
                json!({"type": "object", "properties": {
                    "channelId": {"type": "string", "description": "The channel to post in"},
                    "text": {"type": "string"}}}),
            ),
            tool(
                "time.convert_time",
                "Convert between zones.",
                json!({"type": "object", "properties": {
                    "target_timezone": {"type": "string"},
                    "format": {"type": "string", "enum": ["iso8601", "rfc2822"]}}}),
            ),
        ]
    }

    #[test]
    fn names_descriptions_and_parameters_are_all_searchable() {
        let index = ToolIndex::new(&catalog());
        let top = |q: &str| index.search(q, 1).first().map(|h| h.tool.name.clone());
        assert_eq!(
            top("read the contents of README"),
            Some("files.read_file".into())
        );
        assert_eq!(
            top("tell the channel we shipped"),
            Some("slack.post_message".into())
        );
        assert_eq!(
            top("what is that in another timezone"),
            Some("time.convert_time".into())
        );
        assert_eq!(
            top("format it as rfc2822"),
            Some("time.convert_time".into())
        );
    }

    #[test]
    fn unrelated_queries_return_nothing_and_k_bounds_results() {
        let index = ToolIndex::new(&catalog());
        assert!(index.search("zebra giraffe", 5).is_empty());
        assert!(index.search("", 5).is_empty());
        assert_eq!(index.search("file message time channel zone", 2).len(), 2);
        assert!(index.search("file", 0).is_empty());
    }

    #[test]
    fn scores_are_sorted_and_name_matches_weigh_more() {
        let tools = vec![
            tool("a.other", "mentions upload once", json!({})),
            tool("b.upload", "stores a blob", json!({})),
        ];
        let index = ToolIndex::new(&tools);
        let hits = index.search("upload", 5);
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].tool.name, "b.upload");
        assert!(hits[0].score > hits[1].score);
    }

    #[test]
    fn an_empty_catalog_is_searchable() {
        let index = ToolIndex::new(&[]);
        assert!(index.search("anything", 3).is_empty());
    }
}
