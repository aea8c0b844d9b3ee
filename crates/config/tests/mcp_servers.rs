//! MCP servers from `[mcp_servers.NAME]` tables and from the `mcpServers`
//! JSON that Claude Desktop, Claude Code, Cursor and VS Code write.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bureau_config::*;
use bureau_protocol::{McpServer, McpServerSpec};

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[expect(
    clippy::panic,
    reason = "a test helper: the wrong transport fails the test"
)]
fn stdio(s: &McpServer) -> (&str, &[String], &BTreeMap<String, String>, Option<&PathBuf>) {
    match &s.spec {
        McpServerSpec::Stdio {
            command,
            args,
            env,
            cwd,
        } => (command, args, env, cwd.as_ref()),
        other => panic!("{} is not stdio: {other:?}", s.name),
    }
}

#[expect(
    clippy::panic,
    reason = "a test helper: the wrong transport fails the test"
)]
fn http(s: &McpServer) -> (&str, &BTreeMap<String, String>) {
    match &s.spec {
        McpServerSpec::Http { url, headers } => (url, headers),
        other => panic!("{} is not http: {other:?}", s.name),
    }
}

#[expect(
    clippy::unwrap_used,
    reason = "a test helper: a config that parses fails the test"
)]
fn toml_err(text: &str) -> String {
    let e = parse_toml(
        text,
        Path::new("/cfg/bureau.toml"),
        &env_of(&[("SET", "v")]),
    )
    .unwrap_err();
    e.to_string()
}

#[expect(
    clippy::unwrap_used,
    reason = "a test helper: a config that parses fails the test"
)]
fn json_err(text: &str) -> ConfigError {
    parse_mcp_servers_json(text, Path::new("/cfg/mcp.json"), &env_of(&[("SET", "v")])).unwrap_err()
}

#[test]
fn toml_servers_with_expansion() {
    let env = env_of(&[
        ("TOKEN", "s3cret"),
        ("HOST", "mcp.example.com"),
        ("EMPTY", ""),
    ]);
    let c = parse_toml(
        r#"
[mcp_servers.files]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "${DATA:-/srv/data}", "$$literal", "$HOME"]
env = { TOKEN = "${TOKEN}", MODE = "${env:TOKEN}-${EMPTY:-fallback}" }
cwd = "work"
call_timeout = "2m"
connect_timeout = "10s"

[mcp_servers.remote]
type = "streamable-http"
url = "https://${HOST}/mcp"
headers = { Authorization = "Bearer ${TOKEN}" }
"#,
        Path::new("/cfg/bureau.toml"),
        &env,
    )
    .unwrap();
    assert_eq!(c.mcp_servers.len(), 2);
    let files = &c.mcp_servers[0];
    assert_eq!(files.name, "files");
    let (command, args, env, cwd) = stdio(files);
    assert_eq!(command, "npx");
    assert_eq!(
        args,
        [
            "-y",
            "@modelcontextprotocol/server-filesystem",
            "/srv/data",
            "$literal",
            "$HOME"
        ]
    );
    assert_eq!(env["TOKEN"], "s3cret");
    assert_eq!(env["MODE"], "s3cret-fallback");
    assert_eq!(cwd, Some(&PathBuf::from("/cfg/work")));
    assert_eq!(files.call_timeout_ms, 120_000);
    assert_eq!(files.connect_timeout_ms, 10_000);

    let remote = &c.mcp_servers[1];
    let (url, headers) = http(remote);
    assert_eq!(url, "https://mcp.example.com/mcp");
    assert_eq!(headers["Authorization"], "Bearer s3cret");
    assert_eq!(remote.call_timeout_ms, 60_000, "default call timeout");
    assert_eq!(remote.connect_timeout_ms, 30_000, "default connect timeout");
}

