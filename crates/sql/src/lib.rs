//! Bureau's SQL tools: `sql.query`, `sql.execute` and `sql.schema` over
//! named SQLite and PostgreSQL databases from config, with results as
//! structured content (`columns`, `rows`, `row_count`, `truncated`) under
//! row, byte and time caps.
//!
//! Read-only twice: a statement classifier ([`classify`], on `sqlparser`)
//! names each statement's class for policy and refuses known bypasses early
//! with a reason; then the database itself is the boundary — SQLite opened
//! read-only with an authorizer, PostgreSQL through a least-privilege role
//! ([`readonly_role_sql`]) inside a read-only transaction, one statement per
//! call over the extended protocol. The classifier can be switched off per
//! database and the guards still hold; tests prove both.
//!
//! This crate must not know about MCP, policy, approvals or audit: it
//! offers tools and runs decoded calls; the gateway decides whether they run.

mod classify;
mod config;
mod error;
mod pg_values;
mod postgres;
mod rows;
mod sqlite;
mod toolset;

pub use classify::{Classified, Dialect, Reject, StatementClass, classify, classify_read};
pub use config::{DatabaseAccess, DatabaseConfig, DatabaseKind, SqlCaps};
pub use error::SqlError;
pub use postgres::{quote_ident, readonly_role_sql};
pub use rows::{Rows, rows_result};
pub use toolset::{EXECUTE, MAX_SQL_BYTES, QUERY, SCHEMA, SchemaArgs, SqlToolset, StatementArgs};
