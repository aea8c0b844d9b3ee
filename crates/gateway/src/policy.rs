//! The policy step of the pipeline, behind a small trait: the allow-list
//! of tool names (the embedded default) or Cedar policies
//! ([`CedarPolicy`], `bureau-policy`).

use std::time::SystemTime;

use bureau_policy::{Policies, Request, Resource as PolicyResource, Timestamp};
use bureau_protocol::{Decision, RunId};
use bureau_tools::{PolicyFacts, Resource, ToolDef};
use serde_json::Value;

use crate::GatewayError;

/// A decoded call, as policy sees it.
#[derive(Clone, Copy, Debug)]
pub struct CallRequest<'a> {
    /// The tool's definition: name, schema and what it needs.
    pub tool: &'a ToolDef,
    /// The arguments, already checked against the tool's schema.
    pub arguments: &'a Value,
    /// What the decoded call tells policy (resource id, attributes).
    pub facts: &'a PolicyFacts,
    /// The run the call belongs to; `None` for the default workspace.
    pub run_id: Option<RunId>,
    /// The agent the call is made for (from the control plane's `_meta`,
    /// else the gateway's default agent).
    pub agent: &'a str,
    /// Names of arguments whose values came from tool output (the control
    /// plane's provenance, from `_meta`).
    pub untrusted_args: &'a [String],
    /// When the call arrived (policies see it as `context.now`).
    pub now: SystemTime,
}

/// Decides calls. Pure and synchronous: no I/O, no clock reads (the time
/// is in the request). `Deny` reasons are shown to the model after
/// "denied by policy: ".
pub trait Policy: Send + Sync + 'static {
    fn decide(&self, request: &CallRequest<'_>) -> Decision;

    /// False when no call of `tool` could ever be allowed; such tools are
    /// left out of `tools/list` (calls to them are still decided and
    /// audited). The default lists every tool.
    fn may_allow(&self, tool: &ToolDef) -> bool {
        let _ = tool;
        true
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    Any,
    Exact(String),
    Prefix(String),
}

impl Pattern {
    fn parse(raw: &str) -> Result<Self, GatewayError> {
        let invalid = |reason| GatewayError::InvalidPattern {
            pattern: raw.to_owned(),
            reason,
        };
        if raw.is_empty() {
            return Err(invalid(
                "it is empty; use a tool name such as `files.read`, `files.*` or `*`",
            ));
        }
        if raw == "*" {
            return Ok(Pattern::Any);
        }
        match raw.strip_suffix('*') {
            Some(prefix) if !prefix.contains('*') => Ok(Pattern::Prefix(prefix.to_owned())),
            _ if raw.contains('*') => Err(invalid(
                "`*` may only end a pattern; use a prefix such as `files.*` or an exact tool name",
            )),
            _ => Ok(Pattern::Exact(raw.to_owned())),
        }
    }

    fn matches(&self, tool: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(name) => name == tool,
            Pattern::Prefix(prefix) => tool.starts_with(prefix.as_str()),
        }
    }
}

/// The gateway's first policy: tool-name patterns, default deny.
#[derive(Clone, Debug)]
pub struct AllowList {
    patterns: Vec<Pattern>,
    /// The patterns as configured, for deny messages.
    shown: String,
}

impl AllowList {
    /// Parses `patterns` (see [`crate::GatewayConfig::allowed_tools`]).
    pub fn new(patterns: &[String]) -> Result<Self, GatewayError> {
        let parsed = patterns
            .iter()
            .map(|p| Pattern::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        let shown = if patterns.is_empty() {
            "none".to_owned()
        } else {
            patterns.join(", ")
        };
        Ok(Self {
            patterns: parsed,
            shown,
        })
    }

    /// Checks every pattern against the tools that exist, so a typo in
    /// configuration fails at start-up instead of silently denying.
    pub fn check_against<'a>(
        &self,
        tools: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<(), GatewayError> {
        for pattern in &self.patterns {
            if !tools.clone().into_iter().any(|t| pattern.matches(t)) {
                let raw = match pattern {
                    Pattern::Any => "*".to_owned(),
                    Pattern::Exact(n) => n.clone(),
                    Pattern::Prefix(p) => format!("{p}*"),
                };
                let available = tools.clone().into_iter().collect::<Vec<_>>().join(", ");
                return Err(GatewayError::PatternMatchesNothing {
                    pattern: raw,
                    available,
                });
            }
        }
        Ok(())
    }

    fn allows(&self, tool: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(tool))
    }
}

