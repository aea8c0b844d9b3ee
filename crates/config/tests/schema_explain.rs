//! `json_schema()` and `Config::explain()`.

use std::path::Path;

use bureau_config::*;

const SECTIONS: [&str; 10] = [
    "models",
    "agents",
    "mcp_servers",
    "mcp_servers_files",
    "gateway",
    "sandbox",
    "store",
    "telemetry",
    "policy",
    "databases",
];

#[test]
fn json_schema_is_strict_and_mentions_every_section() {
    let schema = json_schema();
    let text = serde_json::to_string_pretty(&schema).unwrap();
    // Valid JSON that round-trips.
    let back: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back, schema);
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["type"], "object");
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown top-level keys are refused"
    );
    let props = schema["properties"].as_object().unwrap();
    for section in SECTIONS {
        assert!(props.contains_key(section), "schema lacks `{section}`");
    }
    assert_eq!(
        props.len(),
        SECTIONS.len(),
        "{:?}",
        props.keys().collect::<Vec<_>>()
    );
    // Every object with named properties refuses unknown ones.
    let defs = schema["$defs"].as_object().unwrap();
    for (name, def) in defs {
        if def.get("properties").is_some() {
            assert_eq!(
                def["additionalProperties"], false,
                "`{name}` accepts unknown keys"
            );
        }
    }
    // Documentation and value sets come through.
    assert!(
        text.contains("Model turns before the run is stopped"),
        "doc comments become descriptions"
    );
    for value in [
        "openai",
        "anthropic",
        "scripted",
        "native",
        "gvisor",
        "microvm",
        "final_answer",
        "pause",
        "postgres",
    ] {
        assert!(
            text.contains(&format!("\"{value}\"")),
            "schema lacks the value {value}"
        );
    }
    assert!(
        defs.contains_key("RawDuration") || text.contains("([0-9]+(ms|s|m|h|d))+"),
        "durations have a pattern"
    );
}

#[test]
fn explain_mentions_each_section_and_the_defaults() {
    let text = Config::default().explain();
    println!("{text}");
    for section in [
        "models:",
        "agents:",
        "mcp_servers:",
        "gateway:",
        "sandbox:",
        "store:",
        "telemetry:",
        "policy:",
    ] {
        assert!(text.contains(section), "explain() lacks {section}");
    }
    for fact in [
        "default: every setting at its default",
        "allowed_tools: files.*, python.* (default)",
        "backend: native (default)",
        "memory: 512 MiB (default)",
        "pids: 64 (default)",
        "timeout: 30s (default)",
        "{data_dir}/bureau.db (default)",
        "traces are not exported (default)",
        "capture_content: false (default)",
        "the built-in policy applies (default)",
    ] {
        assert!(text.contains(fact), "explain() lacks {fact:?}");
    }
}

#[test]
fn explain_shows_settings_and_hides_secrets() {
    let env = |name: &str| match name {
        "TOKEN" => Some("tok-SECRET".to_owned()),
        "PGPASSWORD" => Some("pg-SECRET".to_owned()),
        _ => None,
    };
    let c = parse_toml(
        r#"
[models.fast]
provider = "openai"
model = "gpt-4o-mini"
base_url = "http://127.0.0.1:8080/v1"
price = { input_per_mtok = 0.15, output_per_mtok = 0.6 }

[agents.analyst]
model = "fast"
tools = ["files.*", "time.*"]
max_turns = 40
cost_budget_usd = 2.5
deadline = "15m"
on_exhausted = "pause"

[mcp_servers.gh]
url = "https://mcp.example.com/mcp"
headers = { Authorization = "Bearer ${TOKEN}" }

[mcp_servers.db]
command = "mcp-postgres"
args = ["postgres://app:${PGPASSWORD}@db/app"]
env = { API_TOKEN = "${TOKEN}" }
call_timeout = "2m"

[sandbox]
backend = "gvisor"
memory = "1G"

[store]
backend = "postgres"
url = "postgres://bureau:${PGPASSWORD}@127.0.0.1/bureau"

[telemetry]
otlp_endpoint = "http://127.0.0.1:4318"
capture_content = true

[policy]
dir = "policies"
"#,
        Path::new("/cfg/bureau.toml"),
        &env,
    )
    .unwrap();
    let text = c.explain();
    println!("{text}");
    assert!(!text.contains("SECRET"), "a secret leaked:\n{text}");
    for fact in [
        "fast: openai gpt-4o-mini, at http://127.0.0.1:8080/v1, key from $OPENAI_API_KEY (default)",
        "$0.15/$0.6 per Mtok",
        "analyst:",
        "model: fast",
        "tools: files.*, time.*",
        "max_turns: 40",
        "cost_budget_usd: 2.5",
        "deadline: 15m",
        "on_exhausted: pause",
        "default: every setting at its default",
        "gh: Streamable HTTP https://mcp.example.com/mcp, headers Authorization (values hidden)",
        "db: stdio `mcp-postgres postgres://app:***@db/app`, env API_TOKEN (values hidden), call timeout 2m,",
        "connect timeout 30s (default)",
        "backend: gvisor",
        "memory: 1 GiB",
        "url: postgres://bureau:***@127.0.0.1/bureau",
        "otlp_endpoint: http://127.0.0.1:4318",
        "capture_content: true",
        "dir: /cfg/policies",
    ] {
        assert!(text.contains(fact), "explain() lacks {fact:?}:\n{text}");
    }
    assert!(!text.contains("backend: gvisor (default)"));
}
