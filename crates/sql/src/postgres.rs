//! PostgreSQL, guarded by the server itself.
//!
//! Every call opens its own connection as the configured role (so no
//! session setting outlives the call), uses only the extended protocol (the
//! server refuses more than one statement in a prepared statement; nothing
//! here uses `simple_query` or `batch_execute` on agent SQL), and runs inside
//! a transaction: `START TRANSACTION READ ONLY` for reads, with the statement
//! timeout set by a `SELECT set_config(…, true)` first. That `SELECT` takes
//! the transaction's snapshot, so a later `SET TRANSACTION READ WRITE` is
//! refused too.
//!
//! The read-only transaction is a second guard, not the boundary: a role may
//! flip it (`SET TRANSACTION READ WRITE` as a transaction's first
//! statement, `SET default_transaction_read_only = off`, or
//! `set_config('default_transaction_read_only', 'off', false)`). What holds
//! is the role's privileges: provision read-only databases' roles with
//! [`readonly_role_sql`].

use std::time::Duration;

use futures::{StreamExt, pin_mut};
use serde_json::{Value, json};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls};

use crate::pg_values::{Cell, TextParam};
use crate::rows::{Collector, Rows};
use crate::sqlite::Mode;
use crate::{SqlCaps, SqlError};

/// Rows fetched from a read's portal per round trip.
const FETCH_BATCH: usize = 100;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQL (run by an administrator, once) that makes `role` a
/// least-privilege, read-only login for `schema` of `database`:
/// no superuser, no CREATEDB/CREATEROLE/REPLICATION/BYPASSRLS; CONNECT on the
/// database, USAGE on the schema, SELECT on its tables (now and later ones
/// created by the running administrator); TEMP on the database and CREATE on
/// `public` revoked from PUBLIC (otherwise any role may create temporary or
/// public tables); EXECUTE on the large-object and server-file functions
/// revoked from PUBLIC; and `default_transaction_read_only` on for the role.
///
/// Identifiers are quoted, so any name works. The role gets no password:
/// set one (or use peer/cert auth) separately. Revoking from PUBLIC affects
/// every role without its own grant on this database: that is the point
/// (CONNECT stays granted to PUBLIC, so other roles still connect). Grants
/// an application made `TO PUBLIC` reach this role too: review them. The
/// function signatures are PostgreSQL 15's (checked by the tests); on
/// another version drop the lines psql reports as unknown functions.
pub fn readonly_role_sql(role: &str, database: &str, schema: &str) -> String {
    let role = quote_ident(role);
    let db = quote_ident(database);
    let schema = quote_ident(schema);
    let mut sql = format!(
        "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;\n\
         REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC;\n\
         GRANT CONNECT ON DATABASE {db} TO {role};\n\
         REVOKE CREATE ON SCHEMA public FROM PUBLIC;\n\
         GRANT USAGE ON SCHEMA {schema} TO {role};\n\
         GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role};\n\
         ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role};\n\
         ALTER ROLE {role} SET default_transaction_read_only = on;\n"
    );
    for function in LOCKED_FUNCTIONS {
        sql.push_str(&format!(
            "REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC;\n"
        ));
    }
    sql
}

/// Functions whose EXECUTE is revoked from PUBLIC by [`readonly_role_sql`]:
/// large objects (which read and write server files and store data) and
/// the server-file functions (already superuser-only by default; revoked
/// again in case a grant was added).
const LOCKED_FUNCTIONS: &[&str] = &[
    "lo_import(text)",
    "lo_import(text, oid)",
    "lo_export(oid, text)",
    "lo_from_bytea(oid, bytea)",
    "lo_put(oid, bigint, bytea)",
    "lo_create(oid)",
    "lo_creat(integer)",
    "lo_unlink(oid)",
    "lo_open(oid, integer)",
    "lowrite(integer, bytea)",
    "lo_truncate(integer, integer)",
    "lo_truncate64(integer, bigint)",
    "pg_read_file(text)",
    "pg_read_file(text, bigint, bigint)",
    "pg_read_file(text, bigint, bigint, boolean)",
    "pg_read_binary_file(text)",
    "pg_read_binary_file(text, bigint, bigint)",
    "pg_read_binary_file(text, bigint, bigint, boolean)",
    "pg_ls_dir(text)",
    "pg_ls_dir(text, boolean, boolean)",
    "pg_stat_file(text)",
    "pg_stat_file(text, boolean)",
];

