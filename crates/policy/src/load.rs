//! Loading policy files: parse, give each policy its id, check its
//! annotations, validate the whole set against the schema (strict), then
//! check every example the files carry. Only [`load`] does I/O.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;

use bureau_protocol::Decision;
use cedar_policy::{Effect, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use miette::Diagnostic;

use crate::engine::{APPROVAL, ID, Policies, REASON};
use crate::{PolicyError, Request};

/// Bureau's Cedar schema, embedded.
pub const SCHEMA: &str = include_str!("bureau.cedarschema");

/// Marks an example line in a policy file: `// example allow: {…}`.
const EXAMPLE: &str = "// example ";

/// Reads every `*.cedar` file in `dir` (not recursively, in name order)
/// and loads them as one set; see [`Policies::from_sources`].
pub fn load(dir: &Path) -> Result<Policies, PolicyError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PolicyError::ReadDir {
        dir: dir.to_owned(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| PolicyError::ReadDir {
                dir: dir.to_owned(),
                source,
            })?
            .path();
        if path.extension().is_some_and(|e| e == "cedar") && path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(PolicyError::NoPolicies {
            dir: dir.to_owned(),
        });
    }
    files.sort();
    let mut sources = Vec::with_capacity(files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| PolicyError::ReadFile {
            file: file.clone(),
            source,
        })?;
        let name = file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        sources.push((name, text));
    }
    Policies::from_sources(sources)
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(1, |before| {
        before.bytes().filter(|b| *b == b'\n').count() + 1
    })
}

/// The line of a diagnostic's first label, if it has one.
fn diag_line(d: &dyn Diagnostic, text: &str) -> usize {
    d.labels()
        .and_then(|mut labels| labels.next())
        .map_or(1, |l| line_of(text, l.offset()))
}

