//! One writer per part file in this process.
//!
//! A client that reconnects and offers the same transfer again can reach the server before the
//! old connection's receiving task has finished appending what it had: two tasks would append
//! to the same part file and the resumed transfer would fail its SHA-256 check. The new task
//! waits for the old one to let go of the file instead.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Part files in use, each with the lock its writer holds.
static IN_USE: LazyLock<Mutex<HashMap<PathBuf, Arc<AsyncMutex<()>>>>> =
    LazyLock::new(Mutex::default);

/// Holds the part file until dropped; the last holder removes its entry.
pub(crate) struct PartLock {
    path: PathBuf,
    guard: Option<OwnedMutexGuard<()>>,
}

/// Waits until no other task of this process writes `path`, then holds it.
pub(crate) async fn lock(path: &Path) -> PartLock {
    let mutex = {
        let mut map = IN_USE.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(path.to_owned()).or_default())
    };
    let guard = mutex.lock_owned().await;
    PartLock {
        path: path.to_owned(),
        guard: Some(guard),
    }
}

impl Drop for PartLock {
    fn drop(&mut self) {
        let mut map = IN_USE.lock().unwrap_or_else(PoisonError::into_inner);
        drop(self.guard.take());
        // Nobody else holds or waits for it (the map's own reference is the only one).
        if map
            .get(&self.path)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            map.remove(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_second_writer_waits_for_the_first() {
        let path = Path::new("/nonexistent/part-lock-test-a");
        let first = lock(path).await;
        let second = tokio::spawn(async move { lock(path).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "the second writer did not wait");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("the second writer gets the file once the first lets go")
            .unwrap();
        drop(second);
        let map = IN_USE.lock().unwrap();
        assert!(!map.contains_key(path), "entry left behind");
    }

    #[tokio::test]
    async fn different_files_do_not_wait_for_each_other() {
        let _a = lock(Path::new("/nonexistent/part-lock-test-b")).await;
        tokio::time::timeout(
            Duration::from_secs(5),
            lock(Path::new("/nonexistent/part-lock-test-c")),
        )
        .await
        .expect("no wait");
    }
}
