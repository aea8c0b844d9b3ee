//! One OCI bundle per exec: request validation, an empty root folder with
//! the host's merged-usr symlinks, a generated `/etc`, and `config.json`.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};

use bureau_sandbox::{ExecRequest, SandboxError};

use crate::spec::{self, SpecInputs};

/// Host folders shown read-only at the same path; a top-level one that is a
/// symlink on the host (merged `/usr`, as on Debian) becomes the same symlink.
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// Sandbox paths a grant may not cover: our own mounts, and anything whose
/// bind would show host secrets (the whole of `/etc` holds `shadow`).
const RESERVED: &[&str] = &["/proc", "/dev", "/sys", "/workspace", "/etc"];

const PASSWD: &str = "root:x:0:0:root:/workspace:/bin/sh\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";
const HOSTS: &str = "127.0.0.1\tlocalhost bureau\n::1\tlocalhost ip6-localhost ip6-loopback\n";
const NSSWITCH: &str = "passwd: files\ngroup: files\nhosts: files\n";

/// A bundle on disk. Removing it is the caller's job ([`Bundle::remove`]).
#[derive(Debug)]
pub(crate) struct Bundle {
    pub dir: PathBuf,
}

impl Bundle {
    /// Writes the bundle for `request` into `dir`, which must not exist yet.
    pub(crate) fn create(
        dir: &Path,
        request: &ExecRequest,
        cgroups_path: String,
    ) -> Result<Bundle, SandboxError> {
        let checked = validate(request)?;
        fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(setup("create the bundle folder"))?;
        let bundle = Bundle {
            dir: dir.to_path_buf(),
        };
        let rootfs = dir.join("rootfs");
        let binds = build_rootfs(&rootfs).map_err(setup("build the root folder"))?;
        let mut read_only_binds = binds;
        read_only_binds.extend(checked.read_only_paths);
        let spec = spec::build(
            request,
            &SpecInputs {
                rootfs: &rootfs,
                read_only_binds: &read_only_binds,
                workspace: checked.workspace.as_deref(),
                cgroups_path,
            },
        );
        let json = serde_json::to_vec_pretty(&spec)
            .map_err(|e| SandboxError::Launcher(format!("could not encode the OCI spec: {e}")))?;
        fs::write(dir.join("config.json"), json).map_err(setup("write config.json"))?;
        Ok(bundle)
    }

    /// Where runsc's own log goes (JSON lines).
    pub(crate) fn log_path(&self) -> PathBuf {
        self.dir.join("runsc.log")
    }

    pub(crate) fn remove(&self) -> io::Result<()> {
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

fn setup(step: &'static str) -> impl Fn(io::Error) -> SandboxError {
    move |source| SandboxError::Setup { step, source }
}

/// A request's host paths, checked and canonical.
#[derive(Debug)]
pub(crate) struct Checked {
    pub workspace: Option<PathBuf>,
    pub read_only_paths: Vec<PathBuf>,
}

pub(crate) fn validate(request: &ExecRequest) -> Result<Checked, SandboxError> {
    let invalid = |m: String| Err(SandboxError::InvalidRequest(m));
    if request.argv.is_empty() || request.argv[0].is_empty() {
        return invalid("argv is empty: give the command to run".into());
    }
    if request.argv.iter().any(|a| a.contains('\0')) {
        return invalid("an argv entry contains a NUL byte".into());
    }
    for (k, v) in &request.env {
        if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
            return invalid(format!(
                "environment variable {k:?} is not valid: names are non-empty without '=' or NUL"
            ));
        }
    }
    let workspace = match &request.workspace {
        None => None,
        Some(p) => {
            let canonical = fs::canonicalize(p).map_err(|e| SandboxError::Workspace {
                path: p.clone(),
                message: format!("cannot be opened ({e}); create the folder first"),
            })?;
            if !canonical.is_dir() {
                return Err(SandboxError::Workspace {
                    path: p.clone(),
                    message: "is not a folder".into(),
                });
            }
            Some(canonical)
        }
    };
    let mut read_only_paths = Vec::new();
    for p in &request.grant.read_only_paths {
        read_only_paths.push(check_read_only_path(p)?);
    }
    read_only_paths.sort_by_key(|p| p.components().count());
    read_only_paths.dedup();
    Ok(Checked {
        workspace,
        read_only_paths,
    })
}

fn check_read_only_path(p: &Path) -> Result<PathBuf, SandboxError> {
    let invalid = |why: &str| {
        Err(SandboxError::InvalidRequest(format!(
            "read-only path {}: {why}",
            p.display()
        )))
    };
    if !p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        return invalid("must be absolute without '..'");
    }
    let Ok(canonical) = fs::canonicalize(p) else {
        return invalid("does not exist on this host");
    };
    if canonical == Path::new("/") {
        return invalid("the host's / is never shown");
    }
    if RESERVED
        .iter()
        .any(|r| canonical.starts_with(r) || Path::new(r).starts_with(&canonical))
    {
        return invalid(
            "overlaps a folder the sandbox provides (/proc, /dev, /sys, /workspace, /etc)",
        );
    }
    Ok(canonical)
}

