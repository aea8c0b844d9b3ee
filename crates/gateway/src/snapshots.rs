//! Workspaces that outlive sandboxes: the seam to the workspace store.
//! After a call that may have changed a run's workspace, the folder is
//! committed as a content-addressed snapshot; a run's folder that this
//! process opens for the first time and finds empty is hydrated from the
//! latest snapshot (another worker, or a wiped cache, left it so).

use std::path::Path;

use bureau_protocol::RunId;

/// One commit's result, for the tool result and the audit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The snapshot id (a content hash).
    pub id: String,
    /// Whether anything changed since the previous snapshot.
    pub changed: bool,
}

/// Where workspace snapshots go (the composition root adapts the
/// workspace store). Called on blocking threads.
pub trait Snapshots: Send + Sync + 'static {
    /// Restores the latest snapshot of `workspace` into `live` (an empty
    /// folder). No snapshot yet is not an error.
    fn hydrate(&self, workspace: &str, live: &Path) -> Result<(), String>;

    /// Commits `live` as the next snapshot of `workspace`.
    fn commit(
        &self,
        workspace: &str,
        live: &Path,
        run: Option<RunId>,
        step: Option<u64>,
        tool: &str,
    ) -> Result<Snapshot, String>;
}
