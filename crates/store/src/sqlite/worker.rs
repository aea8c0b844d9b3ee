//! A named thread fed by a channel, stopped and joined on drop.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use crate::StoreError;

pub(crate) struct Worker<J> {
    tx: Option<Sender<J>>,
    thread: Option<JoinHandle<()>>,
}

impl<J: Send + 'static> Worker<J> {
    /// Starts `body` on a new thread; it receives jobs until every sender is
    /// gone (the channel yields everything queued before that).
    pub(crate) fn spawn(
        name: &str,
        path: &Path,
        body: impl FnOnce(Receiver<J>) + Send + 'static,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || body(rx))
            .map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                source: Arc::new(e),
            })?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    pub(crate) fn send(&self, job: J) -> Result<(), StoreError> {
        let tx = self.tx.as_ref().ok_or(StoreError::Closed {
            detail: "it was closed",
        })?;
        tx.send(job).map_err(|_| StoreError::Closed {
            detail: "its thread has stopped",
        })
    }

    /// Closes the channel, lets the thread finish what is queued and joins
    /// it. Idempotent.
    pub(crate) fn shutdown(&mut self) -> Result<(), StoreError> {
        drop(self.tx.take());
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| StoreError::Closed {
                detail: "its thread panicked",
            }),
            None => Ok(()),
        }
    }
}

impl<J> Drop for Worker<J> {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