#[test]
fn a_missing_variable_names_it_and_the_server() {
    let e = parse_toml(
        "[mcp_servers.github]\ncommand = \"gh-mcp\"\n\n[mcp_servers.github.env]\nGITHUB_TOKEN = \"${GITHUB_TOKEN}\"\n",
        Path::new("/cfg/bureau.toml"),
        &no_env,
    )
    .unwrap_err();
    assert!(
        matches!(&e, ConfigError::MissingVariable { var, key_path, .. }
            if var == "GITHUB_TOKEN" && key_path == "mcp_servers.github.env.GITHUB_TOKEN"),
        "{e:?}"
    );
    let m = e.to_string();
    assert!(m.starts_with("/cfg/bureau.toml:5:1: "), "{m}");
    assert!(m.contains("${GITHUB_TOKEN:-default}"), "{m}");
    assert!(
        toml_err("[mcp_servers.s]\ncommand = \"x\"\nargs = [\"${env:NOPE}\"]\n")
            .contains("`mcp_servers.s.args[0]` uses ${NOPE}")
    );
    assert!(toml_err("[mcp_servers.s]\nurl = \"https://h/${NOPE}\"\n").contains("NOPE is not set"));
    assert!(
        toml_err("[mcp_servers.s]\ncommand = \"x\"\nargs = [\"${SET\"]\n")
            .contains("without a closing")
    );
}

#[test]
fn transports_are_checked() {
    let cases: &[(&str, &[&str])] = &[
        (
            "[mcp_servers.s]\ntype = \"sse\"\nurl = \"http://127.0.0.1:9/sse\"\n",
            &[
                "/cfg/bureau.toml:2:1",
                "`mcp_servers.s.type`",
                "not supported",
                "Streamable HTTP",
            ],
        ),
        (
            "[mcp_servers.s]\ncommand = \"x\"\nurl = \"http://h/mcp\"\n",
            &[
                "/cfg/bureau.toml:1:14",
                "`mcp_servers.s` sets both `command` and `url`",
            ],
        ),
        (
            "[mcp_servers.s]\nargs = [\"x\"]\n",
            &["sets neither `command` nor `url`"],
        ),
        (
            "[mcp_servers.s]\ntype = \"websocket\"\ncommand = \"x\"\n",
            &["\"websocket\"", "\"stdio\" or \"http\""],
        ),
        (
            "[mcp_servers.s]\ntype = \"stdio\"\nurl = \"http://h/mcp\"\n",
            &["`mcp_servers.s.type` is \"stdio\" but the server has a `url`"],
        ),
        (
            "[mcp_servers.s]\ntype = \"http\"\ncommand = \"x\"\n",
            &["is \"http\" but the server has a `command`"],
        ),
        (
            "[mcp_servers.s]\ncommand = \"x\"\nheaders = { A = \"b\" }\n",
            &["`mcp_servers.s.headers` applies only to `url` servers"],
        ),
        (
            "[mcp_servers.s]\nurl = \"http://h\"\nenv = { A = \"b\" }\n",
            &["`mcp_servers.s.env` applies only to stdio servers"],
        ),
        (
            "[mcp_servers.s]\nurl = \"ftp://h\"\n",
            &["not an http:// or https:// URL"],
        ),
        (
            "[mcp_servers.s]\ncommand = \"\"\n",
            &["`mcp_servers.s.command` is empty"],
        ),
        (
            "[mcp_servers.\"my.server\"]\ncommand = \"x\"\n",
            &[
                "`mcp_servers.\"my.server\"` is not a valid server name",
                "no dots",
            ],
        ),
    ];
    for (text, needles) in cases {
        let m = toml_err(text);
        println!("{m}");
        for needle in *needles {
            assert!(m.contains(needle), "{m:?} lacks {needle:?}");
        }
    }
}

