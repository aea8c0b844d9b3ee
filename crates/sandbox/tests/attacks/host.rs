//! The host side of the attack suite: what the test plants and watches
//! outside the sandbox (a secret, listeners, a canary process, hashes of
//! host facts) and the checks that the host is unchanged after each probe.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::net::{IpAddr, TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Env keys the sandbox sets itself; host values of these are not leaks.
const SANDBOX_OWN_KEYS: &[&str] = &["PATH", "HOME", "LANG", "TMPDIR", "PWD", "SHLVL", "_"];

pub fn sha_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn random_hex(bytes: usize) -> std::io::Result<String> {
    let mut buf = vec![0u8; bytes];
    fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn hash_file(path: &str) -> String {
    fs::read(path).map(|d| sha_hex(&d)).unwrap_or_default()
}

/// The host's own non-loopback address, found without sending a packet.
fn host_ip() -> Option<IpAddr> {
    let sock = UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect("192.0.2.200:9").ok()?;
    let ip = sock.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

/// Everything the test plants on the host for one family run.
pub struct HostFixture {
    /// Host folder outside any workspace: the secret and a unix socket.
    pub dir: tempfile::TempDir,
    pub secret_path: PathBuf,
    secret_content: Vec<u8>,
    tcp: TcpListener,
    tcp_ip: Option<TcpListener>,
    tcp6: Option<TcpListener>,
    udp: UdpSocket,
    udp_ip: Option<UdpSocket>,
    abstract_name: String,
    abstract_listener: UnixListener,
    unix_path: PathBuf,
    unix_listener: UnixListener,
    host_ip: Option<IpAddr>,
    canary: Child,
    canary_value: String,
    passwd_hash: String,
    shadow_hash: String,
    /// `KEY=VALUE` hashes of the test process's environment.
    env_hashes: Vec<String>,
    cgroups_before: BTreeSet<PathBuf>,
}

impl HostFixture {
    pub fn new() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("bureau-attack-host-")
            .tempdir()?;
        let secret_path = dir.path().join("planted-secret.txt");
        let secret_content = format!("bureau-planted-secret:{}\n", random_hex(16)?).into_bytes();
        fs::write(&secret_path, &secret_content)?;

        let tcp = TcpListener::bind("127.0.0.1:0")?;
        tcp.set_nonblocking(true)?;
        let tcp6 = TcpListener::bind("[::1]:0").ok();
        if let Some(t) = &tcp6 {
            t.set_nonblocking(true)?;
        }
        let udp = UdpSocket::bind("127.0.0.1:0")?;
        udp.set_nonblocking(true)?;
        let host_ip = host_ip();
        let (tcp_ip, udp_ip) = match host_ip {
            Some(ip) => {
                let t = TcpListener::bind((ip, 0))?;
                t.set_nonblocking(true)?;
                let u = UdpSocket::bind((ip, 0))?;
                u.set_nonblocking(true)?;
                (Some(t), Some(u))
            }
            None => (None, None),
        };
        let abstract_name = format!("bureau-attack-{}", random_hex(8)?);
        let abstract_listener =
            UnixListener::bind_addr(&SocketAddr::from_abstract_name(abstract_name.as_bytes())?)?;
        abstract_listener.set_nonblocking(true)?;
        let unix_path = dir.path().join("host.sock");
        let unix_listener = UnixListener::bind(&unix_path)?;
        unix_listener.set_nonblocking(true)?;

        let canary_value = random_hex(16)?;
        let canary = Command::new("sleep")
            .arg("1000")
            .env("BUREAU_ATTACK_CANARY", &canary_value)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;

        let env_hashes = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, v)| !SANDBOX_OWN_KEYS.contains(&k.as_str()) && v.len() >= 4)
            .map(|(k, v)| sha_hex(format!("{k}={v}").as_bytes()))
            .collect();

        Ok(Self {
            secret_path,
            secret_content,
            tcp,
            tcp_ip,
            tcp6,
            udp,
            udp_ip,
            abstract_name,
            abstract_listener,
            unix_path,
            unix_listener,
            host_ip,
            canary,
            canary_value,
            passwd_hash: hash_file("/etc/passwd"),
            shadow_hash: hash_file("/etc/shadow"),
            env_hashes,
            cgroups_before: cgroup_dirs(),
            dir,
        })
    }

    /// What the probes are told about the host, as `PROBE_*` variables.
    pub fn probe_env(&self, host_workspace: &Path) -> Vec<(String, String)> {
        let port = |l: &TcpListener| l.local_addr().map(|a| a.port()).unwrap_or(0).to_string();
        let uport = |u: &UdpSocket| u.local_addr().map(|a| a.port()).unwrap_or(0).to_string();
        let home = std::env::var("HOME").unwrap_or_default();
        let cwd = std::env::current_dir().unwrap_or_default();
        let hostname = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let secret_dir = self.dir.path().display().to_string();
        let mut inodes = Vec::new();
        for p in [
            "/",
            "/usr",
            "/usr/bin",
            "/usr/lib",
            "/etc",
            "/etc/passwd",
            "/etc/shadow",
            "/etc/hostname",
            "/etc/resolv.conf",
            "/root",
            "/home",
            "/var",
            "/tmp",
            "/usr/bin/python3",
        ]
        .iter()
        .map(|p| PathBuf::from(*p))
        .chain([self.secret_path.clone(), host_workspace.to_path_buf()])
        {
            if let Ok(m) = fs::metadata(&p) {
                inodes.push(format!("{}:{}:{}", p.display(), m.dev(), m.ino()));
            }
        }
        let listing = |p: &str| {
            let mut names: Vec<String> = fs::read_dir(p)
                .map(|rd| {
                    rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            sha_hex(names.join("\n").as_bytes())
        };
        let mut env = vec![
            ("PROBE_SECRET_PATH", self.secret_path.display().to_string()),
            ("PROBE_SECRET_DIR", secret_dir),
            ("PROBE_HOST_WORKSPACE", host_workspace.display().to_string()),
            ("PROBE_HOST_HOME", home),
            ("PROBE_HOST_CWD", cwd.display().to_string()),
            ("PROBE_TCP_PORT", port(&self.tcp)),
            ("PROBE_UDP_PORT", uport(&self.udp)),
            ("PROBE_ABSTRACT", self.abstract_name.clone()),
            ("PROBE_UNIX_PATH", self.unix_path.display().to_string()),
            ("PROBE_SLEEP_PID", self.canary.id().to_string()),
            ("PROBE_TEST_PID", std::process::id().to_string()),
            ("PROBE_ENV_HASHES", self.env_hashes.join(",")),
            (
                "PROBE_CANARY_SHA",
                sha_hex(format!("BUREAU_ATTACK_CANARY={}", self.canary_value).as_bytes()),
            ),
            ("PROBE_HOSTNAME_SHA", sha_hex(hostname.trim().as_bytes())),
            ("PROBE_PID1_CMDLINE_SHA", hash_file("/proc/1/cmdline")),
            ("PROBE_SHADOW_SHA", self.shadow_hash.clone()),
            ("PROBE_INODES", inodes.join(";")),
            ("PROBE_LIST_ROOT", listing("/root")),
            ("PROBE_LIST_HOME", listing("/home")),
            ("PROBE_LIST_VAR", listing("/var")),
            (
                "PROBE_HOST_IP",
                self.host_ip.map(|i| i.to_string()).unwrap_or_default(),
            ),
        ];
        if let Some(t) = &self.tcp6 {
            env.push(("PROBE_TCP6_PORT", port(t)));
        }
        if let (Some(t), Some(u)) = (&self.tcp_ip, &self.udp_ip) {
            env.push(("PROBE_TCP_PORT_IP", port(t)));
            env.push(("PROBE_UDP_PORT_IP", uport(u)));
        }
        env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// Whether the canary `sleep` still runs; restarts it if not, so one
    /// failure does not spill into the next probe.
    fn canary_alive(&mut self) -> bool {
        match self.canary.try_wait() {
            Ok(None) => true,
            _ => {
                if let Ok(c) = Command::new("sleep")
                    .arg("1000")
                    .env("BUREAU_ATTACK_CANARY", &self.canary_value)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                {
                    self.canary = c;
                }
                false
            }
        }
    }

    /// Everything on the host that must not have changed, as a list of
    /// findings (empty: unchanged). `token` marks this probe's processes and
    /// files; `workspace` is the probe's host workspace.
    pub fn check(&mut self, token: &str, workspace: &Path, workspace_limit: u64) -> Vec<String> {
        let mut found = Vec::new();
        if !self.canary_alive() {
            found.push("the host canary `sleep` was killed".to_string());
        }
        if fs::read(&self.secret_path).ok().as_deref() != Some(&self.secret_content[..]) {
            found.push("the planted secret changed".to_string());
        }
        if hash_file("/etc/passwd") != self.passwd_hash {
            found.push("host /etc/passwd changed".to_string());
        }
        if hash_file("/etc/shadow") != self.shadow_hash {
            found.push("host /etc/shadow changed".to_string());
        }
        found.extend(self.listener_hits());
        found.extend(leftover_processes(token));
        let mut around = vec![self.dir.path()];
        around.extend(workspace.parent());
        found.extend(files_outside_workspace(token, &around));
        found.extend(self.workspace_findings(workspace, workspace_limit));
        found
    }

    fn listener_hits(&self) -> Vec<String> {
        let mut hits = Vec::new();
        let mut buf = [0u8; 512];
        for (name, l) in [
            ("127.0.0.1 tcp", Some(&self.tcp)),
            ("host-ip tcp", self.tcp_ip.as_ref()),
            ("[::1] tcp", self.tcp6.as_ref()),
        ] {
            if let Some(Ok((_, peer))) = l.map(|l| l.accept()) {
                hits.push(format!(
                    "the host {name} listener accepted a connection from {peer}"
                ));
            }
        }
        for (name, u) in [
            ("127.0.0.1 udp", Some(&self.udp)),
            ("host-ip udp", self.udp_ip.as_ref()),
        ] {
            if let Some(Ok((n, peer))) = u.map(|u| u.recv_from(&mut buf)) {
                hits.push(format!(
                    "the host {name} listener got {n} bytes from {peer}"
                ));
            }
        }
        if self.abstract_listener.accept().is_ok() {
            hits.push("the host abstract unix socket accepted a connection".to_string());
        }
        if self.unix_listener.accept().is_ok() {
            hits.push("the host unix socket accepted a connection".to_string());
        }
        hits
    }

    /// Links and special files left in the host workspace must not have
    /// been followed or turned into host content.
    fn workspace_findings(&self, workspace: &Path, workspace_limit: u64) -> Vec<String> {
        let mut found = Vec::new();
        match fs::read(workspace.join(KEEP_FILE)) {
            Ok(d) if d == KEEP_CONTENT.as_bytes() => {}
            _ => found.push(format!(
                "the host's own {KEEP_FILE} in the workspace was changed or lost"
            )),
        }
        let mut allocated = 0u64;
        let mut counted = std::collections::HashSet::new();
        let outside: Vec<(u64, u64)> = [
            "/etc/passwd",
            "/etc/shadow",
            "/usr/bin/python3",
            "/etc/hostname",
        ]
        .iter()
        .map(PathBuf::from)
        .chain([self.secret_path.clone()])
        .filter_map(|p| fs::metadata(p).ok().map(|m| (m.dev(), m.ino())))
        .collect();
        let passwd = fs::read("/etc/passwd").unwrap_or_default();
        let secret = String::from_utf8_lossy(&self.secret_content)
            .trim()
            .to_string();
        let mut stack = vec![(workspace.to_path_buf(), 0usize)];
        let mut seen = 0usize;
        while let Some((dir, depth)) = stack.pop() {
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for entry in rd.flatten() {
                seen += 1;
                if seen > 20_000 {
                    return found;
                }
                let path = entry.path();
                // Never follow: symlink_metadata, and FIFOs are not opened.
                let Ok(meta) = fs::symlink_metadata(&path) else {
                    continue;
                };
                let ft = meta.file_type();
                if !counted.insert((meta.dev(), meta.ino())) {
                    // Another name of an inode already counted.
                } else if ft.is_dir() || ft.is_file() {
                    allocated += meta.blocks() * 512;
                }
                if ft.is_dir() && depth < 80 {
                    stack.push((path, depth + 1));
                } else if ft.is_char_device() || ft.is_block_device() {
                    found.push(format!(
                        "device node {} in the host workspace",
                        path.display()
                    ));
                } else if ft.is_file() {
                    if meta.mode() & 0o6000 != 0 {
                        found.push(format!(
                            "{} is setuid/setgid (mode {:o}, owner uid {}) in the host workspace",
                            path.display(),
                            meta.mode() & 0o7777,
                            meta.uid()
                        ));
                    }
                    if outside.contains(&(meta.dev(), meta.ino())) {
                        found.push(format!("{} is a hardlink to a host file", path.display()));
                    }
                    if meta.len() <= (1 << 20) {
                        let data = fs::read(&path).unwrap_or_default();
                        if !passwd.is_empty() && data == passwd {
                            found.push(format!("{} holds host /etc/passwd", path.display()));
                        }
                        if !secret.is_empty() && String::from_utf8_lossy(&data).contains(&secret) {
                            found.push(format!("{} holds the planted secret", path.display()));
                        }
                    }
                }
            }
        }
        // Slack for directories and the host's own files.
        if allocated > workspace_limit + (1 << 20) {
            found.push(format!(
                "the host workspace holds {} MiB, past the {} MiB workspace limit",
                allocated >> 20,
                workspace_limit >> 20
            ));
        }
        found
    }

    /// Cgroup directories whose path contains `marker` (the backend's
    /// naming), created since the fixture was made, that stay there and
    /// stay empty: a live sandbox of a concurrent test has processes in its
    /// cgroup, a leaked one stays behind empty (or is caught by the process
    /// check).
    pub fn leftover_cgroups(&self, marker: &str) -> Vec<String> {
        let new = || -> BTreeSet<PathBuf> {
            cgroup_dirs()
                .difference(&self.cgroups_before)
                .filter(|p| p.to_string_lossy().contains(marker))
                .cloned()
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut first = new();
        while !first.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            first = new();
        }
        if first.is_empty() {
            return Vec::new();
        }
        std::thread::sleep(Duration::from_millis(1500));
        let second = new();
        first
            .intersection(&second)
            .filter(|p| cgroup_empty(p))
            .map(|p| p.display().to_string())
            .collect()
    }
}

/// No process in the cgroup directory or any below it.
fn cgroup_empty(dir: &Path) -> bool {
    let here = fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.trim().is_empty())
        .unwrap_or(true);
    here && fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .all(|e| cgroup_empty(&e.path()))
        })
        .unwrap_or(true)
}

