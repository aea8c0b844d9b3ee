//! The classifier's lists, as reviewed data: what is refused and why.

/// Functions refused in any statement, with the reason given to the model.
/// Names are compared lowercased, without their schema.
pub(super) const FORBIDDEN_FUNCTIONS: &[(&str, &str)] = &[
    // PostgreSQL: the server's files.
    ("pg_read_file", "it reads files on the database server"),
    (
        "pg_read_binary_file",
        "it reads files on the database server",
    ),
    ("pg_ls_dir", "it lists folders on the database server"),
    ("pg_stat_file", "it inspects files on the database server"),
    ("pg_ls_logdir", "it lists folders on the database server"),
    ("pg_ls_waldir", "it lists folders on the database server"),
    ("pg_ls_tmpdir", "it lists folders on the database server"),
    (
        "pg_ls_archive_statusdir",
        "it lists folders on the database server",
    ),
    (
        "pg_ls_logicalmapdir",
        "it lists folders on the database server",
    ),
    (
        "pg_ls_logicalsnapdir",
        "it lists folders on the database server",
    ),
    (
        "pg_ls_replslotdir",
        "it lists folders on the database server",
    ),
    // PostgreSQL: large objects reach server files and store data.
    ("lo_import", "it reads a server file into a large object"),
    ("lo_export", "it writes a large object to a server file"),
    ("lo_from_bytea", "it creates a large object"),
    ("lo_put", "it writes a large object"),
    ("lo_create", "it creates a large object"),
    ("lo_creat", "it creates a large object"),
    ("lo_unlink", "it deletes a large object"),
    ("lo_truncate", "it changes a large object"),
    ("lo_truncate64", "it changes a large object"),
    ("lowrite", "it writes a large object"),
    ("lo_open", "it opens a large object"),
    // PostgreSQL: other servers, server control, settings.
    ("dblink", "it connects to another server"),
    ("dblink_exec", "it runs SQL on another server"),
    ("dblink_connect", "it connects to another server"),
    ("dblink_connect_u", "it connects to another server"),
    ("dblink_send_query", "it runs SQL on another server"),
    ("set_config", "it changes the session's settings"),
    ("pg_reload_conf", "it reloads the server's configuration"),
    ("pg_rotate_logfile", "it controls the server"),
    ("pg_terminate_backend", "it ends other sessions"),
    ("pg_cancel_backend", "it cancels other sessions' queries"),
    ("pg_promote", "it controls the server"),
    ("pg_switch_wal", "it controls the server"),
    ("pg_create_restore_point", "it controls the server"),
    ("pg_notify", "it signals other sessions"),
    ("pg_advisory_lock", "it takes locks other sessions wait on"),
    (
        "pg_advisory_lock_shared",
        "it takes locks other sessions wait on",
    ),
    (
        "pg_advisory_xact_lock",
        "it takes locks other sessions wait on",
    ),
    (
        "pg_advisory_xact_lock_shared",
        "it takes locks other sessions wait on",
    ),
    (
        "pg_try_advisory_lock",
        "it takes locks other sessions wait on",
    ),
    (
        "pg_try_advisory_lock_shared",
        "it takes locks other sessions wait on",
    ),
    (
        "pg_try_advisory_xact_lock",
        "it takes locks other sessions wait on",
    ),
    (
        "pg_try_advisory_xact_lock_shared",
        "it takes locks other sessions wait on",
    ),
    // SQLite: extensions and the CLI's file functions.
    (
        "load_extension",
        "it loads native code into the database engine",
    ),
    ("readfile", "it reads files"),
    ("writefile", "it writes files"),
    ("edit", "it starts an editor"),
    ("fts3_tokenizer", "it can register native code"),
    ("fsdir", "it lists folders"),
    ("zipfile", "it reads and writes archives on disk"),
];

/// Functions that change data: a statement calling them is a write.
pub(super) const WRITING_FUNCTIONS: &[&str] = &["nextval", "setval"];

/// SQLite PRAGMAs that change the connection or the file even without `=`.
pub(super) const WRITE_PRAGMAS: &[&str] = &[
    "query_only",
    "writable_schema",
    "journal_mode",
    "locking_mode",
    "synchronous",
    "trusted_schema",
    "foreign_keys",
    "recursive_triggers",
    "ignore_check_constraints",
    "legacy_alter_table",
    "auto_vacuum",
    "incremental_vacuum",
    "page_size",
    "max_page_count",
    "cache_size",
    "mmap_size",
    "temp_store",
    "temp_store_directory",
    "data_store_directory",
    "secure_delete",
    "schema_version",
    "user_version",
    "application_id",
    "wal_checkpoint",
    "wal_autocheckpoint",
    "journal_size_limit",
    "busy_timeout",
    "optimize",
    "shrink_memory",
    "soft_heap_limit",
    "hard_heap_limit",
    "threads",
    "key",
    "rekey",
    "case_sensitive_like",
    "cell_size_check",
    "defer_foreign_keys",
    "reverse_unordered_selects",
];

/// SQLite PRAGMAs that only describe the schema: reads.
pub(crate) const INTROSPECTION_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
];
