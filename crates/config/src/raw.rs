//! The file as written: every field optional, unknown keys denied. These
//! types are also what `json_schema()` describes; doc comments here become
//! the schema's descriptions.

use std::collections::BTreeMap;

use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// `bureau.toml`. Every key is optional; see `examples/bureau.toml`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "bureau.toml")]
pub(crate) struct RawConfig {
    /// Named model endpoints that agents refer to by name.
    #[serde(default)]
    pub models: BTreeMap<String, RawModel>,
    /// Agents and their guardrails. `default` is used when no agent is named.
    #[serde(default)]
    pub agents: BTreeMap<String, RawAgent>,
    /// MCP servers whose tools agents may use; the table key is the server's name (`[A-Za-z0-9_-]+`).
    #[serde(default)]
    pub mcp_servers: BTreeMap<String, RawMcpServer>,
    /// `mcpServers` JSON files (Claude Desktop, Claude Code, Cursor, VS Code) to read servers from, relative to this file.
    #[serde(default)]
    pub mcp_servers_files: Vec<String>,
    /// The built-in gateway: the MCP server in front of Bureau's own tools.
    #[serde(default)]
    pub gateway: RawGateway,
    /// Where tools run, and their limits.
    #[serde(default)]
    pub sandbox: RawSandbox,
    /// Where runs, checkpoints, approvals and the audit log are kept.
    #[serde(default)]
    pub store: RawStore,
    /// Trace export (OpenTelemetry, GenAI conventions).
    #[serde(default)]
    pub telemetry: RawTelemetry,
    /// Policy files.
    #[serde(default)]
    pub policy: RawPolicy,
    /// Databases the `sql.*` tools may reach; the table key is the name tools use (`[A-Za-z0-9_-]+`).
    #[serde(default)]
    pub databases: BTreeMap<String, RawDatabase>,
}

#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "DatabaseKind")]
pub(crate) enum RawDatabaseKind {
    Sqlite,
    Postgres,
}

