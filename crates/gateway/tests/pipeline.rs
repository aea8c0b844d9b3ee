//! The gateway served over an in-memory pipe to a real rmcp client, in both
//! MCP eras: listing, the files round trip, and every refusal path.

mod common;

use bureau_gateway::{AuditDecision, AuditOutcome};
use bureau_protocol::{RunId, arguments_hash};
use common::{Era, Harness, call, call_in_run, connect, is_error, text};
use serde_json::json;

#[tokio::test]
async fn lists_tools_with_schemas_and_names_itself() {
    let h = Harness::new(&["files.*"]);
    for era in [Era::Legacy, Era::Modern] {
        let client = connect(&h.gateway, era).await;
        let info = client.peer_info().unwrap();
        let server_info = info.server_info.as_ref().unwrap();
        assert_eq!(server_info.name, "bureau");
        assert_eq!(server_info.version, env!("CARGO_PKG_VERSION"));
        assert!(info.instructions.as_deref().unwrap().contains("gateway"));
        let tools = client.list_all_tools().await.unwrap();
        let names: Vec<&str> = tools.iter().map(|t| &*t.name).collect();
        assert_eq!(
            names,
            ["files.list", "files.read", "files.write"],
            "{era:?}"
        );
        let write = tools.iter().find(|t| t.name == "files.write").unwrap();
        assert_eq!(write.input_schema["additionalProperties"], json!(false));
        assert_eq!(write.input_schema["required"], json!(["path", "content"]));
        assert_eq!(
            write.annotations.as_ref().unwrap().read_only_hint,
            Some(false)
        );
        client.cancel().await.unwrap();
    }
    let specs = h.gateway.tool_specs();
    assert_eq!(specs.len(), 3);
    assert!(specs[1].description.contains("UTF-8"));
}

#[tokio::test]
async fn write_then_read_back_in_both_eras() {
    let h = Harness::new(&["files.*"]);
    for era in [Era::Legacy, Era::Modern] {
        let client = connect(&h.gateway, era).await;
        let path = format!("{era:?}/note.txt");
        let w = client
            .call_tool(call(
                "files.write",
                json!({"path": path, "content": "hi ✓"}),
            ))
            .await
            .unwrap();
        assert!(!is_error(&w), "{}", text(&w));
        assert_eq!(
            w.structured_content.as_ref().unwrap()["bytes_written"],
            json!(6)
        );
        let r = client
            .call_tool(call("files.read", json!({"path": path})))
            .await
            .unwrap();
        assert!(!is_error(&r), "{}", text(&r));
        assert_eq!(text(&r), "hi ✓");
        assert_eq!(
            std::fs::read_to_string(h.default_ws().join(&path)).unwrap(),
            "hi ✓"
        );
        client.cancel().await.unwrap();
    }
    let events = h.audit.events();
    assert_eq!(events.len(), 4);
    for e in &events {
        assert_eq!(e.decision, AuditDecision::Allowed);
        assert_eq!(e.outcome, AuditOutcome::Ok);
        assert_eq!(e.run_id, None);
    }
    let first_args = json!({"path": "Legacy/note.txt", "content": "hi ✓"});
    assert_eq!(
        events[0].arguments_hash,
        arguments_hash("files.write", &first_args)
    );
}

#[tokio::test]
async fn unknown_tool_is_an_error_result_naming_what_exists() {
    let h = Harness::new(&["files.*"]);
    let client = connect(&h.gateway, Era::Legacy).await;
    let r = client
        .call_tool(call("shell.exec", json!({"cmd": "rm -rf /"})))
        .await
        .unwrap();
    assert!(is_error(&r));
    assert_eq!(
        text(&r),
        "unknown tool `shell.exec`: this gateway offers files.list, files.read, files.write"
    );
    let events = h.audit.events();
    assert_eq!(&*events[0].tool, "shell.exec");
    assert!(matches!(events[0].decision, AuditDecision::Rejected { .. }));
    assert_eq!(events[0].outcome, AuditOutcome::NotRun);
}

