//! The files toolset against a real folder: escapes, links, special files,
//! caps, text handling, and the happy paths.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: helpers outside #[test] functions fail loudly"
)]

use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bureau_protocol::{Content, ToolResult};
use bureau_tools::files::{LIST, READ, WRITE};
use bureau_tools::{FilesLimits, FilesToolset, ToolContext, ToolError, Toolset, Workspace};
use serde_json::{Value, json};

struct Fixture {
    dir: tempfile::TempDir,
    set: FilesToolset,
    ctx: ToolContext,
}

fn fixture_with(limits: FilesLimits) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(dir.path()).unwrap();
    Fixture {
        set: FilesToolset::new(limits),
        ctx: ToolContext {
            workspace: Arc::new(ws),
        },
        dir,
    }
}

fn fixture() -> Fixture {
    fixture_with(FilesLimits::default())
}

impl Fixture {
    fn call(&self, tool: &str, args: Value) -> Result<ToolResult, ToolError> {
        self.set.decode(tool, &args)?.run(&self.ctx)
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }
}

fn text(r: &ToolResult) -> &str {
    match &r.content[0] {
        Content::Text { text } => text,
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn write_then_read_back() {
    let f = fixture();
    let w = f
        .call(WRITE, json!({"path": "notes/a.txt", "content": "héllo\n"}))
        .unwrap();
    assert_eq!(w.structured.as_ref().unwrap()["bytes_written"], json!(7));
    assert_eq!(
        std::fs::read_to_string(f.root().join("notes/a.txt")).unwrap(),
        "héllo\n"
    );
    let r = f.call(READ, json!({"path": "notes/a.txt"})).unwrap();
    assert_eq!(text(&r), "héllo\n");
    assert_eq!(r.content.len(), 1, "no truncation note");

    f.call(
        WRITE,
        json!({"path": "notes/a.txt", "content": "more", "append": true}),
    )
    .unwrap();
    assert_eq!(
        text(&f.call(READ, json!({"path": "./notes//a.txt"})).unwrap()),
        "héllo\nmore"
    );
    f.call(WRITE, json!({"path": "notes/a.txt", "content": "new"}))
        .unwrap();
    assert_eq!(
        text(&f.call(READ, json!({"path": "notes/a.txt"})).unwrap()),
        "new"
    );
}

#[test]
fn create_dirs_false_needs_the_parent() {
    let f = fixture();
    let err = f
        .call(
            WRITE,
            json!({"path": "x/y.txt", "content": "1", "create_dirs": false}),
        )
        .unwrap_err();
    assert!(matches!(err, ToolError::MissingParent { .. }), "{err}");
    assert!(!f.root().join("x").exists());
    std::fs::create_dir(f.root().join("x")).unwrap();
    f.call(
        WRITE,
        json!({"path": "x/y.txt", "content": "1", "create_dirs": false}),
    )
    .unwrap();
}

#[test]
fn traversal_is_refused() {
    let f = fixture();
    let outside = f.root().parent().unwrap().join("bureau-escape-test.txt");
    for path in [
        "../x",
        "/etc/passwd",
        "a/../../x",
        "..",
        "/proc/self/root/etc/passwd",
    ] {
        for (tool, args) in [
            (READ, json!({"path": path})),
            (WRITE, json!({"path": path, "content": "pwned"})),
            (LIST, json!({"path": path})),
        ] {
            let err = f.call(tool, args).unwrap_err();
            assert!(
                matches!(
                    err,
                    ToolError::ParentComponent { .. } | ToolError::AbsolutePath { .. }
                ),
                "{tool} {path}: {err}"
            );
        }
    }
    assert!(!outside.exists());
    assert!(!f.root().join("a").exists(), "nothing created on refusal");
}

#[test]
fn a_symlink_planted_inside_pointing_outside_is_refused() {
    let f = fixture();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    symlink(&secret, f.root().join("link.txt")).unwrap();

    let err = f.call(READ, json!({"path": "link.txt"})).unwrap_err();
    assert!(matches!(err, ToolError::Symlink { .. }), "{err}");
    assert!(err.to_string().contains("symbolic link"));
    for append in [false, true] {
        let err = f
            .call(
                WRITE,
                json!({"path": "link.txt", "content": "pwned", "append": append}),
            )
            .unwrap_err();
        assert!(matches!(err, ToolError::Symlink { .. }), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "top secret");

    // A dangling link to where an outside file would be created.
    let target = outside.path().join("created.txt");
    symlink(&target, f.root().join("dangling.txt")).unwrap();
    let err = f
        .call(WRITE, json!({"path": "dangling.txt", "content": "x"}))
        .unwrap_err();
    assert!(matches!(err, ToolError::Symlink { .. }), "{err}");
    assert!(!target.exists());

    // Links to /proc magic links are links too.
    symlink("/proc/self/root/etc/hostname", f.root().join("magic")).unwrap();
    let err = f.call(READ, json!({"path": "magic"})).unwrap_err();
    assert!(matches!(err, ToolError::Symlink { .. }), "{err}");

    // The listing shows them for what they are.
    let l = f.call(LIST, json!({})).unwrap();
    let entries = &l.structured.unwrap()["entries"];
    assert_eq!(entries[0]["name"], "dangling.txt");
    assert_eq!(entries[0]["kind"], "symlink");
    assert!(entries[0].get("size").is_none());
}

#[test]
fn a_symlinked_directory_in_the_middle_of_the_path_is_refused() {
    let f = fixture();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("inner.txt"), "outside").unwrap();
    symlink(outside.path(), f.root().join("dir")).unwrap();
    // Even a link that stays inside the workspace is refused.
    std::fs::create_dir(f.root().join("real")).unwrap();
    symlink("real", f.root().join("alias")).unwrap();

    for path in ["dir/inner.txt", "alias/x.txt"] {
        let err = f.call(READ, json!({"path": path})).unwrap_err();
        assert!(matches!(err, ToolError::Symlink { .. }), "{path}: {err}");
        for create_dirs in [true, false] {
            let err = f
                .call(
                    WRITE,
                    json!({"path": path, "content": "x", "create_dirs": create_dirs}),
                )
                .unwrap_err();
            assert!(matches!(err, ToolError::Symlink { .. }), "{path}: {err}");
        }
        let err = f
            .call(
                WRITE,
                json!({"path": format!("{path}/deeper/f"), "content": "x"}),
            )
            .unwrap_err();
        assert!(matches!(err, ToolError::Symlink { .. }), "{path}: {err}");
    }
    let err = f.call(LIST, json!({"path": "dir"})).unwrap_err();
    assert!(matches!(err, ToolError::Symlink { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(outside.path().join("inner.txt")).unwrap(),
        "outside"
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
    assert_eq!(std::fs::read_dir(f.root().join("real")).unwrap().count(), 0);
    // A recursive listing does not descend through the link.
    let l = f
        .call(LIST, json!({"recursive": true}))
        .unwrap()
        .structured
        .unwrap();
    let paths: Vec<&str> = l["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["alias", "dir", "real"]);
}

#[test]
fn reading_a_fifo_does_not_hang() {
    let f = fixture();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        f.root().join("pipe"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let ctx = f.ctx.clone();
    std::thread::spawn(move || {
        let set = FilesToolset::default();
        let call = |tool, args| {
            set.decode(tool, &args)
                .and_then(|inv| inv.run(&ctx))
                .map(|_| ())
        };
        let read = call(READ, json!({"path": "pipe"}));
        let write = call(WRITE, json!({"path": "pipe", "content": "x"}));
        tx.send((read, write)).unwrap();
    });
    // Generous: this only turns a hang into a failure.
    let (read, write) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("files.read on a FIFO hung");
    let err = read.unwrap_err();
    assert!(matches!(err, ToolError::NotAFile { .. }), "{err}");
    assert!(err.to_string().contains("named pipe"), "{err}");
    let err = write.unwrap_err();
    assert!(matches!(err, ToolError::NotAFile { .. }), "{err}");
}

#[test]
fn directories_and_devices_are_not_read() {
    let f = fixture();
    std::fs::create_dir(f.root().join("d")).unwrap();
    for path in ["d", ".", ""] {
        let err = f.call(READ, json!({"path": path})).unwrap_err();
        assert!(
            matches!(err, ToolError::IsADirectory { .. }),
            "{path}: {err}"
        );
        let err = f
            .call(WRITE, json!({"path": path, "content": "x"}))
            .unwrap_err();
        assert!(
            matches!(err, ToolError::IsADirectory { .. }),
            "{path}: {err}"
        );
    }
    let err = f.call(READ, json!({"path": "missing.txt"})).unwrap_err();
    assert!(matches!(err, ToolError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("files.list"));
    std::fs::write(f.root().join("file"), "x").unwrap();
    let err = f.call(LIST, json!({"path": "file"})).unwrap_err();
    assert!(matches!(err, ToolError::NotADirectory { .. }), "{err}");
    let err = f
        .call(WRITE, json!({"path": "file/below", "content": "x"}))
        .unwrap_err();
    assert!(matches!(err, ToolError::NotADirectory { .. }), "{err}");
}

#[test]
fn hard_links_are_refused() {
    let f = fixture();
    std::fs::write(f.root().join("a"), "shared").unwrap();
    std::fs::hard_link(f.root().join("a"), f.root().join("b")).unwrap();
    let err = f
        .call(WRITE, json!({"path": "b", "content": "changed"}))
        .unwrap_err();
    assert!(
        matches!(err, ToolError::HardLinked { links: 2, .. }),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(f.root().join("a")).unwrap(),
        "shared"
    );
}

#[test]
fn reads_are_capped_and_resumable() {
    let f = fixture_with(FilesLimits {
        max_read_bytes: 10,
        ..FilesLimits::default()
    });
    let body: String = "0123456789".repeat(3);
    std::fs::write(f.root().join("big.txt"), &body).unwrap();
    let r = f
        .call(READ, json!({"path": "big.txt", "max_bytes": 1000}))
        .unwrap();
    assert_eq!(text(&r), "0123456789");
    match &r.content[1] {
        Content::Text { text } => assert!(text.contains("offset 10"), "{text}"),
        other => panic!("{other:?}"),
    }
    let r = f
        .call(READ, json!({"path": "big.txt", "offset": 25}))
        .unwrap();
    assert_eq!(text(&r), "56789");
    assert_eq!(r.content.len(), 1);
    let r = f
        .call(READ, json!({"path": "big.txt", "offset": 30}))
        .unwrap();
    assert_eq!(text(&r), "");
    let err = f
        .call(READ, json!({"path": "big.txt", "offset": 31}))
        .unwrap_err();
    assert!(
        matches!(err, ToolError::OffsetPastEnd { size: 30, .. }),
        "{err}"
    );
}

#[test]
fn writes_over_the_cap_are_refused_and_lose_nothing() {
    let f = fixture_with(FilesLimits {
        max_write_bytes: 8,
        ..FilesLimits::default()
    });
    std::fs::write(f.root().join("keep.txt"), "original").unwrap();
    let err = f
        .call(WRITE, json!({"path": "keep.txt", "content": "x".repeat(9)}))
        .unwrap_err();
    assert!(
        matches!(err, ToolError::ContentTooLarge { size: 9, limit: 8 }),
        "{err}"
    );
    assert!(err.to_string().contains("append"));
    assert_eq!(
        std::fs::read_to_string(f.root().join("keep.txt")).unwrap(),
        "original"
    );
    // Bad arguments never truncate either.
    let err = f
        .call(WRITE, json!({"path": "keep.txt", "content": 5}))
        .unwrap_err();
    assert!(matches!(err, ToolError::InvalidArguments { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(f.root().join("keep.txt")).unwrap(),
        "original"
    );
    let huge_path = "p".repeat(100_000);
    let err = f
        .call(WRITE, json!({"path": huge_path, "content": "x"}))
        .unwrap_err();
    assert!(matches!(err, ToolError::InvalidPath { .. }), "{err}");
    assert!(
        err.to_string().len() < 300,
        "the message does not echo a huge path"
    );
}

#[test]
fn binary_files_are_refused_with_a_clear_error() {
    let f = fixture();
    std::fs::write(
        f.root().join("img.png"),
        [0x89, b'P', b'N', b'G', 0xff, 0x00],
    )
    .unwrap();
    let err = f.call(READ, json!({"path": "img.png"})).unwrap_err();
    assert!(matches!(err, ToolError::NotText { offset: 0, .. }), "{err}");
    assert!(err.to_string().contains("binary"));
}

#[test]
fn utf8_boundaries_are_respected() {
    let f = fixture_with(FilesLimits {
        max_read_bytes: 4,
        ..FilesLimits::default()
    });
    // "aé€" = 61 | c3 a9 | e2 82 ac
    std::fs::write(f.root().join("u.txt"), "aé€").unwrap();
    let r = f.call(READ, json!({"path": "u.txt"})).unwrap();
    assert_eq!(text(&r), "aé", "the cut inside € moves back");
    match &r.content[1] {
        Content::Text { text } => assert!(text.contains("offset 3"), "{text}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        text(&f.call(READ, json!({"path": "u.txt", "offset": 3})).unwrap()),
        "€"
    );
    let err = f
        .call(READ, json!({"path": "u.txt", "offset": 2}))
        .unwrap_err();
    assert!(
        matches!(err, ToolError::OffsetInsideCharacter { .. }),
        "{err}"
    );
    // A truncated character at the real end of a file is not text.
    std::fs::write(f.root().join("bad.txt"), [b'a', 0xe2, 0x82]).unwrap();
    let err = f.call(READ, json!({"path": "bad.txt"})).unwrap_err();
    assert!(matches!(err, ToolError::NotText { offset: 1, .. }), "{err}");
}

#[test]
fn list_shows_kinds_sizes_and_walks_recursively() {
    let f = fixture();
    f.call(WRITE, json!({"path": "b.txt", "content": "12345"}))
        .unwrap();
    f.call(WRITE, json!({"path": "sub/inner/c.txt", "content": "1"}))
        .unwrap();
    let l = f.call(LIST, json!({})).unwrap();
    let v = l.structured.clone().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text(&l)).unwrap(),
        v,
        "text is the JSON"
    );
    assert_eq!(v["path"], ".");
    assert_eq!(v["truncated"], false);
    assert_eq!(
        v["entries"],
        json!([
            {"path": "b.txt", "name": "b.txt", "kind": "file", "size": 5},
            {"path": "sub", "name": "sub", "kind": "dir"},
        ])
    );
    let v = f
        .call(LIST, json!({"path": "sub", "recursive": true}))
        .unwrap()
        .structured
        .unwrap();
    assert_eq!(
        v["entries"],
        json!([
            {"path": "sub/inner", "name": "inner", "kind": "dir"},
            {"path": "sub/inner/c.txt", "name": "c.txt", "kind": "file", "size": 1},
        ])
    );
}

#[test]
fn list_is_capped() {
    let f = fixture_with(FilesLimits {
        max_list_entries: 3,
        ..FilesLimits::default()
    });
    for i in 0..5 {
        std::fs::write(f.root().join(format!("f{i}")), "").unwrap();
    }
    let v = f
        .call(LIST, json!({"recursive": true}))
        .unwrap()
        .structured
        .unwrap();
    assert_eq!(v["entries"].as_array().unwrap().len(), 3);
    assert_eq!(v["truncated"], true);
}
