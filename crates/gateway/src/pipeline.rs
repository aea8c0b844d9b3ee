//! The one path every `tools/call` takes: decode → policy → approval →
//! tool → audit. Every way a call can end is a `CallToolResult` (an
//! `isError: true` one for refusals and failures) and exactly one audit event.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bureau_protocol::{
    ApprovalId, Content, Decision, RunId, ToolCall, ToolCallId, ToolResult, arguments_hash, meta,
};
use bureau_store::{ApprovalRequest, Approvals, CallBinding, Refusal};
use bureau_tools::{Access, Execution, Invocation, PolicyFacts, Resource, ToolContext, ToolError};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use serde_json::Value;
use tracing::Instrument;

use crate::audit::{AuditDecision, AuditEvent, AuditOutcome, AuditSink};
use crate::policy::{CallRequest, Policy};
use crate::registry::{Registry, Source};
use crate::{Snapshots, UPSTREAM_FAILURE, Upstream};

/// A decoded call's work.
enum Work {
    Builtin(Box<dyn Invocation>),
    Upstream(Arc<dyn Upstream>),
}
use crate::workspaces::Workspaces;

pub(crate) struct Pipeline {
    pub(crate) registry: Registry,
    pub(crate) policy: Arc<dyn Policy>,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) workspaces: Workspaces,
    pub(crate) call_timeout: Duration,
    /// The agent of calls whose `_meta` names none.
    pub(crate) default_agent: Arc<str>,
    /// Where held calls wait for a human; `None`: held calls are refused.
    pub(crate) approvals: Option<Approvals>,
    /// Where workspace snapshots go; `None`: workspaces are folders only.
    pub(crate) snapshots: Option<Arc<dyn Snapshots>>,
}

/// What a call's `_meta` says about it (set by the control plane, never by
/// the model; raw values, validated here).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CallMeta<'a> {
    pub(crate) idempotency_key: Option<&'a Value>,
    pub(crate) run_id: Option<&'a Value>,
    pub(crate) agent: Option<&'a Value>,
    pub(crate) approval_id: Option<&'a Value>,
    pub(crate) untrusted_args: Option<&'a Value>,
}

impl<'a> CallMeta<'a> {
    /// The values passed on to upstream servers.
    fn forward(&self, key: &str) -> Option<&'a Value> {
        match key {
            meta::RUN_ID => self.run_id,
            meta::IDEMPOTENCY_KEY => self.idempotency_key,
            _ => None,
        }
    }

    /// Reads the keys from `_meta` objects, the first that has each.
    pub(crate) fn from_maps(maps: &[Option<&'a serde_json::Map<String, Value>>]) -> Self {
        let get = |key: &str| maps.iter().flatten().find_map(|m| m.get(key));
        Self {
            idempotency_key: get(meta::IDEMPOTENCY_KEY),
            run_id: get(meta::RUN_ID),
            agent: get(meta::AGENT),
            approval_id: get(meta::APPROVAL_ID),
            untrusted_args: get(meta::UNTRUSTED_ARGS),
        }
    }
}

/// How running a tool ended, short of a result.
enum Failure {
    Tool(ToolError),
    /// An upstream server did not answer.
    Upstream(String),
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
        let mut audit = Audit {
            sink: self.audit.as_ref(),
            started,
            tool: Arc::from(name),
            arguments_hash: arguments_hash(name, &arguments),
            run_id: None,
            agent: None,
            policy_ids: Vec::new(),
            approval_id: None,
        };

        // 1. Decode: a tool that exists, meta values that are what they
        //    claim, arguments that fit the tool's schema.
        let ids = parse_run_id(meta.run_id).and_then(|run| {
            let agent = parse_agent(meta.agent)?;
            let approval = parse_approval_id(meta.approval_id)?;
            let untrusted = parse_untrusted_args(meta.untrusted_args)?;
            Ok((run, agent, approval, untrusted))
        });
        if let Ok((run, ..)) = &ids {
            audit.run_id = *run;
        }
        let Some(entry) = self.registry.get(name) else {
            let message = format!(
                "unknown tool `{name}`: this gateway offers {}",
                self.registry.listed_names()
            );
            return audit.reject(message);
        };
        audit.tool = entry.name.clone();
        let (run_id, agent, approval_id, untrusted_args) = match ids {
            Ok(ids) => ids,
            Err(message) => return audit.reject(message),
        };
        let agent: Arc<str> = agent.map_or_else(|| self.default_agent.clone(), Arc::from);
        audit.agent = Some(agent.clone());
        let (work, facts) = match &entry.source {
            Source::Builtin(toolset) => match toolset.decode(name, &arguments) {
                Ok(invocation) => {
                    let facts = invocation.facts();
                    (Work::Builtin(invocation), facts)
                }
                Err(e) => return audit.reject(e.to_string()),
            },
            // The upstream server checks its own arguments; an object is
            // all MCP asks of them here.
            Source::Upstream(up) => match &arguments {
                Value::Object(_) => (Work::Upstream(up.clone()), PolicyFacts::default()),
                _ => {
                    return audit.reject(format!(
                        "invalid arguments for `{name}`: arguments must be a JSON object"
                    ));
                }
            },
        };

