//! Both providers against `fakellm` (PyPI), an independent implementation
//! of the OpenAI and Anthropic wire formats. One server per test binary,
//! tests serialized and its conversation state reset before each.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bureau_llm::{LlmError, ModelClient, RetryPolicy, Retrying};
use bureau_protocol::{FinishReason, Message, ModelRequest, ToolCall};
use bureau_test_support::deps;
use common::{anthropic, openai, simple_request};
use serde_json::{Value, json};

const RULES: &str = r#"
version: 1
rules:
  - name: parallel_tools
    when:
      messages_contain: "bureau-parallel"
    respond:
      tool_calls:
        - name: files__write
          arguments: {path: "notes/a.txt", content: "hello \"quoted\" world, é ✓"}
        - name: time__get_current_time
          arguments: {timezone: "Europe/Paris"}

  - name: multiturn_first
    when:
      messages_contain: "bureau-multiturn"
      turn: 1
    respond:
      tool_calls:
        - name: time__get_current_time
          arguments: {timezone: "UTC"}

  - name: multiturn_after_tool
    when:
      messages_contain: "bureau-multiturn"
      tool_result_contains: "12:00"
    respond:
      content: "It is noon."

  - name: flaky_429
    when:
      messages_contain: "bureau-flaky"
      turn: 1
    respond:
      status: 429
      error: "Rate limit exceeded (mock)"

  - name: flaky_recovered
    when:
      messages_contain: "bureau-flaky"
    respond:
      content: "recovered"

  - name: always_429
    when:
      messages_contain: "bureau-always-429"
    respond:
      status: 429
      error: "Slow down (mock)"

  - name: unauthorized
    when:
      messages_contain: "bureau-unauthorized"
    respond:
      status: 401
      error: "Invalid API key (mock)"

  - name: hello
    when:
      messages_contain: "bureau-hello"
    respond:
      content: "Hello from fakellm, streamed word by word."
"#;

/// The running fakellm. It runs under a small `sh` wrapper that stops it
/// (and removes its temporary directory) when the wrapper's stdin closes:
/// on drop, and also when the test process exits without dropping (a
/// `static` is never dropped).
struct Fakellm {
    port: u16,
    child: Child,
    stdin: Option<ChildStdin>,
    _dir: tempfile::TempDir,
}

impl Drop for Fakellm {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

impl Fakellm {
    #[expect(
        clippy::unwrap_used,
        reason = "a test helper: failing to start the peer fails the test"
    )]
    fn start() -> Fakellm {
        let bin = deps::venv_bin("fakellm");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("fakellm.yaml");
        std::fs::write(&config, RULES).unwrap();
        let log_path = dir.path().join("fakellm.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let port = free_port();
        let script = r#"FAKELLM_CONFIG="$3" "$1" serve --host 127.0.0.1 --port "$2" --config "$3" & pid=$!; cat >/dev/null; kill "$pid" 2>/dev/null; wait "$pid"; rm -rf "$4""#;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("fakellm-wrapper")
            .arg(&bin)
            .arg(port.to_string())
            .arg(&config)
            .arg(dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let peer = Fakellm {
            port,
            child,
            stdin,
            _dir: dir,
        };
        peer.wait_ready(&log_path);
        peer
    }

    #[expect(
        clippy::panic,
        reason = "a test helper: a peer that never answers fails the test"
    )]
    fn wait_ready(&self, log: &Path) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some((200, _)) = http(self.port, "GET", "/_fakellm/stats") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let output = std::fs::read_to_string(log).unwrap_or_default();
        panic!(
            "fakellm did not answer on port {} within 30 s; its output:\n{output}",
            self.port
        );
    }

    fn openai_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    fn anthropic_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    #[expect(
        clippy::expect_used,
        reason = "a test helper: a peer that cannot reset fails the test"
    )]
    fn reset(&self) {
        let (status, _) = http(self.port, "POST", "/_fakellm/reset").expect("reset fakellm");
        assert_eq!(status, 200);
    }

    /// How often a rule matched since the server started.
    #[expect(
        clippy::expect_used,
        clippy::unwrap_used,
        reason = "a test helper: unreadable stats fail the test"
    )]
    fn matches(&self, rule: &str) -> u64 {
        let (_, body) = http(self.port, "GET", "/_fakellm/stats").expect("fakellm stats");
        let stats: Value = serde_json::from_str(&body).unwrap();
        stats["by_rule"][rule].as_u64().unwrap_or(0)
    }
}

#[expect(
    clippy::unwrap_used,
    reason = "a test helper: no loopback port fails the test"
)]
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A minimal blocking HTTP/1.0 call: (status, body), or None if nothing answers.
fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request =
        format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

static PEER: OnceLock<Fakellm> = OnceLock::new();
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The shared server, reset; hold the guard for the whole test.
async fn peer() -> (tokio::sync::MutexGuard<'static, ()>, &'static Fakellm) {
    let guard = SERIAL.lock().await;
    let peer = PEER.get_or_init(Fakellm::start);
    peer.reset();
    (guard, peer)
}

fn request(text: &str) -> ModelRequest {
    simple_request(text)
}

fn assert_parallel_calls(calls: &[ToolCall]) {
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].name, "files.write");
    assert_eq!(
        calls[0].arguments,
        json!({"path": "notes/a.txt", "content": "hello \"quoted\" world, é ✓"})
    );
    assert_eq!(calls[1].name, "time.get_current_time");
    assert_eq!(calls[1].arguments, json!({"timezone": "Europe/Paris"}));
    assert_ne!(calls[0].id, calls[1].id);
    assert!(!calls[0].id.as_str().is_empty());
}

