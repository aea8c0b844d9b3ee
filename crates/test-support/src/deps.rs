//! The real peers installed by `scripts/setup-test-deps.sh`.
//!
//! A test that needs one and does not find it fails with a message naming
//! the script: a missing peer is a setup error, never a silent skip.

use std::path::{Path, PathBuf};

/// The repository's root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// `$BUREAU_TEST_DEPS`, or `<repo>/.bureau-test/deps`.
pub fn dir() -> PathBuf {
    match std::env::var_os("BUREAU_TEST_DEPS") {
        Some(d) => PathBuf::from(d),
        None => repo_root().join(".bureau-test/deps"),
    }
}

fn require(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup-test-deps.sh first (CI's .ci/run does)",
        path.display()
    );
    path
}

/// The venv's Python, which has `fakellm`, `mcp` and `mcp-server-time`.
pub fn python() -> PathBuf {
    require(dir().join("venv/bin/python"))
}

/// An executable installed into the venv (`fakellm`, `mcp-server-time`).
pub fn venv_bin(name: &str) -> PathBuf {
    require(dir().join("venv/bin").join(name))
}

/// The entry script of an npm package, e.g.
/// `node_package_main("@modelcontextprotocol/server-everything", "dist/index.js")`.
pub fn node_package_file(package: &str, file: &str) -> PathBuf {
    require(dir().join("node/node_modules").join(package).join(file))
}

/// A binary linked into `node_modules/.bin`.
pub fn node_bin(name: &str) -> PathBuf {
    require(dir().join("node/node_modules/.bin").join(name))
}
