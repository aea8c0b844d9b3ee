//! A stdio child's stderr goes to `tracing`, never to Bureau's stdout.
//!
//! Alone in its own test binary: a thread-local subscriber can miss events
//! while other tests on other threads register the same callsites.

mod common;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bureau_mcp_client::McpHub;
use common::*;

/// Collects what a `fmt` subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

#[tokio::test]
async fn child_stderr_goes_to_tracing() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // This test's runtime is single-threaded, so the stderr-forwarding task
    // runs under this thread's default subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut hub = McpHub::new(&|k| std::env::var(k).ok());
    hub.connect(&python_fixture("fx")).await.unwrap();
    let seen = eventually(Duration::from_secs(10), || {
        captured.text().lines().any(|l| {
            l.contains("bureau_mcp_client::stderr") && l.contains("fixture server starting")
        })
    })
    .await;
    hub.shutdown().await;
    assert!(seen, "stderr line not logged: {}", captured.text());
}