#[test]
fn relative_paths_resolve_against_the_files_folder() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("conf/more")).unwrap();
    std::fs::write(
        root.join("conf/more/servers.json"),
        r#"{"mcpServers": {"inner": {"command": "./bin/inner", "cwd": "data"}}}"#,
    )
    .unwrap();
    std::fs::write(root.join("conf/prompt.md"), "Be brief.").unwrap();
    std::fs::write(
        root.join("conf/bureau.toml"),
        r#"
mcp_servers_files = ["more/servers.json"]
[mcp_servers.outer]
command = "../tools/server"
cwd = "work"
[mcp_servers.abs]
command = "python3"
cwd = "/srv"
[agents.a]
system_prompt_file = "prompt.md"
model = "scripted:s.json"
[store]
path = "state/bureau.db"
[policy]
dir = "policies"
"#,
    )
    .unwrap();
    let conf = root.join("conf");
    let c = load_file(&conf.join("bureau.toml"), &no_env).unwrap();
    let by_name = |n: &str| c.mcp_servers.iter().find(|s| s.name == n).unwrap();
    let (command, _, _, cwd) = stdio(by_name("outer"));
    assert_eq!(Path::new(command), conf.join("../tools/server"));
    assert_eq!(cwd, Some(&conf.join("work")));
    let (command, _, _, cwd) = stdio(by_name("abs"));
    assert_eq!(command, "python3", "a bare command is looked up in PATH");
    assert_eq!(cwd, Some(&PathBuf::from("/srv")));
    let (command, _, _, cwd) = stdio(by_name("inner"));
    assert_eq!(Path::new(command), conf.join("more/./bin/inner"));
    assert_eq!(
        cwd,
        Some(&conf.join("more/data")),
        "JSON paths resolve against the JSON file's folder"
    );
    assert_eq!(c.agents["a"].system_prompt, "Be brief.");
    assert_eq!(
        c.agents["a"].model,
        Some(format!("scripted:{}", conf.join("s.json").display()))
    );
    assert_eq!(c.store.path, Some(conf.join("state/bureau.db")));
    assert_eq!(c.policy.dir, Some(conf.join("policies")));
}

#[test]
fn duplicate_server_names_across_toml_and_json_name_both_origins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mcp.json"),
        r#"{"mcpServers": {"time": {"command": "uvx", "args": ["mcp-server-time"]}}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("other.json"),
        r#"{"mcpServers": {"everything": {"command": "npx"}}}"#,
    )
    .unwrap();
    let toml = "mcp_servers_files = [\"mcp.json\", \"other.json\"]\n\n[mcp_servers.time]\ncommand = \"mcp-server-time\"\n";
    std::fs::write(dir.path().join("bureau.toml"), toml).unwrap();
    let e = load_file(&dir.path().join("bureau.toml"), &no_env).unwrap_err();
    let m = e.to_string();
    assert!(
        matches!(&e, ConfigError::DuplicateServer { name, .. } if name == "time"),
        "{e:?}"
    );
    assert!(
        m.contains(&format!(
            "{}:3:14 ([mcp_servers.time])",
            dir.path().join("bureau.toml").display()
        )),
        "{m}"
    );
    assert!(
        m.contains(&format!(
            "{} (\"time\")",
            dir.path().join("mcp.json").display()
        )),
        "{m}"
    );
    assert!(m.contains("rename or remove one"), "{m}");

    // Two JSON files.
    std::fs::write(
        dir.path().join("bureau.toml"),
        "mcp_servers_files = [\"mcp.json\", \"other.json\", \"mcp.json\"]\n",
    )
    .unwrap();
    let e = load_file(&dir.path().join("bureau.toml"), &no_env).unwrap_err();
    assert!(
        matches!(&e, ConfigError::DuplicateServer { name, .. } if name == "time"),
        "{e:?}"
    );

    // Without the clash everything merges: TOML tables first, then files in order.
    std::fs::write(dir.path().join("bureau.toml"), "mcp_servers_files = [\"other.json\", \"mcp.json\"]\n[mcp_servers.zz]\nurl = \"http://127.0.0.1:1/mcp\"\n").unwrap();
    let c = load_file(&dir.path().join("bureau.toml"), &no_env).unwrap();
    let names: Vec<&str> = c.mcp_servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["zz", "everything", "time"]);
}

