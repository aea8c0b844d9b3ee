//! Deciding one request against loaded policies: pure, synchronous, no
//! I/O. What can be built once (schema, action entities and their
//! hierarchy, entity uids of actions) is built at load.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use bureau_protocol::Decision;
use cedar_policy::{
    AuthorizationError, Authorizer, Context, Effect, Entities, Entity, EntityId, EntityTypeName,
    EntityUid, PolicyId, PolicySet, RestrictedExpression, Schema,
};

use crate::PolicyError;
use crate::request::{
    ACTIONS, ActionSpec, EXTERNAL_ACTION, Request, Resource, ResourceKind, check_args,
};

/// Annotation keys policies may carry.
pub(crate) const ID: &str = "id";
pub(crate) const REASON: &str = "reason";
pub(crate) const APPROVAL: &str = "approval";

/// A loaded, validated policy set, ready to decide requests. Build it with
/// [`crate::load`] or [`Policies::from_sources`].
#[derive(Debug)]
pub struct Policies {
    pub(crate) set: PolicySet,
    /// The `@reason` of every policy that has one.
    pub(crate) reasons: HashMap<PolicyId, String>,
    /// Forbids annotated `@approval`.
    pub(crate) approval: HashSet<PolicyId>,
    /// Every policy's file, for explanations.
    pub(crate) files: HashMap<PolicyId, String>,
    cache: Cache,
    authorizer: Authorizer,
    /// Entity stores (action entities + the agent) by `(agent, user)`:
    /// building one costs more than the rest of a decision. Bounded; a
    /// memo, not state: a decision never depends on what is in it.
    stores: RwLock<HashMap<(String, String), Arc<Entities>>>,
    /// `datetime("…")` and `decimal("…")` expressions by argument: cedar
    /// re-parses the function's name each time one is built (~5 µs).
    extensions: RwLock<HashMap<(Extension, String), RestrictedExpression>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Extension {
    Datetime,
    Decimal,
}

/// How many entries each memo keeps before it is emptied and refilled.
const MAX_STORES: usize = 1024;

/// What is built once per policy set.
#[derive(Debug)]
struct Cache {
    /// Action entities with their groups (`Action::"read"`, …).
    actions: Entities,
    builtin: HashMap<&'static str, (EntityUid, &'static ActionSpec)>,
    external: EntityUid,
    agent: EntityTypeName,
    user: EntityTypeName,
    resource_types: [(ResourceKind, EntityTypeName); 4],
}

impl Cache {
    fn new(schema: &Schema) -> Result<Self, PolicyError> {
        let schema_err = |e: &dyn std::fmt::Display| PolicyError::Schema(e.to_string());
        let ty = |name: &str| EntityTypeName::from_str(name).map_err(|e| schema_err(&e));
        let action_ty = ty("Action")?;
        let action =
            |name: &str| EntityUid::from_type_name_and_id(action_ty.clone(), EntityId::new(name));
        let builtin = ACTIONS
            .iter()
            .map(|spec| (spec.name, (action(spec.name), spec)))
            .collect();
        Ok(Self {
            actions: schema.action_entities().map_err(|e| schema_err(&e))?,
            builtin,
            external: action(EXTERNAL_ACTION),
            agent: ty("Agent")?,
            user: ty("User")?,
            resource_types: [
                (ResourceKind::Workspace, ty("Workspace")?),
                (ResourceKind::Database, ty("Database")?),
                (ResourceKind::Bucket, ty("Bucket")?),
                (ResourceKind::Server, ty("Server")?),
            ],
        })
    }

    fn resource_type(&self, kind: ResourceKind) -> &EntityTypeName {
        // The array holds every kind, so the search always succeeds; the
        // fallback is never used.
        self.resource_types
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(&self.resource_types[0].1, |(_, t)| t)
    }
}

/// One request turned into Cedar's terms.
pub(crate) struct Prepared {
    principal: EntityUid,
    pub(crate) action: EntityUid,
    pub(crate) resource: EntityUid,
    entities: Arc<Entities>,
    context: Vec<(String, RestrictedExpression)>,
}