impl Policy for AllowList {
    fn decide(&self, request: &CallRequest<'_>) -> Decision {
        let name = request.tool.spec.name.as_str();
        if self.allows(name) {
            Decision::Allow
        } else {
            Decision::Deny {
                policy_ids: Vec::new(),
                reason: format!(
                    "`{name}` is not among this gateway's allowed tools ({}); do the task with the allowed tools or ask the user to allow `{name}`",
                    self.shown
                ),
            }
        }
    }

    fn may_allow(&self, tool: &ToolDef) -> bool {
        self.allows(&tool.spec.name)
    }
}

/// Cedar policies (`bureau-policy`): default deny, `@approval` holds.
///
/// Each call becomes a [`Request`]: principal the agent (acting for
/// `user`), action the tool, resource from what the tool needs — the run's
/// workspace (`default` without a run), or the database or bucket its
/// arguments name — and the decoded call's attributes as context.
#[derive(Clone, Debug)]
pub struct CedarPolicy {
    policies: std::sync::Arc<Policies>,
    user: String,
}

impl CedarPolicy {
    pub fn new(policies: std::sync::Arc<Policies>, user: impl Into<String>) -> Self {
        Self {
            policies,
            user: user.into(),
        }
    }

    /// The request Cedar decides for `call` (also what `bureau policy
    /// check` takes, for explaining a gateway decision).
    pub fn request(&self, call: &CallRequest<'_>) -> Request {
        let resource = policy_resource(call);
        Request {
            resource,
            args: call.facts.attributes.clone(),
            untrusted_args: call.untrusted_args.iter().cloned().collect(),
            now: Timestamp::from_system_time(call.now),
            ..Request::new(call.agent, self.user.as_str(), call.tool.spec.name.as_str())
        }
    }
}

fn policy_resource(call: &CallRequest<'_>) -> Option<PolicyResource> {
    // A tool that declares no needs is another server's: policy makes it
    // `Server::"<server>"` itself.
    let kind = call.tool.needs.first()?.resource;
    let named = || call.facts.resource.clone().unwrap_or_default();
    Some(match kind {
        Resource::Database => PolicyResource::Database(named()),
        Resource::Bucket => PolicyResource::Bucket(named()),
        Resource::Workspace | Resource::Sandbox => PolicyResource::Workspace(
            call.run_id
                .map_or_else(|| "default".to_owned(), |r| r.to_string()),
        ),
    })
}

impl Policy for CedarPolicy {
    fn decide(&self, call: &CallRequest<'_>) -> Decision {
        bureau_policy::evaluate(&self.policies, &self.request(call))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(p: &[&str]) -> Result<AllowList, GatewayError> {
        AllowList::new(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn patterns_match_exact_prefix_and_any() {
        let l = list(&["files.read", "sql.*"]).unwrap();
        assert!(l.allows("files.read"));
        assert!(!l.allows("files.write"));
        assert!(!l.allows("files.read2"));
        assert!(l.allows("sql.query"));
        assert!(list(&["*"]).unwrap().allows("anything"));
        assert!(!list(&[]).unwrap().allows("files.read"), "default deny");
    }

    #[test]
    fn bad_patterns_are_refused_with_a_fix() {
        for p in ["", "files.*.x", "*.read", "f*s*"] {
            let err = list(&[p]).unwrap_err();
            assert!(
                matches!(err, GatewayError::InvalidPattern { .. }),
                "{p}: {err}"
            );
        }
        let l = list(&["files.raed"]).unwrap();
        let err = l.check_against(["files.read", "files.write"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "allowed tool pattern `files.raed` matches no tool this gateway offers (files.read, files.write): fix the name or remove it"
        );
        assert!(
            list(&["files.*", "*"])
                .unwrap()
                .check_against(["files.read"])
                .is_ok()
        );
    }
}
