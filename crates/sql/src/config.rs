//! Named databases as the SQL tools see them: where each lives, what the
//! agent may do there, and the caps of one call.

use std::path::PathBuf;
use std::time::Duration;

use crate::Dialect;

/// One database the SQL tools may reach, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// The name models pass as `database`.
    pub name: String,
    pub kind: DatabaseKind,
    pub access: DatabaseAccess,
    /// Run the statement classifier before the database. It refuses bypasses
    /// early and explains why; switching it off leaves the database's own
    /// guards, which are the boundary either way.
    pub classifier: bool,
    pub caps: SqlCaps,
}

/// Where a database lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    /// An existing SQLite file; the tools never create one.
    Sqlite { path: PathBuf },
    /// A PostgreSQL connection string (`postgresql://role@host:port/db` or
    /// `host=… user=…`). For a read-only database the role must be a
    /// least-privilege one, provisioned with [`crate::readonly_role_sql`]:
    /// the role's privileges, not the read-only transaction, are what hold.
    /// Connections are made without TLS: use a loopback address or a Unix
    /// socket.
    Postgres { url: String },
}

impl DatabaseKind {
    pub fn dialect(&self) -> Dialect {
        match self {
            DatabaseKind::Sqlite { .. } => Dialect::Sqlite,
            DatabaseKind::Postgres { .. } => Dialect::Postgres,
        }
    }
}

/// What the agent may do to a database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatabaseAccess {
    /// `sql.query` and `sql.schema` only.
    ReadOnly,
    /// Also `sql.execute` (DML and DDL, one statement per call).
    ReadWrite,
}

/// Caps of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqlCaps {
    /// Most rows returned; more set `truncated`.
    pub max_rows: usize,
    /// Most bytes of rows (as compact JSON) returned; more set `truncated`.
    pub max_bytes: usize,
    /// Longest a statement may run before the database stops it.
    pub statement_timeout: Duration,
}

impl Default for SqlCaps {
    fn default() -> Self {
        Self {
            max_rows: 1000,
            max_bytes: 256 * 1024,
            statement_timeout: Duration::from_secs(10),
        }
    }
}
