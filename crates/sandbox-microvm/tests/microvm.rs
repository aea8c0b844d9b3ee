//! The microVM backend's parts that can run without KVM: the API client
//! against a fake Firecracker API (no real firecracker can run on this
//! host), the vsock handshake, the guest agent end to end over Unix
//! sockets (as a library and as the real binary), and `new` refusing.
#![expect(clippy::unwrap_used, clippy::panic, reason = "test helpers")]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bureau_sandbox::{ExitStatus, LimitKind, Limits, SandboxError};
use bureau_sandbox_microvm::agent::{AgentConfig, serve};
use bureau_sandbox_microvm::api::{ActionType, ApiClient, BootSource, Drive, MachineConfig, Vsock};
use bureau_sandbox_microvm::host::{GuestOutcome, run_in_guest};
use bureau_sandbox_microvm::protocol::{self, Bytes, ExecFrame, Frame};
use bureau_sandbox_microvm::{MicrovmConfig, MicrovmError, MicrovmSandbox, doctor, vsock};
use serde_json::{Value, json};

// ---------------------------------------------------------------- fake API

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    content_type: Option<String>,
    body: Value,
}

/// A fake Firecracker API on a Unix socket: records each request and
/// answers 204, or 400 with a `fault_message` like Firecracker's for a
/// drive whose file does not exist and for a second `InstanceStart`.
fn fake_api(socket: &Path) -> Arc<Mutex<Vec<Recorded>>> {
    let listener = UnixListener::bind(socket).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&log);
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap().to_owned();
            let path = parts.next().unwrap().to_owned();
            let mut length = 0;
            let mut content_type = None;
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let h = line.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => length = v.trim().parse().unwrap(),
                    "content-type" => content_type = Some(v.trim().to_owned()),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let body: Value = if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&body).unwrap()
            };
            let fault = if path.starts_with("/drives/")
                && !Path::new(body["path_on_host"].as_str().unwrap_or("")).exists()
            {
                Some("Unable to create the block device: No such file or directory (os error 2)")
            } else if path == "/actions"
                && body["action_type"] == "InstanceStart"
                && seen
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|r: &Recorded| r.body["action_type"] == "InstanceStart")
            {
                Some("The requested operation is not supported after starting the microVM.")
            } else {
                None
            };
            let answer = if method == "GET" && path == "/" {
                let b = r#"{"id":"fake","state":"Not started","vmm_version":"1.7.0","app_name":"Firecracker"}"#;
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                    b.len()
                )
            } else if let Some(m) = fault {
                let b = json!({ "fault_message": m }).to_string();
                format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                    b.len()
                )
            } else {
                "HTTP/1.1 204 No Content\r\nServer: Firecracker API\r\n\r\n".to_owned()
            };
            seen.lock().unwrap().push(Recorded {
                method,
                path,
                content_type,
                body,
            });
            let mut w = conn;
            w.write_all(answer.as_bytes()).unwrap();
        }
    });
    log
}