const CLAUDE_DESKTOP: &str = r#"{
  "globalShortcut": "Ctrl+Space",
  "mcpServers": {
    "filesystem": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop", "/Users/me/Downloads"]
    },
    "github": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": { "GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_TOKEN}" }
    },
    "remote": {
      "type": "http",
      "url": "https://mcp.example.com/mcp",
      "headers": { "Authorization": "Bearer ${env:API_KEY}" }
    },
    "old": { "command": "legacy-server", "disabled": true, "env": { "K": "${NOT_SET_ANYWHERE}" } },
    "time": {
      "command": "uvx",
      "args": ["mcp-server-time"],
      "autoApprove": ["get_current_time"],
      "alwaysAllow": [],
      "description": "Current time and time zones",
      "disabled": false,
      "call_timeout": "5s"
    }
  }
}"#;

#[test]
fn claude_desktop_sample() {
    let env = env_of(&[("GITHUB_TOKEN", "ghp_x"), ("API_KEY", "k")]);
    let servers = parse_mcp_servers_json(
        CLAUDE_DESKTOP,
        Path::new("/home/me/.config/Claude/claude_desktop_config.json"),
        &env,
    )
    .unwrap();
    let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["filesystem", "github", "remote", "time"],
        "file order, disabled skipped"
    );
    let (command, args, _, cwd) = stdio(&servers[0]);
    assert_eq!(command, "npx");
    assert_eq!(args.len(), 4);
    assert_eq!(cwd, None);
    assert_eq!(
        stdio(&servers[1]).2["GITHUB_PERSONAL_ACCESS_TOKEN"],
        "ghp_x"
    );
    let (url, headers) = http(&servers[2]);
    assert_eq!(url, "https://mcp.example.com/mcp");
    assert_eq!(headers["Authorization"], "Bearer k");
    assert_eq!(servers[3].call_timeout_ms, 5_000);
    assert_eq!(servers[0].call_timeout_ms, 60_000);
}

#[test]
fn vscode_sample() {
    let text = r#"{
  "servers": {
    "fetch": { "type": "stdio", "command": "uvx", "args": ["mcp-server-fetch"], "cwd": "${workspaceFolder}/tools" },
    "api": { "type": "http", "url": "https://api.example.com/mcp", "headers": { "X-Key": "${env:API_KEY}" } }
  },
  "inputs": []
}"#;
    let servers = parse_mcp_servers_json(
        text,
        Path::new("/proj/.vscode/mcp.json"),
        &env_of(&[("API_KEY", "k")]),
    )
    .unwrap();
    assert_eq!(servers.len(), 2);
    assert_eq!(
        stdio(&servers[0]).3,
        Some(&PathBuf::from("/proj/tools")),
        "workspaceFolder is the folder above .vscode"
    );
    assert_eq!(http(&servers[1]).1["X-Key"], "k");
}

#[test]
fn vscode_prompted_inputs_are_refused() {
    let text = r#"{
  "inputs": [ { "type": "promptString", "id": "api-key", "description": "API key", "password": true } ],
  "servers": {
    "api": { "type": "http", "url": "https://api.example.com/mcp", "headers": { "X-Key": "${input:api-key}" } }
  }
}"#;
    let e = json_err(text);
    let m = e.to_string();
    assert!(
        m.starts_with("/cfg/mcp.json:2:3: `inputs` declares prompted inputs (api-key)"),
        "{m}"
    );
    assert!(m.contains("${env:NAME}"), "{m}");

    let text = r#"{"servers": {"api": {"url": "https://h/mcp", "headers": {"X-Key": "${input:api-key}"}}}}"#;
    let m = json_err(text).to_string();
    assert!(
        m.contains("`servers.api.headers.X-Key` uses ${input:api-key}, a VS Code prompted input"),
        "{m}"
    );
}

