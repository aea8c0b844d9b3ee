//! Stdio servers on the official Python SDK: environment, working directory,
//! timeouts with cancellation, process groups and bad peers.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bureau_mcp_client::{INHERITED_ENV_VARS, McpError, McpHub};
use bureau_protocol::{McpServerSpec, meta};
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn child_sees_only_allow_listed_and_explicit_environment() {
    // Cargo sets this for test processes; it must not leak to the child.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());

    let mut server = python_fixture("fx");
    let McpServerSpec::Stdio { env, .. } = &mut server.spec else {
        unreachable!()
    };
    env.insert("BUREAU_FIXTURE_TOKEN".into(), "from-the-spec".into());

    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    hub.connect(&server).await.unwrap();
    let result = hub
        .call_tool(&call("fx.environment", json!({})), &no_meta())
        .await
        .unwrap();
    let child_env: BTreeMap<String, String> = serde_json::from_str(&text_of(&result)).unwrap();
    hub.shutdown().await;

    assert_eq!(
        child_env.get("BUREAU_FIXTURE_TOKEN").map(String::as_str),
        Some("from-the-spec")
    );
    assert_eq!(child_env.get("PATH"), std::env::var("PATH").ok().as_ref());
    assert!(
        !child_env.contains_key("CARGO_MANIFEST_DIR"),
        "{child_env:?}"
    );
    for key in child_env.keys() {
        // Python sets LC_CTYPE itself when no locale is given (PEP 538).
        let allowed = INHERITED_ENV_VARS.contains(&key.as_str())
            || key == "BUREAU_FIXTURE_TOKEN"
            || key == "LC_CTYPE";
        assert!(
            allowed,
            "unexpected variable `{key}` in the child's environment: {child_env:?}"
        );
    }
}

#[tokio::test]
async fn inherited_environment_can_be_given_explicitly_and_cwd_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = python_fixture("fx");
    let McpServerSpec::Stdio { cwd, .. } = &mut server.spec else {
        unreachable!()
    };
    *cwd = Some(dir.path().to_path_buf());

    let inherited = BTreeMap::from([("HOME".to_owned(), "/nonexistent-home".to_owned())]);
    let mut hub = McpHub::with_inherited_env(inherited);
    hub.connect(&server).await.unwrap();
    let env = hub
        .call_tool(&call("fx.environment", json!({})), &no_meta())
        .await
        .unwrap();
    let cwd = hub
        .call_tool(&call("fx.working_directory", json!({})), &no_meta())
        .await
        .unwrap();
    hub.shutdown().await;

    let child_env: BTreeMap<String, String> = serde_json::from_str(&text_of(&env)).unwrap();
    assert_eq!(
        child_env.get("HOME").map(String::as_str),
        Some("/nonexistent-home")
    );
    assert!(!child_env.contains_key("PATH"), "{child_env:?}");
    assert_eq!(
        std::fs::canonicalize(text_of(&cwd)).unwrap(),
        std::fs::canonicalize(dir.path()).unwrap()
    );
}

#[tokio::test]
async fn calls_results_errors_and_meta() {
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    hub.connect(&python_fixture("fx")).await.unwrap();
    let names: Vec<&str> = hub.tools().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fx.echo",
            "fx.environment",
            "fx.fail",
            "fx.request_headers",
            "fx.request_meta",
            "fx.sleep",
            "fx.working_directory"
        ]
    );
    let echo = &hub.tools()[0];
    assert_eq!(echo.description, "Returns its argument.");
    assert_eq!(echo.input_schema["properties"]["text"]["type"], "string");

    let r = hub
        .call_tool(&call("fx.echo", json!({"text": "héllo"})), &no_meta())
        .await
        .unwrap();
    assert_eq!(text_of(&r), "héllo");
    assert!(!r.is_error);
    assert_eq!(r.structured, Some(json!({"result": "héllo"})));

    // A tool that fails is a result for the model, not an McpError.
    let r = hub
        .call_tool(&call("fx.fail", json!({"reason": "boom"})), &no_meta())
        .await
        .unwrap();
    assert!(r.is_error);
    assert!(text_of(&r).contains("boom"), "{r:?}");

    // Bureau's keys reach the server in `_meta`.
    let mut m = serde_json::Map::new();
    m.insert(
        meta::RUN_ID.into(),
        json!("0190c0de-0000-7000-8000-000000000001"),
    );
    m.insert(
        meta::IDEMPOTENCY_KEY.into(),
        json!("0190c0de-0000-7000-8000-000000000001:3"),
    );
    let r = hub
        .call_tool(&call("fx.request_meta", json!({})), &m)
        .await
        .unwrap();
    let seen: Value = serde_json::from_str(&text_of(&r)).unwrap();
    assert_eq!(seen[meta::RUN_ID], m[meta::RUN_ID]);
    assert_eq!(seen[meta::IDEMPOTENCY_KEY], m[meta::IDEMPOTENCY_KEY]);

    // Bad input: a clear error, and the connection still works afterwards.
    let e = hub
        .call_tool(&call("fx.nope", json!({})), &no_meta())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        McpError::UnknownTool {
            name: "fx.nope".into()
        }
    );
    let e = hub
        .call_tool(&call("fx.echo", json!("not an object")), &no_meta())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        McpError::InvalidArguments {
            name: "fx.echo".into()
        }
    );
    let r = hub
        .call_tool(&call("fx.echo", json!({"text": "still here"})), &no_meta())
        .await
        .unwrap();
    assert_eq!(text_of(&r), "still here");
    hub.shutdown().await;
}