#[test]
fn api_client_sends_firecrackers_requests_and_reads_its_faults() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("api.sock");
    let log = fake_api(&sock);
    let kernel = dir.path().join("vmlinux");
    std::fs::write(&kernel, b"not really a kernel").unwrap();
    let api = ApiClient::new(sock, Duration::from_secs(5));

    let info = api.instance_info().unwrap();
    assert_eq!(info.vmm_version, "1.7.0");
    api.put_machine_config(&MachineConfig {
        vcpu_count: 2,
        mem_size_mib: 256,
        smt: false,
    })
    .unwrap();
    api.put_boot_source(&BootSource {
        kernel_image_path: kernel.clone(),
        boot_args: "console=ttyS0 reboot=k panic=1 pci=off".into(),
        initrd_path: None,
    })
    .unwrap();
    api.put_drive(&Drive {
        drive_id: "rootfs".into(),
        path_on_host: kernel.clone(),
        is_root_device: true,
        is_read_only: true,
    })
    .unwrap();
    api.put_vsock(&Vsock {
        guest_cid: 3,
        uds_path: dir.path().join("v.sock"),
    })
    .unwrap();
    api.action(ActionType::InstanceStart).unwrap();

    let err = api
        .put_drive(&Drive {
            drive_id: "scratch".into(),
            path_on_host: dir.path().join("missing.ext4"),
            is_root_device: false,
            is_read_only: false,
        })
        .unwrap_err();
    match &err {
        MicrovmError::Api {
            method,
            path,
            status,
            fault_message,
        } => {
            assert_eq!(
                (*method, path.as_str(), *status),
                ("PUT", "/drives/scratch", 400)
            );
            assert!(
                fault_message.starts_with("Unable to create the block device"),
                "{fault_message}"
            );
        }
        other => panic!("expected an API fault, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("Unable to create the block device")
    );
    let again = api.action(ActionType::InstanceStart).unwrap_err();
    assert!(matches!(again, MicrovmError::Api { status: 400, .. }));
    // Refused before any request is sent.
    assert!(
        api.put_vsock(&Vsock {
            guest_cid: 2,
            uds_path: "/x".into()
        })
        .is_err()
    );
    assert!(
        api.put_drive(&Drive {
            drive_id: "../x".into(),
            path_on_host: kernel.clone(),
            is_root_device: false,
            is_read_only: true
        })
        .is_err()
    );

    let log = log.lock().unwrap().clone();
    let calls: Vec<(&str, &str)> = log
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        calls,
        vec![
            ("GET", "/"),
            ("PUT", "/machine-config"),
            ("PUT", "/boot-source"),
            ("PUT", "/drives/rootfs"),
            ("PUT", "/vsock"),
            ("PUT", "/actions"),
            ("PUT", "/drives/scratch"),
            ("PUT", "/actions"),
        ]
    );
    assert_eq!(
        log[1].body,
        json!({"vcpu_count": 2, "mem_size_mib": 256, "smt": false})
    );
    assert_eq!(log[1].content_type.as_deref(), Some("application/json"));
    assert_eq!(
        log[2].body,
        json!({"kernel_image_path": kernel.to_str().unwrap(), "boot_args": "console=ttyS0 reboot=k panic=1 pci=off"})
    );
    assert_eq!(
        log[3].body,
        json!({"drive_id": "rootfs", "path_on_host": kernel.to_str().unwrap(), "is_root_device": true, "is_read_only": true})
    );
    assert_eq!(log[4].body["guest_cid"], 3);
    assert_eq!(log[5].body, json!({"action_type": "InstanceStart"}));
}

// ------------------------------------------------------------ guest agent

fn exec(argv: &[&str]) -> ExecFrame {
    ExecFrame {
        argv: argv.iter().map(|s| (*s).to_owned()).collect(),
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("ONLY".into(), "this".into()),
        ],
        cwd: "/".into(),
        stdin: Bytes::default(),
        limits: Limits::default(),
    }
}

/// Runs one session through an agent on the other end of a socket pair.
fn through_agent(
    frame: &ExecFrame,
) -> (Result<GuestOutcome, MicrovmError>, Result<(), MicrovmError>) {
    let (mut host, mut guest) = UnixStream::pair().unwrap();
    host.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let agent = thread::spawn(move || serve(&mut guest, &AgentConfig::default()));
    let outcome = run_in_guest(&mut host, frame, protocol::DEFAULT_MAX_FRAME);
    drop(host);
    (outcome, agent.join().unwrap())
}

