//! The SQL tools over a real throwaway PostgreSQL: with the classifier off,
//! a least-privilege role inside a read-only transaction, one statement per
//! call over the extended protocol, refuses every bypass and the rows stay.
//!
//! One cluster per test binary ([`TempPostgres::shared`]); each test has
//! its own database and roles.

#![expect(clippy::unwrap_used, reason = "test fixtures")]

use std::sync::Arc;
use std::time::Duration;

use bureau_protocol::ToolResult;
use bureau_sql::{
    DatabaseAccess, DatabaseConfig, DatabaseKind, EXECUTE, QUERY, SCHEMA, SqlCaps, SqlToolset,
    readonly_role_sql,
};
use bureau_test_support::postgres::TempPostgres;
use bureau_tools::{ToolContext, Toolset, Workspace};
use serde_json::{Value, json};

struct Fixture {
    pg: &'static TempPostgres,
    db: String,
    reader: String,
    writer: String,
    ctx: ToolContext,
    _dir: tempfile::TempDir,
}

/// A database `name` with a `users` table (3 rows), a read-only role
/// `<name>_ro` provisioned by [`readonly_role_sql`] and a writer role
/// `<name>_rw` that owns nothing but may write `users`. `None` when
/// PostgreSQL is not installed.
fn fixture(name: &str) -> Option<Fixture> {
    if TempPostgres::bin_dir().is_none() {
        println!(
            "SKIPPED: PostgreSQL server binaries are not installed (run scripts/setup-test-deps.sh)"
        );
        return None;
    }
    let pg = TempPostgres::shared().unwrap();
    pg.create_database(name).unwrap();
    let reader = format!("{name}_ro");
    let writer = format!("{name}_rw");
    pg.admin(
        name,
        "CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, score numeric(6,2), \
                             active boolean, born date, seen timestamptz, meta jsonb);
         INSERT INTO users (name, score, active, born, seen, meta) VALUES
           ('ada', 1234.5, true, '1815-12-10', '2026-11-24 08:00:00+00', '{\"a\": 1}'),
           ('bob', -0.25, false, NULL, NULL, NULL),
           ('cy', NULL, NULL, '2000-02-29', NULL, '[1, 2]');",
    )
    .unwrap();
    pg.admin(name, &readonly_role_sql(&reader, name, "public"))
        .unwrap();
    pg.admin(
        name,
        &format!(
            "CREATE ROLE {writer} LOGIN; GRANT CONNECT ON DATABASE {name} TO {writer}; \
             GRANT USAGE ON SCHEMA public TO {writer}; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON users TO {writer}; \
             GRANT USAGE ON SEQUENCE users_id_seq TO {writer};"
        ),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::create(&dir.path().join("ws")).unwrap();
    Some(Fixture {
        pg,
        db: name.to_owned(),
        reader,
        writer,
        ctx: ToolContext {
            workspace: Arc::new(ws),
        },
        _dir: dir,
    })
}

impl Fixture {
    fn config(
        &self,
        name: &str,
        user: &str,
        access: DatabaseAccess,
        classifier: bool,
    ) -> DatabaseConfig {
        DatabaseConfig {
            name: name.to_owned(),
            kind: DatabaseKind::Postgres {
                url: self.pg.url(&self.db, user),
            },
            access,
            classifier,
            caps: SqlCaps::default(),
        }
    }

    fn readonly_set(&self, classifier: bool) -> SqlToolset {
        SqlToolset::new(vec![self.config(
            "app",
            &self.reader,
            DatabaseAccess::ReadOnly,
            classifier,
        )])
        .unwrap()
    }

    fn admin(&self, sql: &str) -> String {
        self.pg.admin(&self.db, sql).unwrap()
    }

    /// The rows and large objects are as the fixture left them.
    fn assert_untouched(&self) {
        assert_eq!(
            self.admin("SELECT string_agg(name, ',' ORDER BY id) FROM users"),
            "ada,bob,cy"
        );
        assert_eq!(
            self.admin("SELECT count(*) FROM pg_largeobject_metadata"),
            "0"
        );
        assert_eq!(
            self.admin("SELECT count(*) FROM pg_class WHERE relname = 'stolen'"),
            "0"
        );
    }
}

fn call(set: &SqlToolset, ctx: &ToolContext, tool: &str, args: Value) -> ToolResult {
    set.decode(tool, &args).unwrap().run(ctx).unwrap()
}

#[test]
fn with_the_classifier_off_the_role_and_server_refuse_every_bypass() {
    let Some(fx) = fixture("bypass") else { return };
    let set = fx.readonly_set(false);
    let out = fx.pg.dir().join("copied");
    let bypasses = [
        "DROP TABLE users".to_owned(),
        "DELETE FROM users".to_owned(),
        "/* comment */ DELETE FROM users".to_owned(),
        "-- x\nDROP TABLE users".to_owned(),
        "UPDATE users SET name = 'x'".to_owned(),
        "INSERT INTO users (name) VALUES ('eve')".to_owned(),
        "TRUNCATE users".to_owned(),
        "WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d".to_owned(),
        "SELECT * INTO stolen FROM users".to_owned(),
        "CREATE TABLE stolen (a int)".to_owned(),
        "CREATE TEMP TABLE stolen (a int)".to_owned(),
        "SELECT * FROM users FOR UPDATE".to_owned(),
        "SELECT lo_import('/etc/passwd')".to_owned(),
        "SELECT lo_from_bytea(0, 'x')".to_owned(),
        "SELECT lo_create(0)".to_owned(),
        "SELECT pg_read_file('/etc/passwd')".to_owned(),
        "SELECT pg_read_binary_file('/etc/passwd')".to_owned(),
        "SELECT * FROM pg_ls_dir('/')".to_owned(),
        format!("COPY users TO '{}'", out.display()),
        format!("COPY (SELECT * FROM users) TO '{}'", out.display()),
        "COPY users FROM '/etc/passwd'".to_owned(),
        "COPY (SELECT 1) TO PROGRAM 'id'".to_owned(),
        "COMMIT; DROP TABLE users".to_owned(),
        "SELECT 1; DELETE FROM users".to_owned(),
        "SET TRANSACTION READ WRITE".to_owned(),
        "ALTER ROLE CURRENT_USER SET default_transaction_read_only = off".to_owned(),
        "GRANT ALL ON users TO PUBLIC".to_owned(),
        "CREATE ROLE evil SUPERUSER".to_owned(),
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'DELETE FROM users RETURNING 1'"
            .to_owned(),
        "DO $$BEGIN DELETE FROM users; END$$".to_owned(),
        "LOCK TABLE users IN ACCESS EXCLUSIVE MODE".to_owned(),
        "SELECT nextval('users_id_seq')".to_owned(),
        "EXECUTE p".to_owned(),
    ];
    let mut ran = Vec::new();
    for sql in &bypasses {
        let result = call(&set, &fx.ctx, QUERY, json!({"database": "app", "sql": sql}));
        println!("{sql:?}: {}", result.to_model_text());
        if !result.is_error {
            ran.push(format!("{sql:?} -> {}", result.to_model_text()));
        }
    }
    // Session statements may be accepted, but they die with the call's
    // connection, and the role could not write anyway.
    for sql in [
        "SET default_transaction_read_only = off",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        "PREPARE p AS DELETE FROM users",
    ] {
        let _flip = call(&set, &fx.ctx, QUERY, json!({"database": "app", "sql": sql}));
        for write in ["DELETE FROM users", "EXECUTE p"] {
            let result = call(
                &set,
                &fx.ctx,
                QUERY,
                json!({"database": "app", "sql": write}),
            );
            if !result.is_error {
                ran.push(format!("{write:?} after {sql:?}"));
            }
        }
    }
    assert!(ran.is_empty(), "ran:\n{}", ran.join("\n"));
    assert!(!out.exists(), "COPY wrote a server file");
    fx.assert_untouched();
}

#[test]
fn refusals_come_from_the_server_and_say_why() {
    let Some(fx) = fixture("why") else { return };
    let set = fx.readonly_set(false);
    let cases = [
        (
            "COMMIT; DROP TABLE users",
            "cannot insert multiple commands into a prepared statement",
        ),
        ("DELETE FROM users", "read-only transaction"),
        (
            "SELECT lo_import('/etc/passwd')",
            "permission denied for function lo_import",
        ),
        (
            "SELECT pg_read_file('/etc/passwd')",
            "permission denied for function pg_read_file",
        ),
        ("SET TRANSACTION READ WRITE", "must be set before any query"),
    ];
    for (sql, want) in cases {
        let result = call(&set, &fx.ctx, QUERY, json!({"database": "app", "sql": sql}));
        assert!(result.is_error, "{sql}");
        let text = result.to_model_text();
        assert!(text.contains(want), "{sql}: {text}");
    }
}

/// The read-only flag is not the boundary: a session of the role that flips
/// it (as the first statement, or for the session) still cannot write.
#[test]
fn a_flipped_read_only_flag_still_cannot_write_through_the_role() {
    let Some(fx) = fixture("flip") else { return };
    let url = fx.pg.url(&fx.db, &fx.reader);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (mut client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let flag = client
            .query_one("SHOW default_transaction_read_only", &[])
            .await
            .unwrap();
        assert_eq!(
            flag.get::<_, String>(0),
            "on",
            "the role's default is read-only"
        );
        // Flip it for the transaction...
        let tx = client.transaction().await.unwrap();
        tx.execute("SET TRANSACTION READ WRITE", &[]).await.unwrap();
        let err = tx.execute("DELETE FROM users", &[]).await.unwrap_err();
        assert!(
            err.as_db_error()
                .unwrap()
                .message()
                .contains("permission denied for table users"),
            "{err:?}"
        );
        drop(tx);
        // ...and for the session.
        client
            .execute("SET default_transaction_read_only = off", &[])
            .await
            .unwrap();
        for sql in [
            "INSERT INTO users (name) VALUES ('eve')",
            "CREATE TEMP TABLE t (a int)",
            "CREATE TABLE public.stolen (a int)",
            "SELECT lo_from_bytea(0, 'x')",
        ] {
            let err = client.execute(sql, &[]).await.unwrap_err();
            let message = err.as_db_error().unwrap().message().to_owned();
            assert!(message.contains("permission denied"), "{sql}: {message}");
        }
    });
    fx.assert_untouched();
}

