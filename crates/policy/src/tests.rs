//! The Rust action table and the Cedar schema must agree.

use std::str::FromStr;

use cedar_policy::{Context, EntityUid, Schema};
use serde_json::{Map, Value, json};

use crate::request::{ACTIONS, ArgType, COMMON_CONTEXT, EXTERNAL_ACTION};

fn schema() -> Schema {
    Schema::from_cedarschema_str(crate::SCHEMA).unwrap().0
}

fn common() -> Map<String, Value> {
    let v = json!({
        "approved": false,
        "untrusted_args": [],
        "args_from_tool_output": false,
        "now": {"__extn": {"fn": "datetime", "arg": "2026-11-01T00:00:00.000Z"}},
        "estimated_cost_usd": {"__extn": {"fn": "decimal", "arg": "0.0000"}},
    });
    let Value::Object(m) = v else { unreachable!() };
    assert_eq!(m.len(), COMMON_CONTEXT.len());
    m
}

fn fits(schema: &Schema, action: &str, ctx: Map<String, Value>) -> bool {
    let uid = EntityUid::from_str(&format!("Action::\"{action}\"")).unwrap();
    Context::from_json_value(Value::Object(ctx), Some((schema, &uid))).is_ok()
}

#[test]
fn the_action_table_matches_the_schema() {
    let schema = schema();
    for spec in ACTIONS {
        let mut ctx = common();
        for (name, ty) in spec.args {
            let v = match ty {
                ArgType::String => json!("x"),
                ArgType::Bool => json!(true),
            };
            ctx.insert((*name).to_owned(), v);
        }
        assert!(
            fits(&schema, spec.name, ctx.clone()),
            "{} context",
            spec.name
        );
        // Nothing missing from the table: an extra attribute does not fit.
        ctx.insert("extra".into(), json!("x"));
        assert!(!fits(&schema, spec.name, ctx), "{} extra", spec.name);
    }
    let mut ctx = common();
    ctx.insert("tool".into(), json!("github.create_issue"));
    assert!(fits(&schema, EXTERNAL_ACTION, ctx));

    let mut in_schema: Vec<String> = schema
        .actions()
        .map(|a| a.id().unescaped().to_owned())
        .filter(|a| a != "read" && a != "write" && a != EXTERNAL_ACTION)
        .collect();
    in_schema.sort();
    let mut in_table: Vec<String> = ACTIONS.iter().map(|a| a.name.to_owned()).collect();
    in_table.sort();
    assert_eq!(in_schema, in_table);
}
