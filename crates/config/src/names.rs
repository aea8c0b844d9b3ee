//! Names and patterns: server and agent names, tool-name patterns, and
//! redaction of credentials in URLs.

/// Server, agent and model names: `[A-Za-z0-9_-]+`. No dots, because tool
/// names are `server.tool`.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Checks a tool pattern: `*`, or `SERVER.TOOL` where SERVER is a server
/// name or `*` and TOOL is made of `[A-Za-z0-9_./-]` and `*` wildcards.
/// The error is a phrase that follows the pattern in a message.
pub(crate) fn check_tool_pattern(pattern: &str) -> Result<(), String> {
    if pattern == "*" {
        return Ok(());
    }
    let Some((server, tool)) = pattern.split_once('.') else {
        return Err(if is_valid_name(pattern) {
            format!(
                "names no tool; write \"{pattern}.*\" for every tool of server `{pattern}`, or \"{pattern}.TOOL\" for one"
            )
        } else {
            "is not a tool pattern; write \"*\", \"server.*\" or \"server.tool\"".to_owned()
        });
    };
    if server != "*" && !is_valid_name(server) {
        return Err(format!(
            "has an invalid server part \"{server}\"; server names are letters, digits, `_` and `-` (or `*`)"
        ));
    }
    if tool.is_empty()
        || !tool
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '*'))
    {
        return Err(format!(
            "has an invalid tool part \"{tool}\"; tool names are letters, digits, `_`, `-`, `.`, `/`, with `*` as a wildcard"
        ));
    }
    Ok(())
}

/// Whether a qualified tool name (`server.tool`) matches a pattern: `*`
/// matches every tool; otherwise the pattern's server part and tool part
/// are matched against the name's (split at the first dot), with `*`
/// matching any run of characters. `files.*` matches `files.read_file`;
/// `*.read_*` matches `files.read_file` and `git.read_log`.
pub fn tool_pattern_matches(pattern: &str, qualified_name: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match (pattern.split_once('.'), qualified_name.split_once('.')) {
        (Some((ps, pt)), Some((ns, nt))) => glob(ps, ns) && glob(pt, nt),
        _ => false,
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Hides the password of `scheme://user:password@host/...` (and of such
/// URLs inside a longer string, e.g. `--db=postgres://u:p@h/db`).
pub fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let authority_start = scheme_end + 3;
        out.push_str(&rest[..authority_start]);
        let after = &rest[authority_start..];
        let authority_end = after.find(['/', '?', '#', ' ']).unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, _password)) => out.push_str(&format!("{user}:***")),
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["files", "my-server", "a_b", "X9"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "my.server", "my server", "ü", "a/b"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn pattern_checks() {
        for ok in [
            "*",
            "files.*",
            "time.get_current_time",
            "*.read_*",
            "srv.a.b",
            "gh.repos/list",
        ] {
            assert_eq!(check_tool_pattern(ok), Ok(()), "{ok}");
        }
        let err = check_tool_pattern("files").unwrap_err();
        assert!(err.contains("\"files.*\""), "{err}");
        for bad in ["", "files.", ".tool", "my server.x", "a.b c", "fi?es.x"] {
            assert!(check_tool_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pattern_matching() {
        let table = [
            ("*", "files.read_file", true),
            ("files.*", "files.read_file", true),
            ("files.*", "filesx.read_file", false),
            ("files.read_file", "files.read_file", true),
            ("files.read_file", "files.read_files", false),
            ("*.read_*", "git.read_log", true),
            ("*.read_*", "git.write_log", false),
            ("time.get_*_time", "time.get_current_time", true),
            ("time.get_*_time", "time.get_current_tim", false),
            ("srv.a.*", "srv.a.b", true),
            ("files.*", "files", false),
            ("a.*b*c", "a.xbyc", true),
            ("a.*b*c", "a.xcyb", false),
        ];
        for (pattern, name, want) in table {
            assert_eq!(
                tool_pattern_matches(pattern, name),
                want,
                "{pattern} vs {name}"
            );
        }
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://bureau:hunter2@db:5432/x"),
            "postgres://bureau:***@db:5432/x"
        );
        assert_eq!(
            redact_url("--db=postgres://u:p@h/db --x"),
            "--db=postgres://u:***@h/db --x"
        );
        assert_eq!(
            redact_url("https://example.com/a@b"),
            "https://example.com/a@b"
        );
        assert_eq!(redact_url("http://user@host/"), "http://user@host/");
        assert_eq!(redact_url("plain"), "plain");
    }
}
