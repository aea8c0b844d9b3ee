//! The `sql` toolset: `sql.query`, `sql.execute` and `sql.schema` over the
//! configured databases.

use std::collections::BTreeMap;
use std::sync::Arc;

use bureau_protocol::{Content, ToolResult, ToolSpec};
use bureau_tools::{
    Access, Execution, Invocation, PolicyFacts, Requirement, Resource, ToolContext, ToolDef,
    ToolError, Toolset, decode_arguments, input_schema,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::rows::{error_result, rows_result};
use crate::sqlite::Mode;
use crate::{
    DatabaseAccess, DatabaseConfig, DatabaseKind, SqlError, StatementClass, classify, postgres,
    sqlite,
};

pub const QUERY: &str = "sql.query";
pub const EXECUTE: &str = "sql.execute";
pub const SCHEMA: &str = "sql.schema";

/// The longest SQL text one call accepts (bytes); longer is refused at
/// decode, before it is parsed.
pub const MAX_SQL_BYTES: usize = 64 * 1024;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementArgs {
    /// The configured database's name.
    pub database: String,
    /// Exactly one SQL statement, in the database's dialect.
    pub sql: String,
    /// Values for the statement's placeholders (`?1`/`?` in SQLite, `$1`
    /// in PostgreSQL), in order: null, booleans, numbers or strings.
    #[serde(default)]
    pub params: Vec<Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaArgs {
    /// The configured database's name.
    pub database: String,
    /// Only this table (or view). Default: every table.
    #[serde(default)]
    pub table: Option<String>,
}

/// The SQL tools over named databases.
pub struct SqlToolset {
    databases: BTreeMap<String, Arc<DatabaseConfig>>,
    defs: Vec<ToolDef>,
}

impl SqlToolset {
    /// Offers `sql.query` and `sql.schema` over every database and
    /// `sql.execute` when at least one is read-write. Names must be unique.
    pub fn new(databases: Vec<DatabaseConfig>) -> Result<Self, SqlError> {
        let mut by_name = BTreeMap::new();
        for db in databases {
            let name = db.name.clone();
            if by_name.insert(name.clone(), Arc::new(db)).is_some() {
                return Err(SqlError::DuplicateDatabase { name });
            }
        }
        let describe = |access: Option<DatabaseAccess>| {
            by_name
                .values()
                .filter(|db| access.is_none_or(|a| db.access == a))
                .map(|db| {
                    let access = match db.access {
                        DatabaseAccess::ReadOnly => "read-only",
                        DatabaseAccess::ReadWrite => "read-write",
                    };
                    format!("`{}` ({}, {access})", db.name, db.kind.dialect().as_str())
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let all = describe(None);
        let writable = describe(Some(DatabaseAccess::ReadWrite));
        let caps = by_name
            .values()
            .next()
            .map(|db| db.caps)
            .unwrap_or_default();
        let read = Requirement {
            resource: Resource::Database,
            access: Access::Read,
        };
        let write = Requirement {
            resource: Resource::Database,
            access: Access::Write,
        };
        let mut defs = vec![
            ToolDef {
                spec: ToolSpec {
                    name: QUERY.to_owned(),
                    description: format!(
                        "Run one read-only SQL statement (SELECT, WITH … SELECT, VALUES, EXPLAIN) on a \
                         database and get `columns`, `rows` (arrays in column order), `row_count` and \
                         `truncated` (true when more rows exist than one call returns, about {} rows). \
                         Use placeholders and `params` for values. Databases: {all}.",
                        caps.max_rows
                    ),
                    input_schema: input_schema::<StatementArgs>(),
                },
                needs: vec![read],
                read_only: true,
            },
            ToolDef {
                spec: ToolSpec {
                    name: SCHEMA.to_owned(),
                    description: format!(
                        "List a database's tables and views with their columns, types and nullability; \
                         `table` narrows it to one. Databases: {all}."
                    ),
                    input_schema: input_schema::<SchemaArgs>(),
                },
                needs: vec![read],
                read_only: true,
            },
        ];
        if !writable.is_empty() {
            defs.push(ToolDef {
                spec: ToolSpec {
                    name: EXECUTE.to_owned(),
                    description: format!(
                        "Run one SQL statement that changes data or schema (INSERT, UPDATE, DELETE, \
                         CREATE, …) on a read-write database, committed at once. Returns \
                         `rows_affected`, plus `columns`/`rows` for RETURNING. Read-write databases: \
                         {writable}."
                    ),
                    input_schema: input_schema::<StatementArgs>(),
                },
                needs: vec![write],
                read_only: false,
            });
        }
        Ok(Self {
            databases: by_name,
            defs,
        })
    }

    /// The class of the statement a call would run, for policy: `read` for
    /// `sql.schema`, the classifier's class for `sql.query`/`sql.execute`,
    /// `None` when the call does not decode or the SQL does not classify.
    /// Works whether or not the database's classifier is switched on.
    pub fn statement_class(&self, tool: &str, arguments: &Value) -> Option<StatementClass> {
        match tool {
            SCHEMA => Some(StatementClass::Read),
            QUERY | EXECUTE => {
                let args: StatementArgs = decode_arguments(tool, arguments).ok()?;
                let db = self.databases.get(&args.database)?;
                classify(db.kind.dialect(), &args.sql).ok().map(|c| c.class)
            }
            _ => None,
        }
    }

    fn database(&self, tool: &str, name: &str) -> Result<Arc<DatabaseConfig>, ToolError> {
        self.databases.get(name).cloned().ok_or_else(|| {
            let known = self
                .databases
                .keys()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ");
            invalid(
                tool,
                format!("unknown database `{name}`: the configured databases are {known}"),
            )
        })
    }
}

fn invalid(tool: &str, message: String) -> ToolError {
    ToolError::InvalidArguments {
        tool: tool.to_owned(),
        message,
    }
}

fn check_params(tool: &str, params: &[Value]) -> Result<(), ToolError> {
    for (i, p) in params.iter().enumerate() {
        if matches!(p, Value::Array(_) | Value::Object(_)) {
            return Err(invalid(
                tool,
                format!(
                    "params[{i}] is an array or object: parameters must be null, booleans, numbers or strings"
                ),
            ));
        }
    }
    Ok(())
}

impl Toolset for SqlToolset {
    fn tools(&self) -> &[ToolDef] {
        &self.defs
    }

    fn decode(&self, tool: &str, arguments: &Value) -> Result<Box<dyn Invocation>, ToolError> {
        match tool {
            QUERY | EXECUTE => {
                let args: StatementArgs = decode_arguments(tool, arguments)?;
                let db = self.database(tool, &args.database)?;
                check_params(tool, &args.params)?;
                if args.sql.len() > MAX_SQL_BYTES {
                    return Err(invalid(
                        tool,
                        format!(
                            "`sql` is {} bytes, more than the {MAX_SQL_BYTES}-byte limit: send a shorter statement",
                            args.sql.len()
                        ),
                    ));
                }
                let mode = if tool == QUERY {
                    Mode::Read
                } else {
                    Mode::Write
                };
                if mode == Mode::Write && db.access == DatabaseAccess::ReadOnly {
                    let e = SqlError::ReadOnlyDatabase {
                        database: db.name.clone(),
                    };
                    return Err(invalid(tool, e.to_string()));
                }
                // Classified always, for policy (`statement_class`); what a
                // read-only call may not run is refused when it runs, after
                // policy has had its say, if the classifier is on.
                let classified = classify(db.kind.dialect(), &args.sql);
                let class = classified
                    .as_ref()
                    .map_or(StatementClass::Other, |c| c.class);
                let refusal = if db.classifier {
                    let checked = match mode {
                        Mode::Read => classified.and_then(|c| c.require_read()),
                        Mode::Write => classified,
                    };
                    checked.err().map(|reject| reject.to_string())
                } else {
                    None
                };
                Ok(Box::new(SqlCall {
                    db,
                    class: Some(class),
                    refusal,
                    op: Op::Statement {
                        sql: args.sql,
                        params: args.params,
                        mode,
                    },
                }))
            }
            SCHEMA => {
                let args: SchemaArgs = decode_arguments(tool, arguments)?;
                let db = self.database(tool, &args.database)?;
                Ok(Box::new(SqlCall {
                    db,
                    class: None,
                    refusal: None,
                    op: Op::Schema { table: args.table },
                }))
            }
            other => Err(ToolError::UnknownTool {
                tool: other.to_owned(),
                available: self
                    .defs
                    .iter()
                    .map(|d| d.spec.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

enum Op {
    Statement {
        sql: String,
        params: Vec<Value>,
        mode: Mode,
    },
    Schema {
        table: Option<String>,
    },
}

struct SqlCall {
    db: Arc<DatabaseConfig>,
    /// The statement's class (`None` for `sql.schema`).
    class: Option<StatementClass>,
    /// The classifier's early refusal, when it is on and refuses.
    refusal: Option<String>,
    op: Op,
}

impl Invocation for SqlCall {
    fn execution(&self) -> Execution {
        Execution::Blocking
    }

    fn run(self: Box<Self>, _ctx: &ToolContext) -> Result<ToolResult, ToolError> {
        if let Some(refusal) = &self.refusal {
            return Ok(error_result(format!(
                "refused before reaching `{}`: {refusal}",
                self.db.name
            )));
        }
        Ok(match run_call(&self.db, &self.op) {
            Ok(result) => result,
            Err(e) => error_result(e.to_string()),
        })
    }

    fn facts(&self) -> PolicyFacts {
        let mut facts = match self.class {
            Some(class) => PolicyFacts::attribute("statement_class", class.as_str()),
            None => PolicyFacts::default(),
        };
        facts.resource = Some(self.db.name.clone());
        facts
    }
}

/// Runs a decoded call against its database. Database refusals and
/// failures come back as errors for an error result.
fn run_call(db: &DatabaseConfig, op: &Op) -> Result<ToolResult, SqlError> {
    let caps = &db.caps;
    match (&db.kind, op) {
        (DatabaseKind::Sqlite { path }, Op::Statement { sql, params, mode }) => {
            let conn = sqlite::open(&db.name, path, *mode, caps)?;
            let rows = sqlite::run(&conn, sql, params, *mode, caps)?;
            Ok(rows_result(&rows))
        }
        (DatabaseKind::Sqlite { path }, Op::Schema { table }) => {
            let value = sqlite::schema(&db.name, path, table.as_deref(), caps)?;
            Ok(schema_result(value))
        }
        (DatabaseKind::Postgres { url }, Op::Statement { sql, params, mode }) => {
            let rows = postgres::run_statement(&db.name, url, sql, params, *mode, caps)?;
            Ok(rows_result(&rows))
        }
        (DatabaseKind::Postgres { url }, Op::Schema { table }) => {
            let value = postgres::run_schema(&db.name, url, table.as_deref(), caps)?;
            Ok(schema_result(value))
        }
    }
}

fn schema_result(value: Value) -> ToolResult {
    ToolResult {
        content: vec![Content::Text {
            text: value.to_string(),
        }],
        structured: Some(value),
        is_error: false,
    }
}
