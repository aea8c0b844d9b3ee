//! One cgroup per sandbox for memory, pids and CPU accounting: cgroup v2
//! when its `memory` and `pids` controllers are available, otherwise the v1
//! `memory`, `pids` and `cpuacct` hierarchies (the hybrid layout of this
//! host). Created under the launcher's own cgroup when that is writable,
//! else under the hierarchy's root; removed on drop.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where sandbox cgroups are created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parent {
    /// Under each hierarchy's root. The default: the caller's own cgroup
    /// may be managed by a supervisor (systemd, a job runner) that does not
    /// expect foreign children in it.
    #[default]
    Root,
    /// Under the launcher's own cgroup (falling back to the root), so the
    /// caller's limits bound its sandboxes too. Needs a delegated cgroup.
    Current,
}

/// What the kernel counted for the tree.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub cpu: Option<Duration>,
    pub peak_memory: Option<u64>,
    pub oom_killed: bool,
    pub pids_limit_hit: bool,
}

/// Which cgroup layout a host offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    V2 {
        root: PathBuf,
        current: PathBuf,
    },
    V1 {
        memory: Hierarchy,
        pids: Hierarchy,
        cpuacct: Option<Hierarchy>,
    },
}

/// A v1 hierarchy: its mount point and our cgroup's path inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    pub mount: PathBuf,
    pub current: PathBuf,
}

impl Hierarchy {
    fn parents(&self, parent: Parent) -> Vec<PathBuf> {
        let rel = self.current.strip_prefix("/").unwrap_or(&self.current);
        let own = self.mount.join(rel);
        match parent {
            Parent::Current if own != self.mount => vec![own, self.mount.clone()],
            Parent::Current | Parent::Root => vec![self.mount.clone()],
        }
    }
}

struct Mount {
    point: PathBuf,
    root: String,
    fstype: String,
    options: Vec<String>,
}

fn mounts() -> io::Result<Vec<Mount>> {
    let text = fs::read_to_string("/proc/self/mountinfo")?;
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        let (Some(root), Some(point), Some(fstype), Some(opts)) =
            (left.get(3), left.get(4), right.first(), right.get(2))
        else {
            continue;
        };
        out.push(Mount {
            point: PathBuf::from(point.replace("\\040", " ")),
            root: (*root).to_owned(),
            fstype: (*fstype).to_owned(),
            options: opts.split(',').map(str::to_owned).collect(),
        });
    }
    Ok(out)
}

/// (hierarchy id, controllers, path) lines of `/proc/self/cgroup`.
fn own_cgroups() -> io::Result<Vec<(String, Vec<String>, String)>> {
    let text = fs::read_to_string("/proc/self/cgroup")?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let id = parts.next()?.to_owned();
            let ctrl = parts
                .next()?
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            let path = parts.next()?.to_owned();
            Some((id, ctrl, path))
        })
        .collect())
}

fn relative_to_mount(path: &str, mount_root: &str) -> PathBuf {
    let rel = if mount_root == "/" {
        path
    } else {
        path.strip_prefix(mount_root).unwrap_or(path)
    };
    PathBuf::from(if rel.is_empty() { "/" } else { rel })
}

impl Layout {
    /// Finds the layout to use on this host.
    pub fn detect() -> io::Result<Self> {
        let mounts = mounts()?;
        let own = own_cgroups()?;
        if let Some(v2) = mounts.iter().find(|m| m.fstype == "cgroup2") {
            let controllers =
                fs::read_to_string(v2.point.join("cgroup.controllers")).unwrap_or_default();
            let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
            if has("memory") && has("pids") {
                let path = own
                    .iter()
                    .find(|(id, _, _)| id == "0")
                    .map(|(_, _, p)| p.clone())
                    .unwrap_or_else(|| "/".into());
                return Ok(Layout::V2 {
                    root: v2.point.clone(),
                    current: relative_to_mount(&path, &v2.root),
                });
            }
        }
        let v1 = |controller: &str| -> Option<Hierarchy> {
            let m = mounts
                .iter()
                .find(|m| m.fstype == "cgroup" && m.options.iter().any(|o| o == controller))?;
            let path = own
                .iter()
                .find(|(_, ctrl, _)| ctrl.iter().any(|c| c == controller))
                .map(|(_, _, p)| p.clone())
                .unwrap_or_else(|| "/".into());
            Some(Hierarchy {
                mount: m.point.clone(),
                current: relative_to_mount(&path, &m.root),
            })
        };
        match (v1("memory"), v1("pids")) {
            (Some(memory), Some(pids)) => Ok(Layout::V1 {
                memory,
                pids,
                cpuacct: v1("cpuacct"),
            }),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "neither cgroup v2 with memory and pids controllers nor cgroup v1 memory and pids hierarchies are mounted",
            )),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Layout::V2 { root, .. } => format!("cgroup v2 at {}", root.display()),
            Layout::V1 {
                memory,
                pids,
                cpuacct,
            } => format!(
                "cgroup v1: memory at {}, pids at {}, cpuacct {}",
                memory.mount.display(),
                pids.mount.display(),
                cpuacct
                    .as_ref()
                    .map_or("absent".into(), |c| format!("at {}", c.mount.display()))
            ),
        }
    }
}

