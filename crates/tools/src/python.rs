//! The `python` toolset: `python.exec` runs model-written Python in a
//! sandbox with the run's workspace at `/workspace` (the working
//! directory), and returns stdout, stderr, the exit status, the files the
//! code created or changed, and any images among them as MCP image content
//! (a matplotlib PNG comes back as a picture).
//!
//! Where the code runs is a [`PythonRunner`]: a fresh sandbox per call
//! ([`ColdPython`], any [`Sandbox`] backend) or a pre-started warm one
//! ([`WarmPython`], the native backend's pool). This module never decides
//! whether code may run: the gateway's policy does, before `run`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use bureau_protocol::{Content, ToolResult, ToolSpec};
use bureau_sandbox::native::WarmPool;
use bureau_sandbox::{ExecOutcome, ExecRequest, ExitStatus, Grant, Sandbox, SandboxError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::toolset::{decode_arguments, input_schema};
use crate::{
    Access, Execution, Invocation, PolicyFacts, Requirement, Resource, ToolContext, ToolDef,
    ToolError, Toolset,
};

pub const EXEC: &str = "python.exec";

/// Longest code one call accepts, bytes.
pub const MAX_CODE_BYTES: usize = 256 * 1024;
/// Images returned per call at most, and the largest one.
const MAX_IMAGES: usize = 4;
const MAX_IMAGE_BYTES: u64 = 4 << 20;
/// Workspace entries compared before and after a call at most.
const MAX_LISTED: usize = 20_000;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecArgs {
    /// Python 3 source to run. The working directory is the workspace
    /// (`/workspace`); files written there stay for later steps.
    pub code: String,
}

/// Runs Python source with a workspace folder at `/workspace`.
pub trait PythonRunner: Send + Sync + 'static {
    /// `"native"`, `"gvisor"`, … and whether warm: shown in results.
    fn describe(&self) -> String;

    fn run(&self, code: &str, workspace: &Path) -> Result<ExecOutcome, SandboxError>;
}

/// A fresh sandbox per call: `python3 -` with the code on stdin.
pub struct ColdPython {
    sandbox: Arc<dyn Sandbox>,
    grant: Grant,
}

impl ColdPython {
    pub fn new(sandbox: Arc<dyn Sandbox>, grant: Grant) -> Self {
        Self { sandbox, grant }
    }
}

impl PythonRunner for ColdPython {
    fn describe(&self) -> String {
        self.sandbox.backend().as_str().to_owned()
    }

    fn run(&self, code: &str, workspace: &Path) -> Result<ExecOutcome, SandboxError> {
        // The code arrives on stdin (`python3 -`): no argument-length limit,
        // nothing of it in the process list.
        let mut request = ExecRequest::new(vec!["python3".into(), "-".into()], self.grant.clone());
        request.workspace = Some(workspace.to_path_buf());
        request.stdin = code.as_bytes().to_vec();
        self.sandbox.exec(&request)
    }
}

/// A pre-started sandbox from the native backend's warm pool.
pub struct WarmPython {
    pool: Arc<WarmPool>,
}

impl WarmPython {
    pub fn new(pool: Arc<WarmPool>) -> Self {
        Self { pool }
    }
}

impl PythonRunner for WarmPython {
    fn describe(&self) -> String {
        "native (warm)".to_owned()
    }

    fn run(&self, code: &str, workspace: &Path) -> Result<ExecOutcome, SandboxError> {
        self.pool
            .run_python(code, Some(workspace.to_path_buf()))
            .map(|n| n.outcome)
    }
}

/// The `python.exec` tool over one runner.
pub struct PythonToolset {
    runner: Arc<dyn PythonRunner>,
    defs: Vec<ToolDef>,
}