#[test]
fn agent_runs_echo_with_only_the_given_environment() {
    let (out, agent) = through_agent(&exec(&["sh", "-c", "echo hi; env | sort"]));
    agent.unwrap();
    let out = out.unwrap();
    assert_eq!(out.version, 1);
    assert_eq!(out.exit.status, ExitStatus::Exited(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("hi\n"), "{stdout}");
    assert!(stdout.contains("ONLY=this\n"), "{stdout}");
    assert!(
        !stdout.contains("HOME="),
        "host environment leaked: {stdout}"
    );
}

#[test]
fn agent_reports_exit_codes_stderr_stdin_and_chunked_output() {
    let (out, _) = through_agent(&exec(&["sh", "-c", "echo bad >&2; exit 7"]));
    let out = out.unwrap();
    assert_eq!(out.exit.status, ExitStatus::Exited(7));
    assert_eq!(out.stderr, b"bad\n");

    let mut cat = exec(&["cat"]);
    cat.stdin = Bytes(b"piped\x00bytes".to_vec());
    let out = through_agent(&cat).0.unwrap();
    assert_eq!(out.stdout, b"piped\x00bytes");

    // Several 32 KiB chunks, reassembled in order.
    let big = through_agent(&exec(&["sh", "-c", "seq 1 50000"]))
        .0
        .unwrap();
    let expected: String = (1..=50000).map(|i| format!("{i}\n")).collect();
    assert_eq!(String::from_utf8(big.stdout).unwrap(), expected);

    let missing = through_agent(&exec(&["/no/such/binary"])).0.unwrap();
    assert_eq!(missing.exit.status, ExitStatus::Exited(127));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot run"));
}

#[test]
fn agent_enforces_wall_clock_and_output_cap() {
    let mut sleeper = exec(&["sleep", "1000"]);
    sleeper.limits.wall_time = Duration::from_secs(1);
    let started = Instant::now();
    let out = through_agent(&sleeper).0.unwrap();
    assert_eq!(out.exit.limits_hit, vec![LimitKind::WallTime]);
    assert_eq!(out.exit.status, ExitStatus::Signaled(9));
    assert!(started.elapsed() < Duration::from_secs(60), "hang guard");

    let mut yes = exec(&["yes"]);
    yes.limits.output_bytes = 10_000;
    let out = through_agent(&yes).0.unwrap();
    assert_eq!(out.stdout.len(), 10_000);
    assert!(out.exit.stdout_truncated);
    assert_eq!(out.exit.limits_hit, vec![LimitKind::Output]);
}

/// Sends raw bytes to an agent and returns what it answered and returned.
fn raw_to_agent(bytes: &[u8], config: AgentConfig) -> (Vec<u8>, Result<(), MicrovmError>) {
    let (mut host, mut guest) = UnixStream::pair().unwrap();
    let agent = thread::spawn(move || serve(&mut guest, &config));
    host.write_all(bytes).unwrap();
    host.shutdown(std::net::Shutdown::Write).unwrap();
    // The agent closes with our unread bytes queued, which resets the
    // connection after what it wrote: keep what arrived before the reset.
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match host.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the agent's answer: {e}"),
        }
    }
    (answer, agent.join().unwrap())
}

fn error_message(answer: &[u8]) -> String {
    match protocol::read_frame(&mut &answer[..], protocol::DEFAULT_MAX_FRAME).unwrap() {
        Some(Frame::Error { message }) => message,
        other => panic!("expected an error frame, got {other:?}"),
    }
}

#[test]
fn agent_rejects_a_frame_over_its_cap() {
    let mut wire = Vec::new();
    protocol::write_frame(&mut wire, &Frame::Hello { versions: vec![1] }, 1 << 20).unwrap();
    let exec = Frame::Exec(ExecFrame {
        stdin: Bytes(vec![b'x'; 4096]),
        ..exec(&["cat"])
    });
    protocol::write_frame(&mut wire, &exec, 1 << 20).unwrap();
    let (answer, result) = raw_to_agent(&wire, AgentConfig { max_frame: 1024 });
    assert!(
        matches!(result, Err(MicrovmError::FrameTooLarge { max: 1024, .. })),
        "{result:?}"
    );
    // The welcome, then an error that names the cap.
    let mut r = &answer[..];
    assert_eq!(
        protocol::read_frame(&mut r, 1 << 20).unwrap(),
        Some(Frame::Welcome { version: 1 })
    );
    assert!(error_message(r).contains("1024-byte cap"));
}