#[test]
fn json_errors() {
    let cases: &[(&str, Option<u32>, &[&str])] = &[
        (
            "{\"mcpServers\": {\n  \"s\": {\n    \"command\": \"x\",\n    \"comand\": \"y\"\n  }\n}}",
            Some(4),
            &[
                "unknown key `mcpServers.s.comand`",
                "may have type, command",
            ],
        ),
        (
            "{\"mcpServers\": {\"s\": {\"type\": \"sse\", \"url\": \"http://h/sse\"}}}",
            Some(1),
            &["`mcpServers.s.type` is \"sse\"", "not supported"],
        ),
        (
            "{\"mcpServers\": {\"s\": {\"command\": \"x\", \"url\": \"http://h\"}}}",
            Some(1),
            &["sets both `command` and `url`"],
        ),
        (
            "{\"mcpServers\": {\n\"s\": {\"command\": \"x\", \"timeout\": 60}}}",
            Some(2),
            &["`mcpServers.s.timeout`", "\"call_timeout\": \"60s\""],
        ),
        (
            "{\"mcpServers\": {\"s\": {\"command\": \"x\", \"envFile\": \".env\"}}}",
            Some(1),
            &["`mcpServers.s.envFile` is not supported"],
        ),
        (
            "{\"mcpServers\": {\"s\": {\"command\": \"x\", \"disabledTools\": [\"rm\"]}}}",
            Some(1),
            &["`mcpServers.s.disabledTools`", "would offer those tools"],
        ),
        (
            "{\"mcpServers\": {\"s\": {\"command\": \"x\"},\n \"s\": {\"command\": \"y\"}}}",
            Some(2),
            &["server `s` appears twice"],
        ),
        (
            "{\"mcpServers\": {\"s\": {\"command\": \"x\",}}}",
            Some(1),
            &["invalid JSON", "fix the syntax"],
        ),
        (
            "{\"mcpServers\": {\"s\": {\"command\": \"x\", \"args\": \"-y\"}}}",
            Some(1),
            &["`mcpServers.s.args` is invalid", "expected a sequence"],
        ),
        (
            "{\"mcpServers\": {\"s\": {\"command\": \"x\", \"env\": {\"A\": \"${MISSING}\"}}}}",
            Some(1),
            &["`mcpServers.s.env.A` uses ${MISSING}"],
        ),
        (
            "{\"mcpServers\": {\"s\": \"npx server\"}}",
            Some(1),
            &[
                "`mcpServers.s` is invalid",
                "a server object with \"command\" or \"url\"",
            ],
        ),
        ("[1, 2]", None, &["not a JSON object", "{\"mcpServers\""]),
        (
            "{\"mcp_servers\": {}}",
            None,
            &[
                "neither an \"mcpServers\" object",
                "nor a \"servers\" object",
            ],
        ),
        (
            "{\"mcpServers\": {}, \"servers\": {}}",
            None,
            &["keep one of the two"],
        ),
        (
            "{\"mcpServers\": {\"my server\": {\"command\": \"x\"}}}",
            Some(1),
            &["not a valid server name"],
        ),
    ];
    for (text, line, needles) in cases {
        let e = json_err(text);
        let m = e.to_string();
        println!("{m}");
        assert!(m.starts_with("/cfg/mcp.json"), "{m}");
        assert_eq!(e.location().and_then(|l| l.line), *line, "{m}");
        for needle in *needles {
            assert!(m.contains(needle), "{m:?} lacks {needle:?}");
        }
    }
}

#[test]
fn trailing_text_is_an_error_and_a_byte_order_mark_is_not() {
    let e = json_err("{\"mcpServers\": {}}\n{\"mcpServers\": {}}");
    assert!(
        e.to_string()
            .starts_with("/cfg/mcp.json:2:1: invalid JSON: text after the end"),
        "{e}"
    );
    let servers = parse_mcp_servers_json(
        "\u{feff}{\"mcpServers\": {\"s\": {\"command\": \"x\"}}}",
        Path::new("m.json"),
        &no_env,
    )
    .unwrap();
    assert_eq!(servers.len(), 1);
}

#[test]
fn an_empty_servers_object_is_fine() {
    assert_eq!(
        parse_mcp_servers_json("{\"mcpServers\": {}}", Path::new("m.json"), &no_env).unwrap(),
        vec![]
    );
}
