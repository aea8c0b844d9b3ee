//! The statement classifier: parses one statement with `sqlparser`, names
//! its class for policy and refuses, early and with a reason, what the SQL
//! tools never run.
//!
//! This is UX, not the boundary. A parser cannot see what a user-defined
//! function, a view or a trigger does; the database's own guards (a
//! read-only open and an authorizer for SQLite, a least-privilege role and a
//! read-only transaction for PostgreSQL) are what hold. The classifier can be
//! switched off per database so tests prove exactly that.

use std::fmt;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, ObjectName, ObjectNamePart, Query, Select, Statement, TableFactor, Visit, Visitor,
};
use sqlparser::dialect::{GenericDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};
use thiserror::Error;

/// The SQL dialect a database speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Sqlite => "SQLite",
            Dialect::Postgres => "PostgreSQL",
        }
    }
}

/// What a statement does, for policy. [`StatementClass::as_str`] gives the
/// stable names policies match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatementClass {
    /// Reads rows: `SELECT`, `VALUES`, `SHOW`, `EXPLAIN` of a read.
    Read,
    /// Changes session settings: `SET`, `RESET`, `LISTEN`, cursors.
    Session,
    /// Opens or ends a transaction: `BEGIN`, `COMMIT`, `SAVEPOINT`, `SET TRANSACTION`.
    Transaction,
    /// Changes rows (DML), takes row or table locks, or calls a procedure.
    Write,
    /// Changes the schema: `CREATE`, `ALTER`, `DROP`, `TRUNCATE`, `SELECT … INTO`.
    Ddl,
    /// Administers the server: roles, grants, extensions, `VACUUM`, `ANALYZE`.
    Admin,
    /// Anything the classifier does not know.
    Other,
}

impl StatementClass {
    /// The stable name policies match on.
    pub fn as_str(self) -> &'static str {
        match self {
            StatementClass::Read => "read",
            StatementClass::Session => "session",
            StatementClass::Transaction => "transaction",
            StatementClass::Write => "write",
            StatementClass::Ddl => "ddl",
            StatementClass::Admin => "admin",
            StatementClass::Other => "other",
        }
    }
}

impl fmt::Display for StatementClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A statement the classifier accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    pub class: StatementClass,
    /// Why the statement is not a plain read (`None` for reads), e.g.
    /// "contains a DELETE inside a query".
    pub reason: Option<String>,
}

impl Classified {
    /// Accepts only reads: what `sql.query` runs.
    pub fn require_read(self) -> Result<Self, Reject> {
        match self.class {
            StatementClass::Read => Ok(self),
            class => Err(Reject::NotRead {
                class,
                reason: self
                    .reason
                    .unwrap_or_else(|| format!("is a {class} statement")),
            }),
        }
    }
}

/// Why the classifier refused a statement. Messages are written for the
/// model that sent the SQL.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Reject {
    #[error("the SQL does not parse as {dialect}: {message}; send one valid statement")]
    Parse {
        dialect: &'static str,
        message: String,
    },

    #[error("no SQL statement was sent: send exactly one statement")]
    Empty,

    #[error(
        "{count} statements were sent, but each call runs exactly one: send them in separate calls, without `;` between statements"
    )]
    MultipleStatements { count: usize },

    #[error("`{function}` is not allowed in agent SQL ({why}): query the tables' rows instead")]
    ForbiddenFunction { function: String, why: &'static str },

    #[error("{what} is not allowed through the SQL tools: {why}")]
    ForbiddenStatement {
        what: &'static str,
        why: &'static str,
    },

    #[error(
        "sql.query runs reads only, and this statement {reason} (class `{class}`): use sql.execute on a database granted read-write, or rewrite it as a SELECT"
    )]
    NotRead {
        class: StatementClass,
        reason: String,
    },
}

mod lists;

pub(crate) use lists::INTROSPECTION_PRAGMAS;
use lists::{FORBIDDEN_FUNCTIONS, WRITE_PRAGMAS, WRITING_FUNCTIONS};

