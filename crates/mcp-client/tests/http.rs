//! Streamable HTTP servers: the official Python SDK's server on loopback.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use bureau_mcp_client::{McpError, McpHub};
use bureau_protocol::{McpServer, McpServerSpec};
use bureau_test_support::deps;
use common::*;
use serde_json::json;

#[expect(
    clippy::unwrap_used,
    reason = "a test helper: no free port fails the test"
)]
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Python fixture serving Streamable HTTP on a loopback port; killed on drop.
#[expect(
    clippy::unwrap_used,
    reason = "a test helper: a fixture that cannot start fails the test"
)]
async fn python_http_server() -> (tokio::process::Child, u16) {
    let port = free_port();
    let child = tokio::process::Command::new(deps::python())
        .arg(fixture("fixture_server.py"))
        .args(["http", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let up = eventually(Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    assert!(
        up,
        "the Python HTTP fixture did not start listening on {port}"
    );
    (child, port)
}

fn http_server(name: &str, url: String, headers: BTreeMap<String, String>) -> McpServer {
    McpServer {
        name: name.to_owned(),
        spec: McpServerSpec::Http { url, headers },
        call_timeout_ms: CALL_TIMEOUT_MS,
        connect_timeout_ms: CONNECT_TIMEOUT_MS,
    }
}

#[tokio::test]
async fn python_sdk_server_over_streamable_http_with_headers() {
    let (_server, port) = python_http_server().await;
    let headers = BTreeMap::from([
        (
            "Authorization".to_owned(),
            "Bearer test-token-123".to_owned(),
        ),
        ("X-Bureau-Tenant".to_owned(), "acme".to_owned()),
    ]);
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    hub.connect(&http_server(
        "remote",
        format!("http://127.0.0.1:{port}/mcp"),
        headers,
    ))
    .await
    .unwrap();
    assert!(
        hub.tools().iter().any(|t| t.name == "remote.echo"),
        "{:?}",
        hub.tools()
    );

    let r = hub
        .call_tool(
            &call("remote.echo", json!({"text": "over http"})),
            &no_meta(),
        )
        .await
        .unwrap();
    assert_eq!(text_of(&r), "over http");

    let r = hub
        .call_tool(&call("remote.request_headers", json!({})), &no_meta())
        .await
        .unwrap();
    let seen: BTreeMap<String, String> = serde_json::from_str(&text_of(&r)).unwrap();
    assert_eq!(
        seen.get("authorization").map(String::as_str),
        Some("Bearer test-token-123"),
        "{seen:?}"
    );
    assert_eq!(
        seen.get("x-bureau-tenant").map(String::as_str),
        Some("acme"),
        "{seen:?}"
    );

    let r = hub
        .call_tool(&call("remote.fail", json!({"reason": "nope"})), &no_meta())
        .await
        .unwrap();
    assert!(r.is_error);
    hub.shutdown().await;
}

#[tokio::test]
async fn a_timed_out_http_call_is_cancelled_at_the_server() {
    let (_server, port) = python_http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("cancelled");
    let mut server = http_server(
        "remote",
        format!("http://127.0.0.1:{port}/mcp"),
        BTreeMap::new(),
    );
    server.call_timeout_ms = 1_000;
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    hub.connect(&server).await.unwrap();
    let e = hub
        .call_tool(
            &call(
                "remote.sleep",
                json!({"seconds": 60, "marker": marker.display().to_string()}),
            ),
            &no_meta(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, McpError::Timeout { .. }), "{e}");
    assert!(
        eventually(Duration::from_secs(10), || marker.exists()).await,
        "the server never saw the cancellation"
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let port = free_port();
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    let e = tokio::time::timeout(
        Duration::from_secs(60),
        hub.connect(&http_server(
            "down",
            format!("http://127.0.0.1:{port}/mcp"),
            BTreeMap::new(),
        )),
    )
    .await
    .expect("connect must give up by itself")
    .unwrap_err();
    let McpError::Connect { server, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(server, "down");
    assert!(hub.tools().is_empty());
}
