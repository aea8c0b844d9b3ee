//! The SQL tools over real SQLite files: the database layer refuses every
//! bypass with the classifier switched off, the file stays byte-identical,
//! and reads, writes, caps, timeouts and decoding behave.

#![expect(clippy::unwrap_used, reason = "test fixtures")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bureau_protocol::ToolResult;
use bureau_sql::{
    DatabaseAccess, DatabaseConfig, DatabaseKind, EXECUTE, QUERY, SCHEMA, SqlCaps, SqlToolset,
    StatementClass,
};
use bureau_tools::{ToolContext, ToolError, Toolset, Workspace};
use serde_json::{Value, json};
use tempfile::TempDir;

struct Fixture {
    dir: TempDir,
    db: PathBuf,
    ctx: ToolContext,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, avatar BLOB);
         INSERT INTO users VALUES (1, 'ada', 9.5, x'00ff'), (2, 'bob', NULL, NULL), (3, 'cy', 7.25, NULL);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), total INTEGER);
         INSERT INTO orders VALUES (1, 1, 10), (2, 1, 20), (3, 3, 5);
         CREATE INDEX users_name ON users (name);
         CREATE VIEW big_spenders AS SELECT user_id, sum(total) AS spent FROM orders GROUP BY user_id;",
    )
    .unwrap();
    drop(conn);
    let ws = Workspace::create(&dir.path().join("ws")).unwrap();
    Fixture {
        db,
        ctx: ToolContext {
            workspace: Arc::new(ws),
        },
        dir,
    }
}

fn database(name: &str, path: &Path, access: DatabaseAccess, classifier: bool) -> DatabaseConfig {
    DatabaseConfig {
        name: name.to_owned(),
        kind: DatabaseKind::Sqlite {
            path: path.to_owned(),
        },
        access,
        classifier,
        caps: SqlCaps::default(),
    }
}

fn call(set: &SqlToolset, ctx: &ToolContext, tool: &str, args: Value) -> ToolResult {
    let invocation = set.decode(tool, &args).unwrap();
    invocation.run(ctx).unwrap()
}

fn hash(path: &Path) -> blake3::Hash {
    blake3::hash(&std::fs::read(path).unwrap())
}

fn text(result: &ToolResult) -> String {
    result.to_model_text()
}

/// Every way of writing through `sql.query` that the classifier would catch,
/// sent with the classifier off: the database layer refuses each one.
const BYPASSES: &[&str] = &[
    "DROP TABLE users",
    "DELETE FROM users",
    "/* comment */ DELETE FROM users",
    "-- x\nDROP TABLE users",
    "UPDATE users SET name = 'x'",
    "INSERT INTO users (name) VALUES ('eve')",
    "INSERT INTO users (name) VALUES ('eve') RETURNING id",
    "REPLACE INTO users VALUES (1, 'eve', 0, NULL)",
    "CREATE TABLE stolen (a)",
    "CREATE TEMP TABLE t (a)",
    "CREATE TEMP VIEW v AS SELECT 1",
    "CREATE TRIGGER tr AFTER INSERT ON users BEGIN DELETE FROM users; END",
    "ALTER TABLE users ADD COLUMN evil TEXT",
    "COMMIT; DROP TABLE users",
    "SELECT 1; DROP TABLE users",
    "BEGIN IMMEDIATE",
    "ATTACH 'ATTACHED' AS y",
    "ATTACH DATABASE ':memory:' AS m",
    "DETACH main",
    "PRAGMA query_only=0",
    "PRAGMA query_only(0)",
    "PRAGMA writable_schema=1",
    "PRAGMA journal_mode=WAL",
    "PRAGMA user_version=7",
    "PRAGMA trusted_schema=1",
    "VACUUM",
    "VACUUM INTO 'COPY'",
    "REINDEX",
    "ANALYZE",
    "SELECT load_extension('/tmp/x')",
    "SELECT readfile('/etc/passwd')",
    "SELECT writefile('/tmp/x', 'y')",
    "SELECT fts3_tokenizer('simple')",
    "CREATE VIRTUAL TABLE f USING fts5(a)",
    "SELECT * FROM users; SELECT 1",
];