/// Parses `sql` as exactly one statement and classifies it. Refuses parse
/// failures, several statements, and what no SQL tool runs (file access,
/// `COPY`, `ATTACH`, PRAGMA writes, `VACUUM`, forbidden functions). Leading
/// and trailing comments and one trailing `;` are fine.
pub fn classify(dialect: Dialect, sql: &str) -> Result<Classified, Reject> {
    let parsed = match dialect {
        Dialect::Sqlite => Parser::parse_sql(&SQLiteDialect {}, sql),
        Dialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, sql),
    };
    let statements = match parsed {
        Ok(statements) => statements,
        Err(e) => {
            // sqlparser does not know SQLite's `VACUUM INTO`: still say why.
            if first_keyword(sql).as_deref() == Some("VACUUM") {
                return Err(vacuum());
            }
            return Err(Reject::Parse {
                dialect: dialect.as_str(),
                message: e.to_string(),
            });
        }
    };
    let statement = match statements.as_slice() {
        [] => return Err(Reject::Empty),
        [one] => one,
        many => {
            return Err(Reject::MultipleStatements { count: many.len() });
        }
    };
    let (class, reason) = top_level(statement)?;
    let mut walk = Walk {
        class,
        reason,
        depth: 0,
    };
    if let ControlFlow::Break(reject) = statement.visit(&mut walk) {
        return Err(reject);
    }
    Ok(Classified {
        class: walk.class,
        reason: walk.reason,
    })
}

/// [`classify`], then [`Classified::require_read`]: what `sql.query` checks.
pub fn classify_read(dialect: Dialect, sql: &str) -> Result<Classified, Reject> {
    classify(dialect, sql)?.require_read()
}

fn vacuum() -> Reject {
    forbidden(
        "VACUUM",
        "it rewrites the database or copies it to another file",
    )
}

/// The first word of `sql` after comments and whitespace, uppercased.
fn first_keyword(sql: &str) -> Option<String> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql).tokenize().ok()?;
    tokens.into_iter().find_map(|token| match token {
        Token::Whitespace(_) => None,
        Token::Word(word) => Some(word.value.to_ascii_uppercase()),
        _ => Some(String::new()),
    })
}

fn forbidden(what: &'static str, why: &'static str) -> Reject {
    Reject::ForbiddenStatement { what, why }
}

/// The class of the statement itself, before looking inside it.
fn top_level(statement: &Statement) -> Result<(StatementClass, Option<String>), Reject> {
    use StatementClass as C;
    let class = match statement {
        Statement::Query(_) => C::Read,
        Statement::Explain { statement, .. } => return top_level(statement),
        Statement::ExplainTable { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ShowCreate { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowSchemas { .. } => C::Read,
        Statement::Insert(_)
        | Statement::Update(_)
        | Statement::Delete(_)
        | Statement::Merge(_)
        | Statement::Lock(_)
        | Statement::LockTables { .. }
        | Statement::NOTIFY { .. } => C::Write,
        Statement::Call(f) => {
            check_function(&f.name)?;
            C::Write
        }
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => C::Transaction,
        Statement::Set(set) => {
            if set
                .to_string()
                .to_ascii_uppercase()
                .starts_with("SET TRANSACTION")
            {
                C::Transaction
            } else {
                C::Session
            }
        }
        Statement::Reset(_)
        | Statement::Discard { .. }
        | Statement::Use(_)
        | Statement::Prepare { .. }
        | Statement::Execute { .. }
        | Statement::Deallocate { .. }
        | Statement::Declare { .. }
        | Statement::Fetch { .. }
        | Statement::Close { .. }
        | Statement::LISTEN { .. }
        | Statement::UNLISTEN { .. } => C::Session,
        Statement::Truncate(_) => C::Ddl,
        Statement::Grant(_)
        | Statement::Revoke(_)
        | Statement::Deny(_)
        | Statement::CreateRole(_)
        | Statement::AlterRole { .. }
        | Statement::CreateUser(_)
        | Statement::AlterUser(_)
        | Statement::CreateExtension(_)
        | Statement::DropExtension(_)
        | Statement::CreateServer(_)
        | Statement::Analyze(_)
        | Statement::Kill { .. }
        | Statement::AlterSession { .. } => C::Admin,
        Statement::Pragma { name, is_eq, .. } => {
            let pragma = last_part(name);
            if *is_eq || WRITE_PRAGMAS.contains(&pragma.as_str()) {
                return Err(forbidden(
                    "a PRAGMA that changes settings",
                    "it can switch off the database's protections; read the schema with sql.schema",
                ));
            }
            if INTROSPECTION_PRAGMAS.contains(&pragma.as_str()) {
                C::Read
            } else {
                C::Admin
            }
        }
        Statement::Copy { .. } | Statement::CopyIntoSnowflake { .. } => {
            return Err(forbidden(
                "COPY",
                "it reads or writes files and streams on the database server; use SELECT to read rows",
            ));
        }
        Statement::AttachDatabase { .. }
        | Statement::AttachDuckDBDatabase { .. }
        | Statement::DetachDuckDBDatabase { .. } => {
            return Err(forbidden(
                "ATTACH/DETACH",
                "each call uses only the configured database",
            ));
        }
        Statement::Vacuum(_) => return Err(vacuum()),
        Statement::Directory { .. }
        | Statement::LoadData { .. }
        | Statement::Unload { .. }
        | Statement::Install { .. }
        | Statement::Load { .. }
        | Statement::Put { .. }
        | Statement::List(_)
        | Statement::Remove(_)
        | Statement::ExportData(_) => {
            return Err(forbidden(
                "this file or extension statement",
                "the SQL tools never read or write files",
            ));
        }
        other => by_keyword(other),
    };
    let reason = match class {
        C::Read => None,
        other => Some(format!("is a {other} statement")),
    };
    Ok((class, reason))
}

/// Falls back on the first keyword of the canonical (comment-free) text.
fn by_keyword(statement: &Statement) -> StatementClass {
    let text = statement.to_string();
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    match first.as_str() {
        "CREATE" | "ALTER" | "DROP" | "COMMENT" | "TRUNCATE" | "RENAME" => StatementClass::Ddl,
        "VACUUM" | "ANALYZE" | "REINDEX" | "CLUSTER" | "CHECKPOINT" | "GRANT" | "REVOKE" => {
            StatementClass::Admin
        }
        _ => StatementClass::Other,
    }
}

fn last_part(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(ident)) => ident.value.to_ascii_lowercase(),
        Some(ObjectNamePart::Function(f)) => f.name.value.to_ascii_lowercase(),
        None => String::new(),
    }
}

