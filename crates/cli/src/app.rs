//! The composition root: config, data dir, journal, gateway, MCP hub and
//! model client, wired together. The only place that reads the environment.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bureau_config::{Config, ModelConfig, Price, Provider};
use bureau_config::{SandboxBackend, StoreBackend};
use bureau_gateway::{
    AllowList, CedarPolicy, ChainedAudit, Gateway, GatewayConfig, GatewayParts, Policy, Snapshot,
    Snapshots, Upstream,
};
use bureau_llm::{
    AnthropicClient, AnthropicConfig, ModelClient, OpenAiClient, OpenAiConfig, RetryPolicy,
    Retrying, ScriptedModel,
};
use bureau_mcp_client::{McpHub, Naming, in_process_pair};
use bureau_protocol::{RunId, ToolCall, ToolResult, ToolSpec};
use bureau_sandbox::native::{NativeConfig, NativeSandbox, WarmPool, WarmPoolConfig};
use bureau_sandbox::{Grant, Sandbox};
use bureau_store::{ControlStore, GrantKey};
use bureau_store::{Journal, NullJournal, PostgresJournal, SqliteJournal};
use bureau_tools::{ColdPython, FilesToolset, PythonRunner, PythonToolset, Toolset, WarmPython};
use serde_json::{Map, Value};

/// Milliseconds since the Unix epoch, the control plane's timestamps.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Reads one environment variable (the only door to the environment).
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `--data-dir`, else `$XDG_DATA_HOME/bureau`, else `~/.local/share/bureau`.
pub fn data_dir(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match flag {
        Some(d) => d.to_path_buf(),
        None => match (env_var("XDG_DATA_HOME"), env_var("HOME")) {
            (Some(x), _) => PathBuf::from(x).join("bureau"),
            (None, Some(h)) => PathBuf::from(h).join(".local/share/bureau"),
            (None, None) => bail!(
                "no data directory: pass --data-dir DIR (neither XDG_DATA_HOME nor HOME is set)"
            ),
        },
    };
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "cannot create the data directory {}; pass --data-dir DIR",
            dir.display()
        )
    })?;
    // Absolute from here on: workspace folders are handed to sandboxes,
    // which take absolute paths only.
    std::fs::canonicalize(&dir)
        .with_context(|| format!("cannot resolve the data directory {}", dir.display()))
}

/// `--config FILE`, else `./bureau.toml` when present, else the embedded defaults.
pub fn load_config(flag: Option<&Path>) -> anyhow::Result<(Config, Option<PathBuf>)> {
    let path = match flag {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from("bureau.toml")).filter(|p| p.is_file()),
    };
    match path {
        Some(p) => {
            let config = bureau_config::load_file(&p, &env_var)?;
            Ok((config, Some(p)))
        }
        None => Ok((Config::default(), None)),
    }
}

/// The journal `[store]` names: a SQLite file (default `{data_dir}/bureau.db`)
/// or a Postgres database shared by many processes.
pub async fn open_journal(data_dir: &Path, config: &Config) -> anyhow::Result<Arc<dyn Journal>> {
    if let StoreBackend::Postgres { url } = &config.store.backend {
        let journal = PostgresJournal::connect(url).await?;
        return Ok(Arc::new(journal));
    }
    let path = config
        .store
        .path
        .clone()
        .unwrap_or_else(|| data_dir.join("bureau.db"));
    let journal = SqliteJournal::open(&path)?;
    Ok(Arc::new(journal))
}

pub fn null_journal() -> Arc<dyn Journal> {
    Arc::new(NullJournal)
}

/// The control plane's approvals and audit log (`control.db` and the
/// grant-signing key `grant.key` in the data directory).
pub fn control_store(data_dir: &Path) -> anyhow::Result<ControlStore> {
    let key = GrantKey::load_or_create(&data_dir.join("grant.key"))?;
    Ok(ControlStore::open(&data_dir.join("control.db"), key)?)
}

