//! `[agents.NAME]` tables: model references, prompts, tool patterns and guardrails.

use std::collections::BTreeMap;

use crate::error::ConfigError;
use crate::locate::KeyPath;
use crate::mcp::resolve;
use crate::names::is_valid_name;
use crate::raw::{RawAgent, RawOnExhausted};
use crate::types::{
    AgentConfig, CircuitBreakerConfig, ModelConfig, OnExhausted, Provider, RetrySection, ToolRetry,
};
use crate::validate::Checker;

pub(crate) fn check_agent(
    name: &str,
    raw: RawAgent,
    models: &BTreeMap<String, ModelConfig>,
    cx: &Checker<'_>,
) -> Result<AgentConfig, ConfigError> {
    let path = KeyPath::root("agents").key(name);
    if !is_valid_name(name) {
        return Err(cx.invalid(
            &path,
            "is not a valid agent name: use letters, digits, `_` and `-`; rename it",
        ));
    }
    let d = AgentConfig::default();
    let model = match raw.model {
        Some(m) => Some(check_model_ref(name, &m, models, &path.key("model"), cx)?),
        None => None,
    };
    let system_prompt = match (raw.system_prompt, raw.system_prompt_file) {
        (Some(_), Some(_)) => {
            return Err(cx.invalid(
                &path.key("system_prompt_file"),
                "is set together with system_prompt; keep one of the two",
            ));
        }
        (Some(p), None) => p,
        (None, Some(file)) => {
            let file = resolve(cx.base_dir, &file);
            std::fs::read_to_string(&file)
                .map_err(|source| ConfigError::Read { path: file, source })?
        }
        (None, None) => d.system_prompt,
    };
    if system_prompt.trim().is_empty() {
        return Err(cx.invalid(
            &path.key("system_prompt"),
            "is empty; write a prompt or leave the key out for the default",
        ));
    }
    let tools = match raw.tools {
        Some(p) => cx.patterns(&path.key("tools"), p)?,
        None => d.tools,
    };
    let token_budget = match raw.token_budget {
        Some(0) => {
            return Err(cx.invalid(
                &path.key("token_budget"),
                "is 0; give a positive number of tokens, or leave it out for no budget",
            ));
        }
        other => other,
    };
    let cost_budget_usd = match raw.cost_budget_usd {
        Some(v) if !v.is_finite() || v <= 0.0 => {
            return Err(cx.invalid(
                &path.key("cost_budget_usd"),
                format!("is {v}; give a positive amount of USD, or leave it out for no budget"),
            ));
        }
        other => other,
    };
    if cost_budget_usd.is_some() {
        check_priced(model.as_deref(), models, &path.key("cost_budget_usd"), cx)?;
    }
    let deadline = match cx.duration(&path.key("deadline"), &raw.deadline)? {
        Some(d) if d.is_zero() => {
            return Err(cx.invalid(
                &path.key("deadline"),
                "is zero; give a positive duration like \"10m\", or leave it out",
            ));
        }
        other => other,
    };
    let retry = cx.retry(
        &path.key("tool_retry"),
        &raw.tool_retry,
        RetrySection {
            max_attempts: d.tool_retry.max_attempts,
            base_delay: d.tool_retry.base_delay,
            max_delay: d.tool_retry.max_delay,
        },
    )?;
    let breaker = &raw.circuit_breaker;
    Ok(AgentConfig {
        model,
        system_prompt,
        tools,
        max_turns: cx.at_least(&path.key("max_turns"), raw.max_turns, 1, d.max_turns)?,
        token_budget,
        cost_budget_usd,
        deadline,
        loop_limit: cx.at_least(&path.key("loop_limit"), raw.loop_limit, 2, d.loop_limit)?,
        max_tool_result_chars: cx.at_least(
            &path.key("max_tool_result_chars"),
            raw.max_tool_result_chars,
            1,
            d.max_tool_result_chars,
        )?,
        on_exhausted: match raw.on_exhausted {
            Some(RawOnExhausted::FinalAnswer) => OnExhausted::FinalAnswer,
            Some(RawOnExhausted::Pause) => OnExhausted::Pause,
            None => d.on_exhausted,
        },
        tool_concurrency: cx.at_least(
            &path.key("tool_concurrency"),
            raw.tool_concurrency,
            1,
            d.tool_concurrency,
        )?,
        tool_retry: ToolRetry {
            max_attempts: retry.max_attempts,
            base_delay: retry.base_delay,
            max_delay: retry.max_delay,
        },
        circuit_breaker: CircuitBreakerConfig {
            failure_threshold: cx.at_least(
                &path.key("circuit_breaker").key("failure_threshold"),
                breaker.failure_threshold,
                1,
                d.circuit_breaker.failure_threshold,
            )?,
            cooldown: cx
                .duration(
                    &path.key("circuit_breaker").key("cooldown"),
                    &breaker.cooldown,
                )?
                .unwrap_or(d.circuit_breaker.cooldown),
        },
    })
}

/// A `[models]` key, or `provider:model` with a relative scripted path made absolute.
fn check_model_ref(
    agent: &str,
    reference: &str,
    models: &BTreeMap<String, ModelConfig>,
    path: &KeyPath,
    cx: &Checker<'_>,
) -> Result<String, ConfigError> {
    if models.contains_key(reference) {
        return Ok(reference.to_owned());
    }
    if let Some((prefix, model)) = reference.split_once(':')
        && let Some(provider) = Provider::from_name(prefix)
    {
        if model.trim().is_empty() {
            return Err(cx.invalid(
                path,
                format!("is \"{reference}\" with no model after `{prefix}:`; write {prefix}:MODEL"),
            ));
        }
        return Ok(match provider {
            Provider::Scripted => format!("scripted:{}", resolve(cx.base_dir, model).display()),
            Provider::OpenAi | Provider::Anthropic => reference.to_owned(),
        });
    }
    Err(ConfigError::UnknownModel {
        at: cx.at(path),
        agent: agent.to_owned(),
        model: reference.to_owned(),
        known: models.keys().cloned().collect(),
    })
}

/// `cost_budget_usd` needs a model with a price, when the model is known here.
fn check_priced(
    model: Option<&str>,
    models: &BTreeMap<String, ModelConfig>,
    path: &KeyPath,
    cx: &Checker<'_>,
) -> Result<(), ConfigError> {
    let Some(model) = model else { return Ok(()) };
    match models.get(model) {
        Some(m) if m.price.is_some() || m.provider == Provider::Scripted => Ok(()),
        Some(_) => Err(cx.invalid(
            path,
            format!("needs a price to count cost, and model `{model}` has none; add price = {{ input_per_mtok = …, output_per_mtok = … }} to [models.{model}]"),
        )),
        None if model.starts_with("scripted:") => Ok(()),
        None => Err(cx.invalid(
            path,
            format!("needs a price to count cost, and `{model}` has none; define it as a [models] entry with a price and use its name"),
        )),
    }
}
