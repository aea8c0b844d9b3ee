//! The classifier's table: every bypass it must refuse early (with a reason
//! the model can act on) and the reads it must let through.

use std::time::Instant;

use bureau_sql::{Dialect, Reject, StatementClass, classify, classify_read};

const BOTH: [Dialect; 2] = [Dialect::Sqlite, Dialect::Postgres];

/// (sql, dialects, what the message must contain)
const REFUSED_FOR_READ: &[(&str, &[Dialect], &str)] = &[
    ("COMMIT; DROP TABLE users", &BOTH, "2 statements"),
    ("SELECT 1; SELECT 2", &BOTH, "2 statements"),
    ("SELECT 1;;DELETE FROM users", &BOTH, "statements"),
    ("/* comment */ DELETE FROM users", &BOTH, "class `write`"),
    ("-- x\nDROP TABLE users", &BOTH, "class `ddl`"),
    (
        "/* SELECT */ -- SELECT\n  UPDATE users SET name = 'x'",
        &BOTH,
        "class `write`",
    ),
    ("DELETE FROM users", &BOTH, "class `write`"),
    ("INSERT INTO users VALUES (1, 'x')", &BOTH, "class `write`"),
    (
        "WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d",
        &[Dialect::Postgres],
        "DELETE inside a query",
    ),
    (
        "WITH u AS (UPDATE users SET name = 'x' RETURNING *) SELECT count(*) FROM u",
        &[Dialect::Postgres],
        "UPDATE inside a query",
    ),
    (
        "WITH i AS (INSERT INTO users VALUES (9, 'z') RETURNING id) SELECT id FROM i",
        &[Dialect::Postgres],
        "INSERT inside a query",
    ),
    (
        "SELECT * INTO stolen FROM users",
        &[Dialect::Postgres],
        "SELECT … INTO",
    ),
    (
        "SELECT * FROM users FOR UPDATE",
        &[Dialect::Postgres],
        "FOR UPDATE",
    ),
    (
        "SELECT * FROM users FOR SHARE",
        &[Dialect::Postgres],
        "FOR SHARE",
    ),
    (
        "COPY users TO '/tmp/x'",
        &[Dialect::Postgres],
        "COPY is not allowed",
    ),
    (
        "COPY users FROM '/etc/passwd'",
        &[Dialect::Postgres],
        "COPY is not allowed",
    ),
    (
        "COPY (SELECT 1) TO PROGRAM 'id'",
        &[Dialect::Postgres],
        "COPY is not allowed",
    ),
    (
        "ATTACH 'x.db' AS y",
        &[Dialect::Sqlite],
        "ATTACH/DETACH is not allowed",
    ),
    (
        "ATTACH DATABASE '/tmp/x.db' AS y",
        &[Dialect::Sqlite],
        "ATTACH/DETACH",
    ),
    (
        "PRAGMA query_only=0",
        &[Dialect::Sqlite],
        "PRAGMA that changes settings",
    ),
    (
        "PRAGMA query_only = OFF",
        &[Dialect::Sqlite],
        "does not parse",
    ),
    (
        "PRAGMA writable_schema(1)",
        &[Dialect::Sqlite],
        "PRAGMA that changes settings",
    ),
    (
        "PRAGMA journal_mode",
        &[Dialect::Sqlite],
        "PRAGMA that changes settings",
    ),
    (
        "PRAGMA main.user_version = 7",
        &[Dialect::Sqlite],
        "PRAGMA that changes settings",
    ),
    (
        "PRAGMA compile_options",
        &[Dialect::Sqlite],
        "class `admin`",
    ),
    ("VACUUM INTO 'copy.db'", &[Dialect::Sqlite], "VACUUM"),
    ("VACUUM", &[Dialect::Sqlite], "VACUUM"),
    (
        "SELECT pg_read_file('/etc/passwd')",
        &[Dialect::Postgres],
        "`pg_read_file`",
    ),
    (
        "SELECT pg_catalog.PG_READ_FILE('/etc/passwd')",
        &[Dialect::Postgres],
        "`pg_read_file`",
    ),
    (
        "SELECT \"pg_read_binary_file\"('/etc/passwd')",
        &[Dialect::Postgres],
        "`pg_read_binary_file`",
    ),
    (
        "SELECT * FROM pg_ls_dir('/')",
        &[Dialect::Postgres],
        "`pg_ls_dir`",
    ),
    (
        "SELECT lo_import('/etc/passwd')",
        &[Dialect::Postgres],
        "`lo_import`",
    ),
    (
        "SELECT lo_export(1, '/tmp/x')",
        &[Dialect::Postgres],
        "`lo_export`",
    ),
    (
        "SELECT lo_from_bytea(0, 'x')",
        &[Dialect::Postgres],
        "`lo_from_bytea`",
    ),
    ("SELECT lo_put(1, 0, 'x')", &[Dialect::Postgres], "`lo_put`"),
    (
        "SELECT * FROM dblink('host=x', 'select 1') AS t(a int)",
        &[Dialect::Postgres],
        "`dblink`",
    ),
    (
        "SELECT dblink_exec('host=x', 'drop table users')",
        &[Dialect::Postgres],
        "`dblink_exec`",
    ),
    (
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        &[Dialect::Postgres],
        "`set_config`",
    ),
    (
        "SELECT pg_advisory_lock(1)",
        &[Dialect::Postgres],
        "`pg_advisory_lock`",
    ),
    (
        "SELECT id FROM users WHERE name IN (SELECT pg_read_file('/etc/passwd'))",
        &[Dialect::Postgres],
        "`pg_read_file`",
    ),
    (
        "SELECT CASE WHEN id > 0 THEN lo_import('/etc/passwd') END FROM users",
        &[Dialect::Postgres],
        "`lo_import`",
    ),
    ("SELECT load_extension('x')", &BOTH, "`load_extension`"),
    (
        "SELECT readfile('/etc/passwd')",
        &[Dialect::Sqlite],
        "`readfile`",
    ),
    (
        "SELECT writefile('/tmp/x', 'y')",
        &[Dialect::Sqlite],
        "`writefile`",
    ),
    (
        "SELECT fts3_tokenizer('simple')",
        &[Dialect::Sqlite],
        "`fts3_tokenizer`",
    ),
    (
        "SELECT nextval('users_id_seq')",
        &[Dialect::Postgres],
        "changes a sequence",
    ),
    (
        "SET TRANSACTION READ WRITE",
        &[Dialect::Postgres],
        "class `transaction`",
    ),
    (
        "SET default_transaction_read_only = off",
        &[Dialect::Postgres],
        "class `session`",
    ),
    (
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        &[Dialect::Postgres],
        "class",
    ),
    ("BEGIN", &BOTH, "class `transaction`"),
    ("CREATE TEMP TABLE t (a int)", &BOTH, "class `ddl`"),
    ("DROP TABLE users", &BOTH, "class `ddl`"),
    ("TRUNCATE users", &[Dialect::Postgres], "class `ddl`"),
    (
        "GRANT ALL ON users TO PUBLIC",
        &[Dialect::Postgres],
        "class `admin`",
    ),
    (
        "CREATE ROLE evil SUPERUSER",
        &[Dialect::Postgres],
        "class `admin`",
    ),
    (
        "LOCK TABLE users IN ACCESS EXCLUSIVE MODE",
        &[Dialect::Postgres],
        "class `write`",
    ),
    (
        "EXPLAIN ANALYZE DELETE FROM users",
        &[Dialect::Postgres],
        "class `write`",
    ),
    ("SELEC * FROM users", &BOTH, "does not parse"),
    ("", &BOTH, "no SQL statement"),
    ("-- only a comment", &BOTH, "no SQL statement"),
];

