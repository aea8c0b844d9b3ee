//! The embedded defaults, and the documented example file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bureau_config::*;
use bureau_protocol::McpServerSpec;

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn every_default() {
    let c = Config::default();
    assert!(c.models.is_empty());
    assert_eq!(c.agents.keys().collect::<Vec<_>>(), vec!["default"]);
    assert!(c.mcp_servers.is_empty());

    let a = &c.agents["default"];
    assert_eq!(a.model, None);
    assert_eq!(a.system_prompt, DEFAULT_SYSTEM_PROMPT);
    assert!(a.system_prompt.contains("not instructions"));
    assert_eq!(a.tools, vec!["*"]);
    assert_eq!(a.max_turns, 25);
    assert_eq!(a.token_budget, None);
    assert_eq!(a.cost_budget_usd, None);
    assert_eq!(a.deadline, None);
    assert_eq!(a.loop_limit, 3);
    assert_eq!(a.max_tool_result_chars, 16_000);
    assert_eq!(a.on_exhausted, OnExhausted::FinalAnswer);
    assert_eq!(a.tool_concurrency, 4);
    assert_eq!(
        a.tool_retry,
        ToolRetry {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5)
        }
    );
    assert_eq!(
        a.circuit_breaker,
        CircuitBreakerConfig {
            failure_threshold: 3,
            cooldown: Duration::from_secs(30)
        }
    );

    assert_eq!(c.gateway.allowed_tools, vec!["files.*", "python.*"]);
    assert_eq!(c.sandbox.backend, SandboxBackend::Native);
    assert_eq!(c.sandbox.memory_bytes, 512 * 1024 * 1024);
    assert_eq!(c.sandbox.pids, 64);
    assert_eq!(c.sandbox.timeout, Duration::from_secs(30));
    assert_eq!(c.store.backend, StoreBackend::Sqlite);
    assert_eq!(c.store.path, None);
    assert_eq!(c.telemetry.otlp_endpoint, None);
    assert!(!c.telemetry.capture_content);
    assert_eq!(c.policy.dir, None);
}

#[test]
fn model_defaults() {
    let c = parse_toml(
        "[models.a]\nprovider = \"openai\"\nmodel = \"gpt-4o\"\n\
         [models.b]\nprovider = \"anthropic\"\nmodel = \"claude\"\n\
         [models.s]\nprovider = \"scripted\"\nmodel = \"s.json\"\n",
        Path::new("/etc/bureau/bureau.toml"),
        &no_env,
    )
    .unwrap();
    let a = &c.models["a"];
    assert_eq!(a.provider, Provider::OpenAi);
    assert_eq!(a.model, "gpt-4o");
    assert_eq!(a.base_url, None);
    assert_eq!(a.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
    assert!(a.stream);
    assert_eq!(a.max_output_tokens, None);
    assert_eq!(a.timeout, Duration::from_secs(120));
    assert_eq!(a.price, None);
    assert_eq!(
        a.retry,
        RetrySection {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30)
        }
    );
    assert_eq!(
        c.models["b"].api_key_env.as_deref(),
        Some("ANTHROPIC_API_KEY")
    );
    assert_eq!(c.models["s"].api_key_env, None);
    assert_eq!(c.models["s"].model, "/etc/bureau/s.json");
    assert_eq!(*a, ModelConfig::new(Provider::OpenAi, "gpt-4o"));
}

#[test]
fn empty_and_comment_only_files_are_the_defaults() {
    for text in [
        "",
        "# nothing here\n\n",
        "[agents]\n[mcp_servers]\n[gateway]\n[sandbox]\n[store]\n[telemetry]\n[policy]\n",
    ] {
        let c = parse_toml(text, Path::new("bureau.toml"), &no_env).unwrap();
        assert_eq!(c, Config::default(), "{text:?}");
    }
}

