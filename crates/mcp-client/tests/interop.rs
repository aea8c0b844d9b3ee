//! Interoperability with official MCP servers in other languages: the npm
//! reference server `@modelcontextprotocol/server-everything` and the PyPI
//! `mcp-server-time`, both over stdio.

mod common;

use std::collections::BTreeMap;

use bureau_mcp_client::{INHERITED_ENV_VARS, McpHub};
use bureau_protocol::{Content, McpServerSpec};
use bureau_test_support::deps;
use common::*;
use serde_json::json;

fn everything() -> bureau_protocol::McpServer {
    stdio_server(
        "everything",
        "node",
        vec![
            deps::node_package_file("@modelcontextprotocol/server-everything", "dist/index.js")
                .display()
                .to_string(),
            "stdio".into(),
        ],
    )
}

#[tokio::test]
async fn server_everything_over_stdio() {
    let mut server = everything();
    let McpServerSpec::Stdio { env, .. } = &mut server.spec else {
        unreachable!()
    };
    env.insert("BUREAU_INTEROP".into(), "yes".into());
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    hub.connect(&server).await.unwrap();

    let names: Vec<&str> = hub.tools().iter().map(|t| t.name.as_str()).collect();
    for expected in [
        "everything.echo",
        "everything.get-env",
        "everything.get-resource-links",
        "everything.get-resource-reference",
        "everything.get-structured-content",
        "everything.get-sum",
        "everything.get-tiny-image",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "tools() is sorted by name");
    let echo = hub
        .tools()
        .iter()
        .find(|t| t.name == "everything.echo")
        .unwrap();
    assert_eq!(echo.input_schema["properties"]["message"]["type"], "string");
    assert!(!echo.description.is_empty());

    let r = hub
        .call_tool(
            &call("everything.echo", json!({"message": "hi"})),
            &no_meta(),
        )
        .await
        .unwrap();
    assert_eq!(
        r.content,
        vec![Content::Text {
            text: "Echo: hi".into()
        }]
    );
    assert!(!r.is_error);

    let r = hub
        .call_tool(
            &call("everything.get-sum", json!({"a": 2, "b": 40})),
            &no_meta(),
        )
        .await
        .unwrap();
    assert!(text_of(&r).contains("42"), "{r:?}");

    let r = hub
        .call_tool(&call("everything.get-tiny-image", json!({})), &no_meta())
        .await
        .unwrap();
    let image = r.content.iter().find_map(|c| match c {
        Content::Image { data, mime_type } => Some((data, mime_type)),
        _ => None,
    });
    let (data, mime_type) = image.unwrap_or_else(|| panic!("no image in {r:?}"));
    assert_eq!(mime_type, "image/png");
    assert!(data.starts_with("iVBORw0KGgo"), "PNG base64 expected");

    let r = hub
        .call_tool(
            &call(
                "everything.get-structured-content",
                json!({"location": "Chicago"}),
            ),
            &no_meta(),
        )
        .await
        .unwrap();
    assert_eq!(
        r.structured,
        Some(json!({"temperature": 36, "conditions": "Light rain / drizzle", "humidity": 82}))
    );

    let r = hub
        .call_tool(
            &call("everything.get-resource-links", json!({"count": 2})),
            &no_meta(),
        )
        .await
        .unwrap();
    let links: Vec<_> = r
        .content
        .iter()
        .filter_map(|c| match c {
            Content::Resource { resource } if resource["type"] == "resource_link" => Some(resource),
            _ => None,
        })
        .collect();
    assert_eq!(links.len(), 2, "{r:?}");
    assert!(
        links[0]["uri"].as_str().unwrap().starts_with("demo://"),
        "{links:?}"
    );

    let r = hub
        .call_tool(
            &call(
                "everything.get-resource-reference",
                json!({"resourceType": "Text", "resourceId": 1}),
            ),
            &no_meta(),
        )
        .await
        .unwrap();
    let embedded = r.content.iter().find_map(|c| match c {
        Content::Resource { resource } if resource["type"] == "resource" => Some(resource),
        _ => None,
    });
    let embedded = embedded.unwrap_or_else(|| panic!("no embedded resource in {r:?}"));
    assert!(
        embedded["resource"]["uri"]
            .as_str()
            .unwrap()
            .starts_with("demo://"),
        "{embedded}"
    );

    // The Node peer sees the same cleared environment.
    let r = hub
        .call_tool(&call("everything.get-env", json!({})), &no_meta())
        .await
        .unwrap();
    let env: BTreeMap<String, String> = serde_json::from_str(&text_of(&r)).unwrap();
    assert_eq!(env.get("BUREAU_INTEROP").map(String::as_str), Some("yes"));
    assert!(!env.contains_key("CARGO_MANIFEST_DIR"), "{env:?}");
    assert!(
        env.keys()
            .all(|k| INHERITED_ENV_VARS.contains(&k.as_str()) || k == "BUREAU_INTEROP"),
        "{env:?}"
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn mcp_server_time_over_stdio() {
    let server = stdio_server(
        "time",
        deps::venv_bin("mcp-server-time").display().to_string(),
        vec![],
    );
    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    hub.connect(&server).await.unwrap();
    let names: Vec<&str> = hub.tools().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["time.convert_time", "time.get_current_time"]);

    let r = hub
        .call_tool(
            &call("time.get_current_time", json!({"timezone": "Asia/Tokyo"})),
            &no_meta(),
        )
        .await
        .unwrap();
    assert!(!r.is_error, "{r:?}");
    let structured = r
        .structured
        .clone()
        .unwrap_or_else(|| serde_json::from_str(&text_of(&r)).unwrap());
    assert_eq!(structured["timezone"], "Asia/Tokyo");
    assert!(
        structured["datetime"].as_str().unwrap().ends_with("+09:00"),
        "{structured}"
    );

    // A bad timezone is the tool's error, reported to the model, not a failure here.
    let r = hub
        .call_tool(
            &call(
                "time.get_current_time",
                json!({"timezone": "Mars/Olympus_Mons"}),
            ),
            &no_meta(),
        )
        .await
        .unwrap();
    assert!(r.is_error, "{r:?}");
    assert!(text_of(&r).contains("Invalid timezone"), "{r:?}");
    hub.shutdown().await;
}
