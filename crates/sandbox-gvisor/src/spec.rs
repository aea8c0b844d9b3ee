//! The OCI runtime spec (`config.json`) one exec runs under: a typed subset
//! of the runtime-spec 1.0 fields runsc reads, built from the [`Grant`].

use std::path::{Path, PathBuf};

use bureau_sandbox::{ExecRequest, Grant};
use serde::Serialize;

/// The sandbox's `PATH`, as documented on [`ExecRequest::argv`].
pub(crate) const SANDBOX_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// Where the workspace is mounted and the command starts.
pub(crate) const WORKSPACE: &str = "/workspace";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Spec {
    pub oci_version: &'static str,
    pub process: Process,
    pub root: Root,
    pub hostname: &'static str,
    pub mounts: Vec<Mount>,
    pub linux: Linux,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Process {
    pub terminal: bool,
    pub user: User,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: &'static str,
    pub capabilities: Capabilities,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privileges: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct User {
    pub uid: u32,
    pub gid: u32,
}

/// Every set empty: the command holds no capability, even as uid 0.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Capabilities {
    pub bounding: Vec<String>,
    pub effective: Vec<String>,
    pub inheritable: Vec<String>,
    pub permitted: Vec<String>,
    pub ambient: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Rlimit {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub hard: u64,
    pub soft: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Root {
    pub path: PathBuf,
    pub readonly: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct Mount {
    pub destination: PathBuf,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub source: PathBuf,
    pub options: Vec<String>,
}

/// Whether a bind mount may be written through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    ReadOnly,
    ReadWrite,
}

impl Mount {
    pub(crate) fn bind(source: &Path, destination: &Path, access: Access) -> Self {
        let rw = match access {
            Access::ReadOnly => "ro",
            Access::ReadWrite => "rw",
        };
        Mount {
            destination: destination.to_path_buf(),
            kind: "bind",
            source: source.to_path_buf(),
            options: ["rbind", rw, "nosuid", "nodev"].map(String::from).to_vec(),
        }
    }

    fn special(kind: &'static str, destination: &str, options: &[&str]) -> Self {
        Mount {
            destination: PathBuf::from(destination),
            kind,
            source: PathBuf::from(kind),
            options: options.iter().map(|o| (*o).to_owned()).collect(),
        }
    }

    /// A tmpfs of at most `bytes`: `size=` is passed on, but the runsc
    /// measured here ignores it (the memory limit bounds the tmpfs then).
    fn tmpfs(destination: &str, mode: &str, bytes: u64) -> Self {
        let mut m = Mount::special("tmpfs", destination, &["nosuid", "nodev", mode]);
        m.options.push(format!("size={bytes}"));
        m
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Linux {
    pub namespaces: Vec<Namespace>,
    pub resources: Resources,
    pub cgroups_path: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Namespace {
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Debug, Serialize)]
pub(crate) struct Resources {
    pub memory: MemoryResources,
}

#[derive(Debug, Serialize)]
pub(crate) struct MemoryResources {
    pub limit: i64,
}

/// What [`build`] needs besides the request.
pub(crate) struct SpecInputs<'a> {
    /// The bundle's empty root folder (with the merged-usr symlinks).
    pub rootfs: &'a Path,
    /// Host-side read-only binds, in mount order (system folders, then grant paths).
    pub read_only_binds: &'a [PathBuf],
    /// The host workspace folder, or `None` for a tmpfs scratch `/workspace`.
    pub workspace: Option<&'a Path>,
    /// The cgroup path runsc creates for the sandbox (per exec, unique).
    pub cgroups_path: String,
}

/// Builds the spec. `request` is assumed validated (see `bundle::validate`).
pub(crate) fn build(request: &ExecRequest, inputs: &SpecInputs<'_>) -> Spec {
    let limits = &request.grant.limits;
    let mut mounts = vec![
        Mount::special("proc", "/proc", &["nosuid", "noexec", "nodev"]),
        Mount::special("tmpfs", "/dev", &["nosuid", "strictatime", "mode=755"]),
        Mount::tmpfs("/tmp", "mode=1777", limits.tmp_bytes),
    ];
    for path in inputs.read_only_binds {
        mounts.push(Mount::bind(path, path, Access::ReadOnly));
    }
    match inputs.workspace {
        Some(host) => mounts.push(Mount::bind(host, Path::new(WORKSPACE), Access::ReadWrite)),
        None => mounts.push(Mount::tmpfs(WORKSPACE, "mode=755", limits.workspace_bytes)),
    }
    Spec {
        oci_version: "1.0.2",
        process: Process {
            terminal: false,
            user: User { uid: 0, gid: 0 },
            args: request.argv.clone(),
            env: environment(request),
            cwd: WORKSPACE,
            capabilities: Capabilities::default(),
            rlimits: rlimits(&request.grant),
            no_new_privileges: true,
        },
        root: Root {
            path: inputs.rootfs.to_path_buf(),
            readonly: true,
        },
        hostname: "bureau",
        mounts,
        linux: Linux {
            namespaces: ["pid", "network", "ipc", "uts", "mount"]
                .into_iter()
                .map(|kind| Namespace { kind })
                .collect(),
            resources: Resources {
                memory: MemoryResources {
                    limit: i64::try_from(limits.memory_bytes).unwrap_or(i64::MAX),
                },
            },
            cgroups_path: inputs.cgroups_path.clone(),
        },
    }
}

/// The fixed variables, then the request's; a request variable replaces a
/// fixed one of the same name.
fn environment(request: &ExecRequest) -> Vec<String> {
    let fixed = [
        ("PATH", SANDBOX_PATH),
        ("HOME", WORKSPACE),
        ("LANG", "C.UTF-8"),
        ("TMPDIR", "/tmp"),
    ];
    let mut env: Vec<String> = fixed
        .iter()
        .filter(|(k, _)| !request.env.iter().any(|(rk, _)| rk == k))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    env.extend(request.env.iter().map(|(k, v)| format!("{k}={v}")));
    env
}

/// Per-process limits. gVisor's own kernel enforces these, so `RLIMIT_NPROC`
/// counts the sandbox's tasks (all run as uid 0 without capabilities) and
/// stands in for the `pids` limit: a host pids cgroup would count gVisor's
/// own threads (about nine host tasks per sandboxed process under ptrace)
/// and crash the sandbox kernel instead of failing `fork`.
fn rlimits(grant: &Grant) -> Vec<Rlimit> {
    let l = &grant.limits;
    let cpu = l.cpu_time.as_secs() + u64::from(l.cpu_time.subsec_nanos() > 0);
    let cpu = cpu.max(1);
    vec![
        Rlimit {
            kind: "RLIMIT_NOFILE",
            hard: l.open_files,
            soft: l.open_files,
        },
        Rlimit {
            kind: "RLIMIT_FSIZE",
            hard: l.file_size_bytes,
            soft: l.file_size_bytes,
        },
        // SIGXCPU at the soft limit, SIGKILL a second later.
        Rlimit {
            kind: "RLIMIT_CPU",
            hard: cpu + 1,
            soft: cpu,
        },
        Rlimit {
            kind: "RLIMIT_NPROC",
            hard: l.pids,
            soft: l.pids,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ExecRequest {
        let mut r = ExecRequest::new(vec!["echo".into(), "hi".into()], Grant::default());
        r.env = vec![
            ("LANG".into(), "de_DE.UTF-8".into()),
            ("X".into(), "1".into()),
        ];
        r
    }

    #[test]
    fn request_env_replaces_fixed_and_nothing_else_is_passed() {
        let env = environment(&request());
        assert_eq!(
            env,
            vec![
                "PATH=/usr/local/bin:/usr/bin:/bin",
                "HOME=/workspace",
                "TMPDIR=/tmp",
                "LANG=de_DE.UTF-8",
                "X=1"
            ]
        );
    }

    #[test]
    fn spec_is_locked_down() {
        let binds = vec![PathBuf::from("/usr")];
        let spec = build(
            &request(),
            &SpecInputs {
                rootfs: Path::new("/b/rootfs"),
                read_only_binds: &binds,
                workspace: None,
                cgroups_path: "/bureau-gvisor/x/sandbox".into(),
            },
        );
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["root"]["readonly"], true);
        assert_eq!(json["process"]["noNewPrivileges"], true);
        assert_eq!(
            json["process"]["capabilities"]["bounding"],
            serde_json::json!([])
        );
        assert_eq!(json["process"]["cwd"], "/workspace");
        assert_eq!(json["linux"]["resources"]["memory"]["limit"], 512 << 20);
        let usr = spec
            .mounts
            .iter()
            .find(|m| m.destination == Path::new("/usr"))
            .unwrap();
        assert!(usr.options.iter().any(|o| o == "ro"));
        let ws = spec
            .mounts
            .iter()
            .find(|m| m.destination == Path::new("/workspace"))
            .unwrap();
        assert_eq!(ws.kind, "tmpfs");
        assert!(ws.options.contains(&format!("size={}", 1u64 << 30)));
        let cpu = spec
            .process
            .rlimits
            .iter()
            .find(|r| r.kind == "RLIMIT_CPU")
            .unwrap();
        assert_eq!((cpu.soft, cpu.hard), (30, 31));
    }
}
