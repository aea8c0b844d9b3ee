//! Tool names on the wire. Bureau's names are qualified with dots
//! (`files.write`); OpenAI and Anthropic accept only `^[a-zA-Z0-9_-]{1,64}$`.
//! A [`ToolNameMap`] is built per request and maps both ways.

use std::collections::HashMap;

use bureau_protocol::{Message, ModelRequest};

/// The longest name the providers accept.
pub const MAX_WIRE_NAME: usize = 64;

/// A collision-free, per-request mapping between Bureau's tool names and
/// names the provider accepts. Names that are already valid on the wire
/// keep their spelling; `.` becomes `__`, any other invalid character `_`;
/// a name still taken gets a `_2`, `_3`… suffix; a name too long is cut and
/// ends with a short hash of the original.
#[derive(Clone, Debug, Default)]
pub struct ToolNameMap {
    to_wire: HashMap<String, String>,
    from_wire: HashMap<String, String>,
}

impl ToolNameMap {
    /// The map for these names, in order (duplicates are ignored).
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut unique: Vec<&str> = Vec::new();
        for name in names {
            if !unique.contains(&name) {
                unique.push(name);
            }
        }
        let mut map = Self::default();
        // Valid names claim their own spelling first, so they never change.
        for name in unique.iter().filter(|n| is_valid_wire_name(n)) {
            map.insert(name, (*name).to_owned());
        }
        for name in unique.iter().filter(|n| !is_valid_wire_name(n)) {
            let base = encode(name);
            let mut candidate = base.clone();
            let mut n = 2u32;
            while map.from_wire.contains_key(&candidate) {
                candidate = with_suffix(&base, &format!("_{n}"));
                n += 1;
            }
            map.insert(name, candidate);
        }
        map
    }

    /// The map for a request: its tools, then every tool name its history
    /// mentions (a final-answer call offers no tools but its history does).
    pub fn for_request(request: &ModelRequest) -> Self {
        let tools = request.tools.iter().map(|t| t.name.as_str());
        let history = request.messages.iter().flat_map(|m| -> Vec<&str> {
            match m {
                Message::Assistant { tool_calls, .. } => {
                    tool_calls.iter().map(|c| c.name.as_str()).collect()
                }
                Message::Tool { name, .. } => vec![name.as_str()],
                Message::System { .. } | Message::User { .. } => Vec::new(),
            }
        });
        Self::new(tools.chain(history))
    }

    fn insert(&mut self, name: &str, wire: String) {
        self.from_wire.insert(wire.clone(), name.to_owned());
        self.to_wire.insert(name.to_owned(), wire);
    }

    /// The wire name for a Bureau name; a name not in the map is encoded
    /// on the fly (without collision checks).
    pub fn to_wire(&self, name: &str) -> String {
        match self.to_wire.get(name) {
            Some(wire) => wire.clone(),
            None if is_valid_wire_name(name) => name.to_owned(),
            None => encode(name),
        }
    }

    /// The Bureau name for a wire name; a name not in the map passes
    /// through unchanged.
    pub fn from_wire<'a>(&'a self, wire: &'a str) -> &'a str {
        self.from_wire.get(wire).map(String::as_str).unwrap_or(wire)
    }

    /// Whether any name needed a different spelling on the wire.
    pub fn is_identity(&self) -> bool {
        self.to_wire.iter().all(|(k, v)| k == v)
    }
}

/// `^[a-zA-Z0-9_-]{1,64}$`.
pub fn is_valid_wire_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_WIRE_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' => out.push(c),
            '.' => out.push_str("__"),
            _ => out.push('_'),
        }
    }
    if out.is_empty() {
        out.push('_');
    }
    if out.len() > MAX_WIRE_NAME {
        let hash = format!("_{:08x}", fnv1a(name.as_bytes()));
        out.truncate(MAX_WIRE_NAME - hash.len());
        out.push_str(&hash);
    }
    out
}

/// `base` + `suffix`, cutting `base` so the whole fits (ASCII only here).
fn with_suffix(base: &str, suffix: &str) -> String {
    let keep = base.len().min(MAX_WIRE_NAME.saturating_sub(suffix.len()));
    format!("{}{suffix}", &base[..keep])
}

