//! Why a request gets the decision it gets, for `bureau policy check`.

use std::fmt;

use bureau_protocol::Decision;

use crate::engine::{Judgement, Outcome, Policies};
use crate::{PolicyError, Request};

/// A decision with how it was reached; `Display` prints it for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    pub decision: Decision,
    /// `Agent::"…"`, `Action::"…"`, `Resource::"…"` as Cedar saw them, when
    /// the request fitted the schema.
    pub principal: Option<String>,
    pub action: Option<String>,
    pub resource: Option<String>,
    /// Each line: one policy that mattered, with its file and role.
    pub steps: Vec<String>,
}

/// Explains the decision [`crate::evaluate`] makes for `request` (the
/// same decision, always).
pub fn explain(policies: &Policies, request: &Request) -> Explanation {
    match policies.judge(request) {
        Ok(j) => from_judgement(policies, request, j),
        Err(e) => Explanation {
            decision: Decision::Deny {
                policy_ids: Vec::new(),
                reason: e.to_string(),
            },
            principal: None,
            action: None,
            resource: None,
            steps: vec!["the request does not fit the schema, so it is denied".to_owned()],
        },
    }
}

/// For the CLI: parses request JSON text and explains its decision. A
/// request that is not valid JSON of the documented shape, or whose
/// arguments do not fit its action, is an error here (and a deny in
/// [`crate::evaluate`]).
pub fn explain_json(policies: &Policies, request_json: &str) -> Result<Explanation, PolicyError> {
    let request = Request::from_json(request_json)?;
    let judgement = policies.judge(&request)?;
    Ok(from_judgement(policies, &request, judgement))
}

fn from_judgement(policies: &Policies, request: &Request, j: Judgement) -> Explanation {
    let mut steps = Vec::new();
    describe(policies, &j.first, "", &mut steps);
    if let Some(again) = &j.recheck {
        describe(policies, again, "with approval: ", &mut steps);
    }
    if j.first.deciding.is_empty() && !j.first.allowed {
        steps.push("no permit matched: default deny".to_owned());
    }
    let (principal, action, resource) = match policies.prepare(request) {
        Ok(p) => (
            Some(format!(r#"Agent::"{}""#, request.agent)),
            Some(p.action.to_string()),
            Some(p.resource.to_string()),
        ),
        Err(_) => (None, None, None),
    };
    Explanation {
        decision: j.decision,
        principal,
        action,
        resource,
        steps,
    }
}

fn describe(policies: &Policies, o: &Outcome, prefix: &str, steps: &mut Vec<String>) {
    let role = if o.allowed { "permits" } else { "forbids" };
    for id in &o.deciding {
        let file = policies.files.get(id).map_or("?", String::as_str);
        let mut line = format!("{prefix}`{id}` ({file}) {role}");
        if policies.approval.contains(id) {
            line.push_str(" unless approved");
        }
        if let Some(reason) = policies.reasons.get(id) {
            line.push_str(&format!(": {reason}"));
        }
        steps.push(line);
    }
    for (id, err) in &o.errors {
        steps.push(format!("{prefix}`{id}` failed to evaluate: {err}"));
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.decision {
            Decision::Allow => writeln!(f, "decision: allow")?,
            Decision::Deny { policy_ids, reason } => {
                writeln!(f, "decision: deny")?;
                writeln!(f, "reason: {reason}")?;
                if !policy_ids.is_empty() {
                    writeln!(f, "policies: {}", policy_ids.join(", "))?;
                }
            }
            Decision::RequireApproval { policy_ids, reason } => {
                writeln!(f, "decision: require approval")?;
                writeln!(f, "reason: {reason}")?;
                writeln!(f, "policies: {}", policy_ids.join(", "))?;
            }
        }
        if let (Some(p), Some(a), Some(r)) = (&self.principal, &self.action, &self.resource) {
            writeln!(f, "request: principal {p}, action {a}, resource {r}")?;
        }
        for step in &self.steps {
            writeln!(f, "  - {step}")?;
        }
        Ok(())
    }
}