/// Quotes a PostgreSQL identifier (`"…"`, inner quotes doubled).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Runs one agent statement on a fresh connection.
pub(crate) fn run_statement(
    database: &str,
    url: &str,
    sql: &str,
    params: &[Value],
    mode: Mode,
    caps: &SqlCaps,
) -> Result<Rows, SqlError> {
    block_on(database, async {
        let (mut client, driver) = connect(database, url).await?;
        let result = statement(&mut client, sql, params, mode, caps).await;
        drop(client);
        let _ = driver.await;
        result
    })
}

/// The tables and columns the role can see, on a fresh connection.
pub(crate) fn run_schema(
    database: &str,
    url: &str,
    table: Option<&str>,
    caps: &SqlCaps,
) -> Result<Value, SqlError> {
    block_on(database, async {
        let (mut client, driver) = connect(database, url).await?;
        let result = schema(&mut client, table, caps).await;
        drop(client);
        let _ = driver.await;
        result
    })
}

/// Runs `f` on a runtime of its own: the tool runs on a blocking thread,
/// not inside the caller's runtime.
fn block_on<T>(
    database: &str,
    f: impl Future<Output = Result<T, SqlError>>,
) -> Result<T, SqlError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SqlError::Connect {
            database: database.to_owned(),
            message: format!("could not start an I/O runtime: {e}"),
        })?;
    runtime.block_on(f)
}

async fn connect(
    database: &str,
    url: &str,
) -> Result<
    (
        Client,
        tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
    ),
    SqlError,
> {
    let connect_error = |message: String| SqlError::Connect {
        database: database.to_owned(),
        message,
    };
    let mut config: Config = url.parse().map_err(|e: tokio_postgres::Error| {
        connect_error(format!("{e}; check the configured URL"))
    })?;
    config.connect_timeout(CONNECT_TIMEOUT);
    config.application_name("bureau-sql");
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| connect_error(pg_message(&e)))?;
    Ok((client, tokio::spawn(connection)))
}

fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut m = format!("{}: {}", db.severity(), db.message());
            if let Some(hint) = db.hint() {
                m.push_str(&format!(" (hint: {hint})"));
            }
            m
        }
        None => e.to_string(),
    }
}

fn pg_error(caps: &SqlCaps) -> impl Fn(tokio_postgres::Error) -> SqlError + '_ {
    move |e| {
        if e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) {
            return SqlError::Timeout {
                seconds: caps.statement_timeout.as_secs_f64(),
            };
        }
        SqlError::Postgres {
            message: pg_message(&e),
        }
    }
}