#[test]
fn with_the_classifier_off_sqlite_itself_refuses_every_bypass() {
    let fx = fixture();
    let set = SqlToolset::new(vec![database(
        "app",
        &fx.db,
        DatabaseAccess::ReadOnly,
        false,
    )])
    .unwrap();
    let before = hash(&fx.db);
    let side = fx.dir.path().join("side.db");
    let copy = fx.dir.path().join("copy.db");
    let mut accepted = Vec::new();
    for sql in BYPASSES {
        let sql = sql
            .replace("'ATTACHED'", &format!("'{}'", side.display()))
            .replace("'COPY'", &format!("'{}'", copy.display()));
        let result = call(&set, &fx.ctx, QUERY, json!({"database": "app", "sql": sql}));
        println!("{sql:?}: {}", result.to_model_text());
        if !result.is_error {
            accepted.push(format!("{sql:?} -> {}", text(&result)));
        }
    }
    assert!(accepted.is_empty(), "ran:\n{}", accepted.join("\n"));
    assert_eq!(hash(&fx.db), before, "the database file changed");
    assert!(!side.exists(), "ATTACH created a file");
    assert!(!copy.exists(), "VACUUM INTO wrote a copy");
    let rows = call(
        &set,
        &fx.ctx,
        QUERY,
        json!({"database": "app", "sql": "SELECT count(*) FROM users"}),
    );
    assert_eq!(rows.structured.unwrap()["rows"], json!([[3]]));
}

#[test]
fn refusals_name_the_cause() {
    let fx = fixture();
    let set = SqlToolset::new(vec![database(
        "app",
        &fx.db,
        DatabaseAccess::ReadOnly,
        false,
    )])
    .unwrap();
    let cases = [
        ("DELETE FROM users", "not authorized"),
        ("SELECT 1; SELECT 2", "Multiple statements"),
        ("SELECT 1; DROP TABLE users", "not authorized"),
        ("REINDEX", "not authorized"),
        ("SELECT load_extension('x')", "not authorized"),
        ("SELECT nosuch(1)", "no such function"),
        ("SELECT length(randomblob(1000000000))", "too big"),
    ];
    for (sql, want) in cases {
        let result = call(&set, &fx.ctx, QUERY, json!({"database": "app", "sql": sql}));
        assert!(result.is_error, "{sql}");
        assert!(text(&result).contains(want), "{sql}: {}", text(&result));
    }
}

#[test]
fn the_read_only_open_never_creates_a_file() {
    let fx = fixture();
    let missing = fx.dir.path().join("missing.db");
    let set = SqlToolset::new(vec![database(
        "gone",
        &missing,
        DatabaseAccess::ReadWrite,
        false,
    )])
    .unwrap();
    for tool in [QUERY, EXECUTE] {
        let result = call(
            &set,
            &fx.ctx,
            tool,
            json!({"database": "gone", "sql": "CREATE TABLE t (a)"}),
        );
        assert!(result.is_error);
        assert!(
            text(&result).contains("could not open"),
            "{}",
            text(&result)
        );
    }
    assert!(!missing.exists());
}