impl PythonToolset {
    pub fn new(runner: Arc<dyn PythonRunner>, about: &str) -> Self {
        let def = ToolDef {
            spec: ToolSpec {
                name: EXEC.to_owned(),
                description: format!(
                    "Run Python 3 code in an isolated sandbox (no network). The working directory \
                     is the run's workspace: files you write there (CSV, plots, …) stay for later \
                     steps and for files.read. Returns stdout, stderr, the exit status, the files \
                     created or changed, and images among them. {about}"
                ),
                input_schema: input_schema::<ExecArgs>(),
            },
            needs: vec![
                Requirement {
                    resource: Resource::Sandbox,
                    access: Access::Write,
                },
                Requirement {
                    resource: Resource::Workspace,
                    access: Access::Write,
                },
            ],
            read_only: false,
        };
        Self {
            runner,
            defs: vec![def],
        }
    }
}

impl Toolset for PythonToolset {
    fn tools(&self) -> &[ToolDef] {
        &self.defs
    }

    fn decode(&self, tool: &str, arguments: &Value) -> Result<Box<dyn Invocation>, ToolError> {
        if tool != EXEC {
            return Err(ToolError::UnknownTool {
                tool: tool.to_owned(),
                available: EXEC.to_owned(),
            });
        }
        let args: ExecArgs = decode_arguments(tool, arguments)?;
        if args.code.len() > MAX_CODE_BYTES {
            return Err(ToolError::InvalidArguments {
                tool: tool.to_owned(),
                message: format!(
                    "`code` is {} bytes, more than the {MAX_CODE_BYTES}-byte limit: write long code to a file with files.write and exec a short loader",
                    args.code.len()
                ),
            });
        }
        Ok(Box::new(ExecCall {
            code: args.code,
            runner: self.runner.clone(),
        }))
    }
}

struct ExecCall {
    code: String,
    runner: Arc<dyn PythonRunner>,
}

impl Invocation for ExecCall {
    fn execution(&self) -> Execution {
        Execution::Blocking
    }

    fn run(self: Box<Self>, ctx: &ToolContext) -> Result<ToolResult, ToolError> {
        let root = ctx.workspace.path();
        let before = listing(root);
        let outcome = match self.runner.run(&self.code, root) {
            Ok(o) => o,
            Err(e) => {
                return Ok(ToolResult::error(format!(
                    "the sandbox could not run the code: {e}"
                )));
            }
        };
        let after = listing(root);
        Ok(render(
            &outcome,
            &before,
            &after,
            root,
            &self.runner.describe(),
        ))
    }

    fn facts(&self) -> PolicyFacts {
        let mut facts = PolicyFacts::default();
        facts
            .attributes
            .insert("network".to_owned(), Value::Bool(false));
        facts
    }
}

/// Regular files under `root` (not following links) with size and mtime.
fn listing(root: &Path) -> BTreeMap<String, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if out.len() >= MAX_LISTED {
                return out;
            }
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file()
                && let Ok(rel) = entry.path().strip_prefix(root)
            {
                let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                out.insert(rel.to_string_lossy().into_owned(), (meta.len(), mtime));
            }
        }
    }
    out
}

fn image_mime(path: &str) -> Option<&'static str> {
    let lower = path.to_ascii_lowercase();
    [
        (".png", "image/png"),
        (".jpg", "image/jpeg"),
        (".jpeg", "image/jpeg"),
        (".gif", "image/gif"),
        (".webp", "image/webp"),
    ]
    .into_iter()
    .find(|(ext, _)| lower.ends_with(ext))
    .map(|(_, mime)| mime)
}