#[test]
fn reads_decode_types_and_bind_params_as_text() {
    let Some(fx) = fixture("reads") else { return };
    let set = fx.readonly_set(true);
    let result = call(
        &set,
        &fx.ctx,
        QUERY,
        json!({
            "database": "app",
            "sql": "SELECT id, name, score, active, born, seen, meta, 2::int8 * id AS twice, 0.5::float8 AS half \
                    FROM users WHERE id >= $1 AND born < $2 ORDER BY id",
            "params": [1, "2100-01-01"]
        }),
    );
    assert!(!result.is_error, "{}", result.to_model_text());
    assert_eq!(
        result.structured.unwrap(),
        json!({
            "columns": ["id", "name", "score", "active", "born", "seen", "meta", "twice", "half"],
            "rows": [
                [1, "ada", "1234.50", true, "1815-12-10", "2026-11-24 08:00:00+00", {"a": 1}, 2, 0.5],
                [3, "cy", null, null, "2000-02-29", null, [1, 2], 6, 0.5]
            ],
            "row_count": 2,
            "truncated": false
        })
    );
    let odd = call(
        &set,
        &fx.ctx,
        QUERY,
        json!({"database": "app", "sql": "SELECT '10.0.0.1'::inet AS ip, ARRAY[1,2] AS xs, $1::text IS NULL AS n", "params": [null]}),
    );
    let value = odd.structured.unwrap();
    assert!(
        value["rows"][0][0]
            .as_str()
            .unwrap()
            .contains("cast it to text"),
        "{value}"
    );
    assert_eq!(value["rows"][0][2], json!(true));
}