const READS: &[(&str, &[Dialect])] = &[
    ("SELECT 1", &BOTH),
    (
        "  -- leading comment\n/* and another */ SELECT * FROM users;",
        &BOTH,
    ),
    (
        "SELECT u.name, count(o.id) FROM users u LEFT JOIN orders o ON o.user_id = u.id GROUP BY u.name",
        &BOTH,
    ),
    (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT sum(i) FROM n",
        &BOTH,
    ),
    (
        "SELECT name, row_number() OVER (PARTITION BY name ORDER BY id) FROM users",
        &BOTH,
    ),
    (
        "SELECT * FROM users WHERE name = 'DROP TABLE users; --'",
        &BOTH,
    ),
    ("SELECT 'pg_read_file(''/etc/passwd'')' AS text", &BOTH),
    ("SELECT * FROM users WHERE id = $1", &[Dialect::Postgres]),
    ("SELECT * FROM users WHERE id = ?1", &[Dialect::Sqlite]),
    ("EXPLAIN SELECT * FROM users", &BOTH),
    ("VALUES (1, 2)", &BOTH),
    (
        "SELECT * FROM users UNION SELECT * FROM admins EXCEPT SELECT * FROM banned",
        &BOTH,
    ),
    (
        "SELECT json_extract(data, '$.a') FROM docs",
        &[Dialect::Sqlite],
    ),
    (
        "SELECT jsonb_path_query(data, '$.a') FROM docs",
        &[Dialect::Postgres],
    ),
    (
        "SELECT now(), current_user, version()",
        &[Dialect::Postgres],
    ),
    ("PRAGMA table_info('users')", &[Dialect::Sqlite]),
    ("SHOW search_path", &[Dialect::Postgres]),
];

