//! Rows as the writer binds them, encoded on the caller's thread (measured
//! cheaper overall than encoding on the writer: it keeps the one writer
//! thread, the journal's bottleneck, doing only SQLite work).

use bureau_protocol::{RunId, RunRecord, RunStatus, RunSummary, StepRecord};

use crate::StoreError;

pub(crate) struct StepRow {
    pub run_id: RunId,
    pub seq: u64,
    pub seq_key: i64,
    pub at_ms: i64,
    pub entry: String,
}

pub(crate) struct RunRow {
    pub run_id: RunId,
    pub run_key: String,
    pub agent: String,
    pub model: String,
    pub task: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) struct SummaryRow {
    pub run_id: RunId,
    pub run_key: String,
    pub status: RunStatus,
    pub summary: String,
    pub updated_at: i64,
}

pub(crate) fn step(record: &StepRecord) -> Result<StepRow, StoreError> {
    let seq_key = i64::try_from(record.seq).map_err(|_| StoreError::Invalid {
        reason: format!(
            "step sequence number {} of run {} is above {}",
            record.seq,
            record.run_id,
            i64::MAX
        ),
    })?;
    let entry = serde_json::to_string(&record.entry).map_err(|source| StoreError::Encode {
        what: "a journal entry",
        source,
    })?;
    Ok(StepRow {
        run_id: record.run_id,
        seq: record.seq,
        seq_key,
        at_ms: record.at_ms,
        entry,
    })
}

pub(crate) fn run(run: &RunRecord, now_ms: i64) -> RunRow {
    RunRow {
        run_id: run.run_id,
        run_key: run.run_id.to_string(),
        agent: run.agent.clone(),
        model: run.model.clone(),
        task: run.task.clone(),
        created_at: run.created_at_ms,
        updated_at: now_ms,
    }
}

pub(crate) fn summary(summary: &RunSummary, now_ms: i64) -> Result<SummaryRow, StoreError> {
    let json = serde_json::to_string(summary).map_err(|source| StoreError::Encode {
        what: "a run summary",
        source,
    })?;
    Ok(SummaryRow {
        run_id: summary.run_id,
        run_key: summary.run_id.to_string(),
        status: summary.status,
        summary: json,
        updated_at: now_ms,
    })
}

/// A `runs` row as both backends read it, before its text is decoded.
pub(crate) struct RunColumns {
    pub run_id: String,
    pub agent: String,
    pub model: String,
    pub task: String,
    pub status: String,
    pub summary: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Decodes a `runs` row (either backend).
pub(crate) fn run_view(c: RunColumns) -> Result<crate::RunView, StoreError> {
    let run_id: RunId = c.run_id.parse().map_err(|e| StoreError::Decode {
        what: "a run id".into(),
        detail: format!("{e}"),
    })?;
    let status: RunStatus = c.status.parse().map_err(|detail| StoreError::Decode {
        what: format!("the status of run {run_id}"),
        detail,
    })?;
    let summary = c
        .summary
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| StoreError::Decode {
            what: format!("the summary of run {run_id}"),
            detail: e.to_string(),
        })?;
    Ok(crate::RunView {
        run: RunRecord {
            run_id,
            agent: c.agent,
            model: c.model,
            task: c.task,
            created_at_ms: c.created_at_ms,
        },
        status,
        summary,
        updated_at_ms: c.updated_at_ms,
    })
}
