//! `Config::explain()`: what is configured, and which defaults apply, for
//! `bureau config check`. Secrets are never printed: environment and header
//! values are hidden, URL passwords are masked.

use std::fmt::Write as _;

use bureau_protocol::{McpServer, McpServerSpec};

use crate::mcp::{DEFAULT_CALL_TIMEOUT, DEFAULT_CONNECT_TIMEOUT};
use crate::names::redact_url;
use crate::types::{
    AgentConfig, Config, DEFAULT_SYSTEM_PROMPT, ModelConfig, OnExhausted, RetrySection,
    StoreBackend,
};
use crate::units::{format_duration, format_size};

/// `value` followed by ` (default)` when it equals the default.
fn mark<T: PartialEq>(text: String, value: &T, default: &T) -> String {
    if value == default {
        format!("{text} (default)")
    } else {
        text
    }
}

fn list(items: &[String]) -> String {
    items.join(", ")
}

fn retry(r: &RetrySection) -> String {
    format!(
        "{} attempts, {}..{}",
        r.max_attempts,
        format_duration(r.base_delay),
        format_duration(r.max_delay)
    )
}

impl Config {
    /// A readable summary of every section: what is set and which defaults
    /// apply. Never prints secrets (env/header values, URL passwords).
    pub fn explain(&self) -> String {
        let mut out = String::new();
        let d = Config::default();
        // Writing to a String cannot fail.
        let _ = self.write_models(&mut out);
        let _ = self.write_agents(&mut out);
        let _ = self.write_servers(&mut out);
        let _ = writeln!(out, "gateway:");
        let _ = writeln!(
            out,
            "  allowed_tools: {}",
            mark(
                list(&self.gateway.allowed_tools),
                &self.gateway.allowed_tools,
                &d.gateway.allowed_tools
            )
        );
        let (s, ds) = (&self.sandbox, &d.sandbox);
        let _ = writeln!(out, "sandbox:");
        let _ = writeln!(
            out,
            "  backend: {}",
            mark(s.backend.as_str().to_owned(), &s.backend, &ds.backend)
        );
        let _ = writeln!(
            out,
            "  memory: {}",
            mark(
                format_size(s.memory_bytes),
                &s.memory_bytes,
                &ds.memory_bytes
            )
        );
        let _ = writeln!(
            out,
            "  pids: {}",
            mark(s.pids.to_string(), &s.pids, &ds.pids)
        );
        let _ = writeln!(
            out,
            "  timeout: {}",
            mark(format_duration(s.timeout), &s.timeout, &ds.timeout)
        );
        if let Some(p) = &s.python_packages {
            let _ = writeln!(out, "  python_packages: {}", p.display());
        }
        let _ = writeln!(
            out,
            "  warm_pool: {}{}",
            mark(s.warm_pool.to_string(), &s.warm_pool, &ds.warm_pool),
            if s.warm_imports.is_empty() {
                String::new()
            } else {
                format!(" (imports {})", s.warm_imports.join(", "))
            }
        );
        let _ = writeln!(out, "store:");
        match &self.store.backend {
            StoreBackend::Sqlite => {
                let _ = writeln!(
                    out,
                    "  backend: {}",
                    mark("sqlite".to_owned(), &self.store.backend, &d.store.backend)
                );
                let _ = match &self.store.path {
                    Some(p) => writeln!(out, "  path: {}", p.display()),
                    None => writeln!(out, "  path: {{data_dir}}/bureau.db (default)"),
                };
            }
            StoreBackend::Postgres { url } => {
                let _ = writeln!(out, "  backend: postgres");
                let _ = writeln!(out, "  url: {}", redact_url(url));
            }
        }
        let _ = writeln!(out, "telemetry:");
        let _ = match &self.telemetry.otlp_endpoint {
            Some(e) => writeln!(out, "  otlp_endpoint: {}", redact_url(e)),
            None => writeln!(
                out,
                "  otlp_endpoint: none, traces are not exported (default)"
            ),
        };
        let _ = writeln!(
            out,
            "  capture_content: {}",
            mark(
                self.telemetry.capture_content.to_string(),
                &self.telemetry.capture_content,
                &false
            )
        );
        let _ = writeln!(out, "policy:");
        let _ = match &self.policy.dir {
            Some(dir) => writeln!(out, "  dir: {}", dir.display()),
            None => writeln!(out, "  dir: none, the built-in policy applies (default)"),
        };
        if self.databases.is_empty() {
            let _ = writeln!(
                out,
                "databases: none (the sql.* tools have nothing to reach)"
            );
        } else {
            let _ = writeln!(out, "databases:");
            for (name, db) in &self.databases {
                let (kind, target) = match &db.kind {
                    crate::DatabaseKind::Sqlite { path } => ("sqlite", path.display().to_string()),
                    crate::DatabaseKind::Postgres { url } => ("postgres", redact_url(url)),
                };
                let access = match db.access {
                    crate::DatabaseAccess::ReadOnly => "read_only",
                    crate::DatabaseAccess::ReadWrite => "read_write",
                };
                let _ = writeln!(
                    out,
                    "  {name}: {kind} {target}, {access}, classifier {}, max {} rows / {}, timeout {}",
                    if db.classifier { "on" } else { "off" },
                    db.max_rows,
                    format_size(db.max_bytes),
                    format_duration(db.timeout)
                );
            }
        }
        out
    }