#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "DatabaseAccess")]
pub(crate) enum RawDatabaseAccess {
    /// Reads only, enforced by the database itself (read-only open + authorizer for SQLite; a least-privilege role for Postgres).
    ReadOnly,
    /// Reads and writes (`sql.execute`).
    ReadWrite,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Database")]
pub(crate) struct RawDatabase {
    /// Required: `sqlite` or `postgres`.
    pub kind: Option<RawDatabaseKind>,
    /// SQLite: the file, relative to this file. It must exist.
    pub path: Option<String>,
    /// Postgres: the connection URL of the role the tools use (`${VAR}` is expanded; keep the password in the environment).
    pub url: Option<String>,
    /// `read_only` (default) or `read_write`.
    pub access: Option<RawDatabaseAccess>,
    /// Reject statements a read-only grant may not run before they reach the database (default true). The database refuses them either way.
    pub classifier: Option<bool>,
    /// Rows returned per query at most (default 1000); more are cut and flagged.
    pub max_rows: Option<u64>,
    /// Bytes of result per query at most (default "1M").
    pub max_bytes: Option<RawSize>,
    /// Statement timeout (default "10s").
    pub timeout: Option<RawDuration>,
}

/// A human duration: one or more `<integer><unit>` groups, units ms, s, m, h, d.
#[derive(Debug, JsonSchema)]
#[schemars(transparent)]
#[schemars(extend("pattern" = r"^\s*([0-9]+(ms|s|m|h|d))+\s*$", "examples" = ["30s", "500ms", "1m30s"]))]
#[schemars(rename = "Duration")]
pub(crate) struct RawDuration(pub String);

/// A size in bytes: an integer, or a string with a binary unit (`"512M"`, `"1G"`).
#[derive(Debug, JsonSchema)]
#[schemars(untagged)]
#[schemars(rename = "Size")]
pub(crate) enum RawSize {
    Bytes(u64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string with a unit, like \"30s\", \"500ms\" or \"2m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration(v.to_owned()))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for RawSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size: a number of bytes, or a string like \"512M\" or \"1G\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawSize, E> {
                Ok(RawSize::Bytes(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawSize, E> {
                u64::try_from(v)
                    .map(RawSize::Bytes)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSize, E> {
                Ok(RawSize::Text(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "Provider")]
pub(crate) enum RawProvider {
    /// OpenAI-compatible `/v1/chat/completions`.
    #[serde(rename = "openai")]
    OpenAi,
    /// Anthropic `/v1/messages`.
    Anthropic,
    /// A scripted model replaying a JSON script (`model` is the script's path); for tests and demos.
    Scripted,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Model")]
pub(crate) struct RawModel {
    /// Required: `openai`, `anthropic` or `scripted`.
    pub provider: Option<RawProvider>,
    /// Required: the provider's model name (e.g. `gpt-4o`), or for `scripted` the script's path relative to this file.
    pub model: Option<String>,
    /// Endpoint base URL, e.g. `http://127.0.0.1:8080/v1` (default: the provider's public API). `${VAR}` is expanded.
    pub base_url: Option<String>,
    /// Name of the environment variable holding the API key (default `OPENAI_API_KEY` / `ANTHROPIC_API_KEY`).
    pub api_key_env: Option<String>,
    /// Stream responses (default true).
    pub stream: Option<bool>,
    /// Cap on output tokens per model call.
    pub max_output_tokens: Option<u32>,
    /// Per-request timeout (default "120s").
    pub timeout: Option<RawDuration>,
    /// USD per million tokens, used for `cost_budget_usd`.
    pub price: Option<RawPrice>,
    #[serde(default)]
    pub retry: RawRetry,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Price")]
pub(crate) struct RawPrice {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

/// Retries with exponential back-off and jitter.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Retry")]
pub(crate) struct RawRetry {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: Option<u32>,
    pub base_delay: Option<RawDuration>,
    pub max_delay: Option<RawDuration>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "OnExhausted")]
pub(crate) enum RawOnExhausted {
    /// Ask the model for a final answer without tools, then stop.
    FinalAnswer,
    /// Pause the run (resumable) when a budget or turn limit is reached.
    Pause,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Agent")]
pub(crate) struct RawAgent {
    /// A key of `[models]`, or `provider:model` (`openai:gpt-4o`, `scripted:script.json`).
    pub model: Option<String>,
    /// The system prompt (default: a short prompt that treats tool output as data).
    pub system_prompt: Option<String>,
    /// Read the system prompt from this file, relative to this file (instead of `system_prompt`).
    pub system_prompt_file: Option<String>,
    /// Patterns of qualified tool names offered to the model (default `["*"]`): `*`, `files.*`, `time.get_current_time`.
    pub tools: Option<Vec<String>>,
    /// Model turns before the run is stopped (default 25, at least 1).
    pub max_turns: Option<u32>,
    /// Input + output tokens over the whole run.
    pub token_budget: Option<u64>,
    /// USD over the whole run (needs `price` on the model).
    pub cost_budget_usd: Option<f64>,
    /// Wall-clock limit for the whole run, e.g. "10m".
    pub deadline: Option<RawDuration>,
    /// The same call (name + canonical arguments) this many times is a loop (default 3, at least 2).
    pub loop_limit: Option<u32>,
    /// Longer tool results are truncated for the model, kept whole in the journal (default 16000).
    pub max_tool_result_chars: Option<usize>,
    /// What happens when `max_turns` or a budget is reached (default `final_answer`).
    pub on_exhausted: Option<RawOnExhausted>,
    /// Parallel tool calls of one turn run at most this many at once (default 4, at least 1).
    pub tool_concurrency: Option<usize>,
    /// Retries of failed tool calls (default 3 attempts, "200ms" to "5s").
    #[serde(default)]
    pub tool_retry: RawRetry,
    #[serde(default)]
    pub circuit_breaker: RawCircuitBreaker,
}

/// A server that keeps failing is skipped for a while.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CircuitBreaker")]
pub(crate) struct RawCircuitBreaker {
    /// Consecutive failures that open the breaker (default 3).
    pub failure_threshold: Option<u32>,
    /// How long the breaker stays open (default "30s").
    pub cooldown: Option<RawDuration>,
}

/// One MCP server: `command` (stdio) or `url` (Streamable HTTP), not both.
/// `${VAR}`, `${VAR:-default}` and `${env:VAR}` are expanded in command, args, env, cwd, url and headers; `$$` is a literal `$`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "McpServer")]
pub(crate) struct RawMcpServer {
    /// `stdio`, `http` or `streamable-http` (default: from command/url). `sse` is not supported.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Program to start (looked up in PATH; a relative path with a `/` is relative to this file).
    pub command: Option<String>,
    pub args: Option<Vec<String>>,
    /// Variables added to the server's environment (which otherwise holds only HOME, LOGNAME, PATH, SHELL, TERM, USER).
    pub env: Option<BTreeMap<String, String>>,
    /// Working directory, relative to this file.
    pub cwd: Option<String>,
    /// Streamable HTTP endpoint.
    pub url: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    /// Per `tools/call` timeout (default "60s").
    pub call_timeout: Option<RawDuration>,
    /// Start-up and handshake timeout (default "30s").
    pub connect_timeout: Option<RawDuration>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Gateway")]
pub(crate) struct RawGateway {
    /// Patterns of the built-in gateway tools exposed (default `["files.*"]`).
    pub allowed_tools: Option<Vec<String>>,
}

#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "SandboxBackend")]
pub(crate) enum RawSandboxBackend {
    /// Linux namespaces, Landlock, seccomp and cgroups.
    Native,
    /// gVisor `runsc`.
    Gvisor,
    /// A microVM.
    Microvm,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Sandbox")]
pub(crate) struct RawSandbox {
    /// Isolation backend (default `native`).
    pub backend: Option<RawSandboxBackend>,
    /// Memory limit per execution (default "512M", at least "1M").
    pub memory: Option<RawSize>,
    /// Process limit per execution (default 64).
    pub pids: Option<u32>,
    /// Wall-clock limit per execution (default "30s").
    pub timeout: Option<RawDuration>,
    /// A folder of extra Python packages (`pip install --target DIR …`), shown read-only in the sandbox and put on `PYTHONPATH`; relative to this file.
    pub python_packages: Option<String>,
    /// Python sandboxes kept pre-started for `python.exec` (native backend only; default 0: a fresh sandbox per call).
    pub warm_pool: Option<u32>,
    /// Modules the warm sandboxes import before code arrives, e.g. ["pandas", "matplotlib"].
    pub warm_imports: Option<Vec<String>>,
}

#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "StoreBackend")]
pub(crate) enum RawStoreBackend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Store")]
pub(crate) struct RawStore {
    /// `sqlite` (default) or `postgres`.
    pub backend: Option<RawStoreBackend>,
    /// SQLite file, relative to this file (default `{data_dir}/bureau.db`).
    pub path: Option<String>,
    /// Postgres connection URL (required for `postgres`). `${VAR}` is expanded, so keep the password in the environment.
    pub url: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Telemetry")]
pub(crate) struct RawTelemetry {
    /// OTLP endpoint for traces, e.g. `http://127.0.0.1:4318` (default: no export). `${VAR}` is expanded.
    pub otlp_endpoint: Option<String>,
    /// Record prompts, completions and tool payloads in spans (default false).
    pub capture_content: Option<bool>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Policy")]
pub(crate) struct RawPolicy {
    /// Folder of policy files, relative to this file (default: the built-in policy).
    pub dir: Option<String>,
}
