//! [`MicrovmSandbox`]: one Firecracker microVM per exec. Untested on real
//! KVM (see the crate docs).

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bureau_sandbox::{Backend, ExecOutcome, ExecRequest, Limits, Sandbox, SandboxError};

use crate::api::{ActionType, ApiClient, BootSource, Drive, MachineConfig, Vsock};
use crate::doctor::{KvmKind, is_executable};
use crate::error::MicrovmError;
use crate::host::run_in_guest;
use crate::protocol::{self, Bytes, ExecFrame};
use crate::vsock;

const API_TIMEOUT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(20);
/// Slack on top of the wall clock for the guest to report back.
const SESSION_SLACK: Duration = Duration::from_secs(10);
const MIN_MEM_MIB: u32 = 64;

/// What the backend needs. Paths are on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MicrovmConfig {
    pub firecracker: PathBuf,
    /// An uncompressed guest kernel (`vmlinux`) with virtio-vsock.
    pub kernel: PathBuf,
    /// An ext4 image whose init starts `bureau-guest-agent --vsock-port
    /// <agent_port>` and which has `/workspace` and `/tmp`. Attached read-only.
    pub rootfs: PathBuf,
    pub vcpus: u8,
    /// Guest memory is the grant's `memory_bytes`, but at least this.
    pub min_mem_mib: u32,
    pub boot_args: String,
    pub agent_port: u32,
    pub guest_cid: u32,
    /// Per-VM folders (API socket, vsock socket, console log).
    pub state_dir: PathBuf,
    /// From `InstanceStart` to the agent answering on vsock.
    pub boot_timeout: Duration,
    pub kvm_device: PathBuf,
    /// Where the host's kernel lists modules, to tell VMX/SVM from PVM
    /// (`/sys/module`, then `/proc/modules`).
    pub sys_module: PathBuf,
    pub proc_modules: PathBuf,
    /// The command's working directory and `HOME` inside the guest.
    pub guest_workdir: String,
}

impl MicrovmConfig {
    /// A config with the usual defaults for everything but the three paths.
    pub fn new(firecracker: PathBuf, kernel: PathBuf, rootfs: PathBuf) -> Self {
        Self {
            firecracker,
            kernel,
            rootfs,
            vcpus: 1,
            min_mem_mib: MIN_MEM_MIB,
            boot_args: "console=ttyS0 reboot=k panic=1 pci=off ro".into(),
            agent_port: 52,
            guest_cid: 3,
            state_dir: PathBuf::from("/run/bureau/microvm"),
            boot_timeout: Duration::from_secs(10),
            kvm_device: PathBuf::from("/dev/kvm"),
            sys_module: PathBuf::from("/sys/module"),
            proc_modules: PathBuf::from("/proc/modules"),
            guest_workdir: "/workspace".into(),
        }
    }
}

/// Runs each command in a fresh Firecracker microVM.
#[derive(Debug)]
pub struct MicrovmSandbox {
    config: MicrovmConfig,
}

impl MicrovmSandbox {
    /// Checks every piece the backend needs and names each one missing.
    pub fn new(config: MicrovmConfig) -> Result<Self, SandboxError> {
        let mut missing = Vec::new();
        if let Err(e) = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&config.kvm_device)
        {
            missing.push(format!(
                "{} cannot be opened read-write ({e})",
                config.kvm_device.display()
            ));
        }
        match KvmKind::detect(&config.sys_module, &config.proc_modules) {
            KvmKind::Vmx | KvmKind::Svm => {}
            kind @ (KvmKind::Pvm | KvmKind::Unknown) => {
                missing.push(format!(
                    "KVM with VMX or SVM (this host: {})",
                    kind.describe()
                ));
            }
        }
        if !is_executable(&config.firecracker) {
            missing.push(format!(
                "the firecracker binary ({} is not an executable file)",
                config.firecracker.display()
            ));
        }
        for (what, path) in [
            ("guest kernel", &config.kernel),
            ("guest rootfs", &config.rootfs),
        ] {
            if !path.is_file() {
                missing.push(format!("the {what} ({} not found)", path.display()));
            }
        }
        if config.guest_cid < 3 {
            missing.push(format!(
                "a guest CID of 3 or more (configured: {})",
                config.guest_cid
            ));
        }
        if missing.is_empty() {
            Ok(Self { config })
        } else {
            Err(SandboxError::Unavailable {
                backend: "microvm",
                reason: format!("missing {}", missing.join("; ")),
            })
        }
    }
}

impl Sandbox for MicrovmSandbox {
    fn backend(&self) -> Backend {
        Backend::Microvm
    }

    fn exec(&self, request: &ExecRequest) -> Result<ExecOutcome, SandboxError> {
        if request.workspace.is_some() || !request.grant.read_only_paths.is_empty() {
            return Err(SandboxError::InvalidRequest(
                "the microVM backend cannot show host folders yet (Firecracker has no shared \
                 filesystem): use the native or gvisor backend for a workspace"
                    .into(),
            ));
        }
        if request.argv.is_empty() {
            return Err(SandboxError::InvalidRequest("argv is empty".into()));
        }
        let started = Instant::now();
        let vm = Vm::boot(&self.config, &request.grant.limits)?;
        let frame = exec_frame(request, &self.config.guest_workdir);
        let outcome = vm.run(&self.config, &frame, &request.grant.limits);
        let shutdown = vm.shutdown();
        let guest = outcome?;
        shutdown?;
        Ok(ExecOutcome {
            backend: Backend::Microvm,
            status: guest.exit.status,
            stdout: guest.stdout,
            stderr: guest.stderr,
            stdout_truncated: guest.exit.stdout_truncated,
            stderr_truncated: guest.exit.stderr_truncated,
            limits_hit: guest.exit.limits_hit,
            wall_time: started.elapsed(),
            cpu_time: None,
            peak_memory_bytes: None,
        })
    }
}