#[test]
fn caps_and_the_statement_timeout_hold() {
    let Some(fx) = fixture("caps") else { return };
    let mut rows = fx.config("rows", &fx.reader, DatabaseAccess::ReadOnly, true);
    rows.caps.max_rows = 10;
    let mut bytes = fx.config("bytes", &fx.reader, DatabaseAccess::ReadOnly, true);
    bytes.caps.max_bytes = 300;
    let mut slow = fx.config("slow", &fx.reader, DatabaseAccess::ReadOnly, true);
    slow.caps.statement_timeout = Duration::from_millis(300);
    let set = SqlToolset::new(vec![rows, bytes, slow]).unwrap();
    let series = "SELECT i, repeat('x', 40) FROM generate_series(1, 100000) AS i";
    let capped = call(
        &set,
        &fx.ctx,
        QUERY,
        json!({"database": "rows", "sql": series}),
    );
    let value = capped.structured.unwrap();
    assert_eq!(
        (value["row_count"].clone(), value["truncated"].clone()),
        (json!(10), json!(true))
    );
    let capped = call(
        &set,
        &fx.ctx,
        QUERY,
        json!({"database": "bytes", "sql": series}),
    );
    let value = capped.structured.unwrap();
    let count = value["row_count"].as_u64().unwrap();
    assert!((1..10).contains(&count), "{value}");
    assert_eq!(value["truncated"], json!(true));
    let exact = call(
        &set,
        &fx.ctx,
        QUERY,
        json!({"database": "rows", "sql": "SELECT i FROM generate_series(1, 10) AS i"}),
    );
    assert_eq!(exact.structured.unwrap()["truncated"], json!(false));
    let stopped = call(
        &set,
        &fx.ctx,
        QUERY,
        json!({"database": "slow", "sql": "SELECT pg_sleep(30)"}),
    );
    assert!(stopped.is_error);
    assert!(
        stopped.to_model_text().contains("longer than 0.3 s"),
        "{}",
        stopped.to_model_text()
    );
}