impl Drop for HostFixture {
    fn drop(&mut self) {
        let _ = self.canary.kill();
        let _ = self.canary.wait();
    }
}

/// Processes still carrying this probe's token after `exec` returned. They
/// are killed (by pid) so they do not outlive the test.
fn leftover_processes(token: &str) -> Vec<String> {
    let needle = format!("PROBE_TOKEN={token}");
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let pids = pids_with_env(&needle);
        if pids.is_empty() {
            return Vec::new();
        }
        if Instant::now() > deadline {
            let desc: Vec<String> = pids
                .iter()
                .map(|pid| {
                    let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                    kill(*pid);
                    format!("{pid} ({})", cmd.chars().take(40).collect::<String>())
                })
                .collect();
            return vec![format!(
                "{} process(es) of the sandbox outlived exec: {}",
                desc.len(),
                desc.join(", ")
            )];
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGKILL to one process by pid (one the suite's sandbox left behind).
pub fn kill(pid: u32) {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

/// SIGKILL to a whole process group.
pub fn kill_group(pgid: u32) {
    let pid = i32::try_from(pgid)
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

fn pids_with_env(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .map(|env| {
                    env.split(|b| *b == 0)
                        .any(|entry| entry == needle.as_bytes())
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Files named after the token anywhere a probe tried to write outside its
/// workspace (the workspace itself is not searched); removed once found.
fn files_outside_workspace(token: &str, extra: &[&Path]) -> Vec<String> {
    let mark = format!("bureau-probe-{token}");
    let mut dirs: Vec<PathBuf> = [
        "/",
        "/usr",
        "/usr/bin",
        "/usr/lib",
        "/etc",
        "/tmp",
        "/var",
        "/var/tmp",
        "/dev/shm",
        "/root",
        "/home",
        "/opt",
        "/sys/fs/cgroup",
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/unified",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    dirs.extend(extra.iter().map(|p| p.to_path_buf()));
    let mut found = Vec::new();
    for d in dirs {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for entry in rd.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().contains(&mark) {
                let path = entry.path();
                found.push(format!("{} was created on the host", path.display()));
                let _ = fs::remove_file(&path).or_else(|_| fs::remove_dir(&path));
            }
        }
    }
    found
}

/// Cgroup directories down to depth 4 under every hierarchy.
fn cgroup_dirs() -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![(PathBuf::from("/sys/fs/cgroup"), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for entry in rd.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                let p = entry.path();
                if depth >= 1 {
                    out.insert(p.clone());
                }
                if depth < 4 {
                    stack.push((p, depth + 1));
                }
            }
        }
    }
    out
}

/// A file the test puts in every workspace before the probe runs; it must
/// come out unchanged (no probe touches it).
pub const KEEP_FILE: &str = "keep/host-file.txt";
const KEEP_CONTENT: &str = "a file of the host's, here before the sandbox\n";

pub fn prepare_workspace(workspace: &Path) -> std::io::Result<()> {
    fs::create_dir_all(workspace.join("keep"))?;
    fs::create_dir_all(workspace.join("lower"))?;
    fs::write(
        workspace.join("lower/target.txt"),
        "host file a probe may change\n",
    )?;
    fs::write(workspace.join(KEEP_FILE), KEEP_CONTENT)
}

/// Host symlinks in the workspace pointing at a decoy file and a decoy
/// folder beside it (outside the workspace), for a probe to replace.
pub fn plant_host_links(decoys: &Path, workspace: &Path) -> std::io::Result<()> {
    fs::write(decoys.join("decoy.txt"), DECOY)?;
    fs::create_dir_all(decoys.join("decoydir"))?;
    std::os::unix::fs::symlink(decoys.join("decoy.txt"), workspace.join("hostlink"))?;
    std::os::unix::fs::symlink(decoys.join("decoydir"), workspace.join("hostdirlink"))
}

const DECOY: &str = "a host file behind a link in the workspace\n";

/// What happened to the decoys behind the links.
pub fn host_link_findings(decoys: &Path) -> Vec<String> {
    let mut found = Vec::new();
    if fs::read_to_string(decoys.join("decoy.txt")).ok().as_deref() != Some(DECOY) {
        found.push("the decoy file behind a workspace link was written".to_string());
    }
    let entries = fs::read_dir(decoys.join("decoydir"))
        .map(|rd| rd.count())
        .unwrap_or(1);
    if entries != 0 {
        found.push("the decoy folder behind a workspace link got entries".to_string());
    }
    found
}

/// Files in the host workspace that carry a `security.capability` xattr
/// (read with the host's Python: std has no xattr call).
pub fn files_with_caps(workspace: &Path) -> Result<Vec<String>, String> {
    const SCRIPT: &str = r#"
import os, sys
for root, dirs, files in os.walk(sys.argv[1]):
    for n in files:
        p = os.path.join(root, n)
        try:
            if "security.capability" in os.listxattr(p, follow_symlinks=False):
                print(p)
        except OSError:
            pass
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(workspace)
        .output()
        .map_err(|e| format!("cannot run the host's python3 to read xattrs: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "xattr scan failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// The owner uid of a file the probe created in the workspace, if any.
pub fn owner_of_marked_file(workspace: &Path, token: &str) -> Option<u32> {
    let path = workspace.join(format!("bureau-probe-{token}-owned"));
    fs::symlink_metadata(path).ok().map(|m| m.uid())
}