#[tokio::test]
async fn openai_text_non_streamed() {
    let (_g, peer) = peer().await;
    let response = openai(&peer.openai_url(), false)
        .complete(&request("bureau-hello there"))
        .await
        .unwrap();
    assert_eq!(
        response.turn.text.as_deref(),
        Some("Hello from fakellm, streamed word by word.")
    );
    assert_eq!(response.finish_reason, FinishReason::Stop);
    assert!(
        response.usage.input_tokens > 0 && response.usage.output_tokens > 0,
        "{:?}",
        response.usage
    );
    assert_eq!(response.raw_response["object"], "chat.completion");
}

#[tokio::test]
async fn openai_text_streamed() {
    let (_g, peer) = peer().await;
    let response = openai(&peer.openai_url(), true)
        .complete(&request("bureau-hello there"))
        .await
        .unwrap();
    assert_eq!(
        response.turn.text.as_deref(),
        Some("Hello from fakellm, streamed word by word.")
    );
    assert_eq!(response.finish_reason, FinishReason::Stop);
    let events = response.raw_response.as_array().unwrap();
    assert!(events.len() > 3);
    assert_eq!(events.last(), Some(&Value::String("[DONE]".into())));
    // fakellm sends no usage chunk, so streamed usage is not asserted here.
}

#[tokio::test]
async fn openai_parallel_tool_calls_non_streamed_and_streamed() {
    let (_g, peer) = peer().await;
    for stream in [false, true] {
        let response = openai(&peer.openai_url(), stream)
            .complete(&request("bureau-parallel please"))
            .await
            .unwrap();
        assert_parallel_calls(&response.turn.tool_calls);
        assert_eq!(
            response.finish_reason,
            FinishReason::ToolCalls,
            "stream={stream}"
        );
    }
}

#[tokio::test]
async fn anthropic_text_non_streamed_and_streamed() {
    let (_g, peer) = peer().await;
    for stream in [false, true] {
        let response = anthropic(&peer.anthropic_url(), stream)
            .complete(&request("bureau-hello there"))
            .await
            .unwrap();
        assert_eq!(
            response.turn.text.as_deref(),
            Some("Hello from fakellm, streamed word by word.")
        );
        assert_eq!(response.finish_reason, FinishReason::Stop);
        assert!(
            response.usage.output_tokens > 0,
            "stream={stream}: {:?}",
            response.usage
        );
    }
}

#[tokio::test]
async fn anthropic_parallel_tool_use_non_streamed_and_streamed() {
    let (_g, peer) = peer().await;
    for stream in [false, true] {
        let response = anthropic(&peer.anthropic_url(), stream)
            .complete(&request("bureau-parallel please"))
            .await
            .unwrap();
        assert_parallel_calls(&response.turn.tool_calls);
        assert_eq!(
            response.finish_reason,
            FinishReason::ToolCalls,
            "stream={stream}"
        );
        assert!(
            response.turn.tool_calls[0]
                .id
                .as_str()
                .starts_with("toolu_")
        );
    }
}

/// A two-turn conversation: the tool result we send back (in each
/// provider's own shape) is what fakellm's second rule matches on.
#[tokio::test]
async fn multiturn_with_tool_results_on_both_providers() {
    let (_g, peer) = peer().await;
    let clients: Vec<Box<dyn ModelClient>> = vec![
        Box::new(openai(&peer.openai_url(), true)),
        Box::new(anthropic(&peer.anthropic_url(), true)),
    ];
    for client in clients {
        peer.reset();
        let mut req = request("bureau-multiturn: what time is it?");
        let first = client.complete(&req).await.unwrap();
        assert_eq!(first.turn.tool_calls.len(), 1, "{}", client.provider());
        let call = first.turn.tool_calls[0].clone();
        assert_eq!(call.name, "time.get_current_time");
        req.messages.push(Message::assistant(&first.turn));
        req.messages.push(Message::Tool {
            tool_call_id: call.id.clone(),
            name: call.name.clone(),
            content: "12:00".into(),
            is_error: false,
        });
        let second = client.complete(&req).await.unwrap();
        assert_eq!(
            second.turn.text.as_deref(),
            Some("It is noon."),
            "{}",
            client.provider()
        );
        assert!(second.turn.tool_calls.is_empty());
    }
}

#[tokio::test]
async fn rate_limited_then_success_through_retrying() {
    let (_g, peer) = peer().await;
    let before = peer.matches("flaky_429");
    let policy = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(1),
    };
    let client =
        Retrying::new(openai(&peer.openai_url(), false), policy).with_jitter(Arc::new(|| 1.0));
    let response = client.complete(&request("bureau-flaky")).await.unwrap();
    assert_eq!(response.turn.text.as_deref(), Some("recovered"));
    assert_eq!(peer.matches("flaky_429"), before + 1);
}

#[tokio::test]
async fn error_statuses_map_to_typed_errors() {
    let (_g, peer) = peer().await;
    let e = anthropic(&peer.anthropic_url(), false)
        .complete(&request("bureau-always-429"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LlmError::RateLimited { status: 429, message, .. } if message == "Slow down (mock)"),
        "{e:?}"
    );
    // fakellm honours `status` only for non-streamed requests.
    let e = openai(&peer.openai_url(), false)
        .complete(&request("bureau-unauthorized"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        LlmError::Auth {
            status: 401,
            message: "Invalid API key (mock)".into()
        }
    );
}
