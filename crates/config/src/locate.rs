//! From a byte span to a key path and a line, and back: how errors found
//! after deserialisation still point at the right line of `bureau.toml`.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::Location;

/// One step of a key path: a table key or an array index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// A path of keys, printed TOML-style: `agents.analyst.max_turns`,
/// `mcp_servers_files[1]`, `mcp_servers."my.server"`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Segment>);

impl KeyPath {
    pub(crate) fn root(key: &str) -> Self {
        Self(vec![Segment::Key(key.to_owned())])
    }

    pub(crate) fn key(&self, key: &str) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.to_owned()));
        next
    }

    pub(crate) fn segments(&self) -> &[Segment] {
        &self.0
    }

    pub(crate) fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(n) => write!(f, "[{n}]")?,
                Segment::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare {
                        f.write_str(k)?
                    } else {
                        write!(f, "{k:?}")?
                    }
                }
            }
        }
        Ok(())
    }
}

/// A TOML document kept beside its text, to turn spans into lines and key
/// paths into spans.
pub(crate) struct Document<'i> {
    pub(crate) path: &'i Path,
    text: &'i str,
    root: Spanned<DeTable<'i>>,
}

impl<'i> Document<'i> {
    pub(crate) fn new(path: &'i Path, text: &'i str, root: Spanned<DeTable<'i>>) -> Self {
        Self { path, text, root }
    }

    /// The position of a byte offset.
    pub(crate) fn location_of_offset(&self, offset: usize) -> Location {
        location_in(self.path, self.text, offset)
    }

    /// The position of the deepest key of `path` present in the file (the
    /// key itself when present, else its closest parent; else just the file).
    pub(crate) fn locate(&self, path: &KeyPath) -> Location {
        let mut table: Option<&DeTable<'i>> = Some(self.root.get_ref());
        let mut array: Option<&[Spanned<DeValue<'i>>]> = None;
        let mut best: Option<Range<usize>> = None;
        for segment in &path.0 {
            let found: Option<(Range<usize>, &Spanned<DeValue<'i>>)> = match segment {
                Segment::Key(k) => table
                    .and_then(|t| t.get_key_value(k.as_str()))
                    .map(|(key, v)| (key.span(), v)),
                Segment::Index(n) => array.and_then(|a| a.get(*n)).map(|v| (v.span(), v)),
            };
            let Some((span, value)) = found else { break };
            best = Some(span);
            table = value.get_ref().as_table();
            array = match value.get_ref() {
                DeValue::Array(a) => Some(a.as_ref()),
                _ => None,
            };
        }
        match best {
            Some(span) => self.location_of_offset(span.start),
            None => Location::file(self.path),
        }
    }

    /// The key path of the deepest key or value whose span holds `span`.
    pub(crate) fn key_path_at(&self, span: &Range<usize>) -> Option<KeyPath> {
        let mut best: Option<KeyPath> = None;
        walk_table(self.root.get_ref(), &KeyPath::default(), span, &mut best);
        best
    }

    /// Whether `span` is exactly the span of some key (unknown-key errors point at the key).
    pub(crate) fn is_key_span(&self, span: &Range<usize>) -> bool {
        fn in_table(t: &DeTable<'_>, span: &Range<usize>) -> bool {
            t.iter()
                .any(|(k, v)| k.span() == *span || in_value(v.get_ref(), span))
        }
        fn in_value(v: &DeValue<'_>, span: &Range<usize>) -> bool {
            match v {
                DeValue::Table(t) => in_table(t, span),
                DeValue::Array(a) => a.iter().any(|v| in_value(v.get_ref(), span)),
                _ => false,
            }
        }
        in_table(self.root.get_ref(), span)
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer.start < outer.end
}

fn consider(candidate: KeyPath, best: &mut Option<KeyPath>) {
    if best.as_ref().is_none_or(|b| candidate.0.len() > b.0.len()) {
        *best = Some(candidate);
    }
}

fn walk_table(
    table: &DeTable<'_>,
    here: &KeyPath,
    span: &Range<usize>,
    best: &mut Option<KeyPath>,
) {
    for (key, value) in table.iter() {
        let path = here.key(key.get_ref());
        if contains(&key.span(), span) || contains(&value.span(), span) {
            consider(path.clone(), best);
        }
        walk_value(value.get_ref(), &path, span, best);
    }
}

fn walk_value(
    value: &DeValue<'_>,
    here: &KeyPath,
    span: &Range<usize>,
    best: &mut Option<KeyPath>,
) {
    match value {
        DeValue::Table(t) => walk_table(t, here, span, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let path = here.index(i);
                if contains(&item.span(), span) {
                    consider(path.clone(), best);
                }
                walk_value(item.get_ref(), &path, span, best);
            }
        }
        DeValue::String(_)
        | DeValue::Integer(_)
        | DeValue::Float(_)
        | DeValue::Boolean(_)
        | DeValue::Datetime(_) => {}
    }
}

/// Line and column (1-based, column in characters) of a byte offset.
pub(crate) fn location_in(path: &Path, text: &str, offset: usize) -> Location {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Location {
        path: path.to_path_buf(),
        line: u32::try_from(line).ok(),
        column: u32::try_from(column).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "a = 1\n[agents.x]\nmax_turns = 3\ntools = [\"x\", \"y\"]\n\n[agents.x.retry]\nn = 1\n";

    fn doc() -> Document<'static> {
        let root = DeTable::parse(TEXT).unwrap();
        Document::new(Path::new("b.toml"), TEXT, root)
    }

    #[test]
    fn key_paths_print_like_toml() {
        let p = KeyPath::root("mcp_servers")
            .key("my.server")
            .key("args")
            .index(2);
        assert_eq!(p.to_string(), "mcp_servers.\"my.server\".args[2]");
    }

    #[test]
    fn locate_finds_keys_and_falls_back_to_parents() {
        let d = doc();
        let at = d.locate(&KeyPath::root("agents").key("x").key("max_turns"));
        assert_eq!((at.line, at.column), (Some(3), Some(1)));
        let at = d.locate(&KeyPath::root("agents").key("x").key("retry").key("n"));
        assert_eq!(at.line, Some(7));
        let at = d.locate(&KeyPath::root("agents").key("x").key("tools").index(1));
        assert_eq!((at.line, at.column), (Some(4), Some(15)));
        let at = d.locate(&KeyPath::root("agents").key("x").key("missing"));
        assert_eq!(at.line, Some(2));
        assert_eq!(d.locate(&KeyPath::root("nothing")).line, None);
    }

    #[test]
    fn spans_map_back_to_key_paths() {
        let d = doc();
        let start = TEXT.find("3\n").unwrap();
        let path = d.key_path_at(&(start..start + 1)).unwrap();
        assert_eq!(path.to_string(), "agents.x.max_turns");
        let start = TEXT.find("\"y\"").unwrap();
        let path = d.key_path_at(&(start..start + 3)).unwrap();
        assert_eq!(path.to_string(), "agents.x.tools[1]");
        let start = TEXT.find("n = 1").unwrap();
        assert!(d.is_key_span(&(start..start + 1)));
        assert_eq!(
            d.key_path_at(&(start..start + 1)).unwrap().to_string(),
            "agents.x.retry.n"
        );
    }
}