#[tokio::test]
async fn malformed_arguments_are_error_results_and_the_server_lives_on() {
    let h = Harness::new(&["files.*"]);
    std::fs::write(h.default_ws().join("keep.txt"), "original").unwrap();
    let client = connect(&h.gateway, Era::Modern).await;
    let huge = "x".repeat(2 << 20);
    let cases = [
        (
            "files.read",
            json!({"path": 42}),
            "invalid type: integer `42`, expected a string",
        ),
        (
            "files.read",
            json!({"path": "a", "follow": true}),
            "unknown field `follow`",
        ),
        (
            "files.write",
            json!({"path": "keep.txt"}),
            "missing field `content`",
        ),
        (
            "files.write",
            json!({"path": "keep.txt", "content": huge}),
            "more than the 1048576-byte limit",
        ),
        (
            "files.read",
            json!({"path": huge}),
            "longer than 1024 bytes",
        ),
        (
            "files.list",
            json!({"recursive": "yes"}),
            "expected a boolean",
        ),
        (
            "files.read",
            json!({"path": "../../etc/passwd"}),
            "contains `..`",
        ),
        (
            "files.read",
            json!({"path": "/etc/passwd"}),
            "absolute path",
        ),
    ];
    for (tool, args, want) in cases {
        let r = client.call_tool(call(tool, args)).await.unwrap();
        assert!(is_error(&r));
        let t = text(&r);
        assert!(t.contains(want), "{tool}: {}", &t[..t.len().min(300)]);
        assert!(t.len() < 1000, "errors do not echo huge input");
    }
    assert_eq!(
        std::fs::read_to_string(h.default_ws().join("keep.txt")).unwrap(),
        "original"
    );
    // Still serving.
    let r = client
        .call_tool(call("files.read", json!({"path": "keep.txt"})))
        .await
        .unwrap();
    assert_eq!(text(&r), "original");
    // Schema violations are rejected before policy; path refusals are the
    // tool's own errors, found when it runs.
    let kinds: Vec<&str> = h
        .audit
        .events()
        .iter()
        .map(|e| match (&e.decision, &e.outcome) {
            (AuditDecision::Rejected { .. }, AuditOutcome::NotRun) => "rejected",
            (AuditDecision::Allowed, AuditOutcome::ToolError { .. }) => "tool_error",
            (AuditDecision::Allowed, AuditOutcome::Ok) => "ok",
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "rejected",
            "rejected",
            "rejected",
            "rejected",
            "tool_error",
            "rejected",
            "tool_error",
            "tool_error",
            "ok"
        ]
    );
}

#[tokio::test]
async fn non_object_arguments_get_a_clear_error_not_a_dead_server() {
    // Raw JSON-RPC on the wire: rmcp's typed client cannot send these.
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let h = Harness::new(&["files.*"]);
    let (server_io, client_io) = tokio::io::duplex(1 << 16);
    let gw = h.gateway.clone();
    tokio::spawn(async move { gw.serve(server_io).await });
    let (read, mut write) = tokio::io::split(client_io);
    let mut lines = BufReader::new(read).lines();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}});
    write
        .write_all(format!("{init}\n").as_bytes())
        .await
        .unwrap();
    let reply: serde_json::Value =
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(reply["result"]["serverInfo"]["name"], "bureau");
    write
        .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")
        .await
        .unwrap();
    for (id, args, kind) in [
        (2, json!("a string"), "a string"),
        (3, json!([1, 2]), "an array"),
        (4, json!(7), "a number"),
    ] {
        let req = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "files.read", "arguments": args}});
        write
            .write_all(format!("{req}\n").as_bytes())
            .await
            .unwrap();
        let line = lines.next_line().await.unwrap().unwrap();
        let reply: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(reply["id"], id, "{line}");
        assert_eq!(reply["result"]["isError"], true, "{line}");
        assert!(
            reply["result"].get("resultType").is_none(),
            "legacy peers get the legacy shape"
        );
        assert_eq!(
            reply["result"]["content"][0]["text"],
            format!(
                "invalid arguments for `files.read`: arguments must be a JSON object, not {kind}; send a JSON object matching the tool's input schema"
            ),
        );
    }
    // No tool name at all: nothing to run, a JSON-RPC error that says so.
    let req =
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"arguments": 1}});
    write
        .write_all(format!("{req}\n").as_bytes())
        .await
        .unwrap();
    let reply: serde_json::Value =
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    let req = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "files.list", "arguments": {}}});
    write
        .write_all(format!("{req}\n").as_bytes())
        .await
        .unwrap();
    let reply: serde_json::Value =
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(reply["id"], 9);
    assert_eq!(reply["result"]["isError"], false, "{reply}");
    assert_eq!(
        h.audit.events().len(),
        4,
        "the three malformed calls and the good one"
    );
}