/// One Cedar evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub allowed: bool,
    /// Permits (when allowed) or forbids (when denied) that decided.
    pub deciding: Vec<PolicyId>,
    /// Policies that failed to evaluate, with the error.
    pub errors: Vec<(PolicyId, String)>,
}

/// A decision and how it was reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Judgement {
    pub decision: Decision,
    pub first: Outcome,
    /// The re-evaluation with `context.approved = true`, when one was made.
    pub recheck: Option<Outcome>,
}

impl Policies {
    pub(crate) fn new(
        schema: &Schema,
        set: PolicySet,
        reasons: HashMap<PolicyId, String>,
        approval: HashSet<PolicyId>,
        files: HashMap<PolicyId, String>,
    ) -> Result<Self, PolicyError> {
        Ok(Self {
            set,
            reasons,
            approval,
            files,
            cache: Cache::new(schema)?,
            authorizer: Authorizer::new(),
            stores: RwLock::new(HashMap::new()),
            extensions: RwLock::new(HashMap::new()),
        })
    }

    /// How many policies are loaded.
    pub fn len(&self) -> usize {
        self.set.policies().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Turns a request into Cedar's terms, checking its arguments.
    pub(crate) fn prepare(&self, req: &Request) -> Result<Prepared, PolicyError> {
        let c = &self.cache;
        let (action, resource, mut context) = match c.builtin.get(req.tool.as_str()) {
            Some((uid, spec)) => {
                let resource = match &req.resource {
                    Some(r) if r.kind() == spec.resource => r.clone(),
                    Some(r) => {
                        return Err(PolicyError::Request(format!(
                            "`{}` acts on a {} but the request names {} `{}`; give the {} it touches",
                            spec.name,
                            spec.resource.type_name(),
                            r.kind().type_name(),
                            r.id(),
                            spec.resource.type_name(),
                        )));
                    }
                    None => {
                        return Err(PolicyError::Request(format!(
                            "`{}` needs a resource: give the {} it touches",
                            spec.name,
                            spec.resource.type_name()
                        )));
                    }
                };
                check_args(spec.name, spec.args, &req.args)?;
                let mut context = Vec::with_capacity(spec.args.len() + 5);
                for (name, value) in &req.args {
                    let expr = match value {
                        serde_json::Value::Bool(b) => RestrictedExpression::new_bool(*b),
                        serde_json::Value::String(s) => RestrictedExpression::new_string(s.clone()),
                        // check_args admits only strings and booleans.
                        _ => continue,
                    };
                    context.push((name.clone(), expr));
                }
                (uid.clone(), resource, context)
            }
            None => {
                let Some((server, _)) = bureau_protocol::split_qualified(&req.tool) else {
                    return Err(PolicyError::Request(format!(
                        "tool `{}` is not a qualified name; name it `server.tool`",
                        req.tool
                    )));
                };
                let resource = Resource::Server(server.to_owned());
                if let Some(r) = &req.resource
                    && *r != resource
                {
                    return Err(PolicyError::Request(format!(
                        "`{}` is an external tool, so its resource is Server `{server}`, not {} `{}`; leave `resource` out",
                        req.tool,
                        r.kind().type_name(),
                        r.id()
                    )));
                }
                check_args(EXTERNAL_ACTION, &[], &req.args)?;
                let context = vec![(
                    "tool".to_owned(),
                    RestrictedExpression::new_string(req.tool.clone()),
                )];
                (c.external.clone(), resource, context)
            }
        };
        let untrusted = req
            .untrusted_args
            .iter()
            .map(|a| RestrictedExpression::new_string(a.clone()));
        context.extend([
            (
                "untrusted_args".to_owned(),
                RestrictedExpression::new_set(untrusted),
            ),
            (
                "args_from_tool_output".to_owned(),
                RestrictedExpression::new_bool(!req.untrusted_args.is_empty()),
            ),
            (
                "now".to_owned(),
                self.extension(Extension::Datetime, req.now.whole_seconds().to_string()),
            ),
            (
                "estimated_cost_usd".to_owned(),
                self.extension(Extension::Decimal, req.cost_decimal()?),
            ),
        ]);

        let principal =
            EntityUid::from_type_name_and_id(c.agent.clone(), EntityId::new(&req.agent));
        let entities = self.entities_for(req, &principal)?;
        let resource = EntityUid::from_type_name_and_id(
            c.resource_type(resource.kind()).clone(),
            EntityId::new(resource.id()),
        );
        Ok(Prepared {
            principal,
            action,
            resource,
            entities,
            context,
        })
    }

    /// A `datetime` or `decimal` constructor call on `arg`, from the memo.
    fn extension(&self, kind: Extension, arg: String) -> RestrictedExpression {
        let key = (kind, arg);
        if let Ok(memo) = self.extensions.read()
            && let Some(found) = memo.get(&key)
        {
            return found.clone();
        }
        let expr = match kind {
            Extension::Datetime => RestrictedExpression::new_datetime(&key.1),
            Extension::Decimal => RestrictedExpression::new_decimal(&key.1),
        };
        if let Ok(mut memo) = self.extensions.write() {
            if memo.len() >= MAX_STORES {
                memo.clear();
            }
            memo.insert(key, expr.clone());
        }
        expr
    }

    /// The action entities plus `Agent::"<agent>"` with its `user`.
    fn entities_for(
        &self,
        req: &Request,
        principal: &EntityUid,
    ) -> Result<Arc<Entities>, PolicyError> {
        let key = (req.agent.clone(), req.user.clone());
        if let Ok(stores) = self.stores.read()
            && let Some(found) = stores.get(&key)
        {
            return Ok(Arc::clone(found));
        }
        let c = &self.cache;
        let user = EntityUid::from_type_name_and_id(c.user.clone(), EntityId::new(&req.user));
        let agent = Entity::new(
            principal.clone(),
            HashMap::from([(
                "user".to_owned(),
                RestrictedExpression::new_entity_uid(user),
            )]),
            HashSet::new(),
        )
        .map_err(|e| PolicyError::Request(e.to_string()))?;
        let entities = Arc::new(
            c.actions
                .clone()
                .add_entities([agent], None)
                .map_err(|e| PolicyError::Request(e.to_string()))?,
        );
        // A poisoned lock only means the memo is not used.
        if let Ok(mut stores) = self.stores.write() {
            if stores.len() >= MAX_STORES {
                stores.clear();
            }
            stores.insert(key, Arc::clone(&entities));
        }
        Ok(entities)
    }

    fn run(&self, p: &Prepared, approved: bool) -> Result<Outcome, PolicyError> {
        let pairs = p.context.iter().cloned().chain([(
            "approved".to_owned(),
            RestrictedExpression::new_bool(approved),
        )]);
        let context =
            Context::from_pairs(pairs).map_err(|e| PolicyError::Request(e.to_string()))?;
        let request = cedar_policy::Request::new(
            p.principal.clone(),
            p.action.clone(),
            p.resource.clone(),
            context,
            None,
        )
        .map_err(|e| PolicyError::Request(e.to_string()))?;
        let response = self
            .authorizer
            .is_authorized(&request, &self.set, &p.entities);
        let mut deciding: Vec<PolicyId> = response.diagnostics().reason().cloned().collect();
        deciding.sort();
        let mut errors: Vec<(PolicyId, String)> = response
            .diagnostics()
            .errors()
            .map(|e| match e {
                AuthorizationError::PolicyEvaluationError(e) => {
                    (e.policy_id().clone(), e.inner().to_string())
                }
            })
            .collect();
        errors.sort();
        Ok(Outcome {
            allowed: response.decision() == cedar_policy::Decision::Allow,
            deciding,
            errors,
        })
    }

    fn is_forbid(&self, id: &PolicyId) -> bool {
        self.set
            .policy(id)
            .is_some_and(|p| p.effect() == Effect::Forbid)
    }

    /// Decides a request and says how. `Err` only when the request itself
    /// does not fit (unknown attributes, wrong resource, …).
    pub(crate) fn judge(&self, req: &Request) -> Result<Judgement, PolicyError> {
        let p = self.prepare(req)?;
        let first = self.run(&p, false)?;
        let (decision, recheck) = self.decide(req, &p, &first)?;
        Ok(Judgement {
            decision,
            first,
            recheck,
        })
    }

    /// The approval rule: a call needs approval only if it is denied now,
    /// every policy that denies it is an `@approval` forbid (and there is at
    /// least one), and it is allowed when re-evaluated with
    /// `context.approved = true`. Without the re-check an agent that no
    /// policy permits at all would read as "needs approval".
    fn decide(
        &self,
        req: &Request,
        p: &Prepared,
        first: &Outcome,
    ) -> Result<(Decision, Option<Outcome>), PolicyError> {
        // A forbid that fails to evaluate is skipped by Cedar; fail closed.
        if let Some(d) = self.broken_forbids(first) {
            return Ok((d, None));
        }
        if first.allowed {
            return Ok((Decision::Allow, None));
        }
        if first.deciding.is_empty() {
            return Ok((self.default_deny(req, p), None));
        }
        let hard: Vec<PolicyId> = first
            .deciding
            .iter()
            .filter(|id| !self.approval.contains(*id))
            .cloned()
            .collect();
        if !hard.is_empty() {
            // Approval would not lift these: name only them.
            let d = Decision::Deny {
                policy_ids: ids(&hard),
                reason: self.reason_of(&hard),
            };
            return Ok((d, None));
        }
        let again = self.run(p, true)?;
        let d = if let Some(d) = self.broken_forbids(&again) {
            d
        } else if again.allowed {
            Decision::RequireApproval {
                policy_ids: ids(&first.deciding),
                reason: self.reason_of(&first.deciding),
            }
        } else if again.deciding.is_empty() {
            // Approval would not help: nothing permits the call.
            self.default_deny(req, p)
        } else {
            Decision::Deny {
                policy_ids: ids(&again.deciding),
                reason: self.reason_of(&again.deciding),
            }
        };
        Ok((d, Some(again)))
    }

    fn broken_forbids(&self, o: &Outcome) -> Option<Decision> {
        let broken: Vec<&(PolicyId, String)> = o
            .errors
            .iter()
            .filter(|(id, _)| self.is_forbid(id))
            .collect();
        let (first_id, first_err) = broken.first()?;
        Some(Decision::Deny {
            policy_ids: broken.iter().map(|(id, _)| id.to_string()).collect(),
            reason: format!(
                "forbid policy `{first_id}` failed to evaluate ({first_err}), so the call is denied; fix the policy"
            ),
        })
    }

    fn default_deny(&self, req: &Request, p: &Prepared) -> Decision {
        Decision::Deny {
            policy_ids: Vec::new(),
            reason: format!(
                "no policy permits agent `{}` to call `{}` on {}; ask the operator for a policy that permits it",
                req.agent, req.tool, p.resource
            ),
        }
    }

    fn reason_of(&self, deciding: &[PolicyId]) -> String {
        let parts: Vec<String> = deciding
            .iter()
            .map(|id| match self.reasons.get(id) {
                Some(r) => r.clone(),
                None => format!("forbidden by policy `{id}`"),
            })
            .collect();
        parts.join("; ")
    }
}

fn ids(v: &[PolicyId]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

/// Decides one call. Default deny: a request that does not fit the schema,
/// or that no policy permits, is denied with a reason saying what to do.
pub fn evaluate(policies: &Policies, request: &Request) -> Decision {
    match policies.judge(request) {
        Ok(j) => j.decision,
        Err(e) => Decision::Deny {
            policy_ids: Vec::new(),
            reason: e.to_string(),
        },
    }
}
