//! SQLite, guarded by the engine itself.
//!
//! Every call opens its own connection (no state carries over). A read
//! opens the file `SQLITE_OPEN_READ_ONLY` (never creating it, no URI
//! filenames), with an authorizer that allows only `Select`, `Read`,
//! `Recursive`, schema-describing PRAGMAs and allow-listed functions,
//! `SQLITE_LIMIT_ATTACHED = 0`, defensive mode, and `stmt.readonly()`
//! checked before the first step. A write opens read-write (still never
//! creating) with an authorizer that forbids ATTACH/DETACH, virtual tables,
//! PRAGMAs other than the describing ones and functions off the list.
//! Statement time is bounded by a progress handler.

use std::path::Path;
use std::time::Instant;

use rusqlite::config::DbConfig;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

use crate::classify::INTROSPECTION_PRAGMAS;
use crate::rows::{Collector, Rows};
use crate::{SqlCaps, SqlError};

/// Functions a statement may call: SQLite's built-in scalar, aggregate,
/// window, date, math and JSON functions. Nothing that loads code or
/// touches files.
const ALLOWED_FUNCTIONS: &[&str] = &[
    "abs",
    "changes",
    "char",
    "coalesce",
    "concat",
    "concat_ws",
    "format",
    "glob",
    "hex",
    "if",
    "ifnull",
    "iif",
    "instr",
    "last_insert_rowid",
    "length",
    "like",
    "likelihood",
    "likely",
    "lower",
    "ltrim",
    "max",
    "min",
    "nullif",
    "octet_length",
    "printf",
    "quote",
    "random",
    "randomblob",
    "replace",
    "round",
    "rtrim",
    "sign",
    "soundex",
    "sqlite_source_id",
    "sqlite_version",
    "substr",
    "substring",
    "total_changes",
    "trim",
    "typeof",
    "unhex",
    "unicode",
    "unlikely",
    "upper",
    "zeroblob",
    "avg",
    "count",
    "group_concat",
    "string_agg",
    "sum",
    "total",
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    "date",
    "time",
    "datetime",
    "julianday",
    "unixepoch",
    "strftime",
    "timediff",
    "current_date",
    "current_time",
    "current_timestamp",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "ceil",
    "ceiling",
    "cos",
    "cosh",
    "degrees",
    "exp",
    "floor",
    "ln",
    "log",
    "log10",
    "log2",
    "mod",
    "pi",
    "pow",
    "power",
    "radians",
    "sin",
    "sinh",
    "sqrt",
    "tan",
    "tanh",
    "trunc",
    "json",
    "jsonb",
    "json_array",
    "jsonb_array",
    "json_array_length",
    "json_error_position",
    "json_extract",
    "jsonb_extract",
    "json_insert",
    "jsonb_insert",
    "json_object",
    "jsonb_object",
    "json_patch",
    "jsonb_patch",
    "json_pretty",
    "json_remove",
    "jsonb_remove",
    "json_replace",
    "jsonb_replace",
    "json_set",
    "jsonb_set",
    "json_type",
    "json_valid",
    "json_quote",
    "json_group_array",
    "jsonb_group_array",
    "json_group_object",
    "jsonb_group_object",
    "json_each",
    "json_tree",
];

/// The largest string or blob a read may build or return.
const MAX_VALUE_BYTES: i32 = 16 * 1024 * 1024;

/// VM steps between two checks of the statement deadline.
const PROGRESS_STEPS: i32 = 1000;

/// Which guard set a connection gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Read,
    Write,
}

fn allowed_function(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ALLOWED_FUNCTIONS.contains(&name.as_str())
}

/// `PRAGMA table_info(t)` has a value (the table); the describing PRAGMAs
/// only read, whatever it is.
fn describing_pragma(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    INTROSPECTION_PRAGMAS.contains(&name.as_str())
}

fn read_authorizer(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => {
            Authorization::Allow
        }
        AuthAction::Function { function_name } if allowed_function(function_name) => {
            Authorization::Allow
        }
        AuthAction::Pragma { pragma_name, .. } if describing_pragma(pragma_name) => {
            Authorization::Allow
        }
        _ => Authorization::Deny,
    }
}

fn write_authorizer(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Attach { .. }
        | AuthAction::Detach { .. }
        | AuthAction::CreateVtable { .. }
        | AuthAction::DropVtable { .. }
        | AuthAction::Unknown { .. } => Authorization::Deny,
        AuthAction::Function { function_name } => {
            if allowed_function(function_name) {
                Authorization::Allow
            } else {
                Authorization::Deny
            }
        }
        AuthAction::Pragma { pragma_name, .. } => {
            if describing_pragma(pragma_name) {
                Authorization::Allow
            } else {
                Authorization::Deny
            }
        }
        _ => Authorization::Allow,
    }
}