#[tokio::test]
async fn denied_by_policy_is_refused_and_audited() {
    let h = Harness::new(&["files.read"]);
    let client = connect(&h.gateway, Era::Legacy).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| &*t.name).collect();
    assert_eq!(
        names,
        ["files.read"],
        "tools policy can never allow are not listed"
    );

    let args = json!({"path": "x.txt", "content": "nope"});
    let r = client
        .call_tool(call("files.write", args.clone()))
        .await
        .unwrap();
    assert!(is_error(&r));
    assert!(
        text(&r).starts_with("denied by policy: `files.write` is not among"),
        "{}",
        text(&r)
    );
    assert!(!h.default_ws().join("x.txt").exists());

    std::fs::write(h.default_ws().join("y.txt"), "ok").unwrap();
    let r = client
        .call_tool(call("files.read", json!({"path": "y.txt"})))
        .await
        .unwrap();
    assert_eq!(text(&r), "ok");

    let events = h.audit.events();
    assert_eq!(events.len(), 2);
    assert_eq!(&*events[0].tool, "files.write");
    assert_eq!(
        events[0].arguments_hash,
        arguments_hash("files.write", &args)
    );
    assert!(
        matches!(&events[0].decision, AuditDecision::Denied { reason } if reason.contains("files.read"))
    );
    assert_eq!(events[0].outcome, AuditOutcome::NotRun);
    assert_eq!(events[1].decision, AuditDecision::Allowed);
}

#[tokio::test]
async fn run_ids_route_to_separate_workspaces() {
    let h = Harness::new(&["*"]);
    let client = connect(&h.gateway, Era::Modern).await;
    let (a, b) = (RunId::new(), RunId::new());
    for (run, body) in [(a, "from a"), (b, "from b")] {
        let p = call_in_run(
            "files.write",
            json!({"path": "same.txt", "content": body}),
            json!(run.to_string()),
        );
        let r = client.call_tool(p).await.unwrap();
        assert!(!is_error(&r), "{}", text(&r));
    }
    assert_eq!(
        std::fs::read_to_string(h.run_ws(&a.to_string()).join("same.txt")).unwrap(),
        "from a"
    );
    assert_eq!(
        std::fs::read_to_string(h.run_ws(&b.to_string()).join("same.txt")).unwrap(),
        "from b"
    );
    assert!(!h.default_ws().join("same.txt").exists());
    let r = client
        .call_tool(call_in_run(
            "files.read",
            json!({"path": "same.txt"}),
            json!(b.to_string()),
        ))
        .await
        .unwrap();
    assert_eq!(text(&r), "from b");
    // A run cannot see another's files by path.
    let r = client
        .call_tool(call_in_run(
            "files.read",
            json!({"path": format!("../{a}/same.txt")}),
            json!(b.to_string()),
        ))
        .await
        .unwrap();
    assert!(is_error(&r));

    let events = h.audit.take();
    assert_eq!(events[0].run_id, Some(a));
    assert_eq!(events[1].run_id, Some(b));

    for bad in [json!("../../etc"), json!("not-a-uuid"), json!(12)] {
        let p = call_in_run(
            "files.write",
            json!({"path": "pwn.txt", "content": "x"}),
            bad.clone(),
        );
        let r = client.call_tool(p).await.unwrap();
        assert!(is_error(&r));
        assert!(
            text(&r).starts_with("invalid run id in _meta[\"dev.bureau/run_id\"]"),
            "{}",
            text(&r)
        );
    }
    let events = h.audit.take();
    assert_eq!(events.len(), 3);
    assert!(
        events
            .iter()
            .all(|e| matches!(e.decision, AuditDecision::Rejected { .. }))
    );
    // Nothing was created anywhere for the refused calls.
    let root = h.dir.path();
    assert!(!root.join("etc").exists());
    assert_eq!(std::fs::read_dir(root.join("runs")).unwrap().count(), 2);
}

#[tokio::test]
async fn many_connections_share_one_gateway() {
    let h = Harness::new(&["files.*"]);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let gateway = h.gateway.clone();
        tasks.push(tokio::spawn(async move {
            let era = if i % 2 == 0 { Era::Legacy } else { Era::Modern };
            let client = connect(&gateway, era).await;
            let run = RunId::new();
            for j in 0..10 {
                let p = call_in_run(
                    "files.write",
                    json!({"path": "n.txt", "content": format!("{i}-{j}")}),
                    json!(run.to_string()),
                );
                assert!(!is_error(&client.call_tool(p).await.unwrap()));
            }
            let p = call_in_run(
                "files.read",
                json!({"path": "n.txt"}),
                json!(run.to_string()),
            );
            let r = client.call_tool(p).await.unwrap();
            client.cancel().await.unwrap();
            text(&r)
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), format!("{i}-9"));
    }
    assert_eq!(h.audit.events().len(), 8 * 11);
}