impl From<MicrovmError> for SandboxError {
    fn from(e: MicrovmError) -> Self {
        SandboxError::Launcher(e.to_string())
    }
}

fn exec_frame(request: &ExecRequest, workdir: &str) -> ExecFrame {
    let mut env: Vec<(String, String)> = [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("HOME", workdir),
        ("LANG", "C.UTF-8"),
        ("TMPDIR", "/tmp"),
    ]
    .into_iter()
    .filter(|(k, _)| !request.env.iter().any(|(rk, _)| rk == k))
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.extend(request.env.iter().cloned());
    ExecFrame {
        argv: request.argv.clone(),
        env,
        cwd: workdir.to_owned(),
        stdin: Bytes(request.stdin.clone()),
        limits: request.grant.limits.clone(),
    }
}

/// One running firecracker process and its folder. Dropping it kills the
/// process and removes the folder.
struct Vm {
    dir: PathBuf,
    child: Option<Child>,
    api: ApiClient,
}

impl Vm {
    fn boot(config: &MicrovmConfig, limits: &Limits) -> Result<Vm, SandboxError> {
        let id = format!("bureau-{}", uuid::Uuid::new_v4().simple());
        let dir = config.state_dir.join(&id);
        fs::create_dir_all(&dir).map_err(|source| SandboxError::Setup {
            step: "create the microVM folder",
            source,
        })?;
        let console =
            File::create(dir.join("console.log")).map_err(|source| SandboxError::Setup {
                step: "create the console log",
                source,
            })?;
        let console_err = console.try_clone().map_err(|source| SandboxError::Setup {
            step: "create the console log",
            source,
        })?;
        let api_sock = dir.join("api.sock");
        let mut vm = Vm {
            dir: dir.clone(),
            child: None,
            api: ApiClient::new(api_sock.clone(), API_TIMEOUT),
        };
        let child = Command::new(&config.firecracker)
            .arg("--api-sock")
            .arg(&api_sock)
            .arg("--id")
            .arg(&id)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(console)
            .stderr(console_err)
            .spawn()
            .map_err(|source| SandboxError::Setup {
                step: "start firecracker",
                source,
            })?;
        vm.child = Some(child);
        wait_for(&api_sock, API_TIMEOUT)?;
        let mem_mib = limits.memory_bytes.div_ceil(1 << 20);
        let mem_size_mib = u32::try_from(mem_mib)
            .unwrap_or(u32::MAX)
            .max(config.min_mem_mib);
        vm.api.put_machine_config(&MachineConfig {
            vcpu_count: config.vcpus,
            mem_size_mib,
            smt: false,
        })?;
        vm.api.put_boot_source(&BootSource {
            kernel_image_path: config.kernel.clone(),
            boot_args: config.boot_args.clone(),
            initrd_path: None,
        })?;
        vm.api.put_drive(&Drive {
            drive_id: "rootfs".into(),
            path_on_host: config.rootfs.clone(),
            is_root_device: true,
            is_read_only: true,
        })?;
        vm.api.put_vsock(&Vsock {
            guest_cid: config.guest_cid,
            uds_path: dir.join("vsock.sock"),
        })?;
        vm.api.action(ActionType::InstanceStart)?;
        Ok(vm)
    }

    fn run(
        &self,
        config: &MicrovmConfig,
        frame: &ExecFrame,
        limits: &Limits,
    ) -> Result<crate::host::GuestOutcome, SandboxError> {
        let uds = self.dir.join("vsock.sock");
        let session_timeout = limits.wall_time + SESSION_SLACK;
        let deadline = Instant::now() + config.boot_timeout;
        let mut stream = loop {
            match vsock::connect(&uds, config.agent_port, session_timeout) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(SandboxError::Launcher(format!(
                        "the guest agent did not answer within {:?}: {e}; see {}",
                        config.boot_timeout,
                        self.dir.join("console.log").display()
                    )));
                }
                Err(_) => thread::sleep(POLL),
            }
        };
        Ok(run_in_guest(
            &mut stream,
            frame,
            protocol::DEFAULT_MAX_FRAME,
        )?)
    }

    /// Asks the guest to stop, then stops firecracker either way.
    fn shutdown(mut self) -> Result<(), SandboxError> {
        let _ = self.api.action(ActionType::SendCtrlAltDel);
        self.stop()
    }

    fn stop(&mut self) -> Result<(), SandboxError> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SandboxError::Setup {
                step: "remove the microVM folder",
                source,
            }),
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn wait_for(path: &Path, timeout: Duration) -> Result<(), SandboxError> {
    let deadline = Instant::now() + timeout;
    while !path.exists() {
        if Instant::now() >= deadline {
            return Err(SandboxError::Launcher(format!(
                "firecracker did not create its API socket {} within {timeout:?}",
                path.display()
            )));
        }
        thread::sleep(POLL);
    }
    Ok(())
}
