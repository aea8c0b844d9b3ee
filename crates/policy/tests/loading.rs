//! Loading policy files: strict validation with file and line, annotations,
//! examples checked at load, and the read-only analyst example.

use std::path::PathBuf;

use bureau_policy::{Decision, Policies, PolicyError, Request, evaluate, load};

fn load_one(text: &str) -> Result<Policies, PolicyError> {
    Policies::from_sources([("p.cedar", text)])
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn readonly_analyst_example_loads_with_its_examples() {
    let dir = repo_root().join("examples/readonly-analyst/policies");
    let p = load(&dir).unwrap();
    assert_eq!(p.len(), 2);
    let req = Request::from_json(
        r#"{"agent": "analyst", "tool": "sql.query", "resource": {"database": "analytics"}, "args": {"statement_class": "write"}}"#,
    )
    .unwrap();
    assert_eq!(
        evaluate(&p, &req),
        Decision::Deny {
            policy_ids: vec!["analyst-selects-only".into()],
            reason: "the analyst may only run statements that read (SELECT); rewrite the query as a SELECT"
                .into(),
        }
    );
}

#[test]
fn a_typo_d_attribute_is_a_load_error_naming_file_and_line() {
    let text = "@id(\"typo\")\npermit (principal, action == Action::\"sql.query\", resource)\nwhen { context.statment_class == \"select\" };\n";
    let err = load_one(text).unwrap_err();
    assert!(
        matches!(&err, PolicyError::Invalid { file, line: 3, policy_id, .. } if file == "p.cedar" && policy_id == "typo"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.starts_with("p.cedar:3: policy `typo`"), "{msg}");
    assert!(msg.contains("statment_class"), "{msg}");
}

#[test]
fn schema_mistakes_are_load_errors() {
    for (text, wanted) in [
        (
            r#"permit (principal, action == Action::"sql.drop", resource);"#,
            "sql.drop",
        ),
        (
            r#"permit (principal == User::"alice", action == Action::"sql.query", resource);"#,
            "does not fit Bureau's schema",
        ),
        (
            r#"permit (principal, action == Action::"files.read", resource) when { context.statement_class == "select" };"#,
            "statement_class",
        ),
    ] {
        let err = load_one(text).unwrap_err().to_string();
        assert!(err.contains(wanted), "{text}: {err}");
    }
}

#[test]
fn syntax_errors_name_the_line() {
    let err = load_one("\n\npermit (principal, action, resource) when { ;\n").unwrap_err();
    assert!(
        matches!(err, PolicyError::Parse { line: 3, .. }),
        "{err:?}: {err}"
    );
}

#[test]
fn annotations_are_checked() {
    let cases = [
        (
            r#"@approval permit (principal == Agent::"analyst", action == Action::"sql.execute", resource) when { context.approved };"#,
            "`@approval` on a permit",
        ),
        (
            r#"@aproval forbid (principal, action, resource);"#,
            "unknown annotation `@aproval`",
        ),
        (
            r#"@reason("") forbid (principal, action, resource);"#,
            "`@reason` is empty",
        ),
    ];
    for (text, wanted) in cases {
        let err = load_one(text).unwrap_err().to_string();
        assert!(err.contains(wanted), "{text}: {err}");
    }
    let err = Policies::from_sources([
        (
            "a.cedar",
            r#"@id("x") permit (principal, action, resource);"#,
        ),
        (
            "b.cedar",
            r#"@id("x") forbid (principal, action, resource);"#,
        ),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`x` is used in both a.cedar and b.cedar"),
        "{err}"
    );
}

#[test]
fn default_ids_are_file_stem_and_position() {
    let p = load_one(
        r#"
permit (principal == Agent::"a", action == Action::"sql.schema", resource);
forbid (principal, action == Action::"sql.schema", resource == Database::"secret");
"#,
    )
    .unwrap();
    let req = Request::from_json(
        r#"{"agent": "a", "tool": "sql.schema", "resource": {"database": "secret"}}"#,
    )
    .unwrap();
    assert_eq!(
        evaluate(&p, &req),
        Decision::Deny {
            policy_ids: vec!["p.1".into()],
            reason: "forbidden by policy `p.1`".into()
        }
    );
}

#[test]
fn a_failing_example_is_a_load_error_naming_it() {
    let text = r#"
permit (principal == Agent::"a", action == Action::"sql.schema", resource);
// example allow: {"agent": "a", "tool": "sql.schema", "resource": {"database": "d"}}
// example allow: {"agent": "b", "tool": "sql.schema", "resource": {"database": "d"}}
"#;
    let err = load_one(text).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, PolicyError::ExampleFailed { example, .. } if example == "p.cedar:4"),
        "{msg}"
    );
    assert!(
        msg.starts_with("example p.cedar:4 expects allow but the policies decide deny (no policy permits agent `b`"),
        "{msg}"
    );
}

#[test]
fn a_malformed_example_is_a_load_error() {
    for (example, wanted) in [
        ("// example allow {}", "write it as"),
        ("// example maybe: {}", "`maybe` is not an outcome"),
        (
            r#"// example deny: {"agent": 1}"#,
            "not valid JSON of the expected shape",
        ),
        (
            r#"// example deny: {"agent": "a", "tool": "sql.query", "resource": {"database": "d"}}"#,
            "`statement_class` is missing",
        ),
    ] {
        let text =
            format!("permit (principal, action == Action::\"sql.schema\", resource);\n{example}\n");
        let err = load_one(&text).unwrap_err();
        assert!(
            matches!(&err, PolicyError::ExampleRequest { example, .. } if example == "p.cedar:2"),
            "{err:?}"
        );
        assert!(err.to_string().contains(wanted), "{err}");
    }
}

#[test]
fn require_approval_examples_are_checked() {
    let text = r#"
permit (principal == Agent::"w", action == Action::"sql.execute", resource);
@approval @reason("writes need a human")
forbid (principal, action == Action::"sql.execute", resource) unless { context.approved };
// example require_approval: {"agent": "w", "tool": "sql.execute", "resource": {"database": "d"}, "args": {"statement_class": "insert"}}
// example deny: {"agent": "x", "tool": "sql.execute", "resource": {"database": "d"}, "args": {"statement_class": "insert"}}
"#;
    load_one(text).unwrap();
}

#[test]
fn load_reads_cedar_files_of_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(matches!(err, PolicyError::NoPolicies { .. }), "{err}");
    std::fs::write(
        dir.path().join("a.cedar"),
        r#"permit (principal == Agent::"a", action == Action::"sql.schema", resource);"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();
    std::fs::write(
        dir.path().join("b.cedar"),
        "forbid (principal, action, resource) when { context.nope };",
    )
    .unwrap();
    let err = load(dir.path()).unwrap_err().to_string();
    assert!(err.starts_with("b.cedar:1: policy `b.0`"), "{err}");
    std::fs::remove_file(dir.path().join("b.cedar")).unwrap();
    assert_eq!(load(dir.path()).unwrap().len(), 1);
    let err = load(&dir.path().join("missing")).unwrap_err().to_string();
    assert!(err.starts_with("cannot read policy directory"), "{err}");
}