impl Policies {
    /// Loads policies from `(file name, text)` pairs: no I/O. Each policy's
    /// id is its `@id("…")` annotation, or `<file stem>.<n>` (its position
    /// in the file, from 0). Fails on the first problem, naming the file
    /// and line (or example).
    pub fn from_sources<N, T>(
        sources: impl IntoIterator<Item = (N, T)>,
    ) -> Result<Self, PolicyError>
    where
        N: Into<String>,
        T: Into<String>,
    {
        let (schema, _warnings) =
            Schema::from_cedarschema_str(SCHEMA).map_err(|e| PolicyError::Schema(e.to_string()))?;
        let sources: Vec<(String, String)> = sources
            .into_iter()
            .map(|(n, t)| (n.into(), t.into()))
            .collect();

        let mut set = PolicySet::new();
        let mut reasons = HashMap::new();
        let mut approval = HashSet::new();
        let mut files: HashMap<PolicyId, String> = HashMap::new();
        let mut texts: HashMap<PolicyId, usize> = HashMap::new();
        for (index, (file, text)) in sources.iter().enumerate() {
            let parsed = PolicySet::from_str(text).map_err(|e| PolicyError::Parse {
                file: file.clone(),
                line: diag_line(&e, text),
                message: e.to_string(),
            })?;
            if parsed.templates().next().is_some() {
                return Err(PolicyError::Template { file: file.clone() });
            }
            let stem = file.strip_suffix(".cedar").unwrap_or(file);
            let mut policies: Vec<_> = parsed.policies().collect();
            // Cedar names them policy0, policy1, … in file order.
            policies.sort_by_key(|p| {
                p.id()
                    .to_string()
                    .strip_prefix("policy")
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(usize::MAX)
            });
            for (n, policy) in policies.into_iter().enumerate() {
                let id = PolicyId::new(
                    policy
                        .annotation(ID)
                        .map_or_else(|| format!("{stem}.{n}"), str::to_owned),
                );
                let annotation_err = |message: String| PolicyError::Annotation {
                    file: file.clone(),
                    policy_id: id.to_string(),
                    message,
                };
                for (key, value) in policy.annotations() {
                    match key {
                        ID | REASON if value.trim().is_empty() => {
                            return Err(annotation_err(format!(
                                "`@{key}` is empty; give it a value such as @{key}(\"…\")"
                            )));
                        }
                        ID => {}
                        REASON => {
                            reasons.insert(id.clone(), value.to_owned());
                        }
                        APPROVAL if policy.effect() == Effect::Permit => {
                            return Err(annotation_err(
                                "`@approval` on a permit would let a human's approval grant what no policy permits; \
                                 write the permit without it and hold the call back with \
                                 `@approval forbid(…) unless { context.approved };`"
                                    .to_owned(),
                            ));
                        }
                        APPROVAL => {
                            approval.insert(id.clone());
                        }
                        other => {
                            return Err(annotation_err(format!(
                                "unknown annotation `@{other}`; use @id(\"…\"), @reason(\"…\") or @approval"
                            )));
                        }
                    }
                }
                if let Some(first) = files.get(&id) {
                    return Err(PolicyError::DuplicateId {
                        policy_id: id.to_string(),
                        first: first.clone(),
                        second: file.clone(),
                    });
                }
                files.insert(id.clone(), file.clone());
                texts.insert(id.clone(), index);
                set.add(policy.new_id(id.clone()))
                    .map_err(|e| PolicyError::Parse {
                        file: file.clone(),
                        line: 1,
                        message: e.to_string(),
                    })?;
            }
        }

        // Warnings are errors too: each one means a policy that can never
        // apply or text that can deceive a reviewer (mixed scripts, bidi).
        let validation = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
        let mut problems = validation
            .validation_errors()
            .map(|e| (e.policy_id(), e as &dyn Diagnostic))
            .chain(
                validation
                    .validation_warnings()
                    .map(|w| (w.policy_id(), w as &dyn Diagnostic)),
            );
        if let Some((id, problem)) = problems.next() {
            let (file, text) = texts
                .get(id)
                .and_then(|i| sources.get(*i))
                .map_or(("?", ""), |(f, t)| (f.as_str(), t.as_str()));
            return Err(PolicyError::Invalid {
                file: file.to_owned(),
                line: diag_line(problem, text),
                policy_id: id.to_string(),
                message: problem.to_string(),
            });
        }

        let policies = Policies::new(&schema, set, reasons, approval, files)?;
        for (file, text) in &sources {
            check_examples(&policies, file, text)?;
        }
        Ok(policies)
    }
}

/// The outcome an example expects.
fn outcome_name(d: &Decision) -> &'static str {
    match d {
        Decision::Allow => "allow",
        Decision::Deny { .. } => "deny",
        Decision::RequireApproval { .. } => "require_approval",
    }
}

/// Checks the `// example <outcome>: <request JSON>` lines of one file
/// against the whole loaded set.
fn check_examples(policies: &Policies, file: &str, text: &str) -> Result<(), PolicyError> {
    for (i, line) in text.lines().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix(EXAMPLE) else {
            continue;
        };
        let example = format!("{file}:{}", i + 1);
        let bad = |message: String| PolicyError::ExampleRequest {
            example: example.clone(),
            message,
        };
        let Some((expected, json)) = rest.split_once(':') else {
            return Err(bad(
                "write it as `// example allow: {…}` (or deny, require_approval)".to_owned(),
            ));
        };
        let expected = expected.trim();
        if !matches!(expected, "allow" | "deny" | "require_approval") {
            return Err(bad(format!(
                "`{expected}` is not an outcome; use allow, deny or require_approval"
            )));
        }
        let request = Request::from_json(json).map_err(|e| bad(e.to_string()))?;
        let judgement = policies.judge(&request).map_err(|e| bad(e.to_string()))?;
        let actual = outcome_name(&judgement.decision);
        if actual != expected {
            let detail = match &judgement.decision {
                Decision::Allow => String::new(),
                Decision::Deny { reason, .. } | Decision::RequireApproval { reason, .. } => {
                    format!(" ({reason})")
                }
            };
            return Err(PolicyError::ExampleFailed {
                example,
                expected: expected.to_owned(),
                actual: format!("{actual}{detail}"),
            });
        }
    }
    Ok(())
}