/// Creates the empty, soon read-only root: mount points, the merged-usr
/// symlinks, and the generated `/etc`. Returns the system folders to bind.
fn build_rootfs(rootfs: &Path) -> io::Result<Vec<PathBuf>> {
    let mut dirs = fs::DirBuilder::new();
    dirs.mode(0o755).recursive(true);
    dirs.create(rootfs)?;
    fs::set_permissions(rootfs, fs::Permissions::from_mode(0o755))?;
    for d in ["proc", "dev", "tmp", "workspace", "etc"] {
        dirs.create(rootfs.join(d))?;
    }
    let mut binds = Vec::new();
    for dir in SYSTEM_DIRS {
        let host = Path::new(dir);
        let inside = rootfs.join(dir.trim_start_matches('/'));
        match fs::symlink_metadata(host) {
            Ok(m) if m.file_type().is_symlink() => symlink(fs::read_link(host)?, &inside)?,
            Ok(m) if m.is_dir() => {
                dirs.create(&inside)?;
                binds.push(host.to_path_buf());
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let etc = rootfs.join("etc");
    for (name, body) in [
        ("passwd", PASSWD),
        ("group", GROUP),
        ("hosts", HOSTS),
        ("nsswitch.conf", NSSWITCH),
        ("hostname", "bureau\n"),
        ("resolv.conf", ""),
    ] {
        fs::write(etc.join(name), body)?;
    }
    Ok(binds)
}

#[cfg(test)]
mod tests {
    use bureau_sandbox::Grant;

    use super::*;

    fn request_with(paths: Vec<PathBuf>) -> ExecRequest {
        let grant = Grant {
            read_only_paths: paths,
            ..Grant::default()
        };
        ExecRequest::new(vec!["true".into()], grant)
    }

    #[test]
    fn read_only_paths_that_would_show_secrets_or_our_mounts_are_refused() {
        for bad in [
            "/",
            "/etc",
            "/etc/shadow",
            "/proc/self",
            "relative",
            "/usr/../etc",
        ] {
            let err = validate(&request_with(vec![bad.into()])).unwrap_err();
            assert!(
                matches!(err, SandboxError::InvalidRequest(_)),
                "{bad} gave {err:?}"
            );
        }
        let ok = validate(&request_with(vec!["/usr/share".into()])).unwrap();
        assert_eq!(ok.read_only_paths, vec![PathBuf::from("/usr/share")]);
    }

    #[test]
    fn bad_argv_and_env_are_refused() {
        let mut r = request_with(vec![]);
        r.argv.clear();
        assert!(validate(&r).is_err());
        let mut r = request_with(vec![]);
        r.env.push(("A=B".into(), "c".into()));
        assert!(validate(&r).is_err());
        let mut r = request_with(vec![]);
        r.workspace = Some("/nonexistent/bureau".into());
        assert!(matches!(validate(&r), Err(SandboxError::Workspace { .. })));
    }

    #[test]
    fn rootfs_mirrors_merged_usr_and_never_copies_host_etc() {
        let dir = tempfile::tempdir().unwrap();
        let bundle =
            Bundle::create(&dir.path().join("b"), &request_with(vec![]), "/x".into()).unwrap();
        let rootfs = bundle.dir.join("rootfs");
        if fs::symlink_metadata("/bin")
            .unwrap()
            .file_type()
            .is_symlink()
        {
            assert_eq!(
                fs::read_link(rootfs.join("bin")).unwrap(),
                fs::read_link("/bin").unwrap()
            );
        }
        assert!(!rootfs.join("etc/shadow").exists());
        assert!(
            fs::read_to_string(rootfs.join("etc/passwd"))
                .unwrap()
                .starts_with("root:x:0:0:")
        );
        assert!(bundle.dir.join("config.json").is_file());
        bundle.remove().unwrap();
        assert!(!bundle.dir.exists());
    }
}