/// 32-bit FNV-1a: short, stable across builds and platforms.
fn fnv1a(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips(map: &ToolNameMap, names: &[&str]) {
        let mut seen = std::collections::HashSet::new();
        for name in names {
            let wire = map.to_wire(name);
            assert!(
                is_valid_wire_name(&wire),
                "{wire:?} from {name:?} is not valid on the wire"
            );
            assert!(seen.insert(wire.clone()), "{wire:?} is used twice");
            assert_eq!(map.from_wire(&wire), *name);
        }
    }

    #[test]
    fn dots_become_double_underscores_and_valid_names_are_kept() {
        let names = [
            "files.write",
            "time.get_current_time",
            "plain_name",
            "with-dash",
        ];
        let map = ToolNameMap::new(names);
        assert_eq!(map.to_wire("files.write"), "files__write");
        assert_eq!(
            map.to_wire("time.get_current_time"),
            "time__get_current_time"
        );
        assert_eq!(map.to_wire("plain_name"), "plain_name");
        assert!(!map.is_identity());
        round_trips(&map, &names);
    }

    #[test]
    fn collisions_get_suffixes_and_valid_names_win() {
        // `a__b` is valid and keeps its spelling even though `a.b` comes first.
        let names = ["a.b", "a__b", "a/b", "a b", "a_b"];
        let map = ToolNameMap::new(names);
        assert_eq!(map.to_wire("a__b"), "a__b");
        assert_eq!(map.to_wire("a_b"), "a_b");
        assert_eq!(map.to_wire("a.b"), "a__b_2");
        assert_eq!(map.to_wire("a/b"), "a_b_2");
        assert_eq!(map.to_wire("a b"), "a_b_3");
        round_trips(&map, &names);
    }

    #[test]
    fn long_names_are_cut_with_a_hash() {
        let long_a = format!("server.{}", "x".repeat(100));
        let long_b = format!("server.{}y", "x".repeat(99));
        let names = [long_a.as_str(), long_b.as_str()];
        let map = ToolNameMap::new(names);
        let wire_a = map.to_wire(&long_a);
        assert_eq!(wire_a.len(), MAX_WIRE_NAME);
        assert!(wire_a.starts_with("server__xxx"));
        assert_ne!(wire_a, map.to_wire(&long_b));
        round_trips(&map, &names);
        // Stable: the same name always encodes the same way.
        assert_eq!(ToolNameMap::new([long_a.as_str()]).to_wire(&long_a), wire_a);
    }

    #[test]
    fn colliding_long_names_still_fit() {
        let base = "s.".to_owned() + &"z".repeat(70);
        // Two names that differ only in an invalid character encode alike.
        let other = "s/".to_owned() + &"z".repeat(70);
        let names = [base.as_str(), other.as_str()];
        let map = ToolNameMap::new(names);
        round_trips(&map, &names);
    }

    #[test]
    fn unknown_wire_names_pass_through_and_odd_names_are_valid() {
        let names = ["", "ünïcode.tool", "café"];
        let map = ToolNameMap::new(names);
        assert_eq!(map.from_wire("not_in_the_map"), "not_in_the_map");
        round_trips(&map, &names);
        assert_eq!(map.to_wire("outside.map"), "outside__map");
    }

    #[test]
    fn requests_map_their_history_too() {
        use bureau_protocol::{ToolCall, ToolCallId, ToolSpec};
        let request = ModelRequest {
            model: String::new(),
            messages: vec![
                Message::Assistant {
                    content: None,
                    tool_calls: vec![ToolCall {
                        id: ToolCallId::new("c1"),
                        name: "old.tool".into(),
                        arguments: serde_json::json!({}),
                    }],
                },
                Message::Tool {
                    tool_call_id: ToolCallId::new("c1"),
                    name: "old.tool".into(),
                    content: "ok".into(),
                    is_error: false,
                },
            ],
            tools: vec![ToolSpec {
                name: "new.tool".into(),
                description: String::new(),
                input_schema: serde_json::json!({}),
            }]
            .into(),
            max_output_tokens: None,
            temperature: None,
        };
        let map = ToolNameMap::for_request(&request);
        assert_eq!(map.from_wire("old__tool"), "old.tool");
        assert_eq!(map.from_wire("new__tool"), "new.tool");
    }
}
