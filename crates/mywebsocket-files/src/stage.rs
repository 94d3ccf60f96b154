//! The receiver's blocking stages: one thread hashes the received bytes while another appends
//! them to the part file, so hashing, disk writes and the socket reads all overlap instead of
//! taking turns on one task (SHA-256 alone is about as costly as the rest of the copy).

use std::io::{self, Write};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Room for this many chunks in a stage's queue; the window bounds the bytes.
const STAGE_QUEUE: usize = 64;

/// A blocking thread that consumes the transfer's bytes in order and counts what it has done.
pub(crate) struct Stage<T> {
    tx: mpsc::Sender<Bytes>,
    processed: watch::Receiver<u64>,
    task: JoinHandle<io::Result<T>>,
}

impl<T: Send + 'static> Stage<T> {
    /// Starts a stage whose count begins at `start` (the resume offset).
    fn spawn<S: Send + 'static>(
        start: u64,
        mut state: S,
        mut step: impl FnMut(&mut S, &[u8]) -> io::Result<()> + Send + 'static,
        finish: impl FnOnce(S) -> io::Result<T> + Send + 'static,
    ) -> Self {
        let (tx, mut rx) = mpsc::channel::<Bytes>(STAGE_QUEUE);
        let (done, processed) = watch::channel(start);
        let task = tokio::task::spawn_blocking(move || {
            while let Some(data) = rx.blocking_recv() {
                step(&mut state, &data)?;
                done.send_modify(|n| *n += data.len() as u64);
            }
            finish(state)
        });
        Self {
            tx,
            processed,
            task,
        }
    }

    /// Queues the next bytes; `false` when the stage has stopped on an error.
    pub(crate) async fn push(&self, data: Bytes) -> bool {
        self.tx.send(data).await.is_ok()
    }

    /// Bytes done so far, counting from the start of the file.
    pub(crate) fn processed(&self) -> u64 {
        *self.processed.borrow()
    }

    /// Waits until [`Stage::processed`] moves; `false` when the stage stopped on an error.
    pub(crate) async fn changed(&mut self) -> bool {
        self.processed.changed().await.is_ok()
    }

    /// Lets the stage finish what is queued and returns its result.
    pub(crate) async fn finish(self) -> io::Result<T> {
        drop(self.tx);
        self.task.await.map_err(io::Error::other)?
    }
}

/// Hashes the bytes after those `hasher` has already seen.
pub(crate) fn hasher(start: u64, hasher: Sha256) -> Stage<[u8; 32]> {
    Stage::spawn(
        start,
        hasher,
        |hasher, data| {
            hasher.update(data);
            Ok(())
        },
        |hasher| Ok(hasher.finalize().into()),
    )
}

/// Appends the bytes to `file`. Plain `write_all` on a std file: no user-space buffer, so a
/// counted byte is in the file (as far as the kernel is concerned) and no copy is made.
pub(crate) fn writer(start: u64, file: std::fs::File) -> Stage<()> {
    Stage::spawn(start, file, |file, data| file.write_all(data), drop_ok)
}

fn drop_ok(file: std::fs::File) -> io::Result<()> {
    drop(file);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_and_writes_in_order_and_counts_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let file = std::fs::File::create(&path).unwrap();
        let mut hash = hasher(0, Sha256::new());
        let mut disk = writer(0, file);
        for piece in [&b"hello, "[..], b"file"] {
            assert!(hash.push(Bytes::copy_from_slice(piece)).await);
            assert!(disk.push(Bytes::copy_from_slice(piece)).await);
        }
        while hash.processed() < 11 {
            assert!(hash.changed().await);
        }
        while disk.processed() < 11 {
            assert!(disk.changed().await);
        }
        assert_eq!(
            hash.finish().await.unwrap(),
            <[u8; 32]>::from(Sha256::digest(b"hello, file"))
        );
        disk.finish().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello, file");
    }

    #[tokio::test]
    async fn a_failed_write_stops_the_stage_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro");
        std::fs::write(&path, b"").unwrap();
        let read_only = std::fs::File::open(&path).unwrap();
        let mut disk = writer(5, read_only);
        assert!(disk.push(Bytes::from_static(b"x")).await);
        assert!(!disk.changed().await);
        assert_eq!(disk.processed(), 5);
        assert!(disk.finish().await.is_err());
    }
}
