//! A fake LLM server on loopback speaking the OpenAI Chat Completions and
//! Anthropic Messages wire formats, for precise tests: queue the replies,
//! make the calls, then assert on the recorded requests.
//!
//! ```ignore
//! let fake = FakeLlm::start().await;
//! fake.enqueue_openai(Reply::Json(openai_completion(Some("hi"), &[], (3, 1))));
//! // OpenAiConfig { base_url: fake.openai_base_url(), .. }
//! // AnthropicConfig { base_url: fake.anthropic_base_url(), .. }
//! assert_eq!(fake.requests().len(), 1);
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Which wire format an endpoint speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/chat/completions` (also `/chat/completions`).
    OpenAi,
    /// `POST /v1/messages`.
    Anthropic,
}

/// One queued answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with this JSON body.
    Json(Value),
    /// 200 `text/event-stream`, one chunk per event. OpenAI framing is
    /// `data: {json}\n\n` and ends with `data: [DONE]\n\n`; Anthropic's is
    /// `event: {type}\ndata: {json}\n\n`.
    Stream(Vec<Value>),
    /// 200 `text/event-stream` with exactly this text (truncated or
    /// malformed streams).
    RawSse(String),
    /// Any status, headers and body: errors, malformed bodies.
    Http {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
}

impl Reply {
    /// An error status with a JSON body (`{"error":{"message":…}}` for both APIs).
    pub fn error(status: u16, body: Value) -> Self {
        Reply::Http {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    /// The provider's usual error body for `message`.
    pub fn error_message(status: u16, message: &str) -> Self {
        Self::error(
            status,
            json!({"type": "error", "error": {"type": "api_error", "message": message}}),
        )
    }

    /// Status 200, `application/json`, and a body that is not JSON.
    pub fn malformed(body: &str) -> Self {
        Reply::Http {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_owned(),
        }
    }

    /// Adds a response header (only to [`Reply::Http`]; others are unchanged).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Reply::Http { headers, .. } = &mut self {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }
}

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub endpoint: Endpoint,
    pub path: String,
    /// Lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Value::Null` when it was not JSON).
    pub body: Value,
    pub raw_body: String,
}

impl RecordedRequest {
    /// The first value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    openai: VecDeque<Reply>,
    anthropic: VecDeque<Reply>,
    requests: Vec<RecordedRequest>,
}

type SharedState = Arc<Mutex<Shared>>;

fn lock(state: &SharedState) -> MutexGuard<'_, Shared> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The running server; stops when dropped.
pub struct FakeLlm {
    addr: SocketAddr,
    state: SharedState,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl FakeLlm {
    /// Starts a server on `127.0.0.1:0` on the current tokio runtime.
    pub async fn start() -> FakeLlm {
        #[expect(
            clippy::expect_used,
            reason = "a test helper: no loopback port means a broken test machine"
        )]
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind 127.0.0.1:0");
        #[expect(clippy::expect_used, reason = "a bound listener has an address")]
        let addr = listener.local_addr().expect("local address");
        let state = SharedState::default();
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .with_state(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            let _ = serve.await;
        });
        FakeLlm {
            addr,
            state,
            shutdown: Some(tx),
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL an OpenAI client wants (`…/v1`).
    pub fn openai_base_url(&self) -> String {
        format!("{}/v1", self.base_url())
    }

    /// The base URL an Anthropic client wants (the root).
    pub fn anthropic_base_url(&self) -> String {
        self.base_url()
    }

    pub fn enqueue_openai(&self, reply: Reply) {
        lock(&self.state).openai.push_back(reply);
    }

    pub fn enqueue_anthropic(&self, reply: Reply) {
        lock(&self.state).anthropic.push_back(reply);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state).requests.clone()
    }

    /// How many queued replies have not been used.
    pub fn pending(&self) -> usize {
        let s = lock(&self.state);
        s.openai.len() + s.anthropic.len()
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

async fn openai(
    State(state): State<SharedState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&state, Endpoint::OpenAi, &uri, &headers, &body)
}