#[test]
fn reads_return_columns_rows_and_flags() {
    let fx = fixture();
    let set = SqlToolset::new(vec![database(
        "app",
        &fx.db,
        DatabaseAccess::ReadOnly,
        true,
    )])
    .unwrap();
    let result = call(
        &set,
        &fx.ctx,
        QUERY,
        json!({
            "database": "app",
            "sql": "-- who spent what\nSELECT u.id, u.name, u.score, u.avatar, b.spent, \
                    rank() OVER (ORDER BY b.spent DESC) AS r \
                    FROM users u LEFT JOIN big_spenders b ON b.user_id = u.id \
                    WHERE u.id >= ?1 ORDER BY u.id",
            "params": [1]
        }),
    );
    assert!(!result.is_error, "{}", text(&result));
    let value = result.structured.clone().unwrap();
    assert_eq!(
        value,
        json!({
            "columns": ["id", "name", "score", "avatar", "spent", "r"],
            "rows": [
                [1, "ada", 9.5, "x'00ff'", 30, 1],
                [2, "bob", null, null, null, 3],
                [3, "cy", 7.25, null, 5, 2]
            ],
            "row_count": 3,
            "truncated": false
        })
    );
    assert!(text(&result).contains("\"ada\""));
    let described = call(
        &set,
        &fx.ctx,
        QUERY,
        json!({"database": "app", "sql": "PRAGMA table_info('users')"}),
    );
    assert!(!described.is_error, "{}", text(&described));
    assert_eq!(described.structured.unwrap()["row_count"], json!(4));
    let each = call(
        &set,
        &fx.ctx,
        QUERY,
        json!({"database": "app", "sql": "SELECT key, value FROM json_each(?1) ORDER BY key", "params": ["{\"b\": 2, \"a\": [1]}"]}),
    );
    assert!(!each.is_error, "{}", text(&each));
    assert_eq!(
        each.structured.unwrap()["rows"],
        json!([["a", "[1]"], ["b", 2]])
    );
}

#[test]
fn row_and_byte_caps_truncate_and_say_so() {
    let fx = fixture();
    let mut db = database("app", &fx.db, DatabaseAccess::ReadOnly, true);
    db.caps.max_rows = 5;
    let mut small = database("small", &fx.db, DatabaseAccess::ReadOnly, true);
    small.caps.max_bytes = 200;
    let set = SqlToolset::new(vec![db, small]).unwrap();
    let series = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) \
                  SELECT i, printf('%040d', i) FROM n";
    let result = call(
        &set,
        &fx.ctx,
        QUERY,
        json!({"database": "app", "sql": series}),
    );
    let value = result.structured.clone().unwrap();
    assert_eq!(value["row_count"], json!(5));
    assert_eq!(value["truncated"], json!(true));
    assert!(text(&result).contains("truncated"));
    let result = call(
        &set,
        &fx.ctx,
        QUERY,
        json!({"database": "small", "sql": series}),
    );
    let value = result.structured.unwrap();
    let count = value["row_count"].as_u64().unwrap();
    assert!((1..5).contains(&count), "{value}");
    assert_eq!(value["truncated"], json!(true));
    assert!(value.to_string().len() < 400, "{value}");
}

#[test]
fn a_long_statement_is_stopped_at_the_timeout() {
    let fx = fixture();
    let mut db = database("app", &fx.db, DatabaseAccess::ReadOnly, true);
    db.caps.statement_timeout = Duration::from_millis(200);
    let set = SqlToolset::new(vec![db]).unwrap();
    let forever = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
                   SELECT count(*) FROM n";
    let result = call(
        &set,
        &fx.ctx,
        QUERY,
        json!({"database": "app", "sql": forever}),
    );
    assert!(result.is_error);
    assert!(
        text(&result).contains("longer than 0.2 s"),
        "{}",
        text(&result)
    );
}

