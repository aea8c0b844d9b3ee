//! A throwaway PostgreSQL cluster for tests: `initdb` into a temporary
//! folder, a server on a free loopback port and a socket in that folder,
//! `--auth=trust`, `fsync=off`. As root (tests here and in CI run as root),
//! the server runs as the `postgres` user through `runuser`, since
//! `initdb`/`postgres` refuse to run as root.
//!
//! A small `sh` watchdog owns the cluster: it starts it, then waits for its
//! stdin (a pipe from this process) to close, then stops the server
//! (`pg_ctl stop -m immediate`) and removes the folder. The pipe closes when
//! the [`TempPostgres`] is dropped or when the test process ends in any way
//! (a panic, `exit`, a signal), so a cluster never outlives its tests, even
//! the shared one in a `static` that is never dropped. The watchdog and the
//! server run in their own process group, so a signal sent to the test's
//! group does not kill them before they clean up.
//!
//! Start-up is 2–5 s: share one cluster per test binary with
//! [`TempPostgres::shared`] and give each test its own database.

use std::io::{self, BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// Where the server binaries are looked for, newest first.
const BIN_DIRS: &[&str] = &[
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
];

/// The watchdog: `$1` bin dir, `$2` folder, `$3` port, `$4` the user to run
/// as ("" when not root).
const WATCHDOG: &str = r#"
bin=$1; dir=$2; port=$3; user=$4
# If this process is gone before "ready" is read, writing it must not kill
# the watchdog: it still has to clean up.
trap '' PIPE
as() { if [ -n "$user" ]; then runuser -u "$user" -- "$@"; else "$@"; fi; }
cleanup() {
  as "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$dir"
}
if [ -n "$user" ]; then chown "$user" "$dir" || { rm -rf "$dir"; exit 1; }; fi
if ! as "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
  cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1
fi
if ! as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null 2>&1; then
  cat "$dir/server.log" >&2; cleanup; exit 1
fi
echo ready
cat >/dev/null
cleanup
"#;

/// A running throwaway cluster; stopped and removed on drop.
pub struct TempPostgres {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
}

impl TempPostgres {
    /// The server binaries' folder, if PostgreSQL is installed.
    pub fn bin_dir() -> Option<PathBuf> {
        BIN_DIRS
            .iter()
            .map(PathBuf::from)
            .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
    }

    /// Starts a new cluster (2–5 s).
    pub fn start() -> io::Result<TempPostgres> {
        let bin = Self::bin_dir().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: run scripts/setup-test-deps.sh",
            )
        })?;
        let dir = tempfile::Builder::new()
            .prefix("bureau-pg-")
            .tempdir()?
            .keep();
        let port = free_port()?;
        let user = if is_root() { "postgres" } else { "" };
        let mut child = Command::new("sh")
            // Its own process group: a kill aimed at the test's group (a
            // harness timeout) leaves the watchdog alive to clean up.
            .process_group(0)
            .arg("-c")
            .arg(WATCHDOG)
            .arg("bureau-temp-postgres")
            .arg(&bin)
            .arg(&dir)
            .arg(port.to_string())
            .arg(user)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let mut line = String::new();
        if let Some(out) = stdout {
            BufReader::new(out).read_line(&mut line)?;
        }
        match (line.trim(), stdin) {
            ("ready", Some(stdin)) => Ok(TempPostgres {
                dir,
                port,
                bin,
                watchdog: Mutex::new(Some((child, stdin))),
            }),
            _ => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                let _ = child.wait();
                Err(io::Error::other(format!(
                    "the throwaway PostgreSQL did not start: {}",
                    err.trim()
                )))
            }
        }
    }

    /// One cluster per test process, started on first use and stopped when
    /// the process ends.
    pub fn shared() -> io::Result<&'static TempPostgres> {
        static SHARED: OnceLock<Result<TempPostgres, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| TempPostgres::start().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| io::Error::other(e.clone()))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder holding the data directory and the server's socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A connection URL over TCP on loopback (no password: trust auth).
    pub fn url(&self, database: &str, user: &str) -> String {
        format!(
            "postgresql://{user}@127.0.0.1:{}/{database}?connect_timeout=10",
            self.port
        )
    }

    /// Runs SQL as the `postgres` superuser with `psql` (several statements
    /// allowed, stops at the first error) and returns what it printed
    /// (unaligned, tuples only: one row per line, `|` between fields).
    pub fn admin(&self, database: &str, sql: &str) -> io::Result<String> {
        let psql = self.bin.join("psql");
        let psql = if psql.exists() {
            psql
        } else {
            PathBuf::from("psql")
        };
        let out = Command::new(psql)
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-U", "postgres"])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(database)
            .arg("-c")
            .arg(sql)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .output()?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
        } else {
            Err(io::Error::other(format!(
                "psql failed on {sql:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// Creates an empty database.
    pub fn create_database(&self, name: &str) -> io::Result<()> {
        self.admin(
            "postgres",
            &format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\"")),
        )
        .map(drop)
    }

    /// Stops the server and removes its folder now (also done on drop).
    pub fn stop(&self) {
        let taken = match self.watchdog.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some((mut child, stdin)) = taken {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn is_root() -> bool {
    // `id -u` rather than libc: this crate has no unsafe code.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