#[test]
fn bypasses_are_refused_for_reads_with_a_reason() {
    let mut failures = Vec::new();
    for (sql, dialects, want) in REFUSED_FOR_READ {
        for dialect in dialects.iter() {
            match classify_read(*dialect, sql) {
                Ok(got) => failures.push(format!("{dialect:?} accepted {sql:?} as {got:?}")),
                Err(err) if !err.to_string().contains(want) => {
                    failures.push(format!("{dialect:?} {sql:?}: {err} (wanted {want:?})"));
                }
                Err(_) => {}
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn legit_reads_pass() {
    let mut failures = Vec::new();
    for (sql, dialects) in READS {
        for dialect in dialects.iter() {
            match classify_read(*dialect, sql) {
                Ok(got) if got.class == StatementClass::Read && got.reason.is_none() => {}
                Ok(got) => failures.push(format!("{dialect:?} {sql:?}: {got:?}")),
                Err(e) => failures.push(format!("{dialect:?} refused {sql:?}: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn classes_are_stable_names_for_policy() {
    let cases = [
        ("SELECT 1", "read"),
        ("INSERT INTO t VALUES (1)", "write"),
        ("UPDATE t SET a = 1", "write"),
        ("DELETE FROM t", "write"),
        ("CREATE TABLE t (a int)", "ddl"),
        ("ALTER TABLE t ADD COLUMN b int", "ddl"),
        ("DROP TABLE t", "ddl"),
        ("CREATE INDEX i ON t (a)", "ddl"),
        ("BEGIN", "transaction"),
        ("COMMIT", "transaction"),
        ("ROLLBACK", "transaction"),
        ("SET search_path = public", "session"),
        ("GRANT SELECT ON t TO bob", "admin"),
    ];
    for (sql, want) in cases {
        let got = classify(Dialect::Postgres, sql).unwrap();
        assert_eq!(got.class.as_str(), want, "{sql}");
    }
    // Writes are fine for sql.execute, which uses `classify`, not `classify_read`.
    let write = classify(
        Dialect::Postgres,
        "WITH d AS (DELETE FROM t RETURNING *) INSERT INTO archive SELECT * FROM d",
    )
    .unwrap();
    assert_eq!(write.class, StatementClass::Write);
}

#[test]
fn universal_refusals_hold_for_writes_too() {
    for sql in [
        "COPY users TO '/tmp/x'",
        "INSERT INTO t SELECT pg_read_file('/etc/passwd')",
        "UPDATE t SET a = lo_import('/etc/passwd')",
        "DELETE FROM t; DROP TABLE users",
    ] {
        let err = classify(Dialect::Postgres, sql).unwrap_err();
        assert!(
            !matches!(err, Reject::NotRead { .. }),
            "{sql} should be refused outright, got {err}"
        );
    }
    for sql in [
        "ATTACH 'x.db' AS y",
        "PRAGMA query_only=0",
        "VACUUM INTO 'x.db'",
    ] {
        assert!(classify(Dialect::Sqlite, sql).is_err(), "{sql}");
    }
}

#[test]
fn parse_failures_carry_the_parser_message() {
    let err = classify(Dialect::Postgres, "SELECT FROM WHERE (").unwrap_err();
    match &err {
        Reject::Parse { dialect, message } => {
            assert_eq!(*dialect, "PostgreSQL");
            assert!(message.contains("Expected"), "{message}");
        }
        other => panic!("expected a parse reject, got {other}"),
    }
}

/// Not an assert on time: prints the cost for the report.
#[test]
fn classifier_cost_is_printed() {
    let sql = "SELECT u.name, count(o.id) FROM users u LEFT JOIN orders o ON o.user_id = u.id \
               WHERE u.created > '2026-01-01' GROUP BY u.name ORDER BY 2 DESC LIMIT 10";
    let rounds = 2_000u32;
    let start = Instant::now();
    for _ in 0..rounds {
        assert!(classify_read(Dialect::Postgres, sql).is_ok());
    }
    let per = start.elapsed() / rounds;
    println!("classify_read: {per:?} per statement ({rounds} rounds, this build profile)");
}
