//! What the microVM backend needs on this host: KVM with hardware
//! virtualization, a firecracker binary, a guest kernel and rootfs.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use bureau_sandbox::{Backend, Check, CheckStatus};

use crate::MicrovmConfig;

/// Which KVM implementation the host kernel offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvmKind {
    /// Intel VT-x (`kvm_intel`).
    Vmx,
    /// AMD-V (`kvm_amd`).
    Svm,
    /// Pagetable-based virtual machines (`kvm_pvm`): KVM without hardware
    /// virtualization, as on some cloud VMs. Stock guest kernels hang on it.
    Pvm,
    Unknown,
}

impl KvmKind {
    /// Detects the kind from `/sys/module` (modules or built-ins) and, if
    /// that says nothing, `/proc/modules`.
    pub fn detect(sys_module: &Path, proc_modules: &Path) -> KvmKind {
        let loaded = |name: &str| {
            sys_module.join(name).exists()
                || fs::read_to_string(proc_modules)
                    .map(|m| m.lines().any(|l| l.split_whitespace().next() == Some(name)))
                    .unwrap_or(false)
        };
        if loaded("kvm_pvm") {
            KvmKind::Pvm
        } else if loaded("kvm_intel") {
            KvmKind::Vmx
        } else if loaded("kvm_amd") {
            KvmKind::Svm
        } else {
            KvmKind::Unknown
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            KvmKind::Vmx => "VMX (kvm_intel)",
            KvmKind::Svm => "SVM (kvm_amd)",
            KvmKind::Pvm => {
                "PVM (kvm_pvm): no hardware virtualization; stock guest kernels hang on it (seen with QEMU)"
            }
            KvmKind::Unknown => "unknown: no kvm_intel, kvm_amd or kvm_pvm module found",
        }
    }
}

/// CPU flags that matter here, from `/proc/cpuinfo`.
fn cpu_flags(cpuinfo: &str) -> Vec<&'static str> {
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, f)| f.split_whitespace().collect::<Vec<_>>())
        .unwrap_or_default();
    ["vmx", "svm", "hypervisor"]
        .into_iter()
        .filter(|f| flags.contains(f))
        .collect()
}

fn check(name: &str, status: CheckStatus, detail: impl Into<String>) -> Check {
    Check {
        backend: Backend::Microvm,
        name: name.into(),
        status,
        detail: detail.into(),
    }
}

/// Whether `path` is an existing file with an execute bit.
pub(crate) fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `firecracker --version`'s first line.
pub(crate) fn firecracker_version(path: &Path) -> Option<String> {
    let out = Command::new(path)
        .arg("--version")
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(str::to_owned)
}

/// Checks for `bureau sandbox doctor`. Without a config only the host is
/// checked (KVM), and firecracker and the images are reported missing.
pub fn doctor(config: Option<&MicrovmConfig>) -> Vec<Check> {
    let kvm_device = config.map_or(Path::new("/dev/kvm"), |c| c.kvm_device.as_path());
    let mut checks = Vec::new();
    checks.push(
        match OpenOptions::new().read(true).write(true).open(kvm_device) {
            Ok(_) => check(
                "kvm device",
                CheckStatus::Ok,
                format!("{} opens read-write", kvm_device.display()),
            ),
            Err(e) => check(
                "kvm device",
                CheckStatus::Missing,
                format!("{}: {e}", kvm_device.display()),
            ),
        },
    );
    let kind = match config {
        Some(c) => KvmKind::detect(&c.sys_module, &c.proc_modules),
        None => KvmKind::detect(Path::new("/sys/module"), Path::new("/proc/modules")),
    };
    let flags = cpu_flags(&fs::read_to_string("/proc/cpuinfo").unwrap_or_default());
    let detail = format!(
        "{}; cpu flags: {}",
        kind.describe(),
        if flags.is_empty() {
            "none of vmx/svm/hypervisor".into()
        } else {
            flags.join(" ")
        }
    );
    checks.push(match kind {
        KvmKind::Vmx | KvmKind::Svm => check("kvm kind", CheckStatus::Ok, detail),
        KvmKind::Pvm | KvmKind::Unknown => check("kvm kind", CheckStatus::Missing, detail),
    });
    let Some(config) = config else {
        checks.push(check(
            "firecracker",
            CheckStatus::Missing,
            "not configured: set the firecracker binary, guest kernel and rootfs paths",
        ));
        return checks;
    };
    checks.push(if is_executable(&config.firecracker) {
        let version = firecracker_version(&config.firecracker)
            .unwrap_or_else(|| "version unknown (--version failed)".into());
        check(
            "firecracker",
            CheckStatus::Ok,
            format!("{}: {version}", config.firecracker.display()),
        )
    } else {
        check(
            "firecracker",
            CheckStatus::Missing,
            format!("{} is not an executable file", config.firecracker.display()),
        )
    });
    for (name, path) in [
        ("guest kernel", &config.kernel),
        ("guest rootfs", &config.rootfs),
    ] {
        checks.push(if path.is_file() {
            check(name, CheckStatus::Ok, path.display().to_string())
        } else {
            check(
                name,
                CheckStatus::Missing,
                format!("{} not found", path.display()),
            )
        });
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvm_kind_prefers_pvm_and_reads_proc_modules() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("module");
        fs::create_dir_all(sys.join("kvm")).unwrap();
        let modules = dir.path().join("modules");
        fs::write(
            &modules,
            "kvm_amd 1 0 - Live 0x0\nkvm 2 1 kvm_amd, Live 0x0\n",
        )
        .unwrap();
        assert_eq!(KvmKind::detect(&sys, &modules), KvmKind::Svm);
        fs::create_dir_all(sys.join("kvm_pvm")).unwrap();
        assert_eq!(KvmKind::detect(&sys, &modules), KvmKind::Pvm);
        assert_eq!(
            KvmKind::detect(&dir.path().join("none"), &dir.path().join("none")),
            KvmKind::Unknown
        );
    }

    #[test]
    fn cpu_flags_are_picked_from_the_flags_line() {
        let info = "processor : 0\nflags\t\t: fpu vme hypervisor sse\nbugs : x\n";
        assert_eq!(cpu_flags(info), vec!["hypervisor"]);
    }
}