/// The cgroup(s) of one sandbox.
#[derive(Debug)]
pub struct Cgroup {
    kind: Kind,
    /// Every directory we created, removed in reverse on drop.
    dirs: Vec<PathBuf>,
}

#[derive(Debug)]
enum Kind {
    V2 {
        dir: PathBuf,
    },
    V1 {
        memory: PathBuf,
        pids: PathBuf,
        cpuacct: Option<PathBuf>,
    },
}

fn create_under(parents: &[PathBuf], name: &str) -> io::Result<PathBuf> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no parent cgroup");
    for parent in parents {
        let dir = parent.join(name);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    fs::write(path, value)
        .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `key value` lines (memory.oom_control, pids.events, memory.events, cpu.stat).
fn read_key(path: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

impl Cgroup {
    /// Creates the cgroup(s) named `name` and sets the memory and pids limits.
    pub fn create(
        layout: &Layout,
        parent: Parent,
        name: &str,
        memory_bytes: u64,
        pids: u64,
    ) -> io::Result<Self> {
        match layout {
            Layout::V2 { root, current } => {
                // Processes may not live in inner nodes, so a cgroup of our
                // own would need our parent re-organised; the root is exempt.
                let rel = current.strip_prefix("/").unwrap_or(current);
                let mut parents = Vec::new();
                if !rel.as_os_str().is_empty() && parent == Parent::Current {
                    parents.push(root.join(rel));
                }
                parents.push(root.clone());
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no usable v2 parent");
                for parent in &parents {
                    let _ = write(&parent.join("cgroup.subtree_control"), "+memory +pids +cpu");
                    let enabled = fs::read_to_string(parent.join("cgroup.subtree_control"))
                        .unwrap_or_default();
                    if !(enabled.contains("memory") && enabled.contains("pids")) {
                        continue;
                    }
                    match create_under(std::slice::from_ref(parent), name) {
                        Ok(dir) => {
                            let cg = Cgroup {
                                kind: Kind::V2 { dir: dir.clone() },
                                dirs: vec![dir.clone()],
                            };
                            write(&dir.join("memory.max"), &memory_bytes.to_string())?;
                            let _ = write(&dir.join("memory.swap.max"), "0");
                            write(&dir.join("pids.max"), &pids.to_string())?;
                            return Ok(cg);
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
            Layout::V1 {
                memory,
                pids: pids_h,
                cpuacct,
            } => {
                let mut cg = Cgroup {
                    kind: Kind::V1 {
                        memory: PathBuf::new(),
                        pids: PathBuf::new(),
                        cpuacct: None,
                    },
                    dirs: Vec::new(),
                };
                let mem_dir = create_under(&memory.parents(parent), name)?;
                cg.dirs.push(mem_dir.clone());
                let pids_dir = create_under(&pids_h.parents(parent), name)?;
                cg.dirs.push(pids_dir.clone());
                let cpu_dir = match cpuacct {
                    Some(h) => {
                        let d = create_under(&h.parents(parent), name)?;
                        cg.dirs.push(d.clone());
                        Some(d)
                    }
                    None => None,
                };
                write(
                    &mem_dir.join("memory.limit_in_bytes"),
                    &memory_bytes.to_string(),
                )?;
                // Swap would let the tree exceed the limit; absent without swap accounting.
                let _ = write(
                    &mem_dir.join("memory.memsw.limit_in_bytes"),
                    &memory_bytes.to_string(),
                );
                write(&pids_dir.join("pids.max"), &pids.to_string())?;
                cg.kind = Kind::V1 {
                    memory: mem_dir,
                    pids: pids_dir,
                    cpuacct: cpu_dir,
                };
                Ok(cg)
            }
        }
    }

    /// Removes sandbox cgroups left by launchers that were killed before
    /// they could clean up (their pid is gone and no process is inside).
    pub fn sweep_stale(layout: &Layout, parent: Parent, prefix: &str) {
        let parents: Vec<PathBuf> = match layout {
            Layout::V2 { root, current } => {
                let rel = current.strip_prefix("/").unwrap_or(current);
                vec![root.clone(), root.join(rel)]
            }
            Layout::V1 {
                memory,
                pids,
                cpuacct,
            } => [Some(memory), Some(pids), cpuacct.as_ref()]
                .into_iter()
                .flatten()
                .flat_map(|h| h.parents(parent))
                .collect(),
        };
        for dir in parents {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(rest) = name.strip_prefix(prefix) else {
                    continue;
                };
                // Only names this launcher makes: <prefix><pid>-<nanos>.
                let Some((pid, nanos)) = rest.split_once('-') else {
                    continue;
                };
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                if !digits(pid) || !digits(nanos) || Path::new("/proc").join(pid).exists() {
                    continue;
                }
                let procs = fs::read_to_string(e.path().join("cgroup.procs")).unwrap_or_default();
                if procs.trim().is_empty() {
                    let _ = fs::remove_dir(e.path());
                }
            }
        }
    }

    /// Moves `pid` (and so its future descendants) into the cgroup(s).
    pub fn add(&self, pid: libc::pid_t) -> io::Result<()> {
        for dir in &self.dirs {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// CPU time used so far by the tree.
    pub fn cpu(&self) -> Option<Duration> {
        match &self.kind {
            Kind::V2 { dir } => {
                read_key(&dir.join("cpu.stat"), "usage_usec").map(Duration::from_micros)
            }
            Kind::V1 { cpuacct, .. } => {
                read_u64(&cpuacct.as_ref()?.join("cpuacct.usage")).map(Duration::from_nanos)
            }
        }
    }

    pub fn stats(&self) -> Stats {
        match &self.kind {
            Kind::V2 { dir } => Stats {
                cpu: self.cpu(),
                peak_memory: read_u64(&dir.join("memory.peak")),
                oom_killed: read_key(&dir.join("memory.events"), "oom_kill").is_some_and(|n| n > 0),
                pids_limit_hit: read_key(&dir.join("pids.events"), "max").is_some_and(|n| n > 0),
            },
            Kind::V1 { memory, pids, .. } => Stats {
                cpu: self.cpu(),
                peak_memory: read_u64(&memory.join("memory.max_usage_in_bytes")),
                oom_killed: read_key(&memory.join("memory.oom_control"), "oom_kill")
                    .is_some_and(|n| n > 0),
                pids_limit_hit: read_key(&pids.join("pids.events"), "max").is_some_and(|n| n > 0),
            },
        }
    }

    /// Whether no process is left in the cgroup(s).
    pub fn is_empty(&self) -> bool {
        self.dirs.iter().all(|d| {
            fs::read_to_string(d.join("cgroup.procs"))
                .map(|s| s.trim().is_empty())
                .unwrap_or(true)
        })
    }

    /// Removes the directories; call once the tree is gone.
    pub fn remove(mut self) -> io::Result<()> {
        self.remove_dirs()
    }

    fn remove_dirs(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        while let Some(dir) = self.dirs.pop() {
            let mut attempt = 0;
            loop {
                match fs::remove_dir(&dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    // EBUSY while the kernel finishes tearing the tree down.
                    Err(e) if attempt < 50 => {
                        let _ = e;
                        attempt += 1;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => {
                        result = Err(io::Error::new(
                            e.kind(),
                            format!("removing {}: {e}", dir.display()),
                        ));
                        break;
                    }
                }
            }
        }
        result
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = self.remove_dirs();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_relative_paths() {
        assert_eq!(relative_to_mount("/a/b", "/"), PathBuf::from("/a/b"));
        assert_eq!(relative_to_mount("/a/b", "/a"), PathBuf::from("/b"));
        assert_eq!(relative_to_mount("/a", "/a"), PathBuf::from("/"));
    }

    #[test]
    fn key_lines_parse() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("memory.oom_control");
        fs::write(&f, "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n").unwrap();
        assert_eq!(read_key(&f, "oom_kill"), Some(3));
        assert_eq!(read_key(&f, "missing"), None);
    }
}
