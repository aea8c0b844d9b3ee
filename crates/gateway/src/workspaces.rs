//! Which folder a call works in: `{workspaces_root}/{run_id}` for a call
//! that names its run, the default workspace otherwise. Open folders are
//! kept (bounded), so a call costs a map lookup, not a `mkdir` and `open`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bureau_protocol::RunId;
use bureau_tools::{Create, ToolError, Workspace};

use crate::{GatewayConfig, GatewayError};

/// Open run folders kept at most; the least recently used goes first.
const MAX_OPEN_RUNS: usize = 256;

pub(crate) struct Workspaces {
    root: Workspace,
    default: Arc<Workspace>,
    runs: Mutex<RunCache>,
}

#[derive(Default)]
struct RunCache {
    clock: u64,
    open: HashMap<RunId, (Arc<Workspace>, u64)>,
}

impl Workspaces {
    pub(crate) fn new(config: &GatewayConfig) -> Result<Self, GatewayError> {
        let open = |role, path: &std::path::Path| {
            Workspace::create(path).map_err(|source| GatewayError::Workspace { role, source })
        };
        Ok(Self {
            root: open("workspaces root", &config.workspaces_root)?,
            default: Arc::new(open("default workspace", &config.default_workspace)?),
            runs: Mutex::new(RunCache::default()),
        })
    }

    #[cfg(test)]
    pub(crate) fn for_run(&self, run: Option<RunId>) -> Result<Arc<Workspace>, ToolError> {
        self.open(run).map(|(ws, _)| ws)
    }

    /// The run's folder, and whether this process opened it just now.
    pub(crate) fn open(&self, run: Option<RunId>) -> Result<(Arc<Workspace>, bool), ToolError> {
        let Some(run) = run else {
            return Ok((self.default.clone(), false));
        };
        if let Some(ws) = self.lock().touch(run) {
            return Ok((ws, false));
        }
        // The run id's canonical form is a UUID: one safe path component.
        let ws = Arc::new(self.root.subdir(&run.to_string(), Create::IfMissing)?);
        let mut cache = self.lock();
        if let Some(existing) = cache.touch(run) {
            return Ok((existing, false));
        }
        cache.insert(run, ws.clone());
        Ok((ws, true))
    }

    pub(crate) fn forget(&self, run: RunId) {
        self.lock().open.remove(&run);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunCache> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RunCache {
    fn touch(&mut self, run: RunId) -> Option<Arc<Workspace>> {
        self.clock += 1;
        let now = self.clock;
        self.open.get_mut(&run).map(|(ws, used)| {
            *used = now;
            ws.clone()
        })
    }

    fn insert(&mut self, run: RunId, ws: Arc<Workspace>) {
        if self.open.len() >= MAX_OPEN_RUNS {
            let oldest = self
                .open
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                self.open.remove(&oldest);
            }
        }
        self.clock += 1;
        self.open.insert(run, (ws, self.clock));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_get_their_own_folder_and_the_cache_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let config =
            GatewayConfig::new(dir.path().join("runs"), dir.path().join("default"), vec![]);
        let ws = Workspaces::new(&config).unwrap();
        assert_eq!(ws.for_run(None).unwrap().path(), dir.path().join("default"));
        let a = RunId::new();
        let first = ws.for_run(Some(a)).unwrap();
        assert_eq!(first.path(), dir.path().join("runs").join(a.to_string()));
        assert!(Arc::ptr_eq(&first, &ws.for_run(Some(a)).unwrap()), "cached");
        for _ in 0..MAX_OPEN_RUNS {
            ws.for_run(Some(RunId::new())).unwrap();
        }
        assert_eq!(ws.lock().open.len(), MAX_OPEN_RUNS);
        assert!(
            !ws.lock().open.contains_key(&a),
            "the least recently used went first"
        );
        ws.forget(RunId::new());
    }
}