        // 2. Policy.
        let request = CallRequest {
            tool: &entry.def,
            arguments: &arguments,
            facts: &facts,
            run_id,
            agent: &agent,
            untrusted_args: &untrusted_args,
            now,
        };
        let policy_span = crate::spans::policy();
        let decision = policy_span.in_scope(|| self.policy.decide(&request));
        crate::spans::decided(&policy_span, &decision);
        drop(policy_span);
        match decision {
            Decision::Allow => {}
            Decision::Deny { policy_ids, reason } => {
                audit.policy_ids = policy_ids;
                let message = format!("denied by policy: {reason}");
                audit.record(AuditDecision::Denied { reason }, AuditOutcome::NotRun);
                return error_result(message);
            }
            // 3. Approval: the call runs only on a grant a human signed for
            //    exactly this call; otherwise it is held and the run pauses.
            Decision::RequireApproval { policy_ids, reason } => {
                audit.policy_ids = policy_ids.clone();
                let binding = CallBinding {
                    run_id,
                    agent: agent.to_string(),
                    tool: name.to_owned(),
                    arguments_hash: audit.arguments_hash.clone(),
                };
                let approval_span = crate::spans::approval();
                let approved = approval_span.in_scope(|| {
                    self.approve(approval_id, binding, &arguments, policy_ids, &reason, now)
                });
                let (outcome, id) = approval_outcome(&approved);
                crate::spans::approval_done(&approval_span, outcome, id);
                drop(approval_span);
                match approved {
                    Ok(id) => audit.approval_id = Some(id),
                    Err(held) => {
                        let Held {
                            result,
                            id,
                            decision,
                        } = *held;
                        audit.approval_id = id;
                        audit.record(decision, AuditOutcome::NotRun);
                        return result;
                    }
                }
            }
        }