/// Bureau's gateway: the built-in tools, and in front of every configured
/// external MCP server (started here), so that their calls too pass policy,
/// approval and audit.
pub async fn gateway(data_dir: &Path, config: &Config) -> anyhow::Result<Gateway> {
    let workspaces_root = data_dir.join("workspaces");
    let default_workspace = workspaces_root.join("default");
    let gateway_config = GatewayConfig::new(
        workspaces_root,
        default_workspace,
        config.gateway.allowed_tools.clone(),
    );
    let control = control_store(data_dir)?;
    let audit = Arc::new(ChainedAudit::new(control.audit()));
    let files: Arc<dyn Toolset> = Arc::new(FilesToolset::new(gateway_config.files));
    let mut toolsets = vec![files.clone()];
    if !config.databases.is_empty() {
        let sql =
            bureau_sql::SqlToolset::new(config.databases.values().map(sql_database).collect())?;
        toolsets.push(Arc::new(sql));
    }
    let mut python_offered = false;
    match python_runner(config) {
        Ok(Some((runner, about))) => {
            toolsets.push(Arc::new(PythonToolset::new(runner, &about)));
            python_offered = true;
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "python.exec is not offered: the sandbox is not available here")
        }
    }
    let upstream = upstream(config).await?;
    let policy: Arc<dyn Policy> = match &config.policy.dir {
        Some(dir) => {
            let policies = bureau_policy::load(dir)
                .with_context(|| format!("cannot load the policies in {}", dir.display()))?;
            Arc::new(CedarPolicy::new(Arc::new(policies), "anonymous"))
        }
        // The embedded default: the `[gateway] allowed_tools` allow-list
        // for built-in tools; the servers the user configured are allowed
        // whole (agents narrow them with their `tools` patterns).
        None => {
            // `python.*` is in the default list; where no sandbox runs
            // here, it simply matches nothing.
            let mut patterns: Vec<String> = gateway_config
                .allowed_tools
                .iter()
                .filter(|p| python_offered || !p.starts_with("python."))
                .cloned()
                .collect();
            let builtin: Vec<&str> = toolsets
                .iter()
                .flat_map(|t| t.tools().iter().map(|d| d.spec.name.as_str()))
                .collect();
            AllowList::new(&patterns)?.check_against(builtin.iter().copied())?;
            patterns.extend(config.mcp_servers.iter().map(|s| format!("{}.*", s.name)));
            if !config.databases.is_empty() {
                // Configured databases are reachable; each one's access
                // (read-only, enforced by the database) still applies.
                patterns.push("sql.*".to_owned());
            }
            Arc::new(AllowList::new(&patterns)?)
        }
    };
    Ok(Gateway::from_parts(GatewayParts {
        config: gateway_config,
        audit,
        policy,
        toolsets,
        approvals: Some(control.approvals()),
        upstream,
        snapshots: Some(Arc::new(StoreSnapshots(
            bureau_workspace::WorkspaceStore::open(data_dir.join("snapshots"))?,
        ))),
    })?)
}

fn sql_database(db: &bureau_config::DatabaseConfig) -> bureau_sql::DatabaseConfig {
    bureau_sql::DatabaseConfig {
        name: db.name.clone(),
        kind: match &db.kind {
            bureau_config::DatabaseKind::Sqlite { path } => {
                bureau_sql::DatabaseKind::Sqlite { path: path.clone() }
            }
            bureau_config::DatabaseKind::Postgres { url } => {
                bureau_sql::DatabaseKind::Postgres { url: url.clone() }
            }
        },
        access: match db.access {
            bureau_config::DatabaseAccess::ReadOnly => bureau_sql::DatabaseAccess::ReadOnly,
            bureau_config::DatabaseAccess::ReadWrite => bureau_sql::DatabaseAccess::ReadWrite,
        },
        classifier: db.classifier,
        caps: bureau_sql::SqlCaps {
            max_rows: usize::try_from(db.max_rows).unwrap_or(usize::MAX),
            max_bytes: usize::try_from(db.max_bytes).unwrap_or(usize::MAX),
            statement_timeout: db.timeout,
        },
    }
}

/// The grant every sandboxed exec gets, from `[sandbox]`.
pub fn sandbox_grant(config: &Config) -> Grant {
    let s = &config.sandbox;
    let mut grant = Grant::default();
    grant.limits.memory_bytes = s.memory_bytes;
    grant.limits.pids = u64::from(s.pids);
    grant.limits.wall_time = s.timeout;
    grant.limits.cpu_time = s.timeout;
    grant
}