#[tokio::test]
async fn a_timed_out_call_is_cancelled_at_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("cancelled");
    let mut server = python_fixture("fx");
    server.call_timeout_ms = 1_000;

    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    hub.connect(&server).await.unwrap();
    let e = hub
        .call_tool(
            &call(
                "fx.sleep",
                json!({"seconds": 60, "marker": marker.display().to_string()}),
            ),
            &no_meta(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e,
        McpError::Timeout {
            server: "fx".into(),
            tool: "sleep".into(),
            after: Duration::from_secs(1)
        }
    );
    assert!(
        eventually(Duration::from_secs(10), || marker.exists()).await,
        "the server never saw notifications/cancelled"
    );
    // The connection is still usable.
    let r = hub
        .call_tool(&call("fx.echo", json!({"text": "after"})), &no_meta())
        .await
        .unwrap();
    assert_eq!(text_of(&r), "after");
    hub.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let server = stdio_server(
        "wrapped",
        "sh",
        vec![
            fixture("wrapper.sh").display().to_string(),
            pidfile.display().to_string(),
            bureau_test_support::deps::python().display().to_string(),
            fixture("fixture_server.py").display().to_string(),
        ],
    );
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    hub.connect(&server).await.unwrap();
    let r = hub
        .call_tool(&call("wrapped.echo", json!({"text": "hi"})), &no_meta())
        .await
        .unwrap();
    assert_eq!(text_of(&r), "hi");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        alive(pid),
        "the wrapper's child should be running before shutdown"
    );

    hub.shutdown().await;
    assert!(
        eventually(Duration::from_secs(10), || !alive(pid)).await,
        "the wrapper's child {pid} outlived shutdown"
    );
}

#[tokio::test]
async fn dropping_the_hub_ends_the_process_group_too() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let server = stdio_server(
        "wrapped",
        "sh",
        vec![
            fixture("wrapper.sh").display().to_string(),
            pidfile.display().to_string(),
            bureau_test_support::deps::python().display().to_string(),
            fixture("fixture_server.py").display().to_string(),
        ],
    );
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    hub.connect(&server).await.unwrap();
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    drop(hub);
    assert!(
        eventually(Duration::from_secs(15), || !alive(pid)).await,
        "the wrapper's child {pid} outlived the dropped hub"
    );
}

#[tokio::test]
async fn a_missing_command_is_a_spawn_error() {
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    let e = hub
        .connect(&stdio_server("ghost", "bureau-no-such-command-xyz", vec![]))
        .await
        .unwrap_err();
    let McpError::Spawn { server, message } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(server, "ghost");
    assert!(
        message.contains("`bureau-no-such-command-xyz` was not found"),
        "{message}"
    );
    assert!(hub.tools().is_empty());

    let mut bad_cwd = python_fixture("fx");
    let McpServerSpec::Stdio { cwd, .. } = &mut bad_cwd.spec else {
        unreachable!()
    };
    *cwd = Some("/nonexistent/bureau/dir".into());
    let e = hub.connect(&bad_cwd).await.unwrap_err();
    assert!(
        matches!(&e, McpError::Spawn { message, .. } if message.contains("working directory")),
        "{e}"
    );
}

#[tokio::test]
async fn a_server_printing_garbage_fails_to_connect_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("garbage.pid");
    let mut server = stdio_server(
        "garbage",
        "sh",
        vec![
            fixture("wrapper.sh").display().to_string(),
            pidfile.display().to_string(),
            "sh".into(),
            fixture("garbage_server.sh").display().to_string(),
        ],
    );
    server.connect_timeout_ms = 2_000;
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    let e = tokio::time::timeout(Duration::from_secs(30), hub.connect(&server))
        .await
        .expect("connect must give up by itself")
        .unwrap_err();
    let McpError::Connect { server, message } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(server, "garbage");
    assert!(
        message.contains("did not complete the MCP handshake"),
        "{message}"
    );
    assert!(
        message.contains("not speaking MCP"),
        "stderr should be quoted: {message}"
    );
    assert!(hub.tools().is_empty());
    // Nothing is left running.
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || !alive(pid)).await,
        "{pid} still running"
    );
}

#[tokio::test]
async fn a_server_that_exits_at_once_fails_to_connect_with_its_stderr() {
    let server = stdio_server(
        "quitter",
        "sh",
        vec![
            "-c".into(),
            "echo 'fatal: missing API key' >&2; exit 3".into(),
        ],
    );
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    let e = hub.connect(&server).await.unwrap_err();
    let McpError::Connect { message, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(message.contains("missing API key"), "{message}");
}

#[tokio::test]
async fn bad_server_names_and_duplicates_are_refused() {
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    let e = hub.connect(&python_fixture("has.dot")).await.unwrap_err();
    assert_eq!(
        e,
        McpError::InvalidServerName {
            name: "has.dot".into()
        }
    );
    let e = hub.connect(&python_fixture("")).await.unwrap_err();
    assert_eq!(e, McpError::InvalidServerName { name: "".into() });

    hub.connect(&python_fixture("fx")).await.unwrap();
    let before = hub.tools().to_vec();
    let e = hub.connect(&python_fixture("fx")).await.unwrap_err();
    assert_eq!(e, McpError::DuplicateServer { name: "fx".into() });
    assert_eq!(hub.tools(), before.as_slice());
    hub.shutdown().await;
}
