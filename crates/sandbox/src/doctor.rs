//! What each backend can use on this host, for `bureau sandbox doctor`.

use serde::Serialize;

use crate::Backend;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Present and used.
    Ok,
    /// Missing, but the backend works without it (say how in `detail`).
    Degraded,
    /// Missing, and the backend cannot run without it.
    Missing,
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub backend: Backend,
    /// What was checked: "user namespaces", "landlock", "cgroup memory", "runsc", "kvm"…
    pub name: String,
    pub status: CheckStatus,
    /// What was found (the Landlock ABI, a path, a version) or what to do.
    pub detail: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DoctorReport {
    pub checks: Vec<Check>,
}

impl DoctorReport {
    /// A backend is usable when none of its checks is `Missing`.
    pub fn usable(&self, backend: Backend) -> bool {
        self.checks
            .iter()
            .filter(|c| c.backend == backend)
            .all(|c| c.status != CheckStatus::Missing)
    }
}
