//! Bad input gives one clear error that names the file, the line, the key
//! path and what to do.

use std::path::Path;

use bureau_config::*;

fn no_env(_: &str) -> Option<String> {
    None
}

#[expect(
    clippy::panic,
    reason = "a test helper: a config that parses fails the test"
)]
fn err(text: &str) -> ConfigError {
    match parse_toml(text, Path::new("/cfg/bureau.toml"), &no_env) {
        Ok(c) => panic!("expected an error for {text:?}, got {c:?}"),
        Err(e) => e,
    }
}

/// (file text, expected line, strings the message must contain)
type Case = (&'static str, Option<u32>, &'static [&'static str]);

fn check(cases: &[Case]) {
    for (text, line, needles) in cases {
        let e = err(text);
        let message = e.to_string();
        println!("{message}");
        assert!(
            message.starts_with("/cfg/bureau.toml"),
            "no file in: {message}"
        );
        assert_eq!(
            e.location().and_then(|l| l.line),
            *line,
            "line of: {message}"
        );
        for needle in *needles {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
        assert!(message.chars().next().is_some_and(|c| !c.is_uppercase()));
    }
}

#[test]
fn unknown_keys_name_the_key_and_line() {
    check(&[
        (
            "bogus = 1\n",
            Some(1),
            &[
                "unknown key `bogus`",
                "remove it or correct its spelling",
                ":1:1",
            ],
        ),
        (
            "\n\n[sandbox]\nbackend = \"native\"\nmemroy = \"1G\"\n",
            Some(5),
            &["`sandbox.memroy`", "expected"],
        ),
        (
            "[agents.analyst]\nmax_turns = 3\nmax_turn = 4\n",
            Some(3),
            &["`agents.analyst.max_turn`"],
        ),
        (
            "[agents.a.tool_retry]\nattempts = 2\n",
            Some(2),
            &["`agents.a.tool_retry.attempts`", "max_attempts"],
        ),
        (
            "[models.m]\nprovider = \"openai\"\nmodel = \"x\"\nprice = { input = 1 }\n",
            Some(4),
            &["`models.m.price.input`"],
        ),
        (
            "[mcp_servers.s]\ncommand = \"x\"\nautoApprove = []\n",
            Some(3),
            &["`mcp_servers.s.autoApprove`"],
        ),
        (
            "[store]\nbackend = \"sqlite\"\n[store.extra]\n",
            Some(3),
            &["`store.extra`"],
        ),
    ]);
}

#[test]
fn wrong_types_and_values_name_the_key() {
    check(&[
        (
            "[agents.a]\nmax_turns = \"x\"\n",
            Some(2),
            &["`agents.a.max_turns`", "invalid type"],
        ),
        (
            "[sandbox]\nbackend = \"docker\"\n",
            Some(2),
            &["`sandbox.backend`", "native", "gvisor", "microvm"],
        ),
        (
            "[agents.a]\non_exhausted = \"stop\"\n",
            Some(2),
            &["`agents.a.on_exhausted`", "final_answer", "pause"],
        ),
        (
            "[sandbox]\nmemory = -5\n",
            Some(2),
            &["`sandbox.memory`", "\"512M\""],
        ),
        (
            "[sandbox]\nmemory = \"12X\"\n",
            Some(2),
            &["`sandbox.memory`", "unit"],
        ),
        (
            "[sandbox]\nmemory = 1000\n",
            Some(2),
            &["`sandbox.memory`", "at least \"1M\""],
        ),
        (
            "[sandbox]\npids = 0\n",
            Some(2),
            &["`sandbox.pids`", "at least 1"],
        ),
        (
            "mcp_servers_files = \"mcp.json\"\n",
            Some(1),
            &["`mcp_servers_files`", "invalid type"],
        ),
        ("a = [\n", Some(1), &["invalid TOML", "fix the syntax"]),
        ("[agents.a]\n[agents.a]\n", Some(2), &["invalid TOML"]),
    ]);
}

#[test]
fn bad_durations() {
    check(&[
        (
            "[sandbox]\ntimeout = \"30\"\n",
            Some(2),
            &["`sandbox.timeout`", "without a unit", "\"30s\""],
        ),
        (
            "[sandbox]\ntimeout = 30\n",
            Some(2),
            &["`sandbox.timeout`", "a duration string with a unit"],
        ),
        (
            "[sandbox]\ntimeout = \"0s\"\n",
            Some(2),
            &["`sandbox.timeout`", "is zero"],
        ),
        (
            "[agents.a]\ndeadline = \"ten minutes\"\n",
            Some(2),
            &["`agents.a.deadline`", "\"ten minutes\""],
        ),
        (
            "[agents.a]\ndeadline = \"10min\"\n",
            Some(2),
            &["`agents.a.deadline`", "unknown duration unit \"min\""],
        ),
        (
            "[agents.a.circuit_breaker]\ncooldown = \"1.5s\"\n",
            Some(2),
            &["`agents.a.circuit_breaker.cooldown`"],
        ),
        (
            "[models.m]\nprovider = \"openai\"\nmodel = \"x\"\n[models.m.retry]\nbase_delay = \"1m\"\nmax_delay = \"1s\"\n",
            Some(5),
            &[
                "`models.m.retry.base_delay`",
                "(1m) is longer than max_delay (1s)",
            ],
        ),
        (
            "[mcp_servers.s]\ncommand = \"x\"\ncall_timeout = \"soon\"\n",
            Some(3),
            &["`mcp_servers.s.call_timeout`"],
        ),
        (
            "[mcp_servers.s]\ncommand = \"x\"\nconnect_timeout = \"0ms\"\n",
            Some(3),
            &["`mcp_servers.s.connect_timeout`", "is zero"],
        ),
    ]);
}

#[test]
fn guardrail_limits() {
    check(&[
        (
            "[agents.a]\nmax_turns = 0\n",
            Some(2),
            &["`agents.a.max_turns` is 0; it must be at least 1"],
        ),
        (
            "[agents.a]\ntool_concurrency = 0\n",
            Some(2),
            &["`agents.a.tool_concurrency`", "at least 1"],
        ),
        (
            "[agents.a]\nloop_limit = 1\n",
            Some(2),
            &["`agents.a.loop_limit`", "at least 2"],
        ),
        (
            "[agents.a]\ntoken_budget = 0\n",
            Some(2),
            &["`agents.a.token_budget`", "positive"],
        ),
        (
            "[agents.a]\ncost_budget_usd = -1.0\n",
            Some(2),
            &["`agents.a.cost_budget_usd`", "positive"],
        ),
        (
            "[agents.a]\ncost_budget_usd = nan\n",
            Some(2),
            &["`agents.a.cost_budget_usd`"],
        ),
        (
            "[agents.a]\nmax_tool_result_chars = 0\n",
            Some(2),
            &["`agents.a.max_tool_result_chars`"],
        ),
        (
            "[agents.a]\ndeadline = \"0s\"\n",
            Some(2),
            &["`agents.a.deadline`", "is zero"],
        ),
        (
            "[agents.a.tool_retry]\nmax_attempts = 0\n",
            Some(2),
            &["`agents.a.tool_retry.max_attempts`"],
        ),
        (
            "[agents.a.circuit_breaker]\nfailure_threshold = 0\n",
            Some(2),
            &["failure_threshold"],
        ),
        (
            "[agents.a]\nsystem_prompt = \"  \"\n",
            Some(2),
            &["`agents.a.system_prompt` is empty"],
        ),
        (
            "[agents.a]\nsystem_prompt = \"x\"\nsystem_prompt_file = \"p.md\"\n",
            Some(3),
            &["keep one of the two"],
        ),
        (
            "[agents.\"my agent\"]\n",
            Some(1),
            &["not a valid agent name"],
        ),
    ]);
}

#[test]
fn tool_patterns_are_checked() {
    check(&[
        (
            "[agents.a]\ntools = [\"files.*\", \"files\"]\n",
            Some(2),
            &["`agents.a.tools[1]`", "\"files.*\""],
        ),
        (
            "[agents.a]\ntools = [\"my server.x\"]\n",
            Some(2),
            &["`agents.a.tools[0]`", "server part"],
        ),
        (
            "[gateway]\nallowed_tools = [\"files.\"]\n",
            Some(2),
            &["`gateway.allowed_tools[0]`", "tool part"],
        ),
    ]);
}

#[test]
fn agent_referencing_a_missing_model_lists_the_keys() {
    let text = "[models.fast]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\n\
                [models.smart]\nprovider = \"openai\"\nmodel = \"gpt-4o\"\n\
                [agents.analyst]\nmodel = \"fats\"\n";
    let e = err(text);
    let m = e.to_string();
    assert!(
        matches!(&e, ConfigError::UnknownModel { agent, model, known, .. }
        if agent == "analyst" && model == "fats" && known == &["fast", "smart"]),
        "{e:?}"
    );
    assert_eq!(e.location().and_then(|l| l.line), Some(8), "{m}");
    for needle in [
        "agent `analyst`",
        "model `fats`",
        "`fast`, `smart`",
        "[models.fats]",
        "openai:gpt-4o",
    ] {
        assert!(m.contains(needle), "{m} lacks {needle}");
    }
    // An unknown provider prefix is a missing model too.
    let e = err("[agents.a]\nmodel = \"gemini:pro\"\n");
    assert!(matches!(e, ConfigError::UnknownModel { .. }), "{e}");
    let e = err("[agents.a]\nmodel = \"openai:\"\n");
    assert!(e.to_string().contains("no model after `openai:`"), "{e}");
}

#[test]
fn model_references_resolve() {
    let c = parse_toml(
        "[models.fast]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\n\
         [agents.a]\nmodel = \"fast\"\n[agents.b]\nmodel = \"anthropic:claude-sonnet-4-5\"\n\
         [agents.c]\nmodel = \"scripted:scripts/s.json\"\n[agents.d]\nmodel = \"scripted:/abs/s.json\"\n",
        Path::new("/cfg/bureau.toml"),
        &no_env,
    )
    .unwrap();
    assert_eq!(c.agents["a"].model.as_deref(), Some("fast"));
    assert_eq!(
        c.agents["b"].model.as_deref(),
        Some("anthropic:claude-sonnet-4-5")
    );
    assert_eq!(
        c.agents["c"].model.as_deref(),
        Some("scripted:/cfg/scripts/s.json")
    );
    assert_eq!(c.agents["d"].model.as_deref(), Some("scripted:/abs/s.json"));
}

#[test]
fn model_tables_are_checked() {
    check(&[
        (
            "[models.m]\nmodel = \"x\"\n",
            Some(1),
            &["`models.m` has no `provider`"],
        ),
        (
            "[models.m]\nprovider = \"openai\"\n",
            Some(1),
            &["`models.m` has no `model`"],
        ),
        (
            "[models.m]\nprovider = \"gemini\"\nmodel = \"x\"\n",
            Some(2),
            &["`models.m.provider`", "openai"],
        ),
        (
            "[models.\"openai:x\"]\nprovider = \"openai\"\nmodel = \"x\"\n",
            Some(1),
            &["not a valid model name"],
        ),
        (
            "[models.m]\nprovider = \"openai\"\nmodel = \"x\"\nbase_url = \"localhost:8080\"\n",
            Some(4),
            &["`models.m.base_url`", "http://"],
        ),
        (
            "[models.m]\nprovider = \"openai\"\nmodel = \"x\"\napi_key_env = \"sk-abc123\"\n",
            Some(4),
            &["*name*"],
        ),
        (
            "[models.m]\nprovider = \"openai\"\nmodel = \"x\"\nmax_output_tokens = 0\n",
            Some(4),
            &["max_output_tokens"],
        ),
        (
            "[models.m]\nprovider = \"openai\"\nmodel = \"x\"\nprice = { input_per_mtok = -1.0, output_per_mtok = 1.0 }\n",
            Some(4),
            &["`models.m.price.input_per_mtok`"],
        ),
        (
            "[models.m]\nprovider = \"openai\"\nmodel = \"x\"\nprice = { input_per_mtok = 1.0 }\n",
            Some(4),
            &["`models.m.price`", "output_per_mtok"],
        ),
        (
            "[models.m]\nprovider = \"openai\"\nmodel = \"x\"\n[agents.a]\nmodel = \"m\"\ncost_budget_usd = 1.0\n",
            Some(6),
            &["needs a price", "[models.m]"],
        ),
        (
            "[agents.a]\nmodel = \"openai:gpt-4o\"\ncost_budget_usd = 1.0\n",
            Some(3),
            &["needs a price"],
        ),
    ]);
}

#[test]
fn store_telemetry_and_sections() {
    check(&[
        (
            "[store]\nbackend = \"postgres\"\n",
            Some(1),
            &["`store`", "without a `url`"],
        ),
        (
            "[store]\nurl = \"postgres://x\"\n",
            Some(2),
            &["`store.url`", "backend = \"postgres\""],
        ),
        (
            "[store]\nbackend = \"postgres\"\nurl = \"mysql://u:pw@h/db\"\n",
            Some(3),
            &["u:***@h", "postgres://"],
        ),
        (
            "[store]\nbackend = \"postgres\"\nurl = \"postgres://h/db\"\npath = \"x.db\"\n",
            Some(4),
            &["`store.path`"],
        ),
        (
            "[store]\nbackend = \"postgres\"\nurl = \"postgres://u:${PGPASSWORD}@h/db\"\n",
            Some(3),
            &["PGPASSWORD is not set"],
        ),
        (
            "[telemetry]\notlp_endpoint = \"127.0.0.1:4318\"\n",
            Some(2),
            &["`telemetry.otlp_endpoint`"],
        ),
    ]);
}

#[test]
fn secrets_in_bad_values_are_masked() {
    let e = err("[store]\nbackend = \"postgres\"\nurl = \"mysql://bureau:hunter2@db/x\"\n");
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[test]
fn missing_files_are_read_errors() {
    let e = load_file(Path::new("/nonexistent/bureau.toml"), &no_env).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(
        e.to_string()
            .starts_with("cannot read /nonexistent/bureau.toml: "),
        "{e}"
    );
    let e = err("mcp_servers_files = [\"missing.json\"]\n");
    assert!(e.to_string().contains("/cfg/missing.json"), "{e}");
    let e = err("[agents.a]\nsystem_prompt_file = \"prompts/a.md\"\n");
    assert!(e.to_string().contains("/cfg/prompts/a.md"), "{e}");
}

#[test]
fn databases_are_checked_with_the_key_that_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let ok = bureau_config::parse_toml(
        "[databases.analytics]\nkind = \"sqlite\"\npath = \"users.db\"\n\n[databases.warehouse]\nkind = \"postgres\"\nurl = \"postgres://reader:${PGPASS}@127.0.0.1/app\"\naccess = \"read_write\"\nclassifier = false\nmax_rows = 50\nmax_bytes = \"64K\"\ntimeout = \"2s\"\n",
        &dir.path().join("bureau.toml"),
        &|v| (v == "PGPASS").then(|| "s3cret".to_owned()),
    )
    .unwrap();
    let a = &ok.databases["analytics"];
    assert_eq!(
        a.kind,
        bureau_config::DatabaseKind::Sqlite {
            path: dir.path().join("users.db")
        }
    );
    assert_eq!(a.access, bureau_config::DatabaseAccess::ReadOnly);
    assert!(a.classifier);
    let w = &ok.databases["warehouse"];
    assert_eq!(
        w.kind,
        bureau_config::DatabaseKind::Postgres {
            url: "postgres://reader:s3cret@127.0.0.1/app".into()
        }
    );
    assert_eq!((w.max_rows, w.max_bytes), (50, 64 * 1024));
    assert!(!ok.explain().contains("s3cret"), "passwords are redacted");

    for (text, needle) in [
        ("[databases.a]\npath = \"x.db\"\n", "databases.a.kind"),
        ("[databases.a]\nkind = \"sqlite\"\n", "databases.a.path"),
        (
            "[databases.a]\nkind = \"postgres\"\nurl = \"mysql://x\"\n",
            "databases.a.url",
        ),
        (
            "[databases.a]\nkind = \"sqlite\"\npath = \"x.db\"\nurl = \"postgres://x\"\n",
            "databases.a.url",
        ),
        (
            "[databases.a]\nkind = \"sqlite\"\npath = \"x.db\"\nmax_rows = 0\n",
            "databases.a.max_rows",
        ),
        (
            "[databases.a]\nkind = \"sqlite\"\npath = \"x.db\"\nflavour = 1\n",
            "flavour",
        ),
    ] {
        let err = bureau_config::parse_toml(text, &dir.path().join("bureau.toml"), &|_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{text}: {err}");
    }
}
