use bureau_protocol::{RunId, RunRecord, RunSummary, StepRecord};

use crate::{Journal, RunView, StoreError};

/// A journal that keeps nothing (`--journal none`, benchmarks). Every write
/// succeeds; `get_run` is `None`, `list_runs` and `steps` are empty. Runs
/// journaled here cannot be resumed.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullJournal;

#[async_trait::async_trait]
impl Journal for NullJournal {
    async fn create_run(&self, _run: &RunRecord) -> Result<(), StoreError> {
        Ok(())
    }

    async fn append(&self, _records: Vec<StepRecord>) -> Result<(), StoreError> {
        Ok(())
    }

    async fn update_run(&self, _summary: &RunSummary) -> Result<(), StoreError> {
        Ok(())
    }

    async fn get_run(&self, _run_id: RunId) -> Result<Option<RunView>, StoreError> {
        Ok(None)
    }

    async fn list_runs(&self, _limit: u32) -> Result<Vec<RunView>, StoreError> {
        Ok(Vec::new())
    }

    async fn steps(&self, _run_id: RunId) -> Result<Vec<StepRecord>, StoreError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bureau_protocol::{JournalEntry, ToolCall, ToolCallId};

    #[tokio::test]
    async fn null_journal_accepts_everything_and_keeps_nothing() {
        let j = NullJournal;
        let run_id = RunId::new();
        let run = RunRecord {
            run_id,
            agent: "a".into(),
            model: "scripted:x".into(),
            task: "t".into(),
            created_at_ms: 1,
        };
        j.create_run(&run).await.unwrap();
        let entry = JournalEntry::ToolCallStarted {
            turn: 0,
            call: ToolCall {
                id: ToolCallId::new("c"),
                name: "s.t".into(),
                arguments: serde_json::Value::Null,
            },
        };
        let rec = StepRecord {
            run_id,
            seq: 0,
            at_ms: 1,
            entry,
        };
        j.append(vec![rec.clone(), rec]).await.unwrap();
        assert_eq!(j.get_run(run_id).await.unwrap(), None);
        assert!(j.list_runs(10).await.unwrap().is_empty());
        assert!(j.steps(run_id).await.unwrap().is_empty());
    }
}