        // 4. The tool.
        let tool_span = crate::spans::tool(name);
        let ran = match work {
            Work::Builtin(invocation) => {
                let writes = entry.def.needs.iter().any(|n| {
                    n.access == Access::Write
                        && matches!(n.resource, Resource::Workspace | Resource::Sandbox)
                });
                let step = meta
                    .idempotency_key
                    .and_then(Value::as_str)
                    .and_then(|k| k.rsplit_once(':'))
                    .and_then(|(_, seq)| seq.parse().ok());
                self.run(invocation, run_id, writes.then_some((name, step)))
                    .instrument(tool_span.clone())
                    .await
            }
            Work::Upstream(up) => {
                let call = ToolCall {
                    id: ToolCallId::new("gateway"),
                    name: name.to_owned(),
                    arguments,
                };
                let mut forward = serde_json::Map::new();
                for key in [meta::RUN_ID, meta::IDEMPOTENCY_KEY] {
                    if let Some(v) = meta.forward(key) {
                        forward.insert(key.to_owned(), v.clone());
                    }
                }
                // The trace goes on to the upstream server.
                tool_span.in_scope(|| bureau_telemetry::inject_current(&mut forward));
                up.call(&call, &forward)
                    .instrument(tool_span.clone())
                    .await
                    .map_err(Failure::Upstream)
            }
        };
        match &ran {
            Ok(r) if r.is_error => crate::spans::tool_failed(&tool_span, "tool_error"),
            Ok(_) => {}
            Err(Failure::Tool(_)) => crate::spans::tool_failed(&tool_span, "tool_error"),
            Err(Failure::Upstream(_)) => crate::spans::tool_failed(&tool_span, "upstream_failure"),
            Err(Failure::Panicked) => crate::spans::tool_failed(&tool_span, "panicked"),
            Err(Failure::TimedOut) => crate::spans::tool_failed(&tool_span, "timed_out"),
        }
        drop(tool_span);
        let (result, outcome) = match ran {
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
            Err(Failure::Upstream(message)) => {
                let mut result = error_result(format!(
                    "`{name}` could not be reached: {message}; try again later or use another tool"
                ));
                result.structured_content = Some(serde_json::json!({ UPSTREAM_FAILURE: true }));
                (result, AuditOutcome::ToolError { message })
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
        audit.record(AuditDecision::Allowed, outcome);
        result
    }

    /// The approval step for a call policy holds. `Ok`: a valid grant was
    /// presented and is now spent. `Err`: the call does not run, with the
    /// result the client gets and what to audit.
    fn approve(
        &self,
        presented: Option<ApprovalId>,
        binding: CallBinding,
        arguments: &Value,
        policy_ids: Vec<String>,
        reason: &str,
        now: std::time::SystemTime,
    ) -> Result<ApprovalId, Box<Held>> {
        let Some(approvals) = &self.approvals else {
            return Err(Box::new(Held {
                result: error_result(format!(
                    "`{}` needs a human's approval ({reason}), and this gateway cannot ask for one: do the task another way or ask the user",
                    binding.tool
                )),
                id: None,
                decision: AuditDecision::ApprovalRequired {
                    reason: reason.to_owned(),
                },
            }));
        };
        let now_ms = unix_ms(now);
        let store_failed = |e: bureau_store::StoreError, id| {
            tracing::error!(error = %e, "the approval store failed; the call is not run");
            Box::new(Held {
                result: error_result(format!(
                    "`{}` needs a human's approval and the approval store failed ({e}); the call was not run",
                    binding.tool
                )),
                id,
                decision: AuditDecision::Denied {
                    reason: format!("approval store failed: {e}"),
                },
            })
        };
        if let Some(id) = presented {
            match approvals.redeem(id, &binding, now_ms) {
                Ok(Ok(_)) => return Ok(id),
                // Still waiting: hold again under the same id.
                Ok(Err(Refusal::Pending(_))) => return Err(held(id, &binding.tool, reason)),
                Ok(Err(refusal)) => {
                    let message = refusal.to_string();
                    return Err(Box::new(Held {
                        result: error_result(message.clone()),
                        id: Some(id),
                        decision: AuditDecision::Denied { reason: message },
                    }));
                }
                Err(e) => return Err(store_failed(e, Some(id))),
            }
        }
        let id = ApprovalId::new();
        let request = ApprovalRequest {
            id,
            binding: binding.clone(),
            arguments: canonical_arguments(arguments),
            reason: reason.to_owned(),
            policy_ids,
            created_at_ms: now_ms,
        };
        if let Err(e) = approvals.request(&request) {
            return Err(store_failed(e, None));
        }
        Err(held(id, &binding.tool, reason))
    }

    /// Runs a built-in tool in the run's workspace. `commit`: the tool may
    /// change the workspace (its name and step), so a snapshot follows.
    async fn run(
        &self,
        invocation: Box<dyn Invocation>,
        run_id: Option<RunId>,
        commit: Option<(&str, Option<u64>)>,
    ) -> Result<ToolResult, Failure> {
        let (workspace, first_open) = self.workspaces.open(run_id).map_err(Failure::Tool)?;
        let snapshots = self.snapshots.clone();
        let ws_id = run_id.map_or_else(|| "default".to_owned(), |r| r.to_string());
        if let (Some(snap), Some(_), true) = (&snapshots, run_id, first_open) {
            let (snap, ws, id) = (snap.clone(), workspace.clone(), ws_id.clone());
            let hydrated = tokio::task::spawn_blocking(move || {
                let empty = std::fs::read_dir(ws.path())
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false);
                if empty {
                    snap.hydrate(&id, ws.path())
                } else {
                    Ok(())
                }
            })
            .await;
            if let Ok(Err(e)) | Err(e) = hydrated.map_err(|e| e.to_string()) {
                tracing::error!(error = %e, "cannot restore the workspace from its snapshot");
                return Ok(ToolResult::error(format!(
                    "the run's workspace could not be restored from its last snapshot ({e}); nothing was run: try again"
                )));
            }
        }
        let result = self.run_tool(invocation, workspace.clone()).await?;
        if let (Some(snap), Some((tool, step))) = (snapshots, commit) {
            let tool = tool.to_owned();
            let span = crate::spans::snapshot(&tool);
            let committed = tokio::task::spawn_blocking(move || {
                snap.commit(&ws_id, workspace.path(), run_id, step, &tool)
            })
            .instrument(span)
            .await;
            match committed {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot snapshot the workspace");
                    return Ok(with_warning(result, &e));
                }
                Err(e) => {
                    tracing::error!(error = %e, "the snapshot task failed");
                    return Ok(with_warning(result, &e.to_string()));
                }
            }
        }
        Ok(result)
    }

    async fn run_tool(
        &self,
        invocation: Box<dyn Invocation>,
        workspace: Arc<bureau_tools::Workspace>,
    ) -> Result<ToolResult, Failure> {
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

/// A result whose workspace snapshot failed: the work happened, but the
/// next step elsewhere may not see it. Said plainly to the model.
fn with_warning(mut result: ToolResult, error: &str) -> ToolResult {
    result.content.push(Content::Text {
        text: format!("warning: the workspace could not be snapshotted ({error}); its changes are on this machine only"),
    });
    result
}

/// The result of a held call: an error the model can read, and the
/// approval id in structured content for the control plane.
fn held(id: ApprovalId, tool: &str, reason: &str) -> Box<Held> {
    let mut result = error_result(format!(
        "`{tool}` is held for a human's approval ({reason}); approval id {id}. The run pauses until someone approves or denies it."
    ));
    result.structured_content = Some(serde_json::json!({
        meta::APPROVAL_REQUIRED: {"id": id.to_string(), "reason": reason}
    }));
    Box::new(Held {
        result,
        id: Some(id),
        decision: AuditDecision::ApprovalRequired {
            reason: reason.to_owned(),
        },
    })
}

/// `granted`, `held` or `refused`, and the approval id, for the span.
fn approval_outcome(approved: &Result<ApprovalId, Box<Held>>) -> (&'static str, Option<String>) {
    match approved {
        Ok(id) => ("granted", Some(id.to_string())),
        Err(h) => match h.decision {
            AuditDecision::Denied { .. } => ("refused", h.id.map(|id| id.to_string())),
            _ => ("held", h.id.map(|id| id.to_string())),
        },
    }
}

struct Held {
    result: CallToolResult,
    id: Option<ApprovalId>,
    decision: AuditDecision,
}

/// What one call's audit event says so far; recorded exactly once.
struct Audit<'a> {
    sink: &'a dyn AuditSink,
    started: Instant,
    tool: Arc<str>,
    arguments_hash: String,
    run_id: Option<RunId>,
    agent: Option<Arc<str>>,
    policy_ids: Vec<String>,
    approval_id: Option<ApprovalId>,
}

