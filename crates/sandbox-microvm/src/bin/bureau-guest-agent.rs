//! The guest agent binary: `bureau-guest-agent --vsock-port 52` inside a
//! microVM (started by the guest's init), or `--unix PATH` to try it on a
//! host. Serves one command per connection; see `bureau_sandbox_microvm::agent`.

use std::os::unix::net::UnixListener;
use std::process::ExitCode;
use std::thread;

use bureau_sandbox_microvm::agent::{AgentConfig, VsockListener, serve};

enum Listen {
    Vsock(u32),
    Unix(String),
}

fn usage() -> ExitCode {
    eprintln!("usage: bureau-guest-agent (--vsock-port PORT | --unix PATH) [--max-frame BYTES]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut listen = None;
    let mut config = AgentConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--vsock-port", Some(v)) => match v.parse() {
                Ok(p) => listen = Some(Listen::Vsock(p)),
                Err(_) => return usage(),
            },
            ("--unix", Some(v)) => listen = Some(Listen::Unix(v)),
            ("--max-frame", Some(v)) => match v.parse() {
                Ok(m) => config.max_frame = m,
                Err(_) => return usage(),
            },
            _ => return usage(),
        }
    }
    let result = match listen {
        Some(Listen::Vsock(port)) => VsockListener::bind(port).and_then(|l| {
            eprintln!("bureau-guest-agent: listening on vsock port {port}");
            loop {
                let mut conn = l.accept()?;
                thread::spawn(move || {
                    if let Err(e) = serve(&mut conn, &config) {
                        eprintln!("bureau-guest-agent: session failed: {e}");
                    }
                });
            }
        }),
        Some(Listen::Unix(path)) => UnixListener::bind(&path).and_then(|l| {
            eprintln!("bureau-guest-agent: listening on {path}");
            loop {
                let (mut conn, _) = l.accept()?;
                thread::spawn(move || {
                    if let Err(e) = serve(&mut conn, &config) {
                        eprintln!("bureau-guest-agent: session failed: {e}");
                    }
                });
            }
        }),
        None => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bureau-guest-agent: {e}");
            ExitCode::FAILURE
        }
    }
}
