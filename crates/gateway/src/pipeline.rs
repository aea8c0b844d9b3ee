//! The one path every `tools/call` takes: decode → policy → approval →
//! tool → audit. Every way a call can end is a `CallToolResult` (an
//! `isError: true` one for refusals and failures) and exactly one audit event.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bureau_protocol::{Content, Decision, RunId, ToolResult, arguments_hash, meta};
use bureau_tools::{Execution, Invocation, ToolContext, ToolError};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use serde_json::Value;

use crate::audit::{AuditDecision, AuditEvent, AuditOutcome, AuditSink};
use crate::policy::{CallRequest, Policy};
use crate::registry::Registry;
use crate::workspaces::Workspaces;

pub(crate) struct Pipeline {
    pub(crate) registry: Registry,
    pub(crate) policy: Arc<dyn Policy>,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) workspaces: Workspaces,
    pub(crate) call_timeout: Duration,
    /// The agent of calls whose `_meta` names none.
    pub(crate) default_agent: Arc<str>,
}

/// What a call's `_meta` says about it (set by the control plane, never by
/// the model; raw values, validated here).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CallMeta<'a> {
    pub(crate) run_id: Option<&'a Value>,
    pub(crate) agent: Option<&'a Value>,
}

impl<'a> CallMeta<'a> {
    /// Reads the keys from `_meta` objects, the first that has each.
    pub(crate) fn from_maps(maps: &[Option<&'a serde_json::Map<String, Value>>]) -> Self {
        let get = |key: &str| maps.iter().flatten().find_map(|m| m.get(key));
        Self {
            run_id: get(meta::RUN_ID),
            agent: get(meta::AGENT),
        }
    }
}

/// How running a tool ended, short of a result.
enum Failure {
    Tool(ToolError),
    Panicked,
    TimedOut,
}

impl Pipeline {
    /// Runs one call. `arguments` is what the client sent (absent reads as
    /// `{}`; anything but an object is refused at decode); `meta` is what
    /// the call's `_meta` holds.
    #[tracing::instrument(level = "debug", skip_all, fields(tool = name))]
    pub(crate) async fn call(
        &self,
        name: &str,
        arguments: Value,
        meta: CallMeta<'_>,
    ) -> CallToolResult {
        let started = Instant::now();
        let now = std::time::SystemTime::now();
        let arguments = match arguments {
            Value::Null => Value::Object(JsonObject::new()),
            other => other,
        };
        let hash = arguments_hash(name, &arguments);
        let run_id =
            parse_run_id(meta.run_id).and_then(|r| parse_agent(meta.agent).map(|a| (r, a)));
        let audit = |tool: Arc<str>, run_id, decision, outcome| {
            self.audit.record(AuditEvent {
                tool,
                arguments_hash: hash.clone(),
                run_id,
                decision,
                outcome,
                duration: started.elapsed(),
            });
        };

        // 1. Decode: a tool that exists, a run id that is one, arguments
        //    that fit the tool's schema.
        let Some(entry) = self.registry.get(name) else {
            let message = format!(
                "unknown tool `{name}`: this gateway offers {}",
                self.registry.listed_names()
            );
            let run = run_id.as_ref().ok().and_then(|(r, _)| *r);
            audit(
                Arc::from(name),
                run,
                AuditDecision::Rejected {
                    reason: message.clone(),
                },
                AuditOutcome::NotRun,
            );
            return error_result(message);
        };
        let (run_id, agent) = match run_id {
            Ok(ids) => ids,
            Err(message) => {
                audit(
                    entry.name.clone(),
                    None,
                    AuditDecision::Rejected {
                        reason: message.clone(),
                    },
                    AuditOutcome::NotRun,
                );
                return error_result(message);
            }
        };
        let invocation = match entry.toolset.decode(name, &arguments) {
            Ok(invocation) => invocation,
            Err(e) => {
                let message = e.to_string();
                audit(
                    entry.name.clone(),
                    run_id,
                    AuditDecision::Rejected {
                        reason: message.clone(),
                    },
                    AuditOutcome::NotRun,
                );
                return error_result(message);
            }
        };

        // 2. Policy.
        let facts = invocation.facts();
        let request = CallRequest {
            tool: &entry.def,
            arguments: &arguments,
            facts: &facts,
            run_id,
            agent: agent.unwrap_or(&self.default_agent),
            now,
        };
        match self.policy.decide(&request) {
            Decision::Allow => {}
            Decision::Deny { reason, .. } => {
                let message = format!("denied by policy: {reason}");
                audit(
                    entry.name.clone(),
                    run_id,
                    AuditDecision::Denied { reason },
                    AuditOutcome::NotRun,
                );
                return error_result(message);
            }
            // 3. Approval. The seam for human approval: when approvals
            //    exist, this is where a call waits for (or checks) a grant
            //    bound to this exact call. Until then it does not run.
            Decision::RequireApproval { reason, .. } => {
                let message = format!(
                    "`{name}` needs a human's approval ({reason}), and this gateway cannot ask for one yet: do the task another way or ask the user"
                );
                audit(
                    entry.name.clone(),
                    run_id,
                    AuditDecision::ApprovalRequired { reason },
                    AuditOutcome::NotRun,
                );
                return error_result(message);
            }
        }

        // 4. The tool.
        let (result, outcome) = match self.run(invocation, run_id).await {
            Ok(result) => {
                let outcome = if result.is_error {
                    AuditOutcome::ToolError {
                        message: result.to_model_text(),
                    }
                } else {
                    AuditOutcome::Ok
                };
                (to_call_result(result), outcome)
            }
            Err(Failure::Tool(e)) => {
                let message = e.to_string();
                (
                    error_result(message.clone()),
                    AuditOutcome::ToolError { message },
                )
            }
            Err(Failure::Panicked) => {
                tracing::error!(
                    tool = name,
                    "tool panicked; the call ends in an error result"
                );
                let message = format!(
                    "`{name}` failed inside the gateway (a bug, now logged) and did not complete: try another way"
                );
                (error_result(message), AuditOutcome::Panicked)
            }
            Err(Failure::TimedOut) => {
                let message = format!(
                    "`{name}` took longer than {} s and was abandoned: try a smaller request",
                    self.call_timeout.as_secs_f64()
                );
                (error_result(message), AuditOutcome::TimedOut)
            }
        };

        // 5. Audit.
        audit(entry.name.clone(), run_id, AuditDecision::Allowed, outcome);
        result
    }