fn check_function(name: &ObjectName) -> Result<(), Reject> {
    let function = last_part(name);
    if let Some((_, why)) = FORBIDDEN_FUNCTIONS.iter().find(|(f, _)| *f == function) {
        return Err(Reject::ForbiddenFunction { function, why });
    }
    if function.starts_with("dblink") {
        return Err(Reject::ForbiddenFunction {
            function,
            why: "it reaches another server",
        });
    }
    Ok(())
}

/// Walks the whole tree: every expression, relation and nested statement.
struct Walk {
    class: StatementClass,
    reason: Option<String>,
    depth: usize,
}

impl Walk {
    fn raise(&mut self, class: StatementClass, reason: impl Into<String>) {
        if class > self.class {
            self.class = class;
            self.reason = Some(reason.into());
        }
    }
}

impl Visitor for Walk {
    type Break = Reject;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<Reject> {
        if self.depth > 0 {
            let nested = match statement {
                Statement::Insert(_) => Some("an INSERT"),
                Statement::Update(_) => Some("an UPDATE"),
                Statement::Delete(_) => Some("a DELETE"),
                Statement::Merge(_) => Some("a MERGE"),
                _ => None,
            };
            if let Some(what) = nested {
                self.raise(
                    StatementClass::Write,
                    format!("contains {what} inside a query (a data-modifying WITH)"),
                );
            }
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, _statement: &Statement) -> ControlFlow<Reject> {
        self.depth = self.depth.saturating_sub(1);
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Reject> {
        if !query.locks.is_empty() {
            self.raise(StatementClass::Write, "locks rows (FOR UPDATE / FOR SHARE)");
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<Reject> {
        if select.into.is_some() {
            self.raise(StatementClass::Ddl, "creates a table (SELECT … INTO)");
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<Reject> {
        match check_function(relation) {
            Ok(()) => ControlFlow::Continue(()),
            Err(reject) => ControlFlow::Break(reject),
        }
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Reject> {
        if let TableFactor::Function { name, .. } = factor
            && let Err(reject) = check_function(name)
        {
            return ControlFlow::Break(reject);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Reject> {
        if let Expr::Function(function) = expr {
            if let Err(reject) = check_function(&function.name) {
                return ControlFlow::Break(reject);
            }
            let name = last_part(&function.name);
            if WRITING_FUNCTIONS.contains(&name.as_str()) {
                self.raise(
                    StatementClass::Write,
                    format!("calls `{name}`, which changes a sequence"),
                );
            }
        }
        ControlFlow::Continue(())
    }
}