#[test]
fn execute_writes_through_a_writer_role_and_schema_lists_what_the_role_sees() {
    let Some(fx) = fixture("writes") else { return };
    let set = SqlToolset::new(vec![
        fx.config("app", &fx.writer, DatabaseAccess::ReadWrite, true),
        fx.config("ro", &fx.reader, DatabaseAccess::ReadOnly, true),
    ])
    .unwrap();
    let inserted = call(
        &set,
        &fx.ctx,
        EXECUTE,
        json!({"database": "app", "sql": "INSERT INTO users (name) VALUES ($1), ($2) RETURNING id", "params": ["dee", "eli"]}),
    );
    assert!(!inserted.is_error, "{}", inserted.to_model_text());
    let value = inserted.structured.unwrap();
    assert_eq!(value["rows_affected"], json!(2));
    assert_eq!(value["rows"], json!([[4], [5]]));
    // sql.query on the read-write database still runs read-only.
    let refused = call(
        &set,
        &fx.ctx,
        QUERY,
        json!({"database": "app", "sql": "SELECT 1"}),
    );
    assert!(!refused.is_error);
    let no_ddl = call(
        &set,
        &fx.ctx,
        EXECUTE,
        json!({"database": "app", "sql": "DROP TABLE users"}),
    );
    assert!(no_ddl.is_error, "the writer role owns nothing");
    assert_eq!(fx.admin("SELECT count(*) FROM users"), "5");
    let schema = call(
        &set,
        &fx.ctx,
        SCHEMA,
        json!({"database": "ro", "table": "users"}),
    );
    let value = schema.structured.unwrap();
    assert_eq!(value["tables"][0]["name"], json!("users"));
    assert_eq!(
        value["tables"][0]["columns"][1],
        json!({"name": "name", "type": "text", "nullable": false})
    );
    let missing = call(
        &set,
        &fx.ctx,
        SCHEMA,
        json!({"database": "ro", "table": "nope"}),
    );
    assert!(missing.is_error);
}

#[test]
fn a_dropped_cluster_is_stopped_and_removed() {
    if TempPostgres::bin_dir().is_none() {
        println!(
            "SKIPPED: PostgreSQL server binaries are not installed (run scripts/setup-test-deps.sh)"
        );
        return;
    }
    let pg = TempPostgres::start().unwrap();
    let dir = pg.dir().to_owned();
    let port = pg.port();
    assert_eq!(pg.admin("postgres", "SELECT 40 + 2").unwrap(), "42");
    assert!(dir.join("data/PG_VERSION").exists());
    drop(pg);
    assert!(!dir.exists(), "{} is still there", dir.display());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server still listens on {port}"
    );
}

/// Not an assert on time: prints the end-to-end cost for the report.
#[test]
fn query_end_to_end_cost_is_printed() {
    let Some(fx) = fixture("cost") else { return };
    let set = fx.readonly_set(true);
    let args = json!({"database": "app", "sql": "SELECT id, name FROM users WHERE id = $1", "params": [2]});
    let mut times = Vec::new();
    for _ in 0..50 {
        let start = std::time::Instant::now();
        let result = call(&set, &fx.ctx, QUERY, args.clone());
        times.push(start.elapsed());
        assert_eq!(result.structured.unwrap()["rows"], json!([[2, "bob"]]));
    }
    times.sort();
    println!(
        "sql.query on PostgreSQL (new connection per call, loopback TCP): median {:?}, p90 {:?}",
        times[times.len() / 2],
        times[times.len() * 9 / 10]
    );
}