async fn statement(
    client: &mut Client,
    sql: &str,
    params: &[Value],
    mode: Mode,
    caps: &SqlCaps,
) -> Result<Rows, SqlError> {
    let err = pg_error(caps);
    let bound = params
        .iter()
        .enumerate()
        .map(|(i, v)| {
            TextParam::from_json(v).ok_or(SqlError::BadParameter {
                index: i + 1,
                kind: "an array or object",
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tx = client
        .build_transaction()
        .read_only(mode == Mode::Read)
        .start()
        .await
        .map_err(&err)?;
    set_timeout(&tx, caps).await.map_err(&err)?;
    // `prepare` is the extended protocol's Parse: one statement only.
    let stmt = tx.prepare(sql).await.map_err(&err)?;
    let columns = stmt
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect::<Vec<_>>();
    let width = columns.len();
    let mut collector = Collector::new(columns, *caps);
    let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    match mode {
        Mode::Read => {
            // A portal fetches rows in batches, so at most one batch past
            // a cap is ever read from the server.
            let portal = tx.bind(&stmt, &refs).await.map_err(&err)?;
            let batch =
                i32::try_from(caps.max_rows.saturating_add(1).min(FETCH_BATCH)).unwrap_or(1);
            'fetch: loop {
                let rows = tx.query_portal(&portal, batch).await.map_err(&err)?;
                let done = rows.len() < usize::try_from(batch).unwrap_or(0);
                for row in rows {
                    collector.push(cells(&row, width).map_err(&err)?);
                    if !collector.has_room() {
                        break 'fetch;
                    }
                }
                if done {
                    break;
                }
            }
            tx.rollback().await.map_err(&err)?;
            Ok(collector.finish(None))
        }
        Mode::Write => {
            let stream = tx
                .query_raw(&stmt, refs.iter().copied())
                .await
                .map_err(&err)?;
            pin_mut!(stream);
            while let Some(row) = stream.next().await {
                let row = row.map_err(&err)?;
                if collector.has_room() {
                    collector.push(cells(&row, width).map_err(&err)?);
                }
            }
            let affected = stream.rows_affected();
            tx.commit().await.map_err(&err)?;
            Ok(collector.finish(affected))
        }
    }
}

async fn set_timeout(
    tx: &tokio_postgres::Transaction<'_>,
    caps: &SqlCaps,
) -> Result<(), tokio_postgres::Error> {
    let millis = caps.statement_timeout.as_millis().max(1).to_string();
    tx.query_one(
        "SELECT set_config('statement_timeout', $1, true)",
        &[&millis],
    )
    .await?;
    Ok(())
}

fn cells(row: &tokio_postgres::Row, width: usize) -> Result<Vec<Value>, tokio_postgres::Error> {
    (0..width)
        .map(|i| row.try_get::<_, Cell>(i).map(|c| c.0))
        .collect()
}

async fn schema(
    client: &mut Client,
    table: Option<&str>,
    caps: &SqlCaps,
) -> Result<Value, SqlError> {
    let err = pg_error(caps);
    let tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .map_err(&err)?;
    set_timeout(&tx, caps).await.map_err(&err)?;
    let rows = tx
        .query(
            "SELECT c.table_schema::text, c.table_name::text, c.column_name::text, \
                    c.data_type::text, c.is_nullable::text = 'YES' \
             FROM information_schema.columns c \
             WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema') \
               AND ($1::text IS NULL OR c.table_name = $1::text) \
             ORDER BY 1, 2, c.ordinal_position",
            &[&table],
        )
        .await
        .map_err(&err)?;
    tx.rollback().await.map_err(&err)?;
    if let Some(table) = table
        && rows.is_empty()
    {
        return Err(SqlError::NoSuchTable {
            table: table.to_owned(),
        });
    }
    let mut tables: Vec<Value> = Vec::new();
    let mut current: Option<(String, String, Vec<Value>)> = None;
    for row in &rows {
        let schema: String = row.try_get(0).map_err(&err)?;
        let name: String = row.try_get(1).map_err(&err)?;
        let column = json!({
            "name": row.try_get::<_, String>(2).map_err(&err)?,
            "type": row.try_get::<_, String>(3).map_err(&err)?,
            "nullable": row.try_get::<_, bool>(4).map_err(&err)?,
        });
        match &mut current {
            Some((s, n, columns)) if *s == schema && *n == name => columns.push(column),
            _ => {
                if let Some(done) = current.take() {
                    tables.push(table_json(done));
                }
                current = Some((schema, name, vec![column]));
            }
        }
    }
    if let Some(done) = current.take() {
        tables.push(table_json(done));
    }
    let truncated = tables.len() > caps.max_rows;
    tables.truncate(caps.max_rows);
    Ok(json!({"tables": tables, "truncated": truncated}))
}

fn table_json((schema, name, columns): (String, String, Vec<Value>)) -> Value {
    json!({"schema": schema, "name": name, "columns": columns})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_sql_quotes_names_and_revokes_what_a_reader_must_not_have() {
        let sql = readonly_role_sql("agent \"ro\"", "app", "public");
        assert!(sql.starts_with(
            "CREATE ROLE \"agent \"\"ro\"\"\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
        ));
        for needle in [
            "REVOKE TEMPORARY ON DATABASE \"app\" FROM PUBLIC;",
            "GRANT CONNECT ON DATABASE \"app\" TO \"agent \"\"ro\"\"\";",
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
            "GRANT SELECT ON ALL TABLES IN SCHEMA \"public\"",
            "SET default_transaction_read_only = on;",
            "REVOKE EXECUTE ON FUNCTION lo_import(text) FROM PUBLIC;",
            "REVOKE EXECUTE ON FUNCTION pg_read_file(text) FROM PUBLIC;",
        ] {
            assert!(sql.contains(needle), "missing {needle:?} in\n{sql}");
        }
    }
}
