//! Tool-call arguments between Bureau's `Value` and the providers' strings.

use serde_json::{Map, Value};

/// A provider's arguments string as JSON. Empty means no arguments (`{}`);
/// text that is not a JSON object is kept verbatim as `Value::String` so
/// one bad call does not lose the whole answer (the gateway rejects it
/// later) and goes back to the provider exactly as it came.
pub(crate) fn parse_arguments(raw: &str) -> Value {
    if raw.trim().is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(object @ Value::Object(_)) => object,
        _ => Value::String(raw.to_owned()),
    }
}

/// Bureau's arguments as a provider's JSON string: a `Value::String` is
/// the raw text a model sent (see [`parse_arguments`]) and goes back as it
/// was; `null` is `{}`.
pub(crate) fn arguments_string(arguments: &Value) -> String {
    match arguments {
        Value::String(raw) => raw.clone(),
        Value::Null => "{}".to_owned(),
        other => other.to_string(),
    }
}

/// Bureau's arguments as an object (Anthropic's `input` must be one): raw
/// text that parses to an object is used; anything else becomes `{}`.
pub(crate) fn arguments_object(arguments: &Value) -> Value {
    match arguments {
        Value::Object(_) => arguments.clone(),
        Value::String(raw) => match serde_json::from_str::<Value>(raw) {
            Ok(v @ Value::Object(_)) => v,
            _ => Value::Object(Map::new()),
        },
        _ => Value::Object(Map::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_parse_and_keep_bad_json_verbatim() {
        assert_eq!(parse_arguments(r#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(parse_arguments("  "), json!({}));
        assert_eq!(
            parse_arguments(r#"{"a":"#),
            Value::String(r#"{"a":"#.into())
        );
        assert_eq!(
            arguments_string(&Value::String(r#"{"a":"#.into())),
            r#"{"a":"#
        );
        assert_eq!(arguments_string(&json!({"a": 1})), r#"{"a":1}"#);
        assert_eq!(arguments_string(&Value::Null), "{}");
        assert_eq!(
            arguments_object(&Value::String(r#"{"a":1}"#.into())),
            json!({"a": 1})
        );
        assert_eq!(arguments_object(&Value::String("oops".into())), json!({}));
        assert_eq!(arguments_object(&json!([1])), json!({}));
    }
}
