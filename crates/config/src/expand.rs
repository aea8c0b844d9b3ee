//! `${VAR}` expansion in string values, with the environment passed in.
//!
//! Forms:
//! - `${VAR}` — the variable's value; an error when it is not set.
//! - `${VAR:-default}` — the value, or `default` when the variable is unset
//!   or empty (as in POSIX shells). The default is literal text up to the
//!   first `}`; it is not expanded again.
//! - `${env:VAR}` and `${env:VAR:-default}` — the same (VS Code spelling).
//! - `${workspaceFolder}` — the folder holding the config file, or its parent
//!   when that folder is `.vscode` (VS Code spelling).
//! - `$$` — a literal `$`. A `$` not followed by `{` or `$` is kept as is,
//!   so `$HOME` is *not* expanded (write `${HOME}`).
//!
//! `${input:ID}` (VS Code prompted inputs) is refused: there is nobody to
//! prompt when an agent starts a server.

use std::path::{Path, PathBuf};

/// Why a value could not be expanded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ExpandError {
    /// `${VAR}` without a default, and `VAR` is not set.
    Missing(String),
    /// `${input:ID}`.
    PromptedInput(String),
    /// An unterminated `${` or an invalid variable name.
    Malformed(String),
}

/// The environment as a lookup function, plus VS Code's `${workspaceFolder}`.
pub(crate) struct Expander<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    workspace_folder: Option<PathBuf>,
}

impl<'a> Expander<'a> {
    /// `config_dir` is the folder holding the file being read.
    pub(crate) fn new(env: &'a dyn Fn(&str) -> Option<String>, config_dir: Option<&Path>) -> Self {
        let workspace_folder = config_dir.map(|dir| {
            if dir.file_name().is_some_and(|n| n == ".vscode") {
                dir.parent()
                    .map_or_else(|| dir.to_path_buf(), Path::to_path_buf)
            } else {
                dir.to_path_buf()
            }
        });
        Self {
            env,
            workspace_folder,
        }
    }

    pub(crate) fn expand(&self, text: &str) -> Result<String, ExpandError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
            } else if let Some(body_and_tail) = after.strip_prefix('{') {
                let Some(end) = body_and_tail.find('}') else {
                    return Err(ExpandError::Malformed(format!(
                        "\"{text}\" has a `${{` without a closing `}}` (write `$$` for a literal `$`)"
                    )));
                };
                out.push_str(&self.substitute(&body_and_tail[..end])?);
                rest = &body_and_tail[end + 1..];
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn substitute(&self, body: &str) -> Result<String, ExpandError> {
        if let Some(id) = body.strip_prefix("input:") {
            return Err(ExpandError::PromptedInput(id.to_owned()));
        }
        let (explicit_env, spec) = match body.strip_prefix("env:") {
            Some(spec) => (true, spec),
            None => (false, body),
        };
        let (name, default) = match spec.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (spec, None),
        };
        if !is_var_name(name) {
            return Err(ExpandError::Malformed(format!(
                "`${{{body}}}` is not a valid variable reference; write `${{NAME}}`, `${{NAME:-default}}` or `${{env:NAME}}` with NAME made of letters, digits and `_`"
            )));
        }
        if !explicit_env
            && name == "workspaceFolder"
            && let Some(dir) = &self.workspace_folder
        {
            return Ok(dir.display().to_string());
        }
        match ((self.env)(name), default) {
            (Some(value), Some(default)) if value.is_empty() => Ok(default.to_owned()),
            (Some(value), _) => Ok(value),
            (None, Some(default)) => Ok(default.to_owned()),
            (None, None) => Err(ExpandError::Missing(name.to_owned())),
        }
    }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".to_owned()),
            "EMPTY" => Some(String::new()),
            "HOME" => Some("/home/me".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn expansion_table() {
        let x = Expander::new(&env, Some(Path::new("/proj/.vscode")));
        let ok = [
            ("plain", "plain"),
            ("${TOKEN}", "s3cret"),
            ("Bearer ${TOKEN}!", "Bearer s3cret!"),
            ("${env:TOKEN}", "s3cret"),
            ("${NOPE:-fallback}", "fallback"),
            ("${env:NOPE:-fb}", "fb"),
            ("${TOKEN:-unused}", "s3cret"),
            ("${EMPTY:-d}", "d"),
            ("${EMPTY}", ""),
            ("${NOPE:-}", ""),
            ("${NOPE:-a:b/c}", "a:b/c"),
            ("$$", "$"),
            ("$${TOKEN}", "${TOKEN}"),
            ("$HOME", "$HOME"),
            ("cost $5", "cost $5"),
            ("trailing $", "trailing $"),
            ("${workspaceFolder}/src", "/proj/src"),
            ("${HOME}${TOKEN}", "/home/mes3cret"),
        ];
        for (input, want) in ok {
            assert_eq!(x.expand(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn expansion_errors() {
        let x = Expander::new(&env, None);
        assert_eq!(
            x.expand("a ${MISSING} b"),
            Err(ExpandError::Missing("MISSING".into()))
        );
        assert_eq!(
            x.expand("${env:MISSING}"),
            Err(ExpandError::Missing("MISSING".into()))
        );
        // Without a config folder, workspaceFolder is an ordinary variable.
        assert_eq!(
            x.expand("${workspaceFolder}"),
            Err(ExpandError::Missing("workspaceFolder".into()))
        );
        assert_eq!(
            x.expand("${input:api-key}"),
            Err(ExpandError::PromptedInput("api-key".into()))
        );
        for bad in ["${", "${TOKEN", "${}", "${1X}", "${A B}", "${env:}"] {
            assert!(
                matches!(x.expand(bad), Err(ExpandError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn workspace_folder_is_the_config_folder_outside_vscode() {
        let x = Expander::new(&env, Some(Path::new("/proj/conf")));
        assert_eq!(x.expand("${workspaceFolder}").unwrap(), "/proj/conf");
    }
}