#[test]
fn agent_survives_garbage_and_version_mismatch() {
    let (answer, result) =
        raw_to_agent(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", AgentConfig::default());
    assert!(
        matches!(result, Err(MicrovmError::FrameTooLarge { .. })),
        "{result:?}"
    );
    assert!(error_message(&answer).contains("cap"));

    let (answer, result) = raw_to_agent(&[0, 0, 0, 5, 0xff, 0xfe, 0, 1, 2], AgentConfig::default());
    assert!(matches!(result, Err(MicrovmError::Frame(_))), "{result:?}");
    assert!(error_message(&answer).contains("undecodable"));

    let mut wire = Vec::new();
    protocol::write_frame(&mut wire, &Frame::Hello { versions: vec![99] }, 1024).unwrap();
    let (answer, result) = raw_to_agent(&wire, AgentConfig::default());
    assert!(matches!(result, Err(MicrovmError::Version { .. })));
    assert!(error_message(&answer).contains("no common protocol version"));

    let (answer, result) = raw_to_agent(b"", AgentConfig::default());
    assert!(result.is_ok() && answer.is_empty());
}

#[test]
fn agent_refuses_a_missing_working_directory() {
    let mut frame = exec(&["true"]);
    frame.cwd = "/nonexistent/bureau/workspace".into();
    let (out, agent) = through_agent(&frame);
    assert!(
        matches!(out, Err(MicrovmError::Remote(ref m)) if m.contains("does not exist in the guest")),
        "{out:?}"
    );
    assert!(matches!(agent, Err(MicrovmError::InvalidRequest(_))));
}

#[test]
fn host_refuses_an_agent_that_ignores_the_output_cap() {
    let (mut host, mut guest) = UnixStream::pair().unwrap();
    let rogue = thread::spawn(move || {
        let _ = protocol::read_frame(&mut guest, 1 << 20);
        protocol::write_frame(&mut guest, &Frame::Welcome { version: 1 }, 1 << 20).unwrap();
        let _ = protocol::read_frame(&mut guest, 1 << 20);
        for _ in 0..100 {
            let chunk = Frame::Stdout {
                data: Bytes(vec![b'a'; 32 * 1024]),
            };
            if protocol::write_frame(&mut guest, &chunk, 1 << 20).is_err() {
                return;
            }
        }
    });
    let mut frame = exec(&["yes"]);
    frame.limits.output_bytes = 1000;
    let err = run_in_guest(&mut host, &frame, 1 << 20).unwrap_err();
    assert!(
        matches!(err, MicrovmError::Remote(ref m) if m.contains("output cap")),
        "{err:?}"
    );
    drop(host);
    rogue.join().unwrap();
}

// ----------------------------------------------------------------- vsock

#[test]
fn vsock_connect_handshake_then_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let uds = dir.path().join("v.sock");
    let listener = UnixListener::bind(&uds).unwrap();
    // Plays Firecracker's vsock muxer: reads CONNECT, answers OK, then the
    // connection belongs to the agent.
    let muxer = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut line = Vec::new();
        let mut byte = [0u8];
        while byte[0] != b'\n' {
            conn.read_exact(&mut byte).unwrap();
            line.push(byte[0]);
        }
        assert_eq!(line, b"CONNECT 52\n");
        conn.write_all(b"OK 1073741824\n").unwrap();
        serve(&mut conn, &AgentConfig::default())
    });
    let mut stream = vsock::connect(&uds, 52, Duration::from_secs(30)).unwrap();
    let out = run_in_guest(
        &mut stream,
        &exec(&["echo", "over vsock"]),
        protocol::DEFAULT_MAX_FRAME,
    )
    .unwrap();
    assert_eq!(out.stdout, b"over vsock\n");
    drop(stream);
    muxer.join().unwrap().unwrap();

    // Nothing listens on the port: Firecracker closes the connection.
    let closed = dir.path().join("closed.sock");
    let listener = UnixListener::bind(&closed).unwrap();
    let closer = thread::spawn(move || drop(listener.accept().unwrap()));
    let err = vsock::connect(&closed, 52, Duration::from_secs(30)).unwrap_err();
    assert!(matches!(err, MicrovmError::Vsock(_)), "{err:?}");
    closer.join().unwrap();
}

