use thiserror::Error;

use crate::Reject;

/// Why a SQL call failed once it ran. The toolset turns these into error
/// results for the model; messages say what to do next.
#[derive(Debug, Error)]
pub enum SqlError {
    #[error("{0}")]
    Refused(#[from] Reject),

    #[error(
        "database `{database}` is read-only for this agent: sql.execute needs a database granted read-write; read with sql.query"
    )]
    ReadOnlyDatabase { database: String },

    #[error("could not open SQLite database `{database}`: {source}; check the configured path")]
    OpenSqlite {
        database: String,
        #[source]
        source: rusqlite::Error,
    },

    #[error("SQLite refused or failed the statement: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error(
        "SQLite reports this statement may write, and sql.query runs reads only: rewrite it as a SELECT"
    )]
    NotReadOnly,

    #[error(
        "the statement ran longer than {seconds} s and was stopped: narrow it (WHERE, LIMIT) or aggregate"
    )]
    Timeout { seconds: f64 },

    #[error("could not connect to PostgreSQL database `{database}`: {message}")]
    Connect { database: String, message: String },

    #[error("PostgreSQL refused or failed the statement: {message}")]
    Postgres { message: String },

    #[error(
        "table `{table}` was not found (or is not visible to this agent): call sql.schema without `table` to list tables"
    )]
    NoSuchTable { table: String },

    #[error("two databases are named `{name}`: give each database a unique name")]
    DuplicateDatabase { name: String },

    #[error("parameter {index} is {kind}: parameters must be null, booleans, numbers or strings")]
    BadParameter { index: usize, kind: &'static str },
}
