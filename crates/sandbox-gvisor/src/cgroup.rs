//! Per-exec cgroup bookkeeping (cgroup v1, as on this kind of host).
//!
//! runsc creates `<controller>/bureau-gvisor/<id>/sandbox` for each
//! controller, applies the spec's memory limit there and removes that leaf
//! when the container is deleted. The parent `<id>` folder outlives it, and
//! since v1 memory and cpuacct accounting is hierarchical, it still holds the
//! sandbox's peak memory and CPU time after the run. We read those, then
//! remove the parent. The shared `bureau-gvisor` folder is left in place:
//! removing it could race with another exec's runsc creating its path.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TOP: &str = "bureau-gvisor";

#[derive(Debug, Clone)]
pub(crate) struct CgroupLayout {
    /// Usually `/sys/fs/cgroup`.
    root: PathBuf,
}

/// What the sandbox used, when the host could tell.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Usage {
    pub peak_memory_bytes: Option<u64>,
    pub cpu_time: Option<Duration>,
}

impl CgroupLayout {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// Whether the v1 memory controller is mounted where runsc will use it.
    pub(crate) fn has_v1_memory(&self) -> bool {
        self.root.join("memory/memory.limit_in_bytes").is_file()
    }

    /// The `linux.cgroupsPath` for container `id`.
    pub(crate) fn cgroups_path(id: &str) -> String {
        format!("/{TOP}/{id}/sandbox")
    }

    fn parent(&self, controller: &str, id: &str) -> PathBuf {
        self.root.join(controller).join(TOP).join(id)
    }

    pub(crate) fn usage(&self, id: &str) -> Usage {
        let peak_memory_bytes =
            read_u64(&self.parent("memory", id).join("memory.max_usage_in_bytes"));
        let cpu_time =
            read_u64(&self.parent("cpuacct", id).join("cpuacct.usage")).map(Duration::from_nanos);
        Usage {
            peak_memory_bytes,
            cpu_time,
        }
    }

    /// Removes what runsc left of this exec's cgroups, in every controller.
    pub(crate) fn remove(&self, id: &str) -> io::Result<()> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut first_error = None;
        for entry in entries.flatten() {
            let parent = entry.path().join(TOP).join(id);
            for dir in [parent.join("sandbox"), parent] {
                match fs::remove_dir(&dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_and_removal_follow_the_parent_folder() {
        let root = tempfile::tempdir().unwrap();
        let layout = CgroupLayout::new(root.path().to_path_buf());
        let mem = root.path().join("memory/bureau-gvisor/abc");
        let cpu = root.path().join("cpuacct/bureau-gvisor/abc");
        fs::create_dir_all(mem.join("sandbox")).unwrap();
        fs::create_dir_all(&cpu).unwrap();
        // Real cgroupfs folders can be removed with their control files in
        // them; a plain folder cannot, so the test writes none in the
        // folders it expects removed.
        let usage = layout.usage("abc");
        assert_eq!(usage.peak_memory_bytes, None);
        layout.remove("abc").unwrap();
        assert!(!mem.exists() && !cpu.exists());
        assert!(root.path().join("memory/bureau-gvisor").is_dir());
        assert_eq!(
            CgroupLayout::cgroups_path("abc"),
            "/bureau-gvisor/abc/sandbox"
        );
    }
}
