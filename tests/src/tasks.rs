//! What every test stands on: a time bound on the whole body ([`bounded`]), spawned tasks
//! that are aborted when dropped ([`Task`]), and a listener on a port the system chooses
//! ([`listen`]).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The longest any one test may take before it fails as hung.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `fut`, failing the test if it takes longer than [`TEST_TIMEOUT`].
///
/// # Panics
/// When the time is up.
pub async fn bounded<F: Future>(fut: F) -> F::Output {
    match tokio::time::timeout(TEST_TIMEOUT, fut).await {
        Ok(output) => output,
        Err(_) => panic!("test did not finish within {TEST_TIMEOUT:?}"),
    }
}

/// A spawned task that is aborted when dropped, so a test that fails (or times out) part way
/// stops everything it started.
#[derive(Debug)]
pub struct Task<T> {
    handle: JoinHandle<T>,
}

impl<T: Send + 'static> Task<T> {
    /// Spawns `fut` on the current runtime.
    pub fn spawn<F>(fut: F) -> Self
    where
        F: Future<Output = T> + Send + 'static,
    {
        Self {
            handle: tokio::spawn(fut),
        }
    }

    /// Waits for the task's output; if the join is itself cancelled (by [`bounded`]), the task
    /// is aborted.
    ///
    /// # Panics
    /// Re-raises the task's panic.
    pub async fn join(mut self) -> T {
        match (&mut self.handle).await {
            Ok(output) => output,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("task did not finish: {e}"),
        }
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// A listener on `127.0.0.1`, on a port the system chooses.
pub async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    (listener, addr)
}

/// The `ws://` URL of a server at `addr`, with path `/`.
pub fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}/")
}