fn render(
    outcome: &ExecOutcome,
    before: &BTreeMap<String, (u64, SystemTime)>,
    after: &BTreeMap<String, (u64, SystemTime)>,
    root: &Path,
    backend: &str,
) -> ToolResult {
    let mut files = Vec::new();
    for (path, (size, mtime)) in after {
        let change = match before.get(path) {
            None => "created",
            Some((s, m)) if s != size || m != mtime => "changed",
            Some(_) => continue,
        };
        files.push(json!({"path": path, "size": size, "change": change}));
    }
    for path in before.keys().filter(|p| !after.contains_key(*p)) {
        files.push(json!({"path": path, "size": 0, "change": "deleted"}));
    }
    let stdout = String::from_utf8_lossy(&outcome.stdout);
    let stderr = String::from_utf8_lossy(&outcome.stderr);
    let (exit_code, signal) = match outcome.status {
        ExitStatus::Exited(c) => (Some(c), None),
        ExitStatus::Signaled(s) => (None, Some(s)),
    };
    // The limits' wire names (`memory`, `wall_time`, …), as serde spells them.
    let limits: Vec<String> = outcome
        .limits_hit
        .iter()
        .filter_map(|l| serde_json::to_value(l).ok())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let mut text = String::new();
    match (exit_code, signal) {
        (Some(0), _) => {}
        (Some(c), _) => text.push_str(&format!("exit status {c}\n")),
        (None, Some(s)) => text.push_str(&format!("killed by signal {s}\n")),
        (None, None) => {}
    }
    if !limits.is_empty() {
        text.push_str(&format!("limits hit: {}\n", limits.join(", ")));
    }
    if !stdout.is_empty() {
        text.push_str(&stdout);
        if outcome.stdout_truncated {
            text.push_str("\n[stdout truncated]");
        }
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    if !stderr.is_empty() {
        text.push_str("--- stderr ---\n");
        text.push_str(&stderr);
        if outcome.stderr_truncated {
            text.push_str("\n[stderr truncated]");
        }
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    if !files.is_empty() {
        let names: Vec<String> = files
            .iter()
            .map(|f| {
                format!(
                    "{} ({})",
                    f["path"].as_str().unwrap_or(""),
                    f["change"].as_str().unwrap_or("")
                )
            })
            .collect();
        text.push_str(&format!("files: {}\n", names.join(", ")));
    }
    if text.is_empty() {
        text.push_str("(no output)\n");
    }
    let mut content = vec![Content::Text {
        text: text.trim_end().to_owned(),
    }];
    let images = files
        .iter()
        .filter(|f| f["change"] != "deleted")
        .filter_map(|f| {
            let path = f["path"].as_str()?;
            Some((path, image_mime(path)?, f["size"].as_u64()?))
        })
        .filter(|(_, _, size)| *size <= MAX_IMAGE_BYTES)
        .take(MAX_IMAGES);
    for (path, mime, _) in images {
        // Read through the listing's own no-follow check: a regular file
        // at this path right now (the sandbox is gone).
        let full = root.join(path);
        let is_file = full
            .symlink_metadata()
            .map(|m| m.is_file())
            .unwrap_or(false);
        if let (true, Ok(bytes)) = (is_file, std::fs::read(&full)) {
            content.push(Content::Image {
                data: base64::engine::general_purpose::STANDARD.encode(bytes),
                mime_type: mime.to_owned(),
            });
        }
    }
    let ok = exit_code == Some(0) && limits.is_empty();
    ToolResult {
        content,
        structured: Some(json!({
            "exit_code": exit_code,
            "signal": signal,
            "stdout": stdout,
            "stderr": stderr,
            "stdout_truncated": outcome.stdout_truncated,
            "stderr_truncated": outcome.stderr_truncated,
            "limits_hit": limits,
            "files": files,
            "wall_ms": u64::try_from(outcome.wall_time.as_millis()).unwrap_or(u64::MAX),
            "cpu_ms": outcome.cpu_time.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            "peak_memory_bytes": outcome.peak_memory_bytes,
            "sandbox": backend,
        })),
        is_error: !ok,
    }
}

/// Turns a duration limit into a human phrase for descriptions.
pub fn describe_limits(grant: &Grant) -> String {
    let l = &grant.limits;
    format!(
        "Limits: {} s wall time, {} MiB memory, {} processes.",
        l.wall_time.as_secs(),
        l.memory_bytes >> 20,
        l.pids
    )
}