    fn write_models(&self, out: &mut String) -> std::fmt::Result {
        if self.models.is_empty() {
            return writeln!(
                out,
                "models: none defined (agents name provider:model, or the caller picks)"
            );
        }
        writeln!(out, "models:")?;
        for (name, m) in &self.models {
            writeln!(out, "  {name}: {}", model_line(m))?;
        }
        Ok(())
    }

    fn write_agents(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "agents:")?;
        let d = AgentConfig::default();
        for (name, a) in &self.agents {
            if *a == d {
                writeln!(
                    out,
                    "  {name}: every setting at its default (model chosen by the caller, tools *, \
                     max_turns {}, no budgets)",
                    d.max_turns
                )?;
                continue;
            }
            writeln!(out, "  {name}:")?;
            let model = a.model.as_deref().map_or_else(
                || "none, the caller picks (default)".to_owned(),
                str::to_owned,
            );
            writeln!(out, "    model: {model}")?;
            let prompt = if a.system_prompt == DEFAULT_SYSTEM_PROMPT {
                "built-in (default)".to_owned()
            } else {
                format!("custom, {} characters", a.system_prompt.chars().count())
            };
            writeln!(out, "    system_prompt: {prompt}")?;
            writeln!(
                out,
                "    tools: {}",
                mark(list(&a.tools), &a.tools, &d.tools)
            )?;
            writeln!(
                out,
                "    max_turns: {}",
                mark(a.max_turns.to_string(), &a.max_turns, &d.max_turns)
            )?;
            let budget = |v: Option<String>| v.unwrap_or_else(|| "none (default)".to_owned());
            writeln!(
                out,
                "    token_budget: {}",
                budget(a.token_budget.map(|t| t.to_string()))
            )?;
            writeln!(
                out,
                "    cost_budget_usd: {}",
                budget(a.cost_budget_usd.map(|c| format!("{c}")))
            )?;
            writeln!(
                out,
                "    deadline: {}",
                budget(a.deadline.map(format_duration))
            )?;
            writeln!(
                out,
                "    loop_limit: {}",
                mark(a.loop_limit.to_string(), &a.loop_limit, &d.loop_limit)
            )?;
            writeln!(
                out,
                "    max_tool_result_chars: {}",
                mark(
                    a.max_tool_result_chars.to_string(),
                    &a.max_tool_result_chars,
                    &d.max_tool_result_chars
                )
            )?;
            let exhausted = match a.on_exhausted {
                OnExhausted::FinalAnswer => "final_answer",
                OnExhausted::Pause => "pause",
            };
            writeln!(
                out,
                "    on_exhausted: {}",
                mark(exhausted.to_owned(), &a.on_exhausted, &d.on_exhausted)
            )?;
            writeln!(
                out,
                "    tool_concurrency: {}",
                mark(
                    a.tool_concurrency.to_string(),
                    &a.tool_concurrency,
                    &d.tool_concurrency
                )
            )?;
            let tr = RetrySection {
                max_attempts: a.tool_retry.max_attempts,
                base_delay: a.tool_retry.base_delay,
                max_delay: a.tool_retry.max_delay,
            };
            writeln!(
                out,
                "    tool_retry: {}",
                mark(retry(&tr), &a.tool_retry, &d.tool_retry)
            )?;
            let cb = format!(
                "open after {} failures, for {}",
                a.circuit_breaker.failure_threshold,
                format_duration(a.circuit_breaker.cooldown)
            );
            writeln!(
                out,
                "    circuit_breaker: {}",
                mark(cb, &a.circuit_breaker, &d.circuit_breaker)
            )?;
        }
        Ok(())
    }

    fn write_servers(&self, out: &mut String) -> std::fmt::Result {
        if self.mcp_servers.is_empty() {
            return writeln!(out, "mcp_servers: none (only the built-in gateway tools)");
        }
        writeln!(out, "mcp_servers:")?;
        for s in &self.mcp_servers {
            writeln!(out, "  {}: {}", s.name, server_line(s))?;
        }
        Ok(())
    }
}