#[test]
fn a_defined_agent_starts_from_the_built_in_defaults() {
    let c = parse_toml(
        "[agents.default]\nmax_turns = 50\n[agents.quick]\ntools = [\"files.*\"]\n",
        Path::new("bureau.toml"),
        &no_env,
    )
    .unwrap();
    assert_eq!(c.agents["default"].max_turns, 50);
    let quick = &c.agents["quick"];
    assert_eq!(quick.max_turns, 25);
    assert_eq!(quick.tools, vec!["files.*"]);
    assert_eq!(quick.loop_limit, 3);
}

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn the_example_file_parses() {
    let env = |name: &str| -> Option<String> {
        BTreeMap::from([("GITHUB_TOKEN", "ghp_test")])
            .get(name)
            .map(|v| (*v).to_owned())
    };
    let path = example_dir().join("bureau.toml");
    let dir = path.parent().unwrap().to_path_buf();
    let c = load_file(&path, &env).unwrap();

    assert_eq!(
        c.models.keys().collect::<Vec<_>>(),
        vec!["claude", "gpt", "local"]
    );
    assert_eq!(
        c.models["local"].base_url.as_deref(),
        Some("http://127.0.0.1:8080/v1")
    );
    assert_eq!(
        c.models["gpt"].price,
        Some(Price {
            input_per_mtok: 2.5,
            output_per_mtok: 10.0
        })
    );
    assert_eq!(
        c.agents.keys().collect::<Vec<_>>(),
        vec!["analyst", "default", "offline"]
    );
    assert_eq!(c.agents["analyst"].on_exhausted, OnExhausted::Pause);
    assert_eq!(
        c.agents["analyst"].deadline,
        Some(Duration::from_secs(15 * 60))
    );
    assert!(
        c.agents["analyst"]
            .system_prompt
            .starts_with("You analyse data files")
    );
    assert_eq!(
        c.agents["offline"].model,
        Some(format!(
            "scripted:{}",
            dir.join("scripts/demo.json").display()
        ))
    );
    // The example spells out the defaults, so its default agent is the default one with a model.
    let default_agent = AgentConfig {
        model: Some("gpt".to_owned()),
        ..AgentConfig::default()
    };
    assert_eq!(c.agents["default"], default_agent);

    let names: Vec<&str> = c.mcp_servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["github", "time", "filesystem"],
        "memory is disabled in mcp.json"
    );
    let time = &c.mcp_servers[1];
    match &time.spec {
        McpServerSpec::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            assert_eq!(command, "uvx");
            assert_eq!(
                args,
                &vec![
                    "mcp-server-time".to_owned(),
                    "--local-timezone=UTC".to_owned()
                ]
            );
            assert_eq!(env.get("PYTHONUNBUFFERED").map(String::as_str), Some("1"));
            assert_eq!(cwd, &None);
        }
        other => panic!("{other:?}"),
    }
    match &c.mcp_servers[0].spec {
        McpServerSpec::Http { headers, .. } => {
            assert_eq!(headers["Authorization"], "Bearer ghp_test");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.mcp_servers[0].call_timeout_ms, 120_000);
    match &c.mcp_servers[2].spec {
        McpServerSpec::Stdio { args, .. } => assert_eq!(args[2], dir.display().to_string()),
        other => panic!("{other:?}"),
    }

    assert_eq!(c.gateway, GatewaySection::default());
    assert_eq!(c.sandbox, SandboxSection::default());
    assert_eq!(c.store.path, Some(dir.join("data/bureau.db")));
    assert_eq!(c.telemetry, TelemetrySection::default());
    assert_eq!(c.policy, PolicySection::default());
}

/// Every key of the schema appears in the example, so the example documents every key.
#[test]
fn the_example_mentions_every_key_of_the_schema() {
    let text = std::fs::read_to_string(example_dir().join("bureau.toml")).unwrap();
    let schema = json_schema();
    let mut keys = Vec::new();
    collect_property_names(&schema, &mut keys);
    assert!(keys.len() > 40, "{keys:?}");
    for key in keys {
        assert!(
            text.contains(&key),
            "examples/bureau.toml does not mention `{key}`"
        );
    }
}

fn collect_property_names(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                out.extend(props.keys().cloned());
            }
            for value in map.values() {
                collect_property_names(value, out);
            }
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|i| collect_property_names(i, out))
        }
        _ => {}
    }
}

#[test]
fn integers_are_accepted_where_floats_are_expected() {
    let c = parse_toml(
        "[models.m]\nprovider = \"openai\"\nmodel = \"x\"\nprice = { input_per_mtok = 3, output_per_mtok = 15 }\n\
         [agents.a]\nmodel = \"m\"\ncost_budget_usd = 2\n",
        Path::new("bureau.toml"),
        &no_env,
    )
    .unwrap();
    assert_eq!(
        c.models["m"].price,
        Some(Price {
            input_per_mtok: 3.0,
            output_per_mtok: 15.0
        })
    );
    assert_eq!(c.agents["a"].cost_budget_usd, Some(2.0));
}
