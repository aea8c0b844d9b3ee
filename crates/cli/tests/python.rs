//! Sandboxed Python through the whole binary: workspaces outlive sandboxes
//! (and processes, and the live folder), and the data scientist's plot
//! comes back as an image.

#![expect(
    clippy::expect_used,
    clippy::panic,
    clippy::unwrap_used,
    reason = "test helpers fail loudly"
)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bureau_test_support::deps;
use serde_json::{Value, json};

const BUREAU: &str = env!("CARGO_BIN_EXE_bureau");

fn bureau(dir: &Path, args: &[&str]) -> Output {
    Command::new(BUREAU)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--config")
        .arg(dir.join("bureau.toml"))
        .args(args)
        .output()
        .expect("bureau runs")
}

fn json_of(o: &Output) -> Value {
    let text = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// A scan of `/proc` from `.0` to `.1` (ms) that found these processes.
type Sighting = (u64, u64, Vec<String>);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may hold spaces, so split after ')'.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    for _ in 0..64 {
        if pid == ancestor {
            return true;
        }
        match parent_of(pid) {
            Some(p) if p > 1 => pid = p,
            _ => return false,
        }
    }
    false
}

/// Sandbox launchers (`bureau __sandbox-launch`) and sandboxed Python
/// processes that descend from `root` (other tests run sandboxes at the
/// same time).
fn sandbox_processes(root: u32) -> Vec<String> {
    let own_ns = std::fs::read_link("/proc/self/ns/pid").ok();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        if !descends_from(pid, root) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let launcher = cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == b"__sandbox-launch");
        let ns = std::fs::read_link(entry.path().join("ns/pid")).ok();
        let other_ns = ns.is_some() && own_ns.is_some() && ns != own_ns;
        if launcher || (other_ns && String::from_utf8_lossy(&cmdline).contains("python3")) {
            found.push(format!(
                "{name}: {}",
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
    }
    found
}

#[test]
fn a_csv_written_in_step_1_is_read_in_step_5_with_no_sandbox_in_between() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bureau.toml"),
        "[agents.default]\nmax_turns = 4\non_exhausted = \"pause\"\n",
    )
    .unwrap();
    let py =
        |code: &str| json!({"tool_calls": [{"name": "python.exec", "arguments": {"code": code}}]});
    let script = json!({
        "latency_ms": 300,
        "turns": [
            py("import csv\nrows = [('region', 'sales'), ('north', 120), ('south', 95), ('west', 40)]\nwith open('sales.csv', 'w', newline='') as f:\n    csv.writer(f).writerows(rows)\nimport time\ntime.sleep(0.3)  # long enough for the watcher to see the sandbox at work\nprint('wrote sales.csv')"),
            {"tool_calls": [{"name": "files.write", "arguments": {"path": "notes.md", "content": "unrelated\n"}}]},
            {"tool_calls": [{"name": "files.list", "arguments": {}}]},
            py("print(sum(range(10)))"),
            py("import csv\nwith open('sales.csv') as f:\n    rows = list(csv.DictReader(f))\nprint('total', sum(int(r['sales']) for r in rows))"),
            {"text": "total sales 255"}
        ]
    });
    std::fs::write(dir.path().join("script.json"), script.to_string()).unwrap();
    let model = format!("scripted:{}", dir.path().join("script.json").display());

    // Watch for sandbox processes while the first four steps run.
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<Sighting>>> = Arc::default();
    #[expect(
        clippy::zombie_processes,
        reason = "waited for below with wait_with_output"
    )]
    let child = Command::new(BUREAU)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(dir.path().join("bureau.toml"))
        .args(["run", "--json", "--model", &model, "total the sales"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let root = child.id();
    let watcher = {
        let (stop, seen) = (stop.clone(), seen.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // The scan takes a while: a process it finds existed at
                // some time between `before` and the scan's end.
                let before = now_ms();
                let procs = sandbox_processes(root);
                if !procs.is_empty() {
                    seen.lock().unwrap().push((before, now_ms(), procs));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let first = bureau(
        dir.path(),
        &["run", "--json", "--model", &model, "total the sales"],
    );
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let summary = json_of(&first);
    assert_eq!(
        summary["status"], "awaiting_approval",
        "paused after 4 turns: {summary}"
    );
    let run = summary["run_id"].as_str().unwrap().to_owned();

    // Sandbox processes existed only inside python.exec calls.
    let steps = json_of(&bureau(dir.path(), &["runs", "show", &run, "--json"]))["steps"]
        .as_array()
        .cloned()
        .unwrap();
    let mut windows = Vec::new();
    let mut started = None;
    for s in &steps {
        match s["entry"]["kind"].as_str() {
            Some("tool_call_started") if s["entry"]["call"]["name"] == "python.exec" => {
                started = s["at_ms"].as_u64();
            }
            Some("tool_call_finished") if s["entry"]["name"] == "python.exec" => {
                windows.push((started.take().unwrap(), s["at_ms"].as_u64().unwrap()));
            }
            _ => {}
        }
    }
    assert_eq!(windows.len(), 2);
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|(at, until, _)| windows.iter().any(|(a, b)| until >= a && at <= b)),
        "the watcher never saw a sandbox at work, so its silence would prove nothing"
    );
    // From the first step on (start-up checks that the sandbox works here
    // run before it).
    let first_step = steps
        .iter()
        .find(|s| s["entry"]["kind"] == "tool_call_started")
        .and_then(|s| s["at_ms"].as_u64())
        .unwrap();
    // A scan that began at `at` and ended at `until` saw the processes at
    // some moment in between; that moment must fall inside a call.
    for (at, until, procs) in seen.iter().filter(|(_, until, _)| *until >= first_step) {
        assert!(
            windows.iter().any(|(a, b)| *until >= *a && *at <= *b),
            "a sandbox process existed during [{at}, {until}], outside every python.exec call {windows:?}: {procs:?}"
        );
    }

    // The live folder goes away (another machine, a wiped cache); a new
    // process resumes the run and step 5 reads the CSV from the snapshot.
    let live = dir.path().join("data/workspaces").join(&run);
    assert!(live.join("sales.csv").is_file());
    std::fs::remove_dir_all(&live).unwrap();
    let resumed = bureau(dir.path(), &["resume", &run, "--add-turns", "5", "--json"]);
    let summary = json_of(&resumed);
    assert_eq!(summary["status"], "completed", "{summary}");
    let steps = json_of(&bureau(dir.path(), &["runs", "show", &run, "--json"]))["steps"]
        .as_array()
        .cloned()
        .unwrap();
    let last_py = steps
        .iter()
        .rfind(|s| {
            s["entry"]["kind"] == "tool_call_finished" && s["entry"]["name"] == "python.exec"
        })
        .unwrap();
    assert!(
        last_py["entry"]["result"].to_string().contains("total 255"),
        "{}",
        last_py["entry"]["result"]
    );

    // The history: one snapshot per step that changed the workspace.
    let log = json_of(&bureau(dir.path(), &["workspace", "log", &run, "--json"]));
    let log = log.as_array().unwrap();
    assert!(log.len() >= 2, "{log:?}");
    let first_snap = log[0]["id"].as_str().unwrap();
    let cat = bureau(
        dir.path(),
        &["workspace", "cat", &run, first_snap, "sales.csv"],
    );
    assert!(String::from_utf8_lossy(&cat.stdout).starts_with("region,sales"));
    let diff = json_of(&bureau(
        dir.path(),
        &[
            "workspace",
            "diff",
            &run,
            log[1]["id"].as_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(diff[0]["path"], "notes.md", "{diff}");
}

#[test]
fn a_matplotlib_plot_comes_back_as_an_image() {
    let packages = deps::dir().join("sandbox-python");
    if !packages.join("matplotlib").is_dir() {
        panic!(
            "matplotlib is missing from {}: run scripts/setup-test-deps.sh",
            packages.display()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bureau.toml"),
        format!(
            "[sandbox]\npython_packages = {:?}\nmemory = \"1G\"\n",
            packages.display().to_string()
        ),
    )
    .unwrap();
    let code = "import pandas as pd\nimport matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\ndf = pd.DataFrame({'region': ['north', 'south', 'west'], 'sales': [120, 95, 40]})\nax = df.plot.bar(x='region', y='sales')\nplt.savefig('sales.png')\nprint(df['sales'].sum())";
    let script = json!({"turns": [
        {"tool_calls": [{"name": "python.exec", "arguments": {"code": code}}]},
        {"text": "plotted"}
    ]});
    std::fs::write(dir.path().join("script.json"), script.to_string()).unwrap();
    let model = format!("scripted:{}", dir.path().join("script.json").display());
    let out = bureau(
        dir.path(),
        &["run", "--json", "--model", &model, "plot the sales"],
    );
    let summary = json_of(&out);
    assert_eq!(summary["status"], "completed", "{summary}");
    let run = summary["run_id"].as_str().unwrap();
    let steps = json_of(&bureau(dir.path(), &["runs", "show", run, "--json"]))["steps"].to_string();
    let shown: Value = serde_json::from_str(&steps).unwrap();
    let result = &shown
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["entry"]["kind"] == "tool_call_finished")
        .unwrap()["entry"]["result"];
    assert_eq!(result["is_error"], false, "{result}");
    assert!(result.to_string().contains("255"), "{result}");
    let image = result["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "image")
        .unwrap_or_else(|| panic!("no image content: {result}"));
    assert_eq!(image["mime_type"], "image/png");
    let png = base64_decode(image["data"].as_str().unwrap());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(result["structured"]["files"][0]["path"], "sales.png");
}

fn base64_decode(s: &str) -> Vec<u8> {
    let table = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => 0,
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|b| *b != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= table(*c) << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}