impl Audit<'_> {
    fn record(self, decision: AuditDecision, outcome: AuditOutcome) {
        self.sink.record(AuditEvent {
            tool: self.tool,
            arguments_hash: self.arguments_hash,
            run_id: self.run_id,
            agent: self.agent,
            decision,
            policy_ids: self.policy_ids,
            approval_id: self.approval_id,
            outcome,
            duration: self.started.elapsed(),
        });
    }

    /// Refused before policy: unknown tool, bad meta, bad arguments.
    fn reject(self, message: String) -> CallToolResult {
        let result = error_result(message.clone());
        self.record(
            AuditDecision::Rejected { reason: message },
            AuditOutcome::NotRun,
        );
        result
    }
}

fn canonical_arguments(arguments: &Value) -> Value {
    serde_json::from_str(&bureau_protocol::canonical_json(arguments)).unwrap_or(Value::Null)
}

pub(crate) fn unix_ms(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `_meta[APPROVAL_ID]`: an approval id string, or absent.
fn parse_approval_id(value: Option<&Value>) -> Result<Option<ApprovalId>, String> {
    let parsed = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.parse::<ApprovalId>().ok(),
        Some(_) => None,
    };
    parsed.map(Some).ok_or_else(|| {
        format!(
            "invalid approval id in _meta[\"{}\"]: it must be a string holding a UUID",
            meta::APPROVAL_ID
        )
    })
}

/// `_meta[UNTRUSTED_ARGS]`: an array of argument names, or absent.
fn parse_untrusted_args(value: Option<&Value>) -> Result<Vec<String>, String> {
    let invalid = || {
        format!(
            "invalid _meta[\"{}\"]: it must be an array of at most 256 argument names",
            meta::UNTRUSTED_ARGS
        )
    };
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= 256 => items
            .iter()
            .map(|v| match v {
                Value::String(s) if !s.is_empty() && s.len() <= 256 => Ok(s.clone()),
                _ => Err(invalid()),
            })
            .collect(),
        Some(_) => Err(invalid()),
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
            idempotency_key: None,
            run_id: Some(run),
            agent: None,
            approval_id: None,
            untrusted_args: None,
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
            registry: Registry::new(vec![files.clone()], None, policy.as_ref()).unwrap(),
            policy,
            audit: audit.clone(),
            workspaces: Workspaces::new(&config).unwrap(),
            call_timeout: Duration::from_secs(30),
            default_agent: Arc::from("default"),
            approvals: None,
            snapshots: None,
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