    async fn run(
        &self,
        invocation: Box<dyn Invocation>,
        run_id: Option<RunId>,
    ) -> Result<ToolResult, Failure> {
        let workspace = self.workspaces.for_run(run_id).map_err(Failure::Tool)?;
        let ctx = ToolContext { workspace };
        match invocation.execution() {
            Execution::Inline => {
                match std::panic::catch_unwind(AssertUnwindSafe(|| invocation.run(&ctx))) {
                    Ok(result) => result.map_err(Failure::Tool),
                    Err(_) => Err(Failure::Panicked),
                }
            }
            Execution::Blocking => {
                let task = tokio::task::spawn_blocking(move || invocation.run(&ctx));
                match tokio::time::timeout(self.call_timeout, task).await {
                    Ok(Ok(result)) => result.map_err(Failure::Tool),
                    Ok(Err(_join_error)) => Err(Failure::Panicked),
                    Err(_elapsed) => Err(Failure::TimedOut),
                }
            }
        }
    }
}

/// `_meta[RUN_ID]`: absent means the default workspace; anything but a
/// run id string is refused (it is never used as a path).
fn parse_run_id(value: Option<&Value>) -> Result<Option<RunId>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s
            .parse::<RunId>()
            .map(Some)
            .map_err(|e| format!("invalid run id in _meta[\"{}\"]: {e}", meta::RUN_ID)),
        Some(_) => Err(format!(
            "invalid run id in _meta[\"{}\"]: it must be a string holding a UUID",
            meta::RUN_ID
        )),
    }
}

/// `_meta[AGENT]`: absent means the gateway's default agent; otherwise a
/// name as config allows (letters, digits, `_`, `-`, `.`; 1–64 bytes).
fn parse_agent(value: Option<&Value>) -> Result<Option<&str>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s))
            if !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) =>
        {
            Ok(Some(s.as_str()))
        }
        Some(_) => Err(format!(
            "invalid agent in _meta[\"{}\"]: it must be an agent name (letters, digits, `_`, `-`, `.`)",
            meta::AGENT
        )),
    }
}