/// Opens `path` with the guards of `mode`. Never creates the file.
pub(crate) fn open(
    database: &str,
    path: &Path,
    mode: Mode,
    caps: &SqlCaps,
) -> Result<Connection, SqlError> {
    let access = match mode {
        Mode::Read => OpenFlags::SQLITE_OPEN_READ_ONLY,
        Mode::Write => OpenFlags::SQLITE_OPEN_READ_WRITE,
    };
    // No SQLITE_OPEN_CREATE, and no SQLITE_OPEN_URI: `file:…?mode=rw` is
    // just a file name here.
    let flags = access | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|source| SqlError::OpenSqlite {
        database: database.to_owned(),
        source,
    })?;
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
    if mode == Mode::Read {
        // `randomblob(1e9)` and friends: no value a read builds may be
        // larger than this (SQLite's default is 1 GB).
        conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)?;
    }
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_ATTACH_CREATE, false)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_ATTACH_WRITE, false)?;
    conn.busy_timeout(caps.statement_timeout)?;
    let deadline = Instant::now() + caps.statement_timeout;
    conn.progress_handler(PROGRESS_STEPS, Some(move || Instant::now() >= deadline));
    match mode {
        Mode::Read => conn.authorizer(Some(read_authorizer)),
        Mode::Write => conn.authorizer(Some(write_authorizer)),
    }
    Ok(conn)
}

/// Runs one statement on `conn` and collects its rows under the caps.
/// With [`Mode::Read`], a statement SQLite says may write is refused before
/// it runs.
pub(crate) fn run(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    mode: Mode,
    caps: &SqlCaps,
) -> Result<Rows, SqlError> {
    let result = run_inner(conn, sql, params, mode, caps);
    result.map_err(|e| timeout_or(e, caps))
}

fn run_inner(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    mode: Mode,
    caps: &SqlCaps,
) -> Result<Rows, SqlError> {
    // `prepare` refuses a trailing statement (rusqlite reports the tail).
    let mut stmt = conn.prepare(sql)?;
    if mode == Mode::Read && !stmt.readonly() {
        return Err(SqlError::NotReadOnly);
    }
    let bound = params
        .iter()
        .enumerate()
        .map(|(i, v)| to_sql(i + 1, v))
        .collect::<Result<Vec<_>, _>>()?;
    let columns = stmt
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    let width = columns.len();
    let mut collector = Collector::new(columns, *caps);
    let mut rows = stmt.query(rusqlite::params_from_iter(bound.iter()))?;
    while collector.has_room() {
        let Some(row) = rows.next()? else { break };
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(to_json(row.get_ref(i)?));
        }
        collector.push(values);
    }
    drop(rows);
    let changed = match mode {
        Mode::Read => None,
        Mode::Write => Some(conn.changes()),
    };
    Ok(collector.finish(changed))
}

fn timeout_or(e: SqlError, caps: &SqlCaps) -> SqlError {
    if let SqlError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) = &e
        && f.code == rusqlite::ErrorCode::OperationInterrupted
    {
        return SqlError::Timeout {
            seconds: caps.statement_timeout.as_secs_f64(),
        };
    }
    e
}

fn to_sql(index: usize, v: &Value) -> Result<ToSqlOutput<'static>, SqlError> {
    let value = match v {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => SqlValue::Integer(i),
            (None, Some(f)) => SqlValue::Real(f),
            (None, None) => SqlValue::Text(n.to_string()),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Array(_) => {
            return Err(SqlError::BadParameter {
                index,
                kind: "an array",
            });
        }
        Value::Object(_) => {
            return Err(SqlError::BadParameter {
                index,
                kind: "an object",
            });
        }
    };
    Ok(ToSqlOutput::Owned(value))
}

fn to_json(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(format!("x'{}'", hex(b))),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Tables and views with their columns, read on a read-only connection
/// with the schema queries below (ours, not the agent's).
pub(crate) fn schema(
    database: &str,
    path: &Path,
    table: Option<&str>,
    caps: &SqlCaps,
) -> Result<Value, SqlError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| SqlError::OpenSqlite {
        database: database.to_owned(),
        source,
    })?;
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
    conn.busy_timeout(caps.statement_timeout)?;
    let mut tables_stmt = conn.prepare(
        "SELECT name, type FROM sqlite_schema \
         WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         AND (?1 IS NULL OR name = ?1) ORDER BY name",
    )?;
    let tables = tables_stmt
        .query_map([table], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(table) = table
        && tables.is_empty()
    {
        return Err(SqlError::NoSuchTable {
            table: table.to_owned(),
        });
    }
    let mut columns_stmt =
        conn.prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1)")?;
    let mut out = Vec::new();
    let truncated = tables.len() > caps.max_rows;
    for (name, kind) in tables.into_iter().take(caps.max_rows) {
        let columns = columns_stmt
            .query_map([&name], |row| {
                Ok(json!({
                    "name": row.get::<_, String>(0)?,
                    "type": row.get::<_, String>(1)?,
                    "nullable": row.get::<_, i64>(2)? == 0,
                    "primary_key": row.get::<_, i64>(3)? > 0,
                }))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        out.push(json!({"name": name, "kind": kind, "columns": columns}));
    }
    Ok(json!({"tables": out, "truncated": truncated}))
}
