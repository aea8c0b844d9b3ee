//! The Postgres journal's schema and its forward-only migrations.
//!
//! Everything lives in the `bureau` schema of the database the URL names,
//! so the journal can share a database with other programs. The version is
//! the one row of `bureau.schema_version`. Migrating runs in one
//! transaction under an advisory lock (Postgres DDL is transactional), so
//! many workers starting at once migrate once, and a crash mid-way leaves
//! the previous version intact. A newer version is refused before anything
//! is written.

use tokio_postgres::Client;

use super::pool::db_err;
use crate::StoreError;

/// The schema version this build writes and reads (`bureau.schema_version`).
pub const POSTGRES_SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Key of the advisory lock held while migrating: "Bure" in ASCII.
const MIGRATION_LOCK: i64 = 0x4275_7265;

/// `MIGRATIONS[n]` takes the journal from schema version `n` to `n + 1`.
/// Append only: never edit a migration that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: runs and their steps, in the shapes of the SQLite journal: times
    // are milliseconds since the Unix epoch, `summary` is a `RunSummary` as
    // JSON, `entry` a `JournalEntry` as JSON in the shape of journal
    // version `version`.
    //
    // Leasing (many workers): a run that was enqueued has status `queued`;
    // a worker's claim sets status `running`, `lease_owner`, a new
    // `lease_token` (the fencing token, from one sequence: it only grows)
    // and `lease_expires_ms` (the database's clock). A `running` run whose
    // lease expired may be claimed again. Runs from `create_run` carry no
    // lease and are never claimed.
    "CREATE TABLE bureau.runs (
        id               bigserial PRIMARY KEY,
        run_id           text   NOT NULL UNIQUE,
        agent            text   NOT NULL,
        model            text   NOT NULL,
        task             text   NOT NULL,
        status           text   NOT NULL,
        summary          text,
        created_at       bigint NOT NULL,
        updated_at       bigint NOT NULL,
        lease_owner      text,
        lease_token      bigint NOT NULL DEFAULT 0,
        lease_expires_ms bigint
    );
    CREATE INDEX runs_newest_first ON bureau.runs (created_at DESC, run_id DESC);
    CREATE INDEX runs_queued ON bureau.runs (id) WHERE status = 'queued';
    CREATE INDEX runs_leased ON bureau.runs (lease_expires_ms)
        WHERE status = 'running' AND lease_expires_ms IS NOT NULL;
    CREATE SEQUENCE bureau.lease_tokens;
    CREATE TABLE bureau.steps (
        run     bigint  NOT NULL REFERENCES bureau.runs (id),
        seq     bigint  NOT NULL,
        at_ms   bigint  NOT NULL,
        version integer NOT NULL,
        entry   text    NOT NULL,
        PRIMARY KEY (run, seq)
    );
    -- One append call, atomic as one statement: the fence (if a lease is
    -- given), then every step or none. Refusals are errors with SQLSTATE
    -- BR001 (unknown run), BR002 (duplicate step), both with the 1-based
    -- number of the first bad record as DETAIL, and BR003 (lease lost).
    CREATE FUNCTION bureau.append_steps(
        p_run_ids text[], p_seqs bigint[], p_at_ms bigint[], p_entries text[],
        p_version integer, p_fence_run text, p_fence_token bigint
    ) RETURNS void LANGUAGE plpgsql AS $fn$
    DECLARE
        v_bad bigint;
        v_unknown boolean;
    BEGIN
        IF p_fence_run IS NOT NULL THEN
            -- FOR SHARE: a claim (FOR NO KEY UPDATE SKIP LOCKED) skips the
            -- run and a renew or release waits until this commits.
            PERFORM 1 FROM bureau.runs
            WHERE run_id = p_fence_run AND lease_token = p_fence_token AND status = 'running'
            FOR SHARE;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'the lease on run % is no longer held', p_fence_run
                    USING ERRCODE = 'BR003';
            END IF;
        END IF;
        WITH input AS (
            SELECT * FROM unnest(p_run_ids, p_seqs, p_at_ms, p_entries)
                WITH ORDINALITY AS t(run_id, seq, at_ms, entry, ord)),
        r AS (SELECT runs.id, runs.run_id FROM bureau.runs WHERE runs.run_id = ANY (p_run_ids)),
        ins AS (
            INSERT INTO bureau.steps (run, seq, at_ms, version, entry)
            SELECT r.id, i.seq, i.at_ms, p_version, i.entry FROM input i JOIN r USING (run_id)
            -- One global order of inserts: two statements that race for
            -- the same keys wait on each other, never deadlock.
            ORDER BY r.id, i.seq
            ON CONFLICT (run, seq) DO NOTHING
            RETURNING steps.run, steps.seq)
        SELECT i.ord, r.id IS NULL INTO v_bad, v_unknown
        FROM input i LEFT JOIN r USING (run_id)
            LEFT JOIN ins ON ins.run = r.id AND ins.seq = i.seq
        WHERE r.id IS NULL OR ins.seq IS NULL
        ORDER BY i.ord LIMIT 1;
        IF v_bad IS NOT NULL THEN
            IF v_unknown THEN
                RAISE EXCEPTION 'unknown run' USING ERRCODE = 'BR001', DETAIL = v_bad::text;
            END IF;
            RAISE EXCEPTION 'duplicate step' USING ERRCODE = 'BR002', DETAIL = v_bad::text;
        END IF;
    END
    $fn$;",
];

/// Creates or migrates the schema to [`POSTGRES_SCHEMA_VERSION`]; refuses a
/// newer one without writing anything.
pub(crate) async fn migrate(client: &mut Client, target: &str) -> Result<(), StoreError> {
    let err = db_err("migrate the journal schema");
    let tx = client.transaction().await.map_err(&err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(&err)?;
    // Read the version before creating anything, so that a newer journal
    // is left exactly as it was.
    let exists: bool = tx
        .query_one(
            "SELECT to_regclass('bureau.schema_version') IS NOT NULL",
            &[],
        )
        .await
        .map_err(&err)?
        .try_get(0)
        .map_err(&err)?;
    let version: i32 = if exists {
        tx.query_opt("SELECT version FROM bureau.schema_version", &[])
            .await
            .map_err(&err)?
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(&err)?
            .unwrap_or(0)
    } else {
        0
    };
    let current = u32::try_from(version).map_err(|_| StoreError::Decode {
        what: "the journal schema version".into(),
        detail: format!("negative version {version}"),
    })?;
    if current > POSTGRES_SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: target.into(),
            found: current,
            supported: POSTGRES_SCHEMA_VERSION,
        });
    }
    if current == POSTGRES_SCHEMA_VERSION {
        return tx.commit().await.map_err(&err);
    }
    if !exists {
        tx.batch_execute(
            "CREATE SCHEMA IF NOT EXISTS bureau;
             CREATE TABLE bureau.schema_version (version integer NOT NULL);
             INSERT INTO bureau.schema_version (version) VALUES (0);",
        )
        .await
        .map_err(&err)?;
    }
    for sql in MIGRATIONS.iter().skip(current as usize) {
        tx.batch_execute(sql).await.map_err(&err)?;
    }
    let latest = i32::try_from(POSTGRES_SCHEMA_VERSION).unwrap_or(i32::MAX);
    tx.execute("UPDATE bureau.schema_version SET version = $1", &[&latest])
        .await
        .map_err(&err)?;
    tx.commit().await.map_err(&err)?;
    tracing::info!(
        from = current,
        to = POSTGRES_SCHEMA_VERSION,
        "postgres journal schema migrated"
    );
    Ok(())
}