fn error_result(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

fn to_call_result(result: ToolResult) -> CallToolResult {
    let content = result.content.into_iter().map(to_block).collect();
    let mut out = if result.is_error {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    };
    out.structured_content = result.structured;
    out
}

fn to_block(content: Content) -> ContentBlock {
    match content {
        Content::Text { text } => ContentBlock::text(text),
        Content::Image { data, mime_type } => ContentBlock::image(data, mime_type),
        Content::Audio { data, mime_type } => ContentBlock::audio(data, mime_type),
        Content::Resource { resource } => ContentBlock::text(resource.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn run_ids_are_uuids_or_absent() {
        assert_eq!(parse_run_id(None), Ok(None));
        let id = RunId::new();
        assert_eq!(parse_run_id(Some(&json!(id.to_string()))), Ok(Some(id)));
        for bad in [json!("../../etc"), json!(""), json!(7), json!({"id": 1})] {
            let err = parse_run_id(Some(&bad)).unwrap_err();
            assert!(
                err.starts_with("invalid run id in _meta[\"dev.bureau/run_id\"]"),
                "{err}"
            );
        }
    }
}

#[cfg(test)]
mod bench {
    //! The pipeline alone, without MCP: `cargo test --release -p
    //! bureau-gateway --lib -- --ignored --nocapture pipeline_cost`.
    use std::sync::Arc;
    use std::time::Instant;

    use bureau_tools::{FilesToolset, Toolset};
    use serde_json::json;

    use super::*;
    use crate::{AllowList, GatewayConfig, MemoryAudit};

    fn run_meta(run: &Value) -> CallMeta<'_> {
        CallMeta {
            run_id: Some(run),
            agent: None,
        }
    }

    #[tokio::test(flavor = "current_thread")]
    #[ignore = "benchmark: run in release with --ignored --nocapture"]
    async fn pipeline_cost() {
        let dir = tempfile::tempdir().unwrap();
        let config = GatewayConfig::new(dir.path().join("runs"), dir.path().join("d"), vec![]);
        let files: Arc<dyn Toolset> = Arc::new(FilesToolset::default());
        let policy = Arc::new(AllowList::new(&["files.*".to_owned()]).unwrap());
        let audit = MemoryAudit::new();
        let pipeline = Pipeline {
            registry: Registry::new(vec![files.clone()], policy.as_ref()).unwrap(),
            policy,
            audit: audit.clone(),
            workspaces: Workspaces::new(&config).unwrap(),
            call_timeout: Duration::from_secs(30),
            default_agent: Arc::from("default"),
        };
        std::fs::write(dir.path().join("d/small.txt"), "hello world\n".repeat(10)).unwrap();
        let run = RunId::new();
        let run_value = json!(run.to_string());
        let n = 20_000;
        let args = json!({"path": "small.txt"});
        pipeline
            .call(
                "files.write",
                json!({"path": "small.txt", "content": "hello world\n".repeat(10)}),
                run_meta(&run_value),
            )
            .await;

        let ctx = ToolContext {
            workspace: pipeline.workspaces.for_run(Some(run)).unwrap(),
        };
        let t = Instant::now();
        for _ in 0..n {
            let inv = files.decode("files.read", &args).unwrap();
            assert!(!inv.run(&ctx).unwrap().is_error);
        }
        let bare = t.elapsed().as_secs_f64() * 1e6 / n as f64;

        let t = Instant::now();
        for _ in 0..n {
            let r = pipeline
                .call("files.read", args.clone(), run_meta(&run_value))
                .await;
            assert_eq!(r.is_error, Some(false));
        }
        let full = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        audit.take();

        let wargs = json!({"path": "w.txt", "content": "x".repeat(100)});
        let t = Instant::now();
        for _ in 0..n / 10 {
            let inv = files.decode("files.write", &wargs).unwrap();
            assert!(!inv.run(&ctx).unwrap().is_error);
        }
        let write = t.elapsed().as_secs_f64() * 1e6 / (n / 10) as f64;
        println!("files.write 100 B: tool alone (decode+run) {write:.2}µs");

        let t = Instant::now();
        for _ in 0..n {
            let _ = arguments_hash("files.read", &args);
        }
        let hash = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!(
            "files.read 120 B: tool alone (decode+run) {bare:.2}µs, through the pipeline {full:.2}µs, pipeline overhead {:.2}µs (of which arguments_hash {hash:.2}µs)",
            full - bare
        );
    }
}