async fn anthropic(
    State(state): State<SharedState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&state, Endpoint::Anthropic, &uri, &headers, &body)
}

fn handle(
    state: &SharedState,
    endpoint: Endpoint,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let raw_body = String::from_utf8_lossy(body).into_owned();
    let recorded = RecordedRequest {
        endpoint,
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: serde_json::from_str(&raw_body).unwrap_or(Value::Null),
        raw_body,
    };
    let reply = {
        let mut s = lock(state);
        s.requests.push(recorded);
        match endpoint {
            Endpoint::OpenAi => s.openai.pop_front(),
            Endpoint::Anthropic => s.anthropic.pop_front(),
        }
    };
    match reply {
        Some(reply) => render(endpoint, reply),
        None => {
            let hint = match endpoint {
                Endpoint::OpenAi => "enqueue_openai",
                Endpoint::Anthropic => "enqueue_anthropic",
            };
            let message = format!(
                "fake llm: no reply queued for POST {}; queue one with {hint}",
                uri.path()
            );
            render(
                endpoint,
                Reply::error(
                    400,
                    json!({"error": {"type": "invalid_request_error", "message": message}}),
                ),
            )
        }
    }
}

fn render(endpoint: Endpoint, reply: Reply) -> Response {
    match reply {
        Reply::Json(value) => respond(
            200,
            &[("content-type", "application/json")],
            Body::from(value.to_string()),
        ),
        Reply::Stream(events) => {
            let mut frames: Vec<String> = events
                .iter()
                .map(|e| match endpoint {
                    Endpoint::OpenAi => format!("data: {e}\n\n"),
                    Endpoint::Anthropic => {
                        let kind = e.get("type").and_then(Value::as_str).unwrap_or("message");
                        format!("event: {kind}\ndata: {e}\n\n")
                    }
                })
                .collect();
            if endpoint == Endpoint::OpenAi {
                frames.push("data: [DONE]\n\n".to_owned());
            }
            let stream = futures::stream::iter(
                frames
                    .into_iter()
                    .map(|f| Ok::<_, Infallible>(Bytes::from(f))),
            );
            respond(
                200,
                &[
                    ("content-type", "text/event-stream"),
                    ("cache-control", "no-cache"),
                ],
                Body::from_stream(stream),
            )
        }
        Reply::RawSse(text) => respond(
            200,
            &[("content-type", "text/event-stream")],
            Body::from(text),
        ),
        Reply::Http {
            status,
            headers,
            body,
        } => {
            let pairs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            respond(status, &pairs, Body::from(body))
        }
    }
}

fn respond(status: u16, headers: &[(&str, &str)], body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(n, v);
        }
    }
    response
}

/// A Chat Completions body: optional text, tool calls `(id, name, arguments)`
/// (arguments sent as a JSON string), usage `(prompt, completion)`.
pub fn openai_completion(
    text: Option<&str>,
    calls: &[(&str, &str, Value)],
    usage: (u64, u64),
) -> Value {
    let tool_calls: Vec<Value> = calls
        .iter()
        .map(|(id, name, args)| {
            json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}})
        })
        .collect();
    let mut message = json!({"role": "assistant", "content": text});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-gpt",
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": if calls.is_empty() { "stop" } else { "tool_calls" },
        }],
        "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1, "total_tokens": usage.0 + usage.1},
    })
}

/// A Messages body: optional text, `tool_use` blocks `(id, name, input)`,
/// usage `(input, output)`.
pub fn anthropic_message(
    text: Option<&str>,
    calls: &[(&str, &str, Value)],
    usage: (u64, u64),
) -> Value {
    let mut content: Vec<Value> = Vec::new();
    if let Some(t) = text {
        content.push(json!({"type": "text", "text": t}));
    }
    for (id, name, input) in calls {
        content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    json!({
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": "fake-claude",
        "content": content,
        "stop_reason": if calls.is_empty() { "end_turn" } else { "tool_use" },
        "stop_sequence": null,
        "usage": {"input_tokens": usage.0, "output_tokens": usage.1},
    })
}