fn model_line(m: &ModelConfig) -> String {
    let d = ModelConfig::new(m.provider, m.model.clone());
    let mut parts = vec![format!("{} {}", m.provider.as_str(), m.model)];
    parts.push(match &m.base_url {
        Some(url) => format!("at {}", redact_url(url)),
        None => "at the provider's public API (default)".to_owned(),
    });
    if let Some(var) = &m.api_key_env {
        parts.push(mark(
            format!("key from ${var}"),
            &m.api_key_env,
            &d.api_key_env,
        ));
    }
    parts.push(mark(
        if m.stream {
            "streaming"
        } else {
            "not streaming"
        }
        .to_owned(),
        &m.stream,
        &d.stream,
    ));
    if let Some(t) = m.max_output_tokens {
        parts.push(format!("at most {t} output tokens"));
    }
    parts.push(mark(
        format!("timeout {}", format_duration(m.timeout)),
        &m.timeout,
        &d.timeout,
    ));
    parts.push(match m.price {
        Some(p) => format!(
            "${}/${} per Mtok in/out",
            p.input_per_mtok, p.output_per_mtok
        ),
        None => "no price (cost budgets unavailable)".to_owned(),
    });
    parts.push(mark(
        format!("retry {}", retry(&m.retry)),
        &m.retry,
        &d.retry,
    ));
    parts.join(", ")
}

fn server_line(s: &McpServer) -> String {
    let mut parts = Vec::new();
    match &s.spec {
        McpServerSpec::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            let mut line = format!("stdio `{}", redact_url(command));
            for arg in redact_args(args) {
                line.push(' ');
                line.push_str(&arg);
            }
            line.push('`');
            parts.push(line);
            if !env.is_empty() {
                let keys: Vec<String> = env.keys().cloned().collect();
                parts.push(format!("env {} (values hidden)", keys.join(", ")));
            }
            if let Some(cwd) = cwd {
                parts.push(format!("in {}", cwd.display()));
            }
        }
        McpServerSpec::Http { url, headers } => {
            parts.push(format!("Streamable HTTP {}", redact_url(url)));
            if !headers.is_empty() {
                let keys: Vec<String> = headers.keys().cloned().collect();
                parts.push(format!("headers {} (values hidden)", keys.join(", ")));
            }
        }
    }
    let call = std::time::Duration::from_millis(s.call_timeout_ms);
    let connect = std::time::Duration::from_millis(s.connect_timeout_ms);
    parts.push(mark(
        format!("call timeout {}", format_duration(call)),
        &call,
        &DEFAULT_CALL_TIMEOUT,
    ));
    parts.push(mark(
        format!("connect timeout {}", format_duration(connect)),
        &connect,
        &DEFAULT_CONNECT_TIMEOUT,
    ));
    parts.join(", ")
}

/// Arguments for display: URL passwords masked, and the value of a flag
/// whose name suggests a secret (`--token=…`, `--api-key …`) hidden.
fn redact_args(args: &[String]) -> Vec<String> {
    fn secret_flag(flag: &str) -> bool {
        let f = flag.to_ascii_lowercase();
        f.starts_with('-')
            && [
                "token",
                "secret",
                "password",
                "passwd",
                "key",
                "auth",
                "credential",
            ]
            .iter()
            .any(|w| f.contains(w))
    }
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for arg in args {
        if hide_next && !arg.starts_with('-') {
            out.push("***".to_owned());
            hide_next = false;
            continue;
        }
        hide_next = false;
        match arg.split_once('=') {
            Some((flag, _)) if secret_flag(flag) => out.push(format!("{flag}=***")),
            Some(_) => out.push(redact_url(arg)),
            None if secret_flag(arg) => {
                hide_next = true;
                out.push(arg.clone());
            }
            None => out.push(redact_url(arg)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_arguments_are_hidden() {
        let args: Vec<String> = [
            "--token=abc",
            "--api-key",
            "k123",
            "--port",
            "80",
            "postgres://u:p@h/db",
            "-y",
            "pkg",
            "--auth",
            "--verbose",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(
            redact_args(&args),
            [
                "--token=***",
                "--api-key",
                "***",
                "--port",
                "80",
                "postgres://u:***@h/db",
                "-y",
                "pkg",
                "--auth",
                "--verbose"
            ]
        );
    }
}
