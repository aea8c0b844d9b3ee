//! Result rows under the caps, and how they reach the model.

use bureau_protocol::{Content, ToolResult};
use serde::Serialize;
use serde_json::Value;

use crate::SqlCaps;

/// What a statement returned, capped.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// Rows returned (`rows.len()`).
    pub row_count: usize,
    /// More rows existed than the row or byte cap let through.
    pub truncated: bool,
    /// Rows a write changed (`sql.execute` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_affected: Option<u64>,
}

/// Collects rows until a cap is reached.
pub(crate) struct Collector {
    rows: Rows,
    bytes: usize,
    caps: SqlCaps,
}

impl Collector {
    pub(crate) fn new(columns: Vec<String>, caps: SqlCaps) -> Self {
        let bytes = columns.iter().map(|c| c.len() + 3).sum();
        Self {
            rows: Rows {
                columns,
                ..Rows::default()
            },
            bytes,
            caps,
        }
    }

    /// Whether one more row may be added; once `false`, the result is
    /// truncated and the caller stops fetching.
    pub(crate) fn has_room(&self) -> bool {
        !self.rows.truncated
    }

    /// Adds a row, or marks the result truncated if a cap is reached.
    pub(crate) fn push(&mut self, row: Vec<Value>) {
        if self.rows.truncated {
            return;
        }
        if self.rows.rows.len() >= self.caps.max_rows {
            self.rows.truncated = true;
            return;
        }
        let size = serde_json::to_string(&row)
            .map(|s| s.len() + 1)
            .unwrap_or(0);
        if self.bytes + size > self.caps.max_bytes {
            self.rows.truncated = true;
            return;
        }
        self.bytes += size;
        self.rows.rows.push(row);
    }

    pub(crate) fn finish(mut self, rows_affected: Option<u64>) -> Rows {
        self.rows.row_count = self.rows.rows.len();
        self.rows.rows_affected = rows_affected;
        self.rows
    }
}

/// A tool result: the rows as structured content plus a short text
/// rendering (the same JSON, compact, for clients that read only text).
pub fn rows_result(rows: &Rows) -> ToolResult {
    let value = serde_json::to_value(rows).unwrap_or(Value::Null);
    let mut text = value.to_string();
    if rows.truncated {
        text.push_str(
            "\n(truncated: more rows exist than one call returns; narrow the query or aggregate)",
        );
    }
    ToolResult {
        content: vec![Content::Text { text }],
        structured: Some(value),
        is_error: false,
    }
}

/// An error result the model reads.
pub(crate) fn error_result(message: String) -> ToolResult {
    ToolResult {
        content: vec![Content::Text { text: message }],
        structured: None,
        is_error: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn caps(max_rows: usize, max_bytes: usize) -> SqlCaps {
        SqlCaps {
            max_rows,
            max_bytes,
            ..SqlCaps::default()
        }
    }

    #[test]
    fn row_cap_truncates_and_flags() {
        let mut c = Collector::new(vec!["a".into()], caps(2, 1 << 20));
        for i in 0..5 {
            c.push(vec![json!(i)]);
        }
        assert!(!c.has_room());
        let rows = c.finish(None);
        assert_eq!(rows.row_count, 2);
        assert!(rows.truncated);
    }

    #[test]
    fn byte_cap_truncates_and_flags() {
        let mut c = Collector::new(vec!["a".into()], caps(100, 40));
        c.push(vec![json!("0123456789")]);
        c.push(vec![json!("0123456789")]);
        c.push(vec![json!("0123456789")]);
        let rows = c.finish(None);
        assert_eq!(rows.row_count, 2, "{rows:?}");
        assert!(rows.truncated);
        let result = rows_result(&rows);
        assert_eq!(
            result.structured.as_ref().unwrap()["truncated"],
            json!(true)
        );
    }

    #[test]
    fn exact_fit_is_not_truncated() {
        let mut c = Collector::new(vec!["a".into()], caps(2, 1 << 20));
        c.push(vec![json!(1)]);
        c.push(vec![json!(2)]);
        let rows = c.finish(Some(0));
        assert!(!rows.truncated);
        assert_eq!(
            serde_json::to_value(&rows).unwrap(),
            json!({"columns": ["a"], "rows": [[1], [2]], "row_count": 2, "truncated": false, "rows_affected": 0})
        );
    }
}