/// The sandbox backend `[sandbox] backend` (or `--backend`) names, if it
/// can run here.
pub fn sandbox(config: &Config, backend: SandboxBackend) -> anyhow::Result<Arc<dyn Sandbox>> {
    Ok(match backend {
        SandboxBackend::Native => Arc::new(native_sandbox(config)?),
        SandboxBackend::Gvisor => Arc::new(bureau_sandbox_gvisor::GvisorSandbox::discover()?),
        SandboxBackend::Microvm => anyhow::bail!(
            "the microvm backend needs a firecracker binary, a guest kernel and a rootfs with the guest agent, and KVM with VMX/SVM; `bureau sandbox doctor` says what is missing here"
        ),
    })
}

/// The native backend with `bureau` itself as its launcher.
pub fn native_sandbox(config: &Config) -> anyhow::Result<NativeSandbox> {
    let exe =
        std::env::current_exe().context("cannot find the bureau binary (the sandbox launcher)")?;
    let mut native = NativeConfig::new(exe);
    native.launcher_args = vec![SANDBOX_LAUNCHER_ARG.to_owned()];
    native.python_packages = config.sandbox.python_packages.clone();
    Ok(NativeSandbox::with_config(native)?)
}

/// The hidden first argument that makes `bureau` the native sandbox's
/// launcher (see `main`).
pub const SANDBOX_LAUNCHER_ARG: &str = "__sandbox-launch";

/// What runs `python.exec`: a warm pool or a fresh sandbox per call.
fn python_runner(config: &Config) -> anyhow::Result<Option<(Arc<dyn PythonRunner>, String)>> {
    let grant = sandbox_grant(config);
    let about = bureau_tools::python::describe_limits(&grant);
    let s = &config.sandbox;
    if s.warm_pool > 0 && s.backend == SandboxBackend::Native {
        let pool = WarmPool::new(
            native_sandbox(config)?,
            WarmPoolConfig {
                size: usize::try_from(s.warm_pool).unwrap_or(1),
                imports: s.warm_imports.clone(),
                grant,
                ..WarmPoolConfig::default()
            },
        )?;
        return Ok(Some((Arc::new(WarmPython::new(Arc::new(pool))), about)));
    }
    let sandbox = sandbox(config, s.backend)?;
    Ok(Some((Arc::new(ColdPython::new(sandbox, grant)), about)))
}

/// The workspace store as the gateway's snapshot seam.
struct StoreSnapshots(bureau_workspace::WorkspaceStore);

impl Snapshots for StoreSnapshots {
    fn hydrate(&self, workspace: &str, live: &Path) -> Result<(), String> {
        let id = bureau_workspace::WorkspaceId::new(workspace).map_err(|e| e.to_string())?;
        self.0
            .hydrate(&id, live)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn commit(
        &self,
        workspace: &str,
        live: &Path,
        run: Option<RunId>,
        step: Option<u64>,
        tool: &str,
    ) -> Result<Snapshot, String> {
        let id = bureau_workspace::WorkspaceId::new(workspace).map_err(|e| e.to_string())?;
        let mut label = bureau_workspace::SnapshotLabel::new(u64::try_from(now_ms()).unwrap_or(0));
        label.run = run.map(|r| r.to_string());
        label.step = step;
        label.message = Some(format!("after {tool}"));
        let commit = self.0.commit(&id, live, label).map_err(|e| e.to_string())?;
        Ok(Snapshot {
            id: commit.snapshot.to_string(),
            changed: commit.recorded,
        })
    }
}

/// Starts every configured external MCP server behind one hub.
async fn upstream(config: &Config) -> anyhow::Result<Option<Arc<dyn Upstream>>> {
    if config.mcp_servers.is_empty() {
        return Ok(None);
    }
    let mut hub = McpHub::new(&env_var);
    for server in &config.mcp_servers {
        hub.connect(server)
            .await
            .with_context(|| format!("cannot start MCP server `{}`", server.name))?;
    }
    Ok(Some(Arc::new(HubUpstream(hub))))
}

/// The MCP client hub as the gateway's upstream.
struct HubUpstream(McpHub);

#[async_trait::async_trait]
impl Upstream for HubUpstream {
    fn tools(&self) -> Vec<ToolSpec> {
        self.0.tools().to_vec()
    }