#[test]
fn read_write_databases_write_but_still_refuse_attach_pragmas_and_extensions() {
    let fx = fixture();
    let set = SqlToolset::new(vec![
        database("app", &fx.db, DatabaseAccess::ReadWrite, false),
        database("ro", &fx.db, DatabaseAccess::ReadOnly, true),
    ])
    .unwrap();
    assert!(set.tools().iter().any(|t| t.spec.name == EXECUTE));
    let inserted = call(
        &set,
        &fx.ctx,
        EXECUTE,
        json!({"database": "app", "sql": "INSERT INTO users (name) VALUES (?1), (?2)", "params": ["dee", "eli"]}),
    );
    assert!(!inserted.is_error, "{}", text(&inserted));
    assert_eq!(inserted.structured.unwrap()["rows_affected"], json!(2));
    let returning = call(
        &set,
        &fx.ctx,
        EXECUTE,
        json!({"database": "app", "sql": "UPDATE users SET score = 1 WHERE name = 'dee' RETURNING id, name"}),
    );
    assert_eq!(returning.structured.unwrap()["rows"], json!([[4, "dee"]]),);
    let side = fx.dir.path().join("side.db");
    let copy = fx.dir.path().join("copy.db");
    for sql in [
        format!("ATTACH '{}' AS y", side.display()),
        format!("VACUUM INTO '{}'", copy.display()),
        "PRAGMA writable_schema=1".to_owned(),
        "PRAGMA query_only=1".to_owned(),
        "SELECT load_extension('/tmp/x')".to_owned(),
        "CREATE VIRTUAL TABLE f USING fts5(a)".to_owned(),
        "DELETE FROM users; DROP TABLE users".to_owned(),
    ] {
        let result = call(
            &set,
            &fx.ctx,
            EXECUTE,
            json!({"database": "app", "sql": sql}),
        );
        println!("{sql:?}: {}", text(&result));
        assert!(result.is_error, "{sql} ran: {}", text(&result));
    }
    assert!(!side.exists() && !copy.exists());
    // sql.query on a read-write database is still read-only.
    let read = call(
        &set,
        &fx.ctx,
        QUERY,
        json!({"database": "app", "sql": "SELECT count(*) FROM users"}),
    );
    assert_eq!(read.structured.unwrap()["rows"], json!([[5]]));
    let denied = set
        .decode(
            EXECUTE,
            &json!({"database": "ro", "sql": "DELETE FROM users"}),
        )
        .err()
        .unwrap();
    assert!(matches!(denied, ToolError::InvalidArguments { .. }));
    assert!(denied.to_string().contains("`ro` is read-only"), "{denied}");
}

#[test]
fn schema_lists_tables_views_and_columns() {
    let fx = fixture();
    let set = SqlToolset::new(vec![database(
        "app",
        &fx.db,
        DatabaseAccess::ReadOnly,
        true,
    )])
    .unwrap();
    let all = call(&set, &fx.ctx, SCHEMA, json!({"database": "app"}));
    let value = all.structured.unwrap();
    let names: Vec<_> = value["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("big_spenders", "view"),
            ("orders", "table"),
            ("users", "table")
        ]
    );
    let users = call(
        &set,
        &fx.ctx,
        SCHEMA,
        json!({"database": "app", "table": "users"}),
    );
    assert_eq!(
        users.structured.unwrap()["tables"][0]["columns"][1],
        json!({"name": "name", "type": "TEXT", "nullable": false, "primary_key": false})
    );
    let missing = call(
        &set,
        &fx.ctx,
        SCHEMA,
        json!({"database": "app", "table": "nope"}),
    );
    assert!(missing.is_error);
    assert!(text(&missing).contains("`nope` was not found"));
}