// ----------------------------------------------------------- the binary

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn guest_agent_binary_serves_sessions_on_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sock");
    let _agent = Agent(
        Command::new(env!("CARGO_BIN_EXE_bureau-guest-agent"))
            .arg("--unix")
            .arg(&path)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        match UnixStream::connect(&path) {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => panic!("agent did not listen: {e}"),
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let out = run_in_guest(
        &mut stream,
        &exec(&["sh", "-c", "echo from the binary; exit 4"]),
        1 << 20,
    )
    .unwrap();
    assert_eq!(out.stdout, b"from the binary\n");
    assert_eq!(out.exit.status, ExitStatus::Exited(4));
    // A second session on a new connection: the agent keeps serving.
    let mut second = UnixStream::connect(&path).unwrap();
    let out = run_in_guest(&mut second, &exec(&["true"]), 1 << 20).unwrap();
    assert_eq!(out.exit.status, ExitStatus::Exited(0));
}

// ------------------------------------------------------- on this host

#[test]
fn new_names_every_missing_piece_on_this_host() {
    let dir = tempfile::tempdir().unwrap();
    let fc = dir.path().join("firecracker");
    let kernel = dir.path().join("vmlinux");
    let rootfs = PathBuf::from("/nonexistent/rootfs.ext4");
    std::fs::write(&kernel, b"k").unwrap();
    let config = MicrovmConfig::new(fc.clone(), kernel, rootfs);
    let err = MicrovmSandbox::new(config.clone()).unwrap_err();
    let SandboxError::Unavailable { backend, reason } = &err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert_eq!(*backend, "microvm");
    assert!(
        reason.contains(&format!("firecracker binary ({}", fc.display())),
        "{reason}"
    );
    assert!(
        reason.contains("guest rootfs (/nonexistent/rootfs.ext4 not found)"),
        "{reason}"
    );
    assert!(
        !reason.contains("the guest kernel ("),
        "the kernel exists: {reason}"
    );
    if Path::new("/sys/module/kvm_pvm").exists() {
        assert!(
            reason.contains("KVM with VMX or SVM (this host: PVM"),
            "{reason}"
        );
    }
    println!("MicrovmSandbox::new on this host: {err}");

    let checks = doctor(Some(&config));
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "kvm device",
            "kvm kind",
            "firecracker",
            "guest kernel",
            "guest rootfs"
        ]
    );
    let fc_check = checks.iter().find(|c| c.name == "firecracker").unwrap();
    assert_eq!(fc_check.status, bureau_sandbox::CheckStatus::Missing);
    for c in &checks {
        println!("doctor: {} {:?}: {}", c.name, c.status, c.detail);
    }
}

// ------------------------------------------- exec through a fake firecracker

/// `MicrovmSandbox::exec` end to end with `tests/fake_firecracker.py` in
/// firecracker's place: the real API calls, the real vsock handshake and the
/// real agent binary, with no VM (the agent runs on the host).
#[test]
fn exec_runs_through_a_fake_firecracker_and_the_real_agent() {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        println!("SKIPPED: /usr/bin/python3 not installed (needed for the fake firecracker)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake_firecracker.py");
    let firecracker = dir.path().join("firecracker");
    std::fs::write(
        &firecracker,
        format!(
            "#!/bin/sh\nexec {} {} --agent {} \"$@\"\n",
            python.display(),
            fake.display(),
            env!("CARGO_BIN_EXE_bureau-guest-agent")
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &firecracker,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let kernel = dir.path().join("vmlinux");
    let rootfs = dir.path().join("rootfs.ext4");
    let kvm = dir.path().join("kvm");
    for f in [&kernel, &rootfs, &kvm] {
        std::fs::write(f, b"stand-in").unwrap();
    }
    let modules = dir.path().join("module");
    std::fs::create_dir_all(modules.join("kvm_intel")).unwrap();
    let workdir = dir.path().join("guest-workspace");
    std::fs::create_dir_all(&workdir).unwrap();
    let mut config = MicrovmConfig::new(firecracker, kernel, rootfs);
    config.kvm_device = kvm;
    config.sys_module = modules;
    config.proc_modules = dir.path().join("no-proc-modules");
    config.state_dir = dir.path().join("state");
    config.boot_timeout = Duration::from_secs(30);
    config.guest_workdir = workdir.to_str().unwrap().to_owned();
    let sandbox = MicrovmSandbox::new(config).unwrap();

    let mut request = bureau_sandbox::ExecRequest::new(
        vec![
            "sh".into(),
            "-c".into(),
            "echo hi; cat; echo \"home=$HOME\" >&2; exit 5".into(),
        ],
        bureau_sandbox::Grant::default(),
    );
    request.stdin = b"from stdin\n".to_vec();
    let out = bureau_sandbox::Sandbox::exec(&sandbox, &request).unwrap();
    assert_eq!(out.backend, bureau_sandbox::Backend::Microvm);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\nfrom stdin\n");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("home={}\n", workdir.display())
    );
    assert_eq!(out.status, ExitStatus::Exited(5));
    let left: Vec<_> = std::fs::read_dir(dir.path().join("state"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "VM folder left behind: {left:?}");

    request.workspace = Some(dir.path().to_path_buf());
    let err = bureau_sandbox::Sandbox::exec(&sandbox, &request).unwrap_err();
    assert!(matches!(err, SandboxError::InvalidRequest(_)), "{err:?}");
}