    async fn call(&self, call: &ToolCall, meta: &Map<String, Value>) -> Result<ToolResult, String> {
        self.0
            .call_tool(call, meta)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The hub every run reaches tools through: the gateway, in-process. Every
/// tool, built-in or external, is reached through it.
pub async fn tool_hub(gateway: &Gateway) -> anyhow::Result<McpHub> {
    let (client_side, server_side) = in_process_pair();
    let gw = gateway.clone();
    tokio::spawn(async move {
        if let Err(e) = gw.serve(server_side).await {
            tracing::error!(error = %e, "the in-process gateway stopped");
        }
    });
    let mut hub = McpHub::new(&env_var);
    hub.connect_transport(
        "bureau",
        client_side,
        Naming::AsIs,
        Duration::from_secs(300),
    )
    .await
    .context("cannot reach the built-in gateway")?;
    Ok(hub)
}

/// A model client, its label (`provider:model`) and its price, from a
/// `--model` value: a `[models]` key, or `openai:M`, `anthropic:M`, `scripted:PATH`.
pub struct ModelChoice {
    pub client: Arc<dyn ModelClient>,
    pub label: String,
    pub price: Option<Price>,
}

pub fn model_choice(spec: &str, config: &Config) -> anyhow::Result<ModelChoice> {
    if let Some(mc) = config.models.get(spec) {
        return build_model(mc);
    }
    let Some((provider, name)) = spec.split_once(':') else {
        let known: Vec<&str> = config.models.keys().map(String::as_str).collect();
        bail!(
            "unknown model `{spec}`: use provider:model (openai:gpt-4o-mini, anthropic:claude-sonnet-4-5, scripted:PATH) or one of the configured models [{}]",
            known.join(", ")
        );
    };
    let provider = match provider {
        "openai" => Provider::OpenAi,
        "anthropic" => Provider::Anthropic,
        "scripted" => Provider::Scripted,
        other => bail!("unknown model provider `{other}`: use openai, anthropic or scripted"),
    };
    let mc = ModelConfig::new(provider, name.to_owned());
    build_model(&mc)
}

fn build_model(mc: &ModelConfig) -> anyhow::Result<ModelChoice> {
    let retry = RetryPolicy {
        max_attempts: mc.retry.max_attempts,
        base_delay: mc.retry.base_delay,
        max_delay: mc.retry.max_delay,
    };
    let (client, label): (Arc<dyn ModelClient>, String) = match mc.provider {
        Provider::Scripted => {
            let model = ScriptedModel::from_path(Path::new(&mc.model))
                .with_context(|| format!("cannot load the script {}", mc.model))?;
            (Arc::new(model), format!("scripted:{}", mc.model))
        }
        Provider::OpenAi => {
            let key_var = mc
                .api_key_env
                .clone()
                .unwrap_or_else(|| "OPENAI_API_KEY".into());
            let base_url = mc
                .base_url
                .clone()
                .or_else(|| env_var("OPENAI_BASE_URL"))
                .unwrap_or_else(|| "https://api.openai.com/v1".into());
            let client = OpenAiClient::new(OpenAiConfig {
                base_url,
                api_key: env_var(&key_var),
                model: mc.model.clone(),
                stream: mc.stream,
                timeout: mc.timeout,
                max_output_tokens: mc.max_output_tokens,
                extra_headers: Vec::new(),
            })?;
            (
                Arc::new(Retrying::new(client, retry)),
                format!("openai:{}", mc.model),
            )
        }
        Provider::Anthropic => {
            let key_var = mc
                .api_key_env
                .clone()
                .unwrap_or_else(|| "ANTHROPIC_API_KEY".into());
            let base_url = mc
                .base_url
                .clone()
                .or_else(|| env_var("ANTHROPIC_BASE_URL"))
                .unwrap_or_else(|| "https://api.anthropic.com".into());
            let client = AnthropicClient::new(AnthropicConfig {
                base_url,
                api_key: env_var(&key_var),
                model: mc.model.clone(),
                stream: mc.stream,
                timeout: mc.timeout,
                max_output_tokens: mc.max_output_tokens.unwrap_or(4096),
                version: "2023-06-01".into(),
            })?;
            (
                Arc::new(Retrying::new(client, retry)),
                format!("anthropic:{}", mc.model),
            )
        }
    };
    Ok(ModelChoice {
        client,
        label,
        price: mc.price,
    })
}