#[test]
fn decoding_is_strict_and_the_classifier_refuses_early() {
    let fx = fixture();
    let set = SqlToolset::new(vec![database(
        "app",
        &fx.db,
        DatabaseAccess::ReadOnly,
        true,
    )])
    .unwrap();
    assert_eq!(
        set.tools()
            .iter()
            .map(|t| t.spec.name.as_str())
            .collect::<Vec<_>>(),
        [QUERY, SCHEMA],
        "sql.execute is offered only over read-write databases"
    );
    let cases = [
        (
            QUERY,
            json!({"database": "nope", "sql": "SELECT 1"}),
            "unknown database `nope`",
        ),
        (QUERY, json!({"database": "app", "sql": 1}), "invalid type"),
        (QUERY, json!({"database": "app"}), "missing field `sql`"),
        (
            QUERY,
            json!({"database": "app", "sql": "SELECT 1", "limit": 5}),
            "unknown field `limit`",
        ),
        (
            QUERY,
            json!({"database": "app", "sql": "SELECT ?1", "params": [[1]]}),
            "params[0]",
        ),
        (
            SCHEMA,
            json!({"database": "app", "table": 3}),
            "invalid type",
        ),
        (
            EXECUTE,
            json!({"database": "app", "sql": "DELETE FROM users"}),
            "read-only",
        ),
        (
            QUERY,
            json!({"database": "app", "sql": "SELECT 1 ".repeat(10_000)}),
            "byte limit",
        ),
    ];
    for (tool, args, want) in cases {
        let err = set.decode(tool, &args).err().unwrap();
        assert!(
            matches!(err, ToolError::InvalidArguments { .. }),
            "{tool} {args}: {err:?}"
        );
        assert!(err.to_string().contains(want), "{tool} {args}: {err}");
    }
    assert!(matches!(
        set.decode("sql.drop", &json!({})).err().unwrap(),
        ToolError::UnknownTool { .. }
    ));
    // What the classifier refuses decodes (policy sees its class first) and
    // is refused when it runs, before it reaches the database.
    let ctx = ToolContext {
        workspace: Arc::new(Workspace::create(&fx.dir.path().join("ws2")).unwrap()),
    };
    for (sql, class, want) in [
        ("DELETE FROM users", "write", "class `write`"),
        ("COMMIT; DROP TABLE users", "other", "2 statements"),
    ] {
        let call = set
            .decode(QUERY, &json!({"database": "app", "sql": sql}))
            .unwrap();
        let facts = call.facts();
        assert_eq!(facts.resource.as_deref(), Some("app"));
        assert_eq!(facts.attributes["statement_class"], class, "{sql}");
        let result = call.run(&ctx).unwrap();
        assert!(result.is_error, "{sql}");
        let text = result.to_model_text();
        assert!(
            text.contains("refused before reaching `app`") && text.contains(want),
            "{sql}: {text}"
        );
    }
    assert_eq!(
        set.statement_class(
            QUERY,
            &json!({"database": "app", "sql": "DELETE FROM users"})
        ),
        Some(StatementClass::Write)
    );
    assert_eq!(
        set.statement_class(SCHEMA, &json!({"database": "app"})),
        Some(StatementClass::Read)
    );
    assert_eq!(
        set.statement_class(QUERY, &json!({"database": "x", "sql": "SELECT 1"})),
        None
    );
    let schema = &set.tools()[0].spec.input_schema;
    assert_eq!(schema["required"], json!(["database", "sql"]));
    assert_eq!(schema["additionalProperties"], json!(false));
}

#[test]
fn wal_databases_read_while_a_writer_has_them_open_and_after_it_closed() {
    let fx = fixture();
    let wal = fx.dir.path().join("wal.db");
    let writer = rusqlite::Connection::open(&wal).unwrap();
    writer
        .execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE t (a); INSERT INTO t VALUES (1), (2);",
        )
        .unwrap();
    let set = SqlToolset::new(vec![database("wal", &wal, DatabaseAccess::ReadOnly, true)]).unwrap();
    let args = json!({"database": "wal", "sql": "SELECT count(*) FROM t"});
    let open = call(&set, &fx.ctx, QUERY, args.clone());
    assert_eq!(
        open.structured.unwrap()["rows"],
        json!([[2]]),
        "writer open"
    );
    drop(writer);
    let closed = call(&set, &fx.ctx, QUERY, args);
    assert!(!closed.is_error, "{}", text(&closed));
    assert_eq!(
        closed.structured.unwrap()["rows"],
        json!([[2]]),
        "writer closed"
    );
}

/// Not an assert on time: prints the end-to-end cost for the report.
#[test]
fn query_end_to_end_cost_is_printed() {
    let fx = fixture();
    let set = SqlToolset::new(vec![database(
        "app",
        &fx.db,
        DatabaseAccess::ReadOnly,
        true,
    )])
    .unwrap();
    let args = json!({"database": "app", "sql": "SELECT id, name FROM users WHERE id = ?1", "params": [2]});
    let mut times = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        let result = call(&set, &fx.ctx, QUERY, args.clone());
        times.push(start.elapsed());
        assert_eq!(result.structured.unwrap()["rows"], json!([[2, "bob"]]));
    }
    times.sort();
    println!(
        "sql.query on SQLite, decode + classify + open + run: median {:?}, p90 {:?}",
        times[times.len() / 2],
        times[times.len() * 9 / 10]
    );
}
